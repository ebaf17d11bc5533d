"""Where a ``JAXOptimizer`` fit spends its time (issue 17, item 1): the measurements behind the
engine's design, each against its alternative in the same run.

Run from the repository root::

    python -m benchmarks.bench_linear_profile            # --repeats 15

Rows (medians of ``--repeats`` interleaved calls; NumPy inputs as a user passes them):

* fixed cost of a fit (1 epoch, adam, 160 x 51 float32) and cost per epoch (from 1 and 2001
  epochs), ``JAXOptimizer`` against the hand-written scan of ``bench_linear_speed``;
* XLA kernels (thunks) in the body of the epoch loop of both compiled programs (from
  the optimized HLO: every instruction but parameters, constants, tuples and bitcasts);
* the parameters as one vector ``[w, b]`` (the engine) or the pytree ``{'w', 'b'}`` (what a
  user's transformation sees), and a diverged epoch undone by running again (the engine,
  ``LoopSpec.keep_last_good=False``) or by a per-epoch select of the whole state (the
  loop's default, which the engine used before): 2000 epochs of adam on 160 x 51;
* placing a 60000 x 784 float32 NumPy array (16-byte aligned, as NumPy allocates it):
  ``jax.device_put`` (JAX's copy), the engine's aligned copy on one thread and on its
  threads, and an array already 64-byte aligned (read in place);
* the NaN/infinity test of that array: ``np.isfinite(X).all()`` against ``X @ 1`` (one BLAS
  pass, the exact test only when a row sum is not finite).

JSON (atomically) to ``benchmark_results/bench_linear_profile.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

from accel import JAXOptimizer
from accel.internals import ParamLayout, cached_programs, dump_json
from accel.internals import linear_jax_optimizer as _jax_optimizer
from accel.internals import linear_placement as _placement
from accel.internals import linear_program as _program
from benchmarks.bench_linear_speed import aligned_copy, machine, regression, scan_fit


def medians(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds per call; one untimed call each first, then rotating rounds."""
    for fn in calls.values():
        jax.block_until_ready(fn())
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            jax.block_until_ready(calls[name]())
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(v) for name, v in times.items()}


def loop_kernels(hlo: str) -> int:
    """Instructions of the last while loop's body, less parameters, constants, tuples, bitcasts."""
    body = re.findall(r"body=(%[\w.\-]+)", hlo)[-1]
    text = re.search(r"^" + re.escape(body) + r" .*?^}", hlo, re.S | re.M).group(0)
    ops = re.findall(r"^\s*(?:ROOT )?%\S+ = .*? ([a-z][\w\-]*)\(", text, re.M)
    return sum(op not in ("get-tuple-element", "parameter", "constant", "bitcast", "tuple") for op in ops)


def _variant(flat: bool, select: bool) -> type:
    """A Spec (its own cache key) whose program holds the parameters as one vector or the
    pytree {'w', 'b'}, and undoes a diverged epoch with a per-epoch select of the whole
    state (``LoopSpec.keep_last_good``, the loop's default) or by running again (the engine)."""

    class Variant(_program.Spec):
        @property
        def layout(self) -> ParamLayout:
            return ParamLayout(self.d, flat=flat)

    Variant.select = select
    return Variant


def _fit_variant(variant: type, model: JAXOptimizer, X: np.ndarray, y: np.ndarray) -> JAXOptimizer:
    loop_spec = _program.LoopSpec

    def with_select(**kw: Any) -> Any:
        return loop_spec(**{**kw, "keep_last_good": variant.select, "record_skipped": variant.select})

    _jax_optimizer.Spec, _program.LoopSpec = variant, with_select
    try:
        return model.fit(X, y)
    finally:
        _jax_optimizer.Spec, _program.LoopSpec = _program.Spec, loop_spec


def dispatch(repeats: int) -> dict[str, Any]:
    X, y = regression(160, 51, "float32")
    ours = {e: JAXOptimizer("adam", learning_rate=1e-3, epochs=e) for e in (1, 2001)}
    scans = {e: scan_fit(optax.adam(1e-3), e) for e in (1, 2001)}
    t = medians({**{f"ours {e}": (lambda m=m: m.fit(X, y)) for e, m in ours.items()},
                 **{f"scan {e}": (lambda s=s: s(X, y)) for e, s in scans.items()}}, repeats)  # fmt: skip
    per_epoch = {k: (t[f"{k} 2001"] - t[f"{k} 1"]) / 2000 for k in ("ours", "scan")}
    program = next(p for key, p in cached_programs()
                   if key[0] == "JAXOptimizer" and type(key[1]) is _program.Spec and key[1].n == 160)
    scan_text = _scan_hlo(optax.adam(1e-3), 2000, jax.numpy.asarray(X), jax.numpy.asarray(y))
    variants = {"vector, rerun on divergence (the engine)": _variant(True, False),
                "pytree, rerun on divergence": _variant(False, False),
                "vector, per-epoch select of the state": _variant(True, True),
                "pytree, per-epoch select of the state": _variant(False, True)}  # fmt: skip
    layout = medians({name: (lambda v=v: _fit_variant(v, ours[2001], X, y)) for name, v in variants.items()},
                     repeats)  # fmt: skip
    return {
        "fit_fixed_s": {"JAXOptimizer": t["ours 1"], "scan": t["scan 1"]},
        "per_epoch_s": {"JAXOptimizer": per_epoch["ours"], "scan": per_epoch["scan"]},
        "loop_kernels": {"JAXOptimizer": loop_kernels(program.call.as_text()), "scan": loop_kernels(scan_text)},
        "layout_2000_epochs_s": layout,
    }


