"""Per-sample parameters (DPA's on-demand pattern) vs DPA's per-sample code, in one run.

A PyTorch ``Dataset.__getitem__`` asks for one sample id at a time. This script times
``gen_augmentation_params(i, config)`` called once per id, for three access patterns:

* ``sequential``: ids ``0 .. N-1`` in order (a plain data loader, a stream);
* ``shuffled``: a permutation of ``0 .. N-1`` (a shuffling sampler over a data set of N);
* ``random64``: random 64-bit ids, none repeated and no two in one cache block (no
  locality at all: every id goes through the single-id host path);

for the default algorithm (``threefry2x32``), and ``algorithm='dpa'`` (DPA's values bit for
bit). Each run of ours starts from an empty cache (``clear_sample_cache()``), so the block
computations of that run are inside its time. The peers are DPA's ``gen_augmentation_params``
rewritten with DPA's structure (``benchmarks.bench_augment_reference``) and, when
``$ACCEL_BENCH_DPA_SRC`` names a DPA checkout, DPA's own code. Every repeat runs every case
once (order reversed on odd repeats); medians and ratios are from the same run. Values are
checked against ``gen_augmentation_batch`` (bit for bit) before timing.

Run: ``python -m benchmarks.bench_augment_sample`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import sys
import time

import numpy as np

from accel.augment import AugmentationConfig, gen_augmentation_batch, gen_augmentation_params
from accel.internals import SAMPLE_CACHE_BLOCK, clear_sample_cache
from benchmarks.bench_augment_reference import dpa_callable, dpa_reference_params, load_dpa


def _bits(values) -> list[bytes]:
    return [struct.pack("<d", float(v)) for v in values]


def check_equal_to_batch(ids: list[int], config: AugmentationConfig, algorithm: str) -> None:
    batch = gen_augmentation_batch(np.array(ids, dtype=np.uint64), config, algorithm=algorithm).to_numpy()
    for k, i in enumerate(ids):
        got = gen_augmentation_params(i, config, algorithm=algorithm)
        if _bits(got.values()) != _bits(batch[name][k] for name in got):
            raise SystemExit(f"per-sample and batch values differ for id {i} ({algorithm})")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100 * 1024, help="ids per run of ours (sequential, shuffled)")
    p.add_argument("--n-random", type=int, default=20_000, help="ids per random64 run of ours and the 'dpa' runs")
    p.add_argument("--ref-n", type=int, default=5_000, help="ids per run of the peers")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.n_random, args.ref_n, args.repeats = 4096, 500, 300, 2
    config = AugmentationConfig()
    rng = np.random.default_rng(0)
    sequential = list(range(args.n))
    shuffled = rng.permutation(args.n).tolist()
    # distinct 64-bit ids, each in its own cache block
    random64 = (rng.choice(2**40, args.n_random, replace=False).astype(np.uint64) * np.uint64(SAMPLE_CACHE_BLOCK * 16384)
                + rng.integers(0, SAMPLE_CACHE_BLOCK, args.n_random, dtype=np.uint64)).tolist()
    check_equal_to_batch(sequential[:2000] + random64[:200], config, "threefry2x32")
    check_equal_to_batch(random64[:100], config, "dpa")

    def ours(ids, algorithm="threefry2x32"):
        def run():
            clear_sample_cache()
            for i in ids:
                gen_augmentation_params(i, config, algorithm=algorithm)
        return run

    def peer(fn, ids):
        return lambda: [fn(i) for i in ids]

    cases = [
        ("dpa_reference, sequential ids", args.ref_n, peer(lambda i: dpa_reference_params(i, config), sequential[: args.ref_n])),
        ("dpa_reference, random64 ids", args.ref_n, peer(lambda i: dpa_reference_params(i, config), random64[: args.ref_n])),
        ("ours threefry2x32, sequential", args.n, ours(sequential)),
        ("ours threefry2x32, shuffled", args.n, ours(shuffled)),
        ("ours threefry2x32, random64", args.n_random, ours(random64)),
        ("ours dpa, sequential", args.n_random, ours(sequential[: args.n_random], "dpa")),
        ("ours dpa, random64", args.n_random, ours(random64, "dpa")),
    ]
    dpa = load_dpa()
    if dpa is not None:
        own = dpa_callable(dpa)
        cases.insert(2, ("dpa (own code), sequential ids", args.ref_n, peer(own, sequential[: args.ref_n])))
    load = os.getloadavg()
    for _, _, run in cases:
        run()  # warm-up (imports, plan constants)
    wall = {name: [] for name, _, _ in cases}
    cpu = {name: [] for name, _, _ in cases}
    for r in range(args.repeats):
        for name, n, run in cases if r % 2 == 0 else cases[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            w, c = time.perf_counter() - t0, time.process_time() - c0
            wall[name].append(n / w)
            cpu[name].append(n / c if c > 0 else float("nan"))
    med = statistics.median
    ref_seq, ref_rand = med(wall[cases[0][0]]), med(wall[cases[1][0]])
    ref_seq_cpu = med(cpu[cases[0][0]])
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, Python {sys.version.split()[0]}, "
          f"load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}, {args.repeats} interleaved repeats")
    print(f"{'case':40s} {'samples/s':>11s} {'x ref':>7s} {'per CPU-s':>11s} {'x ref':>7s}")
    results = {}
    for name, _, _ in cases:
        peer_rate = ref_rand if "random64" in name else ref_seq
        rate, rate_cpu = med(wall[name]), med(cpu[name])
        results[name] = {"samples_per_s": rate, "x_reference": rate / peer_rate, "samples_per_cpu_s": rate_cpu,
                         "x_reference_cpu": rate_cpu / ref_seq_cpu}
        print(f"{name:40s} {rate:>11,.0f} {rate / peer_rate:>7.2f} {rate_cpu:>11,.0f} {rate_cpu / ref_seq_cpu:>7.2f}")
    print("(x ref: over the dpa_reference row of the same id kind; per CPU-s ratios over the sequential reference)")
    return results


if __name__ == "__main__":
    main()
