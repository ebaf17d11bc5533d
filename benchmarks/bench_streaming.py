"""A streamed ``ParallelTrainer.fit`` against the same fit on data in memory (issue 27 item 3).

The problem: ``ParallelTrainer(epochs=3, batch_size=4096).fit`` (the linear model, squared
loss, its defaults: SGD, a full-data evaluation after every epoch) of ``--rows`` x 256
float32 rows (200000: 196 MiB) and their float32 targets, drawn once from a fixed NumPy
``Generator`` and written to a temporary folder as ``.npy`` files and as one Parquet file
(256 float columns and ``y``, row groups of 16384 rows).

Cases, each in a fresh process per round (``JAX_NUM_CPU_DEVICES`` set to each count of
``--devices``):

* ``resident``: ``fit(X, y)`` of the arrays loaded with ``np.load`` (in memory);
* ``npy``: ``fit('X.npy', 'y.npy')``: the rows streamed from the files (``accel.data``);
* ``parquet``: ``fit(ParquetShards(path))``: the Parquet file, converted once into ``.npy``
  shards when the source is made (timed apart, ``convert_s``), then streamed.

A process makes its input, fits once (``first_fit_s``: compiling included, the persistent
compilation cache off), then ``--fits`` more times. Reported per case: throughput (rows
trained per second: epochs x rows over the median fit's seconds), and peak RSS: the
process's ``ru_maxrss``, its peak from its start (the interpreter, JAX, the data in memory for
``resident``, every fit), and ``fit_peak_MiB``, the peak while fitting over the RSS just
before the first fit (``reset_peak_rss``). ``--rounds`` rounds, the cases interleaved in
each; the numbers are medians over rounds. Ratios: streamed throughput over resident (the
goal is at least 0.9) and streamed peak RSS over resident (at most 1).

Run: ``python -m benchmarks.bench_streaming [--rounds 3] [--devices 1,4] [--out r.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._rss import process_peak_mib, reset_peak_rss, rss_mib

CASES = ("resident", "npy", "parquet")
EPOCHS, BATCH, FEATURES = 3, 4096, 256


def write_data(folder: Path, rows: int) -> None:
    """``X.npy``, ``y.npy`` and ``data.parquet`` of the problem in ``folder``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    w = rng.standard_normal(FEATURES).astype(np.float32) / np.sqrt(FEATURES)
    y = (X @ w + 0.1 * rng.standard_normal(rows, dtype=np.float32)).astype(np.float32)
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", y)
    table = pa.table({**{f"f{j}": X[:, j] for j in range(FEATURES)}, "y": y})
    pq.write_table(table, folder / "data.parquet", row_group_size=16384)


def _child(case: str, folder: Path, fits: int) -> dict:
    from accel import ParallelTrainer
    from accel.data import ParquetShards

    convert = 0.0
    if case == "resident":
        args = (np.load(folder / "X.npy"), np.load(folder / "y.npy"))
    elif case == "npy":
        args = (str(folder / "X.npy"), str(folder / "y.npy"))
    else:
        t = time.perf_counter()
        args = (ParquetShards(str(folder / "data.parquet")),)
        convert = time.perf_counter() - t
    before = rss_mib("VmRSS")
    reset_peak_rss()
    times = []
    for _ in range(1 + fits):
        t = time.perf_counter()
        est = ParallelTrainer(epochs=EPOCHS, batch_size=BATCH).fit(*args)
        times.append(time.perf_counter() - t)
    n = len(np.load(folder / "y.npy", mmap_mode="r"))  # the rows of every case
    assert np.all(np.isfinite(est.coef_)), "the fit diverged"
    return {"case": case, "first_fit_s": times[0], "fit_s": statistics.median(times[1:]),
            "rows_per_s": EPOCHS * n / statistics.median(times[1:]), "convert_s": convert,
            "rss_before_fit_MiB": before, "fit_peak_MiB": rss_mib("VmHWM") - before,
            "process_peak_MiB": process_peak_mib(), "final_loss": float(est.history_["loss"][-1])}  # fmt: skip


def _run_child(case: str, folder: Path, devices: int, fits: int) -> dict:
    env = dict(os.environ, JAX_NUM_CPU_DEVICES=str(devices), ACCEL_COMPILATION_CACHE="0")
    cmd = [sys.executable, "-m", "benchmarks.bench_streaming", "--child", case, "--dir", str(folder),
           "--fits", str(fits)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--fits", type=int, default=5, help="timed fits per process, after the first")
    p.add_argument("--devices", default="1,4")
    p.add_argument("--out", default=None, help="write the results as JSON")
    p.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    p.add_argument("--dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, Path(args.dir), args.fits)), flush=True)
        os._exit(0)  # no teardown of the reader threads and JAX: the numbers are printed
    devices = [int(d) for d in args.devices.split(",")]
    out: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.processor()
                 or platform.machine(), "cpus": os.cpu_count(), "rows": args.rows, "epochs": EPOCHS,
                 "batch_size": BATCH, "rounds": args.rounds, "fits": args.fits, "results": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="accel-bench-streaming-") as tmp:
        folder = Path(tmp)
        write_data(folder, args.rows)
        for k in devices:
            runs: dict[str, list[dict]] = {c: [] for c in CASES}
            for r in range(args.rounds):
                for case in CASES if r % 2 == 0 else CASES[::-1]:  # interleaved, alternating
                    runs[case].append(_run_child(case, folder, k, args.fits))
            med = {c: {key: statistics.median(x[key] for x in v) for key in v[0] if key != "case"}
                   for c, v in runs.items()}  # fmt: skip
            for c in ("npy", "parquet"):
                med[c]["throughput_vs_resident"] = med[c]["rows_per_s"] / med["resident"]["rows_per_s"]
                med[c]["process_peak_vs_resident"] = med[c]["process_peak_MiB"] / med["resident"]["process_peak_MiB"]
            out["results"][str(k)] = {"median": med, "runs": runs}
            print(f"-- {k} device(s), {args.rows} x {FEATURES} float32, {EPOCHS} epochs, batch {BATCH}; "
                  f"medians of {args.rounds} processes x {args.fits} fits")  # fmt: skip
            print(f"{'case':<9} {'rows/s':>10} {'fit s':>7} {'first fit s':>11} {'peak RSS MiB':>13} "
                  f"{'fit peak MiB':>13} {'vs resident':>12} {'RSS vs resident':>16}")  # fmt: skip
            for c in CASES:
                m = med[c]
                ratio = f"{m['throughput_vs_resident']:.2f}" if c != "resident" else "1"
                rss = f"{m['process_peak_vs_resident']:.2f}" if c != "resident" else "1"
                print(f"{c:<9} {m['rows_per_s']:>10,.0f} {m['fit_s']:>7.3f} {m['first_fit_s']:>11.2f} "
                      f"{m['process_peak_MiB']:>13.0f} {m['fit_peak_MiB']:>13.0f} {ratio:>12} {rss:>16}",
                      flush=True)  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
