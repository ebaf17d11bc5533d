"""DPA-exact batch mode vs DPA's per-sample code, in one process.

Usage::

    python -m benchmarks.bench_augment_dpa [--n 1000000] [--n-ref 5000] [--repeats 5]

Times ``gen_augmentation_batch(ids, config, algorithm='dpa')`` (the public path: host ids
in, float64 parameters out, so every device result is waited for) on ``--n`` ids, and the
DPA reference (``benchmarks.bench_augment_reference``: DPA's ``gen_augmentation_params``
with DPA's own structure, one call per id) on ``--n-ref`` ids, alternating (the order
reversed on odd repeats) so both see the same machine load; DPA's own code too when
``$ACCEL_BENCH_DPA_SRC`` names a checkout. DPA is single-threaded, so its samples/s is its
rate per core; ours uses the whole CPU. Both wall-clock and process-CPU rates are reported.
Checks that the batch equals the reference bit for bit on the reference's ids, and reports
compile time apart (first call per batch bucket).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import jax
import numpy as np

from accel.augment import PARAM_NAMES, AugmentationConfig, gen_augmentation_batch
from accel.internals import augment_dpa as _dpa
from benchmarks.bench_augment_reference import dpa_callable, dpa_reference_params, load_dpa


def reference_rows(ids: list[int], config: AugmentationConfig) -> np.ndarray:
    """``(n, 5)`` float64 parameters of the DPA reference (for bit checks of the kernel)."""
    return np.array([[dpa_reference_params(i, config)[name] for name in PARAM_NAMES] for i in ids])


def params_from_uniforms(u: np.ndarray, config: AugmentationConfig) -> np.ndarray:
    """DPA's ``lo + (hi - lo) * u`` per column (as ``gen_augmentation_batch`` computes it)."""
    return np.stack([lo + (hi - lo) * u[:, j] for j, (lo, hi) in enumerate(config.ranges)], axis=1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="ids per batch call")
    parser.add_argument("--n-ref", type=int, default=5_000, help="ids per run of the per-sample peers")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--start-id", type=int, default=10**12)
    args = parser.parse_args(argv)
    config = AugmentationConfig()
    ids = np.arange(args.start_id, args.start_id + args.n, dtype=np.uint64)
    ref_ids = [int(i) for i in ids[: args.n_ref]]

    t0 = time.perf_counter()
    gen_augmentation_batch(ids[:1], config, algorithm="dpa")
    compile_small = time.perf_counter() - t0
    t0 = time.perf_counter()
    gen_augmentation_batch(ids[: _dpa._MAX_CHUNK], config, algorithm="dpa")
    compile_chunk = time.perf_counter() - t0

    cases = {
        "batch": (args.n, lambda: gen_augmentation_batch(ids, config, algorithm="dpa")),
        "reference": (args.n_ref, lambda: [dpa_reference_params(i, config) for i in ref_ids]),
    }
    dpa = load_dpa()
    if dpa is not None:
        own = dpa_callable(dpa)
        cases["dpa own code"] = (args.n_ref, lambda: [own(i) for i in ref_ids])
    load = os.getloadavg()
    wall = {k: [] for k in cases}
    cpu = {k: [] for k in cases}
    out = None
    for r in range(args.repeats):
        for name, (n, fn) in list(cases.items()) if r % 2 == 0 else list(cases.items())[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            w, c = time.perf_counter() - t0, time.process_time() - c0
            if name == "batch":
                out = result
            wall[name].append(n / w)
            cpu[name].append(n / c if c > 0 else float("nan"))
    got = out.to_numpy()
    got = np.stack([got[name][: len(ref_ids)] for name in PARAM_NAMES], axis=1)
    exact = got.tobytes() == reference_rows(ref_ids, config).tobytes()  # bit for bit
    med = statistics.median
    pairs = [a / b for a, b in zip(wall["batch"], wall["reference"], strict=True)]
    result = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "device": str(jax.devices()[0]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "load_start_end": (round(load[0], 2), round(os.getloadavg()[0], 2)),
        "depth": config.augmentation_depth,
        "n_batch": args.n,
        "n_ref": args.n_ref,
        "compile_first_bucket_s": round(compile_small, 2),
        "compile_chunk_bucket_s": round(compile_chunk, 2),
    }
    for name in cases:
        result[f"{name}_samples_per_s"] = round(med(wall[name]))
        result[f"{name}_samples_per_cpu_s"] = round(med(cpu[name]))
    result["batch_over_reference_wall"] = round(med(wall["batch"]) / med(wall["reference"]), 2)
    result["batch_over_reference_per_repeat"] = [round(x, 2) for x in pairs]
    result["batch_over_reference_cpu"] = round(med(cpu["batch"]) / med(cpu["reference"]), 2)
    if "dpa own code" in cases:
        result["batch_over_dpa_own_wall"] = round(med(wall["batch"]) / med(wall["dpa own code"]), 2)
    result["bit_exact_on_reference_ids"] = exact
    for key, value in result.items():
        print(f"{key}: {value}")
    if not exact:
        raise SystemExit("batch and reference disagree")
    return result


if __name__ == "__main__":
    main()
