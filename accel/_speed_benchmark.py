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
  and the reason, never a crash.

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
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import numbers
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from accel._backends import BACKEND_NAMES, get_backend
from accel._report import dump_json, format_table, jsonable, ms

__all__ = [
    "DTYPES",
    "BackendResult",
    "Comparison",
    "OptimizerBenchmark",
    "SpeedBenchmark",
    "benchmark_optimizer",
    "check_backends",
    "check_dtype",
    "check_n_runs",
    "check_warmup",
    "compare_backends",
]

DTYPES: tuple[str, ...] = ("float16", "float32", "float64")


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_n_runs(n_runs: Any) -> int:
    """``n_runs`` as an int >= 1, else a ``TypeError``/``ValueError`` saying so."""
    return _check_int("n_runs", n_runs, 1)


def check_warmup(warmup: Any) -> int:
    """``warmup`` as an int >= 0, else a ``TypeError``/``ValueError`` saying so."""
    return _check_int("warmup", warmup, 0)


def check_dtype(dtype: Any) -> np.dtype | None:
    """``None`` or one of :data:`DTYPES` as a NumPy dtype."""
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
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


# --------------------------------------------------------------------------- results


@dataclasses.dataclass(frozen=True)
class BackendResult:
    """One backend's timings for one operation; times in seconds.

    ``compile_time`` is JAX's ahead-of-time compilation, ``0.0`` for NumPy and ``None`` for
    CuPy (it compiles kernels lazily inside the first call, see ``first_call_time``).
    ``transfer_time`` is the median host-to-device placement of all inputs (``0.0`` for
    NumPy). ``max_rel_diff`` compares the output with the reference backend's.
    """

    backend: str
    available: bool
    reason: str
    device: str | None = None
    dtype: str | None = None
    n_runs: int = 0
    warmup: int = 0
    mean_time: float | None = None
    median_time: float | None = None
    std_time: float | None = None
    min_time: float | None = None
    first_call_time: float | None = None
    compile_time: float | None = None
    transfer_time: float | None = None
    speedup_vs_numpy: float | None = None
    max_rel_diff: float | None = None
    times: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)


# Pause before each backend's timed calls. NumPy's threaded BLAS keeps its worker threads
# spinning for about 0.1 s after a call returns; a backend timed right after it loses a core
# to them. Measured on the 2-core CI machine: a 1024x1024 float32 JAX matmul took 22.2 ms
# right after NumPy matmuls, 13.9-15.9 ms after a 0.1-0.2 s pause.
SETTLE_S = 0.2

_TABLE_HEADERS = (
    "backend", "device", "dtype", "median ms", "mean ms", "std ms", "min ms",
    "compile ms", "transfer ms", "speedup", "max rel diff", "note",
)


def _table_row(r: BackendResult) -> list[Any]:
    if not r.available:
        return [r.backend, r.device, r.dtype, *[None] * 8, f"unavailable: {r.reason}"]
    return [
        r.backend, r.device, r.dtype, ms(r.median_time), ms(r.mean_time), ms(r.std_time),
        ms(r.min_time), ms(r.compile_time), ms(r.transfer_time),
        None if r.speedup_vs_numpy is None else round(r.speedup_vs_numpy, 3),
        None if r.max_rel_diff is None else float(f"{r.max_rel_diff:.3g}"),
        "",
    ]


class Comparison(dict[str, BackendResult]):
    """``{backend: BackendResult}`` for one operation, plus its name and reference backend.

    ``str(comparison)`` is a table; :meth:`to_json` serialises it.
    """

    def __init__(self, operation: str, reference: str | None, results: dict[str, BackendResult]):
        super().__init__(results)
        self.operation = operation
        self.reference = reference

    def table(self) -> str:
        return format_table(_TABLE_HEADERS, [_table_row(r) for r in self.values()])

    def __str__(self) -> str:
        return f"{self.operation} (reference: {self.reference})\n{self.table()}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "reference": self.reference,
            "results": {name: r.to_dict() for name, r in self.items()},
        }

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The JSON text; also written (atomically) to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent=indent)


# --------------------------------------------------------------------------- timing


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
            t0 = time.perf_counter()
            out = sync(call())
            dt = time.perf_counter() - t0
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
        worst = max(worst, diff / scale if scale > 0 else diff)
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
                time.sleep(SETTLE_S)  # let the previous backend's worker threads go idle
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
    for bname, r in results.items():
        if not r.available:
            continue
        updates: dict[str, Any] = {}
        if numpy_median is not None and r.median_time:
            updates["speedup_vs_numpy"] = numpy_median / r.median_time
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


# --------------------------------------------------------------------------- optimizers


@dataclasses.dataclass(frozen=True)
class OptimizerBenchmark:
    """Timings of ``n_runs`` identical fits after one warm-up fit (which, for JAX, compiles).

    ``throughput_samples_per_sec = n_samples * epochs / median_time``. ``final_loss`` is
    ``history_['loss'][-1]`` of the last fit.
    """

    optimizer: str
    n_samples: int
    n_features: int
    n_runs: int
    epochs: int
    warmup_time: float
    mean_time: float
    median_time: float
    std_time: float
    min_time: float
    throughput_samples_per_sec: float
    final_loss: float
    times: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(self)

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """The JSON text; also written (atomically) to ``path`` when given."""
        return dump_json(self.to_dict(), path, indent=indent)

    def table(self) -> str:
        headers = ("optimizer", "rows", "epochs", "warm-up ms", "median ms", "mean ms",
                   "std ms", "min ms", "samples/s", "final loss")
        row = [self.optimizer, self.n_samples, self.epochs, ms(self.warmup_time),
               ms(self.median_time), ms(self.mean_time), ms(self.std_time), ms(self.min_time),
               float(f"{self.throughput_samples_per_sec:.4g}"), self.final_loss]
        return format_table(headers, [row])

    def __str__(self) -> str:
        return self.table()


