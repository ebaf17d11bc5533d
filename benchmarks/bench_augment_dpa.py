"""DPA bit-exact kernel vs the pure-Python DPA algorithm, in one process.

Usage::

    python -m benchmarks.bench_augment_dpa [--depth 10] [--n 131072] [--n-oracle 5000] [--repeats 5]

Measures samples/s of :func:`accel.augment._dpa.dpa_uniforms` (end to end: host ids in,
float64 uniforms out, so every device result is waited for) and of the pure-Python
algorithm (hashlib + ``random.Random``), checks that both agree bit for bit on the oracle's
ids, and reports compile time apart (first call per batch bucket).
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import random
import statistics
import time

import jax
import numpy as np

from accel.augment import _dpa


def oracle(sample_id: int, depth: int, prefix: str = "") -> list[float]:
    """DPA v0.2's algorithm in pure Python (the baseline)."""
    h = hashlib.sha256((prefix + str(sample_id)).encode()).hexdigest()
    a, b = 0, 1
    for _ in range(depth):
        h = hashlib.sha256((h + str(a)).encode()).hexdigest()
        a, b = b, a + b
    r = random.Random(int(h, 16) % 2**32)
    return [r.random() for _ in range(5)]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--n", type=int, default=1 << 17, help="ids per kernel run")
    parser.add_argument("--n-oracle", type=int, default=5_000, help="ids per oracle run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--start-id", type=int, default=10**12)
    args = parser.parse_args(argv)

    ids = np.arange(args.start_id, args.start_id + args.n, dtype=np.uint64)
    t0 = time.perf_counter()
    _dpa.dpa_uniforms(ids[:1], depth=args.depth)
    compile_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    _dpa.dpa_uniforms(ids[: _dpa._MAX_CHUNK], depth=args.depth)
    compile_chunk = time.perf_counter() - t0

    # Kernel and oracle runs alternate so that both see the same machine load (shared CPU).
    oracle_ids = [int(i) for i in ids[: args.n_oracle]]
    kernel_times, oracle_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = _dpa.dpa_uniforms(ids, depth=args.depth)  # returns NumPy: device work is done
        kernel_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ref = [oracle(i, args.depth) for i in oracle_ids]
        oracle_times.append(time.perf_counter() - t0)
    exact = bool(np.array_equal(out[: args.n_oracle], np.array(ref)))
    ratios = [(args.n / k) / (args.n_oracle / o) for k, o in zip(kernel_times, oracle_times, strict=True)]

    kernel_rate = args.n / statistics.median(kernel_times)
    oracle_rate = args.n_oracle / statistics.median(oracle_times)
    result = {
        "device": str(jax.devices()[0]),
        "machine": platform.processor() or platform.machine(),
        "depth": args.depth,
        "n_kernel": args.n,
        "n_oracle": args.n_oracle,
        "compile_first_bucket_s": round(compile_small, 2),
        "compile_chunk_bucket_s": round(compile_chunk, 2),
        "kernel_median_s": round(statistics.median(kernel_times), 4),
        "kernel_samples_per_s": round(kernel_rate),
        "oracle_median_s": round(statistics.median(oracle_times), 4),
        "oracle_samples_per_s": round(oracle_rate),
        "speedup_of_medians": round(kernel_rate / oracle_rate, 2),
        "speedup_per_repeat": [round(r, 2) for r in ratios],
        "bit_exact_on_oracle_ids": exact,
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    if not exact:
        raise SystemExit("kernel and oracle disagree")
    return result


if __name__ == "__main__":
    main()
