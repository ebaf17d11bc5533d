"""Augmentation-parameter throughput: accel.augment kernels vs a pure-Python DPA reference.

Measures, in one run on one machine:

* ``dpa_reference``: DPA v0.2's algorithm in pure Python (written here): sha256 of
  ``str(id)``, then ``augmentation_depth`` steps ``h = sha256(h + str(fib(i)))``, then
  ``random.Random(int(h, 16) % 2**32)`` and five ``uniform`` draws.
* ``gen_augmentation_batch`` for each counter-based algorithm on ``--n`` ids (default 10M):
  the ids are a NumPy ``uint64`` array made before timing; each timed call includes the
  host->device transfer and waits with ``block_until_ready``. The first (compiling) call is
  reported apart as ``compile_s``.
* the same threefry parameters computed with ``jax.random`` alone (``vmap`` of ``fold_in``,
  ids already on the device), to show what the fused kernel gains;
* the streaming rate (``stream_augmentation_chain``, chunk_size 10000) and the distributed
  stream (rank 0 of 4, contiguous and strided), consuming every chunk.

Medians over ``--repeats`` runs; ratios are against the DPA reference of the same run.

Run: ``python -m benchmarks.bench_augment`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import subprocess
import time

import jax
import numpy as np

from accel.augment import (
    AugmentationConfig,
    gen_augmentation_batch,
    stream_augmentation_chain,
    stream_distributed_augmentation_chain,
)


# -- the DPA v0.2 reference, pure Python ---------------------------------------------------
def _fib(i: int) -> int:
    a, b = 0, 1
    for _ in range(i):
        a, b = b, a + b
    return a


def dpa_reference_params(sample_id: int, config: AugmentationConfig) -> dict[str, float]:
    h = hashlib.sha256(str(sample_id).encode()).hexdigest()
    for i in range(config.augmentation_depth):
        h = hashlib.sha256((h + str(_fib(i))).encode()).hexdigest()
    r = random.Random(int(h, 16) % 2**32)
    return {
        "rotation": r.uniform(*config.rotation_range),
        "brightness": r.uniform(*config.brightness_range),
        "noise": r.uniform(*config.noise_range),
        "scale": r.uniform(*config.scale_range),
        "contrast": r.uniform(*config.contrast_range),
    }


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def bench_dpa(n: int, repeats: int, config: AugmentationConfig) -> dict:
    med, times = _median_time(lambda: [dpa_reference_params(i, config) for i in range(n)], repeats)
    return {"name": "dpa_reference (pure Python)", "n": n, "median_s": med, "samples_per_s": n / med, "times_s": times}


def bench_batch(n: int, repeats: int, config: AugmentationConfig, algorithm: str) -> dict:
    ids = np.arange(n, dtype=np.uint64)
    t0 = time.perf_counter()
    gen_augmentation_batch(ids, config, algorithm=algorithm).block_until_ready()
    compile_s = time.perf_counter() - t0
    med, times = _median_time(lambda: gen_augmentation_batch(ids, config, algorithm=algorithm).block_until_ready(), repeats)
    return {"name": f"gen_augmentation_batch[{algorithm}]", "n": n, "median_s": med, "samples_per_s": n / med,
            "compile_s": compile_s, "times_s": times}


def jax_random_params(ids_hi, ids_lo, bounds, seed: int = 0, epoch: int = 0):
    """The same parameters through ``jax.random`` only (vmap of fold_in), for comparison."""
    from accel import _keys
    from accel.augment._generate import _params_from_words

    key = _keys.epoch_key(_keys.seed_key(seed), epoch)
    keys = _keys.sample_keys(key, ids_hi, ids_lo)
    words = [jax.random.key_data(jax.vmap(lambda k, j=j: jax.random.fold_in(k, j))(keys)) for j in range(3)]
    flat = [words[0][:, 0], words[0][:, 1], words[1][:, 0], words[1][:, 1], words[2][:, 0]]
    return _params_from_words(flat, bounds)


def bench_jax_random(n: int, repeats: int, config: AugmentationConfig) -> dict:
    from accel import _keys
    from accel.augment._generate import bounds_array

    hi, lo = (jax.device_put(a) for a in _keys.split_ids(np.arange(n, dtype=np.uint64)))
    f = jax.jit(jax_random_params)
    bounds = bounds_array(config)
    t0 = time.perf_counter()
    jax.block_until_ready(f(hi, lo, bounds))
    compile_s = time.perf_counter() - t0
    med, times = _median_time(lambda: jax.block_until_ready(f(hi, lo, bounds)), repeats)
    return {"name": "jax.random fold_in path (ids already on device)", "n": n, "median_s": med,
            "samples_per_s": n / med, "compile_s": compile_s, "times_s": times}


def _consume(stream) -> int:
    count = 0
    for chunk in stream:
        chunk.block_until_ready()
        count += len(chunk)
    return count


def bench_streams(n: int, repeats: int, config: AugmentationConfig, algorithm: str) -> list[dict]:
    out = []
    cases = [
        ("stream_augmentation_chain(chunk_size=10000)", lambda: stream_augmentation_chain(n, config, 10_000, algorithm=algorithm), n),
        ("stream_distributed_augmentation_chain(rank 0 of 4, contiguous)",
         lambda: stream_distributed_augmentation_chain(4 * n, 0, 4, config, 10_000, algorithm=algorithm), n),
        ("stream_distributed_augmentation_chain(rank 0 of 4, strided)",
         lambda: stream_distributed_augmentation_chain(4 * n, 0, 4, config, 10_000, mode="strided", algorithm=algorithm), n),
    ]
    for name, make, count in cases:
        _consume(stream_augmentation_chain(20_000, config, 10_000, algorithm=algorithm))  # compile
        med, times = _median_time(lambda make=make, count=count: _check(_consume(make()), count), repeats)
        out.append({"name": f"{name}[{algorithm}]", "n": count, "median_s": med, "samples_per_s": count / med, "times_s": times})
    return out


def _check(got: int, want: int) -> None:
    if got != want:
        raise RuntimeError(f"stream yielded {got} samples, expected {want}")


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000_000, help="ids per gen_augmentation_batch call")
    p.add_argument("--ref-n", type=int, default=20_000, help="ids for the pure-Python DPA reference")
    p.add_argument("--stream-n", type=int, default=1_000_000, help="samples per stream run")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--algorithms", default="threefry2x32,philox4x32")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--no-jax-random", action="store_true", help="skip the plain jax.random comparison")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.ref_n, args.stream_n, args.repeats = 20_000, 500, 20_000, 2
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
    results = [bench_dpa(args.ref_n, max(1, min(args.repeats, 3)), config)]
    for algorithm in args.algorithms.split(","):
        results.append(bench_batch(args.n, args.repeats, config, algorithm))
    best = max(results[1:], key=lambda r: r["samples_per_s"])
    if not args.no_jax_random:
        results.append(bench_jax_random(args.n, max(1, min(args.repeats, 3)), config))
    results += bench_streams(args.stream_n, max(1, min(args.repeats, 3)), config, best["name"].split("[")[1].rstrip("]"))
    ref = results[0]["samples_per_s"]
    for r in results:
        r["ratio_vs_dpa"] = r["samples_per_s"] / ref
    info["loadavg_at_end"] = os.getloadavg()
    try:
        info["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        pass
    print(f"# {info['date_utc']} UTC  {info['machine']}  jax {info['jax']} ({info['backend']})")
    print(f"# load average start {load[0]:.2f} end {info['loadavg_at_end'][0]:.2f}")
    print(f"{'benchmark':70s} {'n':>10s} {'median s':>10s} {'samples/s':>14s} {'x DPA':>9s} {'compile s':>10s}")
    for r in results:
        comp = f"{r['compile_s']:.2f}" if "compile_s" in r else ""
        print(f"{r['name']:70s} {r['n']:>10d} {r['median_s']:>10.4f} {r['samples_per_s']:>14,.0f} {r['ratio_vs_dpa']:>9.1f} {comp:>10s}")
    print(f"fastest counter-based algorithm: {best['name']}")
    out = {"info": info, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
