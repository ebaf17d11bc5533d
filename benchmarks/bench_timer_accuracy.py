"""Accuracy of the timers against independent measurements (wall-clock; not a unit test).

Usage::

    python -m benchmarks.bench_timer_accuracy [--size 1024] [--rounds 15] [--json out.json]

Two real-time checks, moved here from the unit tests (issue 25 item 7: a wall-clock ratio
fails when load comes and goes; the tests now check the timers' logic with a fake clock):

1. ``compare_backends`` against ``timeit``: a ``size x size`` float32 matmul, NumPy and JAX.
   The harness's median (3 runs after 1 warm-up) against ``timeit``'s median of 3 of the same
   NumPy call and of the same AOT-compiled JAX function with ``block_until_ready``; ``rounds``
   rounds, the harness first in even rounds and last in odd ones, so load that comes and goes
   falls on both alike. NumPy's BLAS runs on one thread (``threadpoolctl``): on a 2-core
   machine two BLAS threads made the matmul bimodal. Reported: the median over rounds of
   each side and their ratio ``harness / timeit`` (1.0 = the harness adds nothing).
2. ``benchmark_optimizer`` waits for asynchronous JAX work: a fit that only dispatches
   ``tanh(w @ w)`` 40 times (400 x 400). Reported: the dispatch time (min of 3), the work
   with an explicit wait (min of 3) and the harness's fastest timed fit; the ratio
   ``fit / work`` is about 1 when the harness waits, about ``dispatch / work`` when not.

It prints the date, the machine, its load average and the numbers; ``--json`` also writes them.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from accel import benchmark_optimizer, compare_backends


def _blas_one_thread() -> tuple[Any, str]:
    try:
        import threadpoolctl
    except ImportError:
        return nullcontext(), "not limited (threadpoolctl is not installed)"
    return threadpoolctl.threadpool_limits(limits=1, user_api="blas"), "1 (threadpoolctl)"


def harness_vs_timeit(size: int, rounds: int) -> dict[str, Any]:
    """Median over ``rounds`` of the harness's and of timeit's medians, per backend."""
    x = np.random.default_rng(1).standard_normal((size, size)).astype(np.float32)
    xj = jax.device_put(x).block_until_ready()

    def f(X):
        return X @ X

    compiled = jax.jit(f).lower(xj).compile()
    harness: dict[str, list[float]] = {"numpy": [], "jax": []}
    independent: dict[str, list[float]] = {"numpy": [], "jax": []}

    def by_harness() -> None:
        res = compare_backends(f, x, backends=("numpy", "jax"), n_runs=3, warmup=1)
        for name in harness:
            harness[name].append(res[name].median_time)

    def by_timeit() -> None:
        independent["jax"].append(statistics.median(
            timeit.repeat(lambda: compiled(xj).block_until_ready(), number=1, repeat=3)))
        independent["numpy"].append(statistics.median(timeit.repeat(lambda: f(x), number=1, repeat=3)))

    limit, threads = _blas_one_thread()
    with limit:
        for r in range(rounds):
            for measure in (by_harness, by_timeit) if r % 2 == 0 else (by_timeit, by_harness):
                measure()
    out: dict[str, Any] = {"size": size, "rounds": rounds, "blas_threads": threads, "backends": {}}
    for name in harness:
        h, i = statistics.median(harness[name]), statistics.median(independent[name])
        out["backends"][name] = {
            "harness_median_s": h, "timeit_median_s": i, "ratio": h / i,
            "harness_range_s": [min(harness[name]), max(harness[name])],
            "timeit_range_s": [min(independent[name]), max(independent[name])],
        }
    return out


@jax.jit
def _long_device_work(w):
    return jax.lax.fori_loop(0, 40, lambda i, w: jnp.tanh(w @ w), w)


class _AsyncFit:
    """fit() returns as soon as the work is dispatched, like any JAX estimator."""

    def __init__(self) -> None:
        self._w = jnp.full((400, 400), 1.0 / 400, jnp.float32)

    def fit(self, X, y):
        self.coef_ = _long_device_work(self._w)
        self.history_, self.n_epochs_ = {"loss": [1.0, 0.5]}, 1
        return self


def optimizer_waits_for_device() -> dict[str, Any]:
    w = jnp.full((400, 400), 1.0 / 400, jnp.float32)
    _long_device_work(w).block_until_ready()  # compile
    work = min(timeit.repeat(lambda: _long_device_work(w).block_until_ready(), number=1, repeat=3))
    dispatches = []
    for _ in range(3):
        t0 = time.perf_counter()
        pending = _long_device_work(w)
        dispatches.append(time.perf_counter() - t0)
        pending.block_until_ready()
    res = benchmark_optimizer(_AsyncFit(), np.ones((8, 2)), np.ones(8), n_runs=3)
    fit = min(res.times)
    return {"dispatch_min_s": min(dispatches), "work_min_s": work, "fit_min_s": fit,
            "dispatch_over_work": min(dispatches) / work, "fit_over_work": fit / work}


def _machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "load_average_1_5_15": load,
        "jax": f"{jax.__version__} on {jax.devices()[0].platform}", "numpy": np.__version__,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_timer_accuracy",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="matrix size n (n x n float32)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (>= 1)")
    parser.add_argument("--json", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    if args.size < 1 or args.rounds < 1:
        parser.error("--size and --rounds must be >= 1")
    machine = _machine()
    print(f"{machine['date_utc']}  {machine['platform']}  {machine['cpu_count']} CPUs  "
          f"load average {machine['load_average_1_5_15']}  jax {machine['jax']}  numpy {machine['numpy']}")
    accuracy = harness_vs_timeit(args.size, args.rounds)
    print(f"\n1. compare_backends vs timeit: {args.size}x{args.size} float32 matmul, "
          f"{args.rounds} interleaved rounds, BLAS threads {accuracy['blas_threads']}")
    print(f"   {'backend':8} {'harness ms':>11} {'timeit ms':>10} {'harness/timeit':>15}  rounds' range ms (harness; timeit)")
    for name, r in accuracy["backends"].items():
        hr, tr = (np.asarray(r["harness_range_s"]) * 1e3, np.asarray(r["timeit_range_s"]) * 1e3)
        print(f"   {name:8} {r['harness_median_s'] * 1e3:11.3f} {r['timeit_median_s'] * 1e3:10.3f} "
              f"{r['ratio']:15.3f}  {hr[0]:.2f}-{hr[1]:.2f}; {tr[0]:.2f}-{tr[1]:.2f}")
    waits = optimizer_waits_for_device()
    print("\n2. benchmark_optimizer on a fit that only dispatches (40 x tanh(w @ w), 400 x 400):")
    print(f"   dispatch {waits['dispatch_min_s'] * 1e3:.3f} ms, work {waits['work_min_s'] * 1e3:.3f} ms, "
          f"timed fit {waits['fit_min_s'] * 1e3:.3f} ms: fit / work = {waits['fit_over_work']:.3f} "
          f"(dispatch / work = {waits['dispatch_over_work']:.4f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine, "harness_vs_timeit": accuracy, "optimizer_waits": waits}, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
