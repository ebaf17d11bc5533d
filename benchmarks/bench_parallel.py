"""ParallelTrainer timings: 1 device vs JAXOptimizer, and per-step time on 1/2/4 devices.

    python -m benchmarks.bench_parallel            # CPU: 4 emulated host devices
    python -m benchmarks.bench_parallel --quick    # smaller problem (smoke test)

On CPU the "devices" are XLA host devices emulated on the same cores
(``JAX_NUM_CPU_DEVICES=4``): more devices split the same cores, so the per-step time shows
the overhead of data parallelism (collectives, padding), not a speed-up. On a machine with
N GPUs the same script uses them (``jax.devices()``) and the 1/2/4 rows are real devices;
with a GPU it also times ``fit`` on 60000x784 and an MLP ``train`` (1 GPU).

Every timing: the first call compiles (reported apart as "compile"), then the median of
``--repeats`` calls; each call returns NumPy results, so it waits for the device.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

import argparse
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import ParallelTrainer


def _time(fn, repeats: int) -> tuple[float, float]:
    """(first call incl. compile, median of ``repeats`` further calls), seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return first, statistics.median(runs)


def _linear_data(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X @ rng.normal(size=d) / np.sqrt(d)).astype(np.float32)
    return X, y


def _mlp(n: int, d: int, hidden: int, classes: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    data = {"x": rng.normal(size=(n, d)).astype(np.float32),
            "label": rng.integers(0, classes, n).astype(np.int32)}  # fmt: skip
    params = {
        "w1": (rng.normal(size=(d, hidden)) / np.sqrt(d)).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": (rng.normal(size=(hidden, classes)) / np.sqrt(hidden)).astype(np.float32),
        "b2": np.zeros(classes, np.float32),
    }

    def loss_fn(p, batch):
        h = jax.nn.relu(batch["x"] @ p["w1"] + p["b1"])
        logits = h @ p["w2"] + p["b2"]
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]))

    return loss_fn, params, data


def bench_vs_jax_optimizer(n, d, epochs, batch, repeats):
    from accel import JAXOptimizer

    X, y = _linear_data(n, d)
    kw = dict(optimizer_type="adam", learning_rate=0.01, epochs=epochs, batch_size=batch)
    jo = JAXOptimizer(**kw)
    pt = ParallelTrainer(n_devices=1, **kw)
    c_jo, t_jo = _time(lambda: jo.fit(X, y), repeats)
    c_pt, t_pt = _time(lambda: pt.fit(X, y), repeats)
    rel = float(np.max(np.abs(pt.coef_ - jo.coef_)) / np.max(np.abs(jo.coef_)))
    print(f"\n## 1 device vs JAXOptimizer: {n}x{d}, adam, batch {batch}, {epochs} epochs")
    print("| trainer | first call (incl. compile) s | median s | ratio |")
    print("|---|---|---|---|")
    print(f"| JAXOptimizer | {c_jo:.3f} | {t_jo:.4f} | 1.00 |")
    print(f"| ParallelTrainer(n_devices=1) | {c_pt:.3f} | {t_pt:.4f} | {t_pt / t_jo:.2f} |")
    print(f"max |coef difference| / max |coef| = {rel:.2e}")


def bench_devices(n, d, epochs, batch, repeats, backends, device_counts):
    X, y = _linear_data(n, d)
    steps = epochs * -(-n // batch)
    print(f"\n## fit per-step time: {n}x{d}, adam, global batch {batch}, {steps} steps")
    print("| backend | devices | first call s | median s | per step ms | vs 1 device |")
    print("|---|---|---|---|---|---|")
    for backend in backends:
        base = None
        for k in device_counts:
            pt = ParallelTrainer(n_devices=k, backend=backend, epochs=epochs, batch_size=batch)
            first, med = _time(lambda pt=pt: pt.fit(X, y), repeats)
            base = base or med
            print(f"| {backend} | {k} | {first:.3f} | {med:.4f} | {1e3 * med / steps:.3f} | "
                  f"{med / base:.2f} |")  # fmt: skip


def bench_mlp(n, d, hidden, epochs, batch, repeats, device_counts):
    loss_fn, params, data = _mlp(n, d, hidden, 10)
    steps = epochs * -(-n // batch)
    print(f"\n## MLP train per-step time: {n}x{d} -> {hidden} -> 10, adam, batch {batch}, "
          f"{steps} steps")  # fmt: skip
    print("| devices | first call s | median s | per step ms | samples/s |")
    print("|---|---|---|---|---|")
    for k in device_counts:
        pt = ParallelTrainer(n_devices=k, epochs=epochs, batch_size=batch)
        first, med = _time(lambda pt=pt: pt.train(loss_fn, params, data), repeats)
        print(f"| {k} | {first:.3f} | {med:.4f} | {1e3 * med / steps:.3f} | "
              f"{n * epochs / med:.0f} |")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    devices = jax.devices()
    gpu = devices[0].platform == "gpu"
    counts = [k for k in (1, 2, 4) if k <= len(devices)]
    print(f"# bench_parallel: jax {jax.__version__}, {len(devices)} x {devices[0].device_kind}"
          f" ({devices[0].platform}), {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    if args.quick:
        bench_vs_jax_optimizer(2000, 101, 5, 200, args.repeats)
        bench_devices(2000, 101, 5, 200, args.repeats, ["pmap"], counts)
        bench_mlp(2048, 64, 128, 2, 256, args.repeats, counts)
        return
    bench_vs_jax_optimizer(10000, 785, 20, 1000, args.repeats)
    bench_devices(10000, 785, 10, 1000, args.repeats, ["pmap", "shard_map", "jit"], counts)
    bench_mlp(8192, 784, 256, 3, 512, args.repeats, counts)
    if gpu:
        print("\n## 1 GPU")
        bench_vs_jax_optimizer(60000, 784, 100, 60000, args.repeats)
        bench_devices(60000, 784, 100, 6000, args.repeats, ["pmap"], [1])
        bench_mlp(60000, 784, 1024, 10, 1000, args.repeats, [1])


if __name__ == "__main__":
    main()
