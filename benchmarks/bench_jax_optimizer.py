"""Benchmark: JAXOptimizer vs the NumPy reference vs a naive optax loop (issue 4).

Run from the repository root (after ``pip install .``)::

    python -m benchmarks.bench_jax_optimizer                 # all cases, float64 and float32
    python -m benchmarks.bench_jax_optimizer --cases a d --dtypes float64 --repeats 3

Cases (Adam, learning_rate=1e-3, loss='mse', synthetic Gaussian regression):

    a  160 x 51,      2000 epochs, full batch
    b  800 x 1001,    500 epochs,  full batch
    c  10000 x 785,   200 epochs,  full batch
    d  160 x 51,      2000 epochs, batch_size=32
    gpu 60000 x 784,  1000 epochs, full batch, float32 (only when JAX sees a GPU)

Method (shared DESIGN.md, "What the peers got wrong"):

* every backend runs in the same dtype; data are placed on the device before timing;
* each timed call returns host NumPy results (JAXOptimizer's ``fit`` reads its results back;
  the naive loop ends with ``block_until_ready``), so nothing is left running;
* the first call (compilation included) is reported apart as ``first``, with the XLA
  compile time measured by JAX's own monitoring events (``compile``); the table's times
  are medians of ``--repeats`` further calls;
* "naive optax" is the loop a notebook user writes: ``jax.value_and_grad`` of the loss,
  ``optax.adam``, one ``jax.jit``-ed step per mini-batch called from a Python ``for``, the
  rows shuffled with ``np.random`` per epoch, the epoch's loss read back with ``float()``.
  (The rows are gathered inside the jitted step: eager ``X[rows]`` on a device array costs
  milliseconds of dispatch per batch and would make this baseline a straw man.)

The extra line ``highdim`` times the NumPy reference ``Adam(epochs=500).fit`` on a
1000 x 1000 float64 well-conditioned regression (issue 3's note):
``benchmarks.datasets.generate_highdim_regression(1000, 1000)`` when that module is
installed, else a stand-in with the same shape and an exactly constructed spectrum
(condition number 50 of ``X.T @ X / n``, ``X = U diag(s) V^T``).

Results are printed as a Markdown table and written to
``benchmark_results/bench_jax_optimizer.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import JAXOptimizer
from optimizers import Adam

CASES: dict[str, tuple[int, int, int, int | None]] = {
    "a": (160, 51, 2000, None),
    "b": (800, 1001, 500, None),
    "c": (10000, 785, 200, None),
    "d": (160, 51, 2000, 32),
}
GPU_CASE = (60000, 784, 1000, None)
LEARNING_RATE = 1e-3


def regression(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = X @ (rng.standard_normal(d) / np.sqrt(d)) + 0.5 + 0.1 * rng.standard_normal(n)
    return X, y


class CompileClock:
    """Sums JAX's compile events (tracing, lowering, XLA compile) while active."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self) -> None:
        self.total = 0.0
        self.active = False
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **kwargs: Any) -> None:
        if self.active and event in self.EVENTS:
            self.total += duration

    def measure(self, fn: Callable[[], Any]) -> tuple[float, float]:
        """``(wall seconds, compile seconds)`` of one call."""
        self.total, self.active = 0.0, True
        try:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0, self.total
        finally:
            self.active = False


CLOCK = CompileClock()


def timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    first, compile_s = CLOCK.measure(fn)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return {"first_s": first, "compile_s": compile_s, "median_s": statistics.median(runs), "runs_s": runs}


def naive_optax_loop(X, y, epochs: int, batch_size: int | None, lr: float) -> Callable[[], Any]:
    """The loop a notebook user writes (see the module docstring)."""
    n, d = X.shape
    tx = optax.adam(lr)

    def loss_fn(params, Xb, yb):
        r = Xb @ params["w"] + params["b"] - yb
        return 0.5 * jnp.mean(r * r)

    @jax.jit
    def step(params, opt_state, Xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, Xb, yb)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def batch_step(params, opt_state, X, y, rows):  # the gather inside the jitted step
        return step(params, opt_state, X[rows], y[rows])

    def run() -> Any:
        params = {"w": jnp.zeros(d, X.dtype), "b": jnp.zeros((), X.dtype)}
        opt_state = tx.init(params)
        rng = np.random.default_rng(0)
        losses = []
        for _ in range(epochs):
            if batch_size is None:
                params, opt_state, loss = step(params, opt_state, X, y)
            else:
                order = rng.permutation(n)
                for start in range(0, n, batch_size):
                    rows = order[start : start + batch_size]
                    params, opt_state, loss = batch_step(params, opt_state, X, y, rows)
            losses.append(float(loss))
        return jax.block_until_ready(params)

    return run


def bench_case(name: str, dtype: str, repeats: int, numpy_repeats: int) -> dict[str, Any]:
    n, d, epochs, batch_size = CASES[name] if name in CASES else GPU_CASE
    X, y = regression(n, d)
    X, y = X.astype(dtype), y.astype(dtype)
    row: dict[str, Any] = {"case": name, "n": n, "d": d, "epochs": epochs, "batch_size": batch_size, "dtype": dtype}
    with jax.enable_x64(dtype == "float64"):
        Xj, yj = jax.block_until_ready((jnp.asarray(X), jnp.asarray(y)))  # on the device before timing
        model = JAXOptimizer("adam", learning_rate=LEARNING_RATE, epochs=epochs, batch_size=batch_size, dtype=dtype)
        row["jax"] = timed(lambda: model.fit(Xj, yj), repeats)
        row["final_loss_jax"] = float(model.history_["loss"][-1])
        row["naive"] = timed(naive_optax_loop(Xj, yj, epochs, batch_size, LEARNING_RATE), repeats)
    if name in CASES:
        ref = Adam(learning_rate=LEARNING_RATE, epochs=epochs, batch_size=batch_size, dtype=dtype)
        row["numpy"] = timed(lambda: ref.fit(X, y), numpy_repeats)
        row["final_loss_numpy"] = float(ref.history_["loss"][-1])
    return row


