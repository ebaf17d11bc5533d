"""Augmentation-parameter throughput: accel.augment kernels vs DPA's per-sample code, one run.

Cases (all in one process; every repeat runs every case once, the order reversed on odd
repeats, so the peers and ours see the same machine load: A/B/.../B/A):

* ``dpa_reference``: DPA v0.2's ``gen_augmentation_params`` rewritten with DPA's own
  Python-level structure (``benchmarks.bench_augment_reference``; checked there against
  DPA's code to run at the same speed with the same values), one call per id;
* ``dpa (own code)``: DPA's ``gen_augmentation_params`` itself, when
  ``$ACCEL_BENCH_DPA_SRC`` names a DPA checkout;
* ``gen_augmentation_batch`` for each counter-based algorithm on ``--n`` ids: the ids are a
  NumPy ``uint64`` array made before timing; each timed call includes the host->device
  transfer and waits with ``block_until_ready``. The first (compiling) call is reported
  apart as ``compile_s``;
* ``jax.random.uniform(philox key, (n, 5))``: raw ``jax.random`` philox throughput for the
  same number of float32 values (the peer of ``philox4x32``);
* the same threefry parameters computed with ``jax.random`` alone (``vmap`` of ``fold_in``,
  ids already on the device), to show what the fused kernel gains;
* streams (``stream_augmentation_chain``, chunk_size 10000; the distributed stream, rank 0
  of 4, contiguous and strided), consuming every chunk.

Reported: median time per case, samples/s, ``x DPA`` = median samples/s over the DPA
reference's median samples/s, and the median of the per-repeat ratios.

Run: ``python -m benchmarks.bench_augment`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np

from accel.augment import (
    AugmentationConfig,
    gen_augmentation_batch,
    stream_augmentation_chain,
    stream_distributed_augmentation_chain,
)
from benchmarks.bench_augment_reference import dpa_callable, dpa_reference_params, load_dpa

__all__ = ["dpa_reference_params", "main"]


def jax_random_params(ids_hi, ids_lo, bounds, seed: int = 0, epoch: int = 0):
    """The same parameters through ``jax.random`` only (vmap of fold_in), for comparison.

    The five words of each sample from ``jax.random.fold_in``, then the kernel's affine step
    (``u = (w >> 9) / 2**23``, ``clip(affine_exact(a, width, u), a, c)`` with the rows
    ``(a, width, c)`` of ``bounds_array``): the values of ``gen_augmentation_batch``.
    """
    from accel.internals import affine_exact, epoch_key, sample_keys, seed_key

    key = epoch_key(seed_key(seed), epoch)
    keys = sample_keys(key, ids_hi, ids_lo)
    words = [jax.random.key_data(jax.vmap(lambda k, j=j: jax.random.fold_in(k, j))(keys)) for j in range(3)]
    flat = [words[0][:, 0], words[0][:, 1], words[1][:, 0], words[1][:, 1], words[2][:, 0]]
    out = []
    for j, w in enumerate(flat):
        u = jax.lax.bitcast_convert_type((w >> np.uint32(9)) | np.uint32(0x3F800000), jnp.float32) - np.float32(1)
        a, width, c = bounds[j, 0], bounds[j, 1], bounds[j, 2]
        out.append(jnp.clip(affine_exact(a, width, u), a, c))
    return tuple(out)


def _consume(stream, want: int) -> None:
    count = 0
    for chunk in stream:
        chunk.block_until_ready()
        count += len(chunk)
    if count != want:
        raise RuntimeError(f"stream yielded {count} samples, expected {want}")


def build_cases(args, config: AugmentationConfig) -> list[dict]:
    """Each case: name, n (samples per call), run (a zero-argument callable), warm (bool)."""
    cases = []
    ref_ids = range(args.ref_n)
    cases.append({"name": "dpa_reference (DPA's code structure, pure Python)", "n": args.ref_n, "peer": True,
                  "run": lambda: [dpa_reference_params(i, config) for i in ref_ids]})
    dpa = load_dpa()
    if dpa is not None:
        own = dpa_callable(dpa)
        cases.append({"name": "dpa (own code, $ACCEL_BENCH_DPA_SRC)", "n": args.ref_n, "peer": True,
                      "run": lambda: [own(i) for i in ref_ids]})
    ids = np.arange(args.n, dtype=np.uint64)
    for algorithm in args.algorithms.split(","):
        cases.append({"name": f"gen_augmentation_batch[{algorithm}]", "n": args.n, "compile": True,
                      "run": lambda a=algorithm: gen_augmentation_batch(ids, config, algorithm=a).block_until_ready()})
    philox_key = jax.random.key(0, impl="philox4x32")
    raw = jax.jit(lambda k: jax.random.uniform(k, (args.n, 5)))
    cases.append({"name": "jax.random.uniform(philox4x32 key, (n, 5))", "n": args.n, "compile": True,
                  "run": lambda: raw(philox_key).block_until_ready()})
    if not args.no_jax_random:
        from accel.internals import bounds_array, split_ids

        hi, lo = (jax.device_put(a) for a in split_ids(ids))
        f = jax.jit(jax_random_params)
        bounds = bounds_array(config)
        cases.append({"name": "jax.random fold_in path (ids already on device)", "n": args.n, "compile": True,
                      "run": lambda: jax.block_until_ready(f(hi, lo, bounds))})
    m = args.stream_n
    cases += [
        {"name": "stream_augmentation_chain(chunk_size=10000)", "n": m, "compile": True,
         "run": lambda: _consume(stream_augmentation_chain(m, config, 10_000), m)},
        {"name": "stream_distributed_augmentation_chain(rank 0 of 4, contiguous)", "n": m, "compile": True,
         "run": lambda: _consume(stream_distributed_augmentation_chain(4 * m, 0, 4, config, 10_000), m)},
        {"name": "stream_distributed_augmentation_chain(rank 0 of 4, strided)", "n": m, "compile": True,
         "run": lambda: _consume(stream_distributed_augmentation_chain(4 * m, 0, 4, config, 10_000, mode="strided"), m)},
    ]
    return cases


def run_interleaved(cases: list[dict], repeats: int) -> None:
    """Time every case ``repeats`` times, all cases once per repeat, order reversed on odd repeats."""
    for case in cases:
        if case.get("compile"):
            t0 = time.perf_counter()
            case["run"]()
            case["compile_s"] = time.perf_counter() - t0
        case["times_s"] = []
    for r in range(repeats):
        for case in cases if r % 2 == 0 else cases[::-1]:
            t0 = time.perf_counter()
            case["run"]()
            case["times_s"].append(time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000_000, help="ids per gen_augmentation_batch call")
    p.add_argument("--ref-n", type=int, default=5_000, help="ids per run of the pure-Python DPA reference")
    p.add_argument("--stream-n", type=int, default=1_000_000, help="samples per stream run")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--algorithms", default="threefry2x32,philox4x32")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--no-jax-random", action="store_true", help="skip the plain jax.random fold_in comparison")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.ref_n, args.stream_n, args.repeats = 20_000, 300, 20_000, 2
    config = AugmentationConfig()
    load = os.getloadavg()
    info = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_implementation()} {platform.python_version()}",
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "loadavg_at_start": load,
    }
    cases = build_cases(args, config)
    run_interleaved(cases, args.repeats)
    ref = cases[0]
    ref_rates = [ref["n"] / t for t in ref["times_s"]]
    results = []
    for case in cases:
        rates = [case["n"] / t for t in case["times_s"]]
        med = statistics.median(case["times_s"])
        results.append({
            "name": case["name"], "n": case["n"], "median_s": med, "samples_per_s": case["n"] / med,
            "ratio_vs_dpa": (case["n"] / med) / (ref["n"] / statistics.median(ref["times_s"])),
            "ratio_vs_dpa_median_of_repeats": statistics.median(a / b for a, b in zip(rates, ref_rates, strict=True)),
            "times_s": [round(t, 4) for t in case["times_s"]],
            **({"compile_s": case["compile_s"]} if "compile_s" in case else {}),
        })
    by_name = {r["name"]: r for r in results}
    raw = by_name.get("jax.random.uniform(philox4x32 key, (n, 5))")
    ours = by_name.get("gen_augmentation_batch[philox4x32]")
    if raw and ours:
        info["raw_philox_over_philox4x32"] = raw["samples_per_s"] / ours["samples_per_s"]
    info["loadavg_at_end"] = os.getloadavg()
    try:
        info["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        pass
    print(f"# {info['date_utc']} UTC  {info['machine']}  jax {info['jax']} ({info['backend']})")
    print(f"# load average start {load[0]:.2f} end {info['loadavg_at_end'][0]:.2f}; {args.repeats} interleaved repeats")
    print(f"{'benchmark':66s} {'n':>9s} {'median s':>9s} {'samples/s':>13s} {'x DPA':>8s} {'x DPA/rep':>9s} {'compile s':>9s}")
    for r in results:
        comp = f"{r['compile_s']:.2f}" if "compile_s" in r else ""
        print(f"{r['name']:66s} {r['n']:>9d} {r['median_s']:>9.4f} {r['samples_per_s']:>13,.0f} "
              f"{r['ratio_vs_dpa']:>8.1f} {r['ratio_vs_dpa_median_of_repeats']:>9.1f} {comp:>9s}")
    if "raw_philox_over_philox4x32" in info:
        print(f"raw jax.random philox / gen_augmentation_batch[philox4x32]: {info['raw_philox_over_philox4x32']:.2f}x")
    out = {"info": info, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