def _scan_hlo(optimizer: optax.GradientTransformation, epochs: int, X: Any, y: Any) -> str:
    def train(X, y):
        params = {"w": jax.numpy.zeros(X.shape[1], X.dtype), "b": jax.numpy.zeros((), X.dtype)}

        def epoch(carry, _):
            p, state = carry
            value, grads = jax.value_and_grad(lambda p: 0.5 * jax.numpy.mean((X @ p["w"] + p["b"] - y) ** 2))(p)
            updates, state = optimizer.update(grads, state, p)
            return (optax.apply_updates(p, updates), state), value

        return jax.lax.scan(epoch, (params, optimizer.init(params)), length=epochs)

    return jax.jit(train).lower(X, y).compile().as_text()


def placement(repeats: int) -> dict[str, Any]:
    X, _ = regression(60000, 784, "float32")
    aligned = aligned_copy(X)
    cpu = jax.devices("cpu")[0]
    one_thread = 1 << 62

    def engine(threshold: int) -> np.ndarray:
        old = _placement._PARALLEL_COPY_BYTES
        _placement._PARALLEL_COPY_BYTES = threshold
        try:
            return _placement.on_device(X, np.float32, cpu)
        finally:
            _placement._PARALLEL_COPY_BYTES = old

    ones = np.ones(X.shape[1], X.dtype)
    return {
        "address_mod_64": {"numpy": X.ctypes.data % 64, "aligned": aligned.ctypes.data % 64},
        "place_s": medians({
            "jax.device_put (JAX's copy)": lambda: jax.device_put(X, cpu),
            "aligned copy, 1 thread": lambda: engine(one_thread),
            "aligned copy, engine's threads": lambda: engine(_placement._PARALLEL_COPY_BYTES),
            "already 64-byte aligned (in place)": lambda: _placement.on_device(aligned, np.float32, cpu),
        }, repeats),
        "finite_test_s": medians({
            "np.isfinite(X).all()": lambda: np.isfinite(X).all(),
            "np.isfinite(X @ 1).all()": lambda: np.isfinite(X @ ones).all(),
        }, repeats),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", default="benchmark_results/bench_linear_profile.json")
    args = parser.parse_args(argv)
    info = machine()
    print(f"# bench_linear_profile  {info['date']}  load {info['load_avg_1_5_15']}", flush=True)
    out = {"machine": info, "dispatch": dispatch(args.repeats), "placement": placement(args.repeats)}
    d, p = out["dispatch"], out["placement"]
    print("| measurement | JAXOptimizer (engine) | alternative |\n|---|---|---|")
    print(f"| fixed cost of a fit (1 epoch) | {d['fit_fixed_s']['JAXOptimizer'] * 1e3:.2f} ms "
          f"| scan {d['fit_fixed_s']['scan'] * 1e3:.2f} ms |")
    print(f"| per epoch (adam, 160 x 51) | {d['per_epoch_s']['JAXOptimizer'] * 1e6:.2f} us "
          f"| scan {d['per_epoch_s']['scan'] * 1e6:.2f} us |")
    print(f"| XLA kernels in the epoch loop | {d['loop_kernels']['JAXOptimizer']} | scan {d['loop_kernels']['scan']} |")
    for name, sec in d["layout_2000_epochs_s"].items():
        print(f"| 2000 epochs, parameters as {name} | {sec * 1e3:.2f} ms | |")
    for name, s in p["place_s"].items():
        print(f"| place 60000 x 784 float32: {name} | {s * 1e3:.1f} ms | |")
    for name, s in p["finite_test_s"].items():
        print(f"| finiteness test: {name} | {s * 1e3:.1f} ms | |")
    info["load_avg_after"] = os.getloadavg()
    dump_json(out, args.out)
    print(f"\nload after {info['load_avg_after']}; written {args.out}")


if __name__ == "__main__":
    main()
