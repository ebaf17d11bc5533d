"""Steady-state time of one ``ParallelTrainer(n_devices=1).fit`` against ``JAXOptimizer.fit``.

The data are 10000 x 785 float32 Gaussian rows. The training is adam, lr 0.01, batch 1000,
20 epochs. Each estimator fits once to compile, then 7 fresh estimators fit and are timed
(``fit`` returns NumPy arrays, so every call has waited for the device). The script prints
the two medians and their ratio on one line, labelled with the first argument.

It is meant for comparing two checkouts: run it from each tree's root, alternating, and
compare the medians. Recorded in BENCHMARKS.md, "Issue 22 changes: before and after".

Usage::

    python -m benchmarks.bench_trainer_fit after
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

import numpy as np

from accel import JAXOptimizer, ParallelTrainer

ROWS, FEATURES, REPEATS = 10_000, 785, 7


def main(label: str = "run") -> dict[str, float]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, FEATURES)).astype(np.float32)
    y = (X @ rng.standard_normal(FEATURES) / 28).astype(np.float32)
    makers = {
        "pt": lambda: ParallelTrainer(n_devices=1, epochs=20, batch_size=1000, learning_rate=0.01),
        "jax": lambda: JAXOptimizer("adam", learning_rate=0.01, epochs=20, batch_size=1000),
    }
    medians = {}
    for name, make in makers.items():
        make().fit(X, y)  # compiles; the timed fits reuse the program
        times = []
        for _ in range(REPEATS):
            model = make()
            t0 = time.perf_counter()
            model.fit(X, y)
            times.append(time.perf_counter() - t0)
        medians[name] = statistics.median(times)
    ratio = medians["pt"] / medians["jax"]
    print(f"{label} pt {medians['pt']:.4f} jax {medians['jax']:.4f} ratio {ratio:.3f}", flush=True)
    return medians


if __name__ == "__main__":
    main(*sys.argv[1:2])
