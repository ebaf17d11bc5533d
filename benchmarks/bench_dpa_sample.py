"""``accel.dpa``'s per-sample API against DPA's own, in one run: speed and first call.

A PyTorch ``Dataset.__getitem__`` written for DPA asks ``gen_augmentation_params(i, config)``
for one id at a time. This script times that call of ``accel.dpa`` and of DPA, once per id,
for three orders of ids:

* ``shuffled``: a permutation of ``0 .. n-1`` (a shuffling sampler);
* ``sequential``: ``0 .. n-1`` in order (a plain loader, a stream);
* ``random``: random 64-bit ids (no locality at all).

The peer is DPA's own code when ``$ACCEL_BENCH_DPA_SRC`` names a DPA checkout (the folder
holding its ``src`` package), otherwise DPA's function rewritten with DPA's structure
(``benchmarks.bench_augment_reference``, which runs at DPA's speed: BENCHMARKS.md). Every
repeat runs every case once, the order reversed on odd repeats; the ratios are medians of the
same run. Values are checked against the peer, bit for bit, before timing.

Then the first call in a fresh process: ``--fresh`` new interpreters each import the package
and time its import and its first ``gen_augmentation_params`` call (medians reported), for
``accel.dpa`` and, with a checkout, for DPA.

Run: ``python -m benchmarks.bench_dpa_sample`` (``--quick`` for a smoke run; ``--json PATH``
to keep the numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks.bench_augment_reference import (
    ENV_DPA_SRC,
    dpa_callable,
    dpa_reference_params,
    load_dpa,
)

_FRESH_ACCEL = """
import time
t0 = time.perf_counter()
import accel.dpa as dpa
t1 = time.perf_counter()
dpa.gen_augmentation_params(123456789, dpa.AugmentationConfig())
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""

_FRESH_DPA = """
import sys, time
from benchmarks.bench_augment_reference import load_dpa
t0 = time.perf_counter()
dpa = load_dpa(sys.argv[1])
t1 = time.perf_counter()
dpa.gen_augmentation_params(123456789, dpa.AugmentationConfig())
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def fresh_process(code: str, *args: str) -> tuple[float, float]:
    """(import seconds, first-call seconds) printed by ``code`` in a new interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    t_import, t_first = map(float, out.stdout.split())
    return t_import, t_first


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000, help="ids per timed run")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--fresh", type=int, default=5, help="fresh processes per package (0: none)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default=None, help="write the results to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.repeats, args.fresh = 500, 2, min(args.fresh, 1)

    from accel import dpa as accel_dpa

    config = accel_dpa.AugmentationConfig()
    dpa = load_dpa()
    if dpa is not None:
        peer_name, peer = "DPA (own code)", dpa_callable(dpa)
    else:
        peer_name = "DPA reference (bench_augment_reference)"
        peer = lambda i: dpa_reference_params(i, config)  # noqa: E731
    rng = np.random.default_rng(0)
    orders = {
        "shuffled": rng.permutation(args.n).tolist(),
        "sequential": list(range(args.n)),
        "random": rng.integers(0, 2**64 - 1, args.n, dtype=np.uint64, endpoint=True).tolist(),
    }
    ours = lambda i: accel_dpa.gen_augmentation_params(i, config)  # noqa: E731
    for ids in orders.values():
        for i in ids[:2000]:
            if ours(i) != peer(i):
                raise SystemExit(f"accel.dpa and {peer_name} differ for id {i}")

    cases = [(f"{who}, {order}", fn, ids) for order, ids in orders.items() for who, fn in (("accel.dpa", ours), ("peer", peer))]
    load = os.getloadavg()
    rates: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    for r in range(args.repeats):
        for name, fn, ids in cases if r % 2 == 0 else cases[::-1]:
            t0 = time.perf_counter()
            for i in ids:
                fn(i)
            rates[name].append(len(ids) / (time.perf_counter() - t0))
    med = statistics.median
    result: dict = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "load_start_end": [round(load[0], 2), round(os.getloadavg()[0], 2)],
        "peer": peer_name, "n": args.n, "repeats": args.repeats, "per_sample": {},
    }
    print(f"# {result['date_utc']} UTC, {result['machine']}, load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"# peer: {peer_name}; {args.repeats} interleaved repeats of {args.n} ids, medians")
    print(f"{'ids':12s} {'accel.dpa /s':>13s} {'peer /s':>10s} {'ratio':>6s}")
    for order in orders:
        a, b = med(rates[f"accel.dpa, {order}"]), med(rates[f"peer, {order}"])
        result["per_sample"][order] = {"accel_per_s": round(a), "peer_per_s": round(b), "ratio": round(a / b, 3)}
        print(f"{order:12s} {a:>13,.0f} {b:>10,.0f} {a / b:>6.2f}")

    fresh = {"accel.dpa": [fresh_process(_FRESH_ACCEL) for _ in range(args.fresh)]}
    if dpa is not None:
        fresh["DPA"] = [fresh_process(_FRESH_DPA, os.environ[ENV_DPA_SRC]) for _ in range(args.fresh)]
    result["fresh_process"] = {}
    if args.fresh:
        print(f"fresh process ({args.fresh} each, medians): import, first gen_augmentation_params call")
    for who, runs in fresh.items() if args.fresh else ():
        t_import, t_first = med(r[0] for r in runs), med(r[1] for r in runs)
        result["fresh_process"][who] = {"import_s": round(t_import, 3), "first_call_ms": round(1e3 * t_first, 3)}
        print(f"  {who:10s} import {t_import:6.3f} s   first call {1e3 * t_first:8.3f} ms")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