def _make_estimator(optimizer: Any, config: dict[str, Any] | None) -> Any:
    if config is not None and not isinstance(config, dict):
        raise TypeError(f"config must be a dict of constructor parameters or None, got {config!r}")
    if isinstance(optimizer, type):
        est = optimizer(**(config or {}))
    elif config:
        if not hasattr(optimizer, "get_params"):
            raise TypeError(
                f"config needs an estimator with get_params() (sklearn-style); {type(optimizer).__name__} has none"
            )
        est = type(optimizer)(**{**optimizer.get_params(), **config})
    else:
        est = optimizer
    if not callable(getattr(est, "fit", None)):
        raise TypeError(
            "optimizer must be an estimator (class or instance) with fit(X, y), such as "
            f"optimizers.Adam or accel.JAXOptimizer; got {type(est).__name__}"
        )
    return est


def _block_fitted(est: Any) -> None:
    """Wait for every fitted attribute (sklearn convention: trailing ``_``) to be computed."""
    for key, value in getattr(est, "__dict__", {}).items():
        if key.endswith("_") and not key.startswith("_"):
            jax.block_until_ready(value)


def _n_epochs(est: Any) -> int:
    if hasattr(est, "n_epochs_"):
        return int(est.n_epochs_)
    history = getattr(est, "history_", None)
    if isinstance(history, dict) and "loss" in history:
        return len(history["loss"]) - 1  # initial loss, then one per epoch
    raise TypeError(f"{type(est).__name__} sets neither n_epochs_ nor history_['loss'] after fit")


def benchmark_optimizer(
    optimizer: Any,
    X: Any,
    y: Any,
    config: dict[str, Any] | None = None,
    n_runs: int = 3,
) -> OptimizerBenchmark:
    """Time ``optimizer.fit(X, y)``: one warm-up fit (JAX compiles there), then ``n_runs``.

    ``optimizer`` is an estimator class (constructed with ``config``) or instance (cloned
    with ``config`` through ``get_params()`` when ``config`` is given), e.g.
    ``optimizers.Adam`` or ``accel.JAXOptimizer``. JAX results are waited for with
    ``block_until_ready`` before the clock stops.
    """
    n_runs = check_n_runs(n_runs)
    est = _make_estimator(optimizer, config)
    shape_x, shape_y = np.shape(X), np.shape(y)
    if len(shape_x) != 2 or len(shape_y) != 1 or shape_x[0] != shape_y[0] or shape_x[0] == 0:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features) and y 1-D with the same non-zero n_samples; "
            f"got X {shape_x}, y {shape_y}"
        )

    def fit() -> int:
        est.fit(X, y)
        _block_fitted(est)
        return _n_epochs(est)

    t0 = time.perf_counter()
    fit()
    warmup_time = time.perf_counter() - t0
    times, epochs = [], set()
    for _ in range(n_runs):
        t0 = time.perf_counter()
        e = fit()
        times.append(time.perf_counter() - t0)
        epochs.add(e)
    if len(epochs) != 1:
        raise RuntimeError(
            f"identical fits ran different numbers of epochs {sorted(epochs)}: "
            f"{type(est).__name__} is not deterministic"
        )
    (n_epochs,) = epochs
    t = np.asarray(times)
    median = float(np.median(t))
    return OptimizerBenchmark(
        optimizer=type(est).__name__,
        n_samples=int(shape_x[0]),
        n_features=int(shape_x[1]),
        n_runs=n_runs,
        epochs=n_epochs,
        warmup_time=warmup_time,
        mean_time=float(t.mean()),
        median_time=median,
        std_time=float(t.std(ddof=1)) if t.size > 1 else 0.0,
        min_time=float(t.min()),
        throughput_samples_per_sec=shape_x[0] * n_epochs / median,
        final_loss=float(est.history_["loss"][-1]),
        times=tuple(times),
    )


class SpeedBenchmark:
    """Runs :func:`compare_backends` and :func:`benchmark_optimizer` and keeps every result.

    Example:
        >>> import numpy as np
        >>> from accel import SpeedBenchmark
        >>> bench = SpeedBenchmark()
        >>> r = bench.compare_backends(lambda X, xp: xp.sum(X * X), np.ones((8, 8)),
        ...                            backends=("numpy",), n_runs=2, warmup=0)
        >>> r["numpy"].available, len(bench.results)
        (True, 1)
    """

    def __init__(self) -> None:
        self.results: list[Comparison | OptimizerBenchmark] = []

    def compare_backends(
        self,
        operation: Callable[..., Any],
        data_numpy: np.ndarray | Sequence[np.ndarray],
        backends: Sequence[str] = BACKEND_NAMES,
        n_runs: int = 10,
        warmup: int = 3,
        dtype: Any = None,
    ) -> Comparison:
        result = compare_backends(operation, data_numpy, backends, n_runs, warmup, dtype)
        self.results.append(result)
        return result

    def benchmark_optimizer(
        self,
        optimizer: Any,
        X: Any,
        y: Any,
        config: dict[str, Any] | None = None,
        n_runs: int = 3,
    ) -> OptimizerBenchmark:
        result = benchmark_optimizer(optimizer, X, y, config, n_runs)
        self.results.append(result)
        return result

    def to_json(self, path: str | os.PathLike[str] | None = None, *, indent: int = 2) -> str:
        """All results so far as one JSON list; also written (atomically) to ``path``."""
        return dump_json([r.to_dict() for r in self.results], path, indent=indent)
