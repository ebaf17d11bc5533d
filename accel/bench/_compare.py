"""Honest speed comparisons between NumPy, JAX and CuPy, and optimizer fit benchmarks.

What makes a comparison honest here (shared DESIGN.md, "What the peers got wrong"):

* the operation is written once and receives each backend's arrays (and the array
  namespace as ``xp=`` when it accepts that keyword, from ``array_api_compat``);
* inputs have the same dtype on every backend and are placed on the device before timing;
  the host-to-device transfer is timed apart (median of a few placements);
* JAX runs an ahead-of-time compiled executable (``jax.jit(f).lower(*x).compile()``), the
  compile time reported apart; every timed call is synchronised (``block_until_ready``,
  CuPy device synchronisation) and timed on the host clock with the garbage collector off,
  after a pause of ``SETTLE_S`` so one backend's idle-spinning threads do not slow the next;
* each backend's result is copied back and compared with the reference backend (NumPy
  when it runs): ``max_rel_diff = max|out - ref| / max|ref|``;
* a backend that cannot run here (CuPy without a GPU) is reported with ``available=False``
  and the reason, never a crash;
* a timing whose spread is too large to compare is flagged, not trusted:
  ``relative_std = std_time / mean_time``, ``noisy = relative_std > NOISY_RELATIVE_STD``,
  and ``speedup_reliable`` is False when the backend's or NumPy's timing is noisy (the
  table says so in its note column, the JSON in these fields). Under load a NumPy timing
  with std above its mean once gave a "61x speed-up".

Same dtype is not always same arithmetic: on NVIDIA GPUs XLA runs float32 matrix products on
TF32 matrix units by default (``jax.default_matmul_precision``), CuPy only with
``CUPY_TF32=1``; ``max_rel_diff`` (about 1e-3 for TF32) shows when that happened.

Example:
    >>> import numpy as np
    >>> from accel import compare_backends
    >>> x = np.random.default_rng(0).standard_normal((64, 64))
    >>> res = compare_backends(lambda X: X @ X.T, x, backends=("numpy", "jax"),
    ...                        n_runs=3, warmup=1, dtype="float32")
    >>> res["jax"].available, res["jax"].dtype, res["jax"].max_rel_diff < 1e-5
    (True, 'float32', True)
    >>> res["numpy"].speedup_vs_numpy
    1.0
    >>> for backend, timing in res.items():   # the 002 document's mapping access
    ...     assert timing["mean_time"] > 0 and "speedup_vs_numpy" in timing
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from accel._checks import check_int, parse_dtype
from accel.bench import _clock
from accel.bench._backends import BACKEND_NAMES, get_backend
from accel.bench._results import BackendResult, Comparison, _spread

__all__ = [
    "DTYPES",
    "SETTLE_S",
    "check_backends",
    "check_dtype",
    "check_n_runs",
    "check_warmup",
    "compare_backends",
]

DTYPES: tuple[str, ...] = ("float16", "float32", "float64")

# dtype kinds every backend can place: bool, signed and unsigned integers, floats, complex.
# Object, string, bytes, datetime and structured arrays are refused before anything runs.
_NUMERIC_KINDS = "biufc"


# --------------------------------------------------------------------------- validation


def check_n_runs(n_runs: Any) -> int:
    """``n_runs`` as an int >= 1, else a ``TypeError``/``ValueError`` saying so."""
    return check_int(n_runs, "n_runs", minimum=1)


def check_warmup(warmup: Any) -> int:
    """``warmup`` as an int >= 0, else a ``TypeError``/``ValueError`` saying so."""
    return check_int(warmup, "warmup", minimum=0)


def check_dtype(dtype: Any) -> np.dtype | None:
    """``None`` or one of :data:`DTYPES` as a NumPy dtype."""
    if dtype is None:
        return None
    dt = parse_dtype(dtype)
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"dtype must be None or one of {', '.join(DTYPES)}, got {dtype!r}")
    return dt


def check_backends(backends: Any) -> tuple[str, ...]:
    """A non-empty sequence of distinct names from ``('numpy', 'jax', 'cupy')``."""
    if isinstance(backends, str):
        raise TypeError(
            f"backends must be a sequence of names such as ('numpy', 'jax'), got the string {backends!r}"
        )
    try:
        names = tuple(backends)
    except TypeError:
        raise TypeError(f"backends must be a sequence of names, got {backends!r}") from None
    if not names:
        raise ValueError(f"backends must name at least one of {', '.join(BACKEND_NAMES)}")
    for name in names:
        get_backend(name)  # raises ValueError naming the accepted backends
    if len(set(names)) != len(names):
        raise ValueError(f"backends must be distinct, got {names!r}")
    return names


def _check_data(data_numpy: Any, dtype: np.dtype | None) -> tuple[np.ndarray, ...]:
    arrays = tuple(data_numpy) if isinstance(data_numpy, tuple | list) else (data_numpy,)
    if not arrays:
        raise ValueError("data_numpy must be a NumPy array or a non-empty tuple of them")
    for a in arrays:
        if type(a) is not np.ndarray:
            raise TypeError(
                "data_numpy must be NumPy arrays (host data; each backend places its own copy), "
                f"got {type(a).__module__}.{type(a).__qualname__}"
            )
        if a.dtype.kind not in _NUMERIC_KINDS:
            raise TypeError(
                "data_numpy must be numeric NumPy arrays (bool, integer, floating or complex "
                f"dtype), got an array of dtype {a.dtype.name}; convert it first, e.g. "
                "np.asarray(data, dtype=np.float32)"
            )
    if dtype is None:
        return arrays
    return tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in arrays)


def _accepts_xp(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(
        (p.name == "xp" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        or p.kind is p.VAR_KEYWORD
        for p in params
    )


# --------------------------------------------------------------------------- timing

# Pause before each backend's timed calls. NumPy's threaded BLAS keeps its worker threads
# spinning for about 0.1 s after a call returns; a backend timed right after it loses a core
# to them. Measured on the 2-core CI machine: a 1024x1024 float32 JAX matmul took 22.2 ms
# right after NumPy matmuls, 13.9-15.9 ms after a 0.1-0.2 s pause.
SETTLE_S = 0.2



def _time_calls(
    call: Callable[[], Any], sync: Callable[[Any], Any], n_runs: int, warmup: int
) -> tuple[Any, float, list[float]]:
    """Run ``warmup`` untimed then ``n_runs`` timed synchronised calls (GC off, like timeit).

    Returns the last output, the duration of the very first call and the timed durations.
    """
    times: list[float] = []
    first = 0.0
    out = None
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(warmup + n_runs):
            t0 = _clock.now()
            out = sync(call())
            dt = _clock.now() - t0
            if i == 0:
                first = dt
            if i >= warmup:
                times.append(dt)
    finally:
        if gc_was_enabled:
            gc.enable()
    return out, first, times


def _max_rel_diff(backend: str, out: Any, ref: Any) -> float:
    """``max|out - ref| / max|ref|`` over all output arrays (absolute when ``ref`` is 0)."""
    out_leaves, out_tree = jax.tree.flatten(out)
    ref_leaves, ref_tree = jax.tree.flatten(ref)
    if out_tree != ref_tree:
        raise ValueError(f"backend {backend!r} returned {out_tree}, the reference returned {ref_tree}")
    worst = 0.0
    for o, r in zip(out_leaves, ref_leaves, strict=True):
        o, r = np.asarray(o), np.asarray(r)
        wide = np.result_type(o.dtype, r.dtype, np.float64)  # complex128 for complex outputs
        o, r = o.astype(wide), r.astype(wide)
        if o.shape != r.shape:
            raise ValueError(
                f"backend {backend!r} returned shape {o.shape}, the reference returned {r.shape}"
            )
        if np.array_equal(o, r, equal_nan=True):
            continue
        if not (np.all(np.isfinite(o)) and np.all(np.isfinite(r))):
            return float("inf")
        scale = float(np.max(np.abs(r))) if r.size else 0.0
        diff = float(np.max(np.abs(o - r)))
        with np.errstate(over="ignore"):  # a subnormal reference: an infinite relative error
            worst = max(worst, float(np.float64(diff) / scale) if scale > 0 else diff)
    return worst


def _unavailable(name: str, reason: str, dtype: str | None, n_runs: int, warmup: int) -> BackendResult:
    return BackendResult(name, False, reason, dtype=dtype, n_runs=n_runs, warmup=warmup)


def _dtype_label(arrays: tuple[np.ndarray, ...]) -> str:
    floating = sorted({a.dtype.name for a in arrays if a.dtype.kind in "fc"})
    return ",".join(floating) if floating else ",".join(sorted({a.dtype.name for a in arrays}))


def _compare(
    fn: Callable[..., Any],
    arrays: tuple[np.ndarray, ...],
    backends: tuple[str, ...],
    n_runs: int,
    warmup: int,
    *,
    name: str,
    self_managed: bool = False,
    supported: Sequence[str] | None = None,
) -> Comparison:
    """The one implementation behind :func:`compare_backends` and the built-in operations.

    ``self_managed``: ``fn`` takes the host NumPy inputs and manages its own device work
    (no placement, no harness compilation; first_call_time then includes its compilation).
    ``supported``: backends ``fn`` is written for; the others are reported unavailable.
    """
    dtype = _dtype_label(arrays)
    accepts_xp = _accepts_xp(fn)
    results: dict[str, BackendResult] = {}
    outputs: dict[str, Any] = {}
    for bname in backends:
        backend = get_backend(bname)
        if supported is not None and bname not in supported:
            results[bname] = _unavailable(
                bname, f"{name} is implemented for {', '.join(supported)} only", dtype, n_runs, warmup
            )
            continue
        probe = backend.probe()
        if not probe.usable:
            results[bname] = _unavailable(bname, probe.detail, dtype, n_runs, warmup)
            continue
        with backend.context(arrays):
            if self_managed:
                args, transfer = arrays, 0.0
            else:
                args, transfer = backend.place(arrays)
            call_fn = fn
            if accepts_xp:
                xp = backend.namespace(args)

                def call_fn(*a: Any, _xp: Any = xp) -> Any:
                    return fn(*a, xp=_xp)

            try:
                if self_managed:
                    prepared, compile_time = call_fn, None
                else:
                    prepared, compile_time = backend.prepare(call_fn, args)
                _clock.sleep(SETTLE_S)  # let the previous backend's worker threads go idle
                out, first, times = _time_calls(
                    lambda p=prepared, a=args: p(*a), backend.sync, n_runs, warmup
                )
            except Exception as exc:
                exc.add_note(f"while benchmarking {name!r} on backend {bname!r}")
                raise
            outputs[bname] = backend.to_numpy(out)
            t = np.asarray(times)
            results[bname] = BackendResult(
                backend=bname,
                available=True,
                reason=probe.detail,
                device=backend.device(),
                dtype=dtype,
                n_runs=n_runs,
                warmup=warmup,
                mean_time=float(t.mean()),
                median_time=float(np.median(t)),
                std_time=float(t.std(ddof=1)) if t.size > 1 else 0.0,
                min_time=float(t.min()),
                first_call_time=first,
                compile_time=compile_time,
                transfer_time=transfer,
                times=tuple(times),
            )
    reference = "numpy" if "numpy" in outputs else next(iter(outputs), None)
    numpy_median = results["numpy"].median_time if "numpy" in outputs else None
    numpy_noisy = _spread(results["numpy"])[1] if "numpy" in outputs else None
    for bname, r in results.items():
        if not r.available:
            continue
        updates: dict[str, Any] = {}
        updates["relative_std"], updates["noisy"] = _spread(r)
        if numpy_median is not None and r.median_time:
            updates["speedup_vs_numpy"] = numpy_median / r.median_time
            updates["speedup_reliable"] = not (updates["noisy"] or numpy_noisy)
        if len(outputs) > 1 and reference is not None:
            updates["max_rel_diff"] = _max_rel_diff(bname, outputs[bname], outputs[reference])
        results[bname] = dataclasses.replace(r, **updates)
    return Comparison(name, reference, results)


def compare_backends(
    operation: Callable[..., Any],
    data_numpy: np.ndarray | Sequence[np.ndarray],
    backends: Sequence[str] = BACKEND_NAMES,
    n_runs: int = 10,
    warmup: int = 3,
    dtype: Any = None,
) -> Comparison:
    """Time ``operation`` on each backend with identical inputs; see the module docstring.

    Args:
        operation: written once, e.g. ``lambda X: X @ X.T``; called with one positional
            array per input (and ``xp=`` the backend's array namespace if it accepts that
            keyword). It must be jit-traceable for JAX.
        data_numpy: a NumPy array or a tuple of them (host data).
        backends: names from ``('numpy', 'jax', 'cupy')``.
        n_runs: timed calls (>= 1); warmup: untimed calls before them (>= 0).
        dtype: ``None`` (keep the inputs' dtypes) or float16/float32/float64, applied to the
            floating-point inputs of every backend (integer inputs are left as they are).

    Returns:
        :class:`Comparison`, a ``dict`` backend -> :class:`BackendResult`.
    """
    if not callable(operation):
        raise TypeError(f"operation must be callable, got {operation!r}")
    names = check_backends(backends)
    n_runs = check_n_runs(n_runs)
    warmup = check_warmup(warmup)
    arrays = _check_data(data_numpy, check_dtype(dtype))
    name = getattr(operation, "__name__", type(operation).__name__)
    return _compare(operation, arrays, names, n_runs, warmup, name=name)