def bandwidth_floor(n: int, d: int, epochs: int, dtype: str = "float32") -> dict[str, float]:
    """Two passes over X per epoch at the measured device-to-device copy bandwidth."""
    x = jnp.ones((n, d), dtype)
    copy = jax.jit(lambda a: a + 0)  # reads and writes n*d elements
    copy(x).block_until_ready()
    runs = []
    for _ in range(20):
        t0 = time.perf_counter()
        copy(x).block_until_ready()
        runs.append(time.perf_counter() - t0)
    nbytes = x.size * x.dtype.itemsize
    bandwidth = 2 * nbytes / statistics.median(runs)  # bytes moved per second (read + write)
    return {"bandwidth_GBps": bandwidth / 1e9, "floor_s": epochs * 2 * nbytes / bandwidth}


def highdim_adam(repeats: int) -> dict[str, Any]:
    try:
        from benchmarks.datasets import generate_highdim_regression

        X, y, _, meta = generate_highdim_regression(1000, 1000)
        source = "benchmarks.datasets.generate_highdim_regression(1000, 1000)"
        kappa = float(meta["condition_number"])
    except ImportError:
        rng = np.random.default_rng(0)
        n = d = 1000
        U, _ = np.linalg.qr(rng.standard_normal((n, d)))
        V, _ = np.linalg.qr(rng.standard_normal((d, d)))
        s = np.sqrt(n * np.geomspace(50.0, 1.0, d))  # eigenvalues of X.T X / n from 50 to 1
        X = (U * s) @ V.T
        y = X @ rng.standard_normal(d) + 0.1 * rng.standard_normal(n)
        source = "stand-in: X = U diag(s) V^T, condition number 50 (benchmarks.datasets absent)"
        kappa = float(np.linalg.cond(X.T @ X / n))
    model = Adam(epochs=500)
    result = timed(lambda: model.fit(X, y), repeats)
    return {"source": source, "condition_number": kappa, "dtype": str(model.coef_.dtype), **result}


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_avg_1_5_15": load,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "jax": jax.__version__,
        "optax": optax.__version__,
        "jax_devices": [str(dev) for dev in jax.devices()],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | shape | epochs | batch | dtype | JAXOptimizer | first (compile) | NumPy ref | naive optax | NumPy / JAX | naive / JAX |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        jx, nv = r["jax"]["median_s"], r["naive"]["median_s"]
        npy = r.get("numpy", {}).get("median_s")
        lines.append(
            f"| {r['case']} | {r['n']}x{r['d']} | {r['epochs']} | {r['batch_size'] or 'full'} | {r['dtype']} "
            f"| {jx * 1e3:.1f} ms | {r['jax']['first_s']:.2f} s ({r['jax']['compile_s']:.2f} s) "
            f"| {'-' if npy is None else f'{npy * 1e3:.1f} ms'} | {nv * 1e3:.1f} ms "
            f"| {'-' if npy is None else f'{npy / jx:.2f}x'} | {nv / jx:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls after the first (median)")
    parser.add_argument("--numpy-repeats", type=int, default=3)
    parser.add_argument("--skip-highdim", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("benchmark_results/bench_jax_optimizer.json"))
    args = parser.parse_args(argv)

    info = machine()
    print(f"# bench_jax_optimizer  {info['date']}  {info['platform']}  cpus={info['cpu_count']}  "
          f"load={info['load_avg_1_5_15']}  jax {info['jax']}  devices={info['jax_devices']}", flush=True)
    rows = []
    for dtype in args.dtypes:
        for name in args.cases:
            rows.append(bench_case(name, dtype, args.repeats, args.numpy_repeats))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    gpu: dict[str, Any] | None = None
    if any(dev.platform == "gpu" for dev in jax.devices()):
        gpu = bench_case("gpu", "float32", args.repeats, 0)
        gpu.update(bandwidth_floor(*GPU_CASE[:3]))
        rows.append(gpu)
    print()
    print(table(rows))
    if gpu is not None:
        print(f"\nGPU 60000x784 float32, 1000 epochs: {gpu['jax']['median_s']:.3f} s vs bandwidth floor "
              f"{gpu['floor_s']:.3f} s ({gpu['bandwidth_GBps']:.0f} GB/s copy): "
              f"{gpu['jax']['median_s'] / gpu['floor_s']:.2f}x the floor")
    highdim = None
    if not args.skip_highdim:
        highdim = highdim_adam(max(1, args.numpy_repeats))
        print(f"\nNumPy Adam(epochs=500).fit on 1000x1000 {highdim['dtype']} ({highdim['source']}, "
              f"condition number {highdim['condition_number']:.1f}): median {highdim['median_s']:.2f} s "
              f"(first {highdim['first_s']:.2f} s)")
    info["load_avg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "rows": rows, "highdim": highdim}, indent=2))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
