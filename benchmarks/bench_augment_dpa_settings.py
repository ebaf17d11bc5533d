"""A/B of the DPA kernel's XLA:CPU settings, in one process, alternating with the DPA reference.

Usage::

    python -m benchmarks.bench_augment_dpa_settings [--repeats 6]

Variants (all bit-identical, checked against the reference): the settings before 1453e85
(XLA's default vector width, MT19937 unrolled 8 steps per iteration), 512-bit vectors only,
and the current settings (512-bit vectors, MT19937 one step per iteration). Each repeat runs
every variant on 131072 ids (depth 10) and the DPA reference (DPA's per-sample
``gen_augmentation_params`` with DPA's structure, ``benchmarks.bench_augment_reference``) on
5000 ids, so all see the same machine load. Reports the median wall-clock rate, its ratio to the reference's, and
the median rate per CPU-second of the process (XLA splits large fusions across the cores,
so wall and CPU rates differ).
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np

from accel.augment import AugmentationConfig
from accel.internals import augment_dpa as _dpa
from accel.internals import augment_mt19937 as _mt19937
from benchmarks.bench_augment_dpa import params_from_uniforms, reference_rows
from benchmarks.bench_augment_reference import dpa_reference_params

VARIANTS = {"before (default width, MT unroll 8)": (None, 8), "512-bit, MT unroll 8": (512, 8), "current": (512, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args(argv)
    n, n_oracle, depth = 1 << 17, 5000, 10
    ids = np.arange(10**12, 10**12 + n, dtype=np.uint64)
    oracle_ids = [int(i) for i in ids[:n_oracle]]
    config = AugmentationConfig(augmentation_depth=depth)
    ref = reference_rows(oracle_ids, config)
    first_outputs, cached_kernel = _mt19937.first_outputs, _dpa._kernel
    make_kernel = cached_kernel.__wrapped__  # the uncached factory: one kernel per variant
    kernels = {}
    try:
        for name, (width, mt_unroll) in VARIANTS.items():
            # The kernel is traced (and the patched first_outputs used) on its first call.
            _mt19937.first_outputs = functools.partial(first_outputs, unroll=mt_unroll)
            kernel = make_kernel(8, width)
            _dpa._kernel = lambda kernel=kernel: kernel
            u = _dpa.dpa_uniforms(ids[: _dpa._MAX_CHUNK], depth=depth)[:n_oracle]
            if params_from_uniforms(u, config).tobytes() != ref.tobytes():
                raise SystemExit(f"{name}: kernel and reference disagree")
            kernels[name] = kernel
        _mt19937.first_outputs = first_outputs
        wall, cpu, oracle_rates = {k: [] for k in kernels}, {k: [] for k in kernels}, []
        for _ in range(args.repeats):
            for name, kernel in kernels.items():
                _dpa._kernel = lambda kernel=kernel: kernel
                t0, p0 = time.perf_counter(), time.process_time()
                _dpa.dpa_uniforms(ids, depth=depth)
                wall[name].append(n / (time.perf_counter() - t0))
                cpu[name].append(n / (time.process_time() - p0))
                t0 = time.perf_counter()
                [dpa_reference_params(i, config) for i in oracle_ids]
                oracle_rates.append(n_oracle / (time.perf_counter() - t0))
    finally:
        _mt19937.first_outputs, _dpa._kernel = first_outputs, cached_kernel
    med = statistics.median
    print(f"DPA reference: median {med(oracle_rates):,.0f} samples/s")
    for name in kernels:
        print(
            f"{name}: median {med(wall[name]):,.0f} samples/s, {med(wall[name]) / med(oracle_rates):.2f}x the reference; "
            f"{med(cpu[name]):,.0f} samples per CPU-second; per repeat {[round(r) for r in wall[name]]}"
        )


if __name__ == "__main__":
    main()
