"""The cost of the checkpoint data digest (every byte of every leaf, SHA-256) against I/O.

A ``ParallelTrainer`` fit with ``checkpoint_dir`` hashes its whole data set once, so that
``resume=True`` refuses other data. This script measures, in
one run, on ``--rows`` x ``--features`` float32 rows plus a float32 target:

* ``arrays``: the digest of the arrays in memory;
* ``file``: the digest of the same data as ``.npy`` files (``NpyShards``), page cache warm;
* ``read``: the I/O baseline, a sequential read of those files' bytes into memory;
* ``fit``: a 1-epoch ``ParallelTrainer.fit`` (1 device, batch 1024) without and with
  ``checkpoint_dir`` (the digest, plus one checkpoint written at the end).

Medians of ``--repeats`` rounds, interleaved. Run: ``python -m benchmarks.bench_data_digest``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from accel import ParallelTrainer
from accel.data import NpyShards
from accel.internals import data_digest, source_digest


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _read_files(paths: list[str]) -> None:
    for path in paths:
        size = os.path.getsize(path)
        buf = bytearray(size)
        with open(path, "rb", buffering=0) as f:
            f.readinto(buf)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--features", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, args.features), dtype=np.float32)
    y = (X[:, :8].sum(axis=1) + 0.1).astype(np.float32)
    mib = (X.nbytes + y.nbytes) / 2**20
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, "X.npy"), os.path.join(d, "y.npy")]
        np.save(paths[0], X)
        np.save(paths[1], y)
        source = NpyShards({"X": paths[0], "y": paths[1]})
        assert source_digest(source) == data_digest({"X": X, "y": y})
        kw = {"n_devices": 1, "epochs": 1, "batch_size": 1024, "optimizer_type": "sgd"}
        ParallelTrainer(**kw).fit(X, y)  # compile once, outside the clock
        rounds: dict[str, list[float]] = {k: [] for k in ("arrays", "file", "read", "fit", "fit_ckpt")}
        for r in range(args.repeats):
            rounds["read"].append(_time(lambda: _read_files(paths)))
            rounds["arrays"].append(_time(lambda: data_digest({"X": X, "y": y})))
            rounds["file"].append(_time(lambda: source_digest(source)))
            rounds["fit"].append(_time(lambda: ParallelTrainer(**kw).fit(X, y)))
            ckpt = os.path.join(d, f"ckpt{r}")
            rounds["fit_ckpt"].append(
                _time(lambda c=ckpt: ParallelTrainer(**kw, checkpoint_dir=c).fit(X, y))
            )
    med = {k: statistics.median(v) for k, v in rounds.items()}
    print(f"data: {args.rows} x {args.features} float32 + target = {mib:.0f} MiB; "
          f"{os.cpu_count()} cores; medians of {args.repeats}")  # fmt: skip
    for k in ("read", "arrays", "file"):
        print(f"{k:>8}: {med[k] * 1e3:8.1f} ms  {mib / 1024 / med[k]:6.2f} GiB/s  "
              f"x read {med[k] / med['read']:.2f}")  # fmt: skip
    print(f"     fit: {med['fit'] * 1e3:8.1f} ms (1 epoch, no checkpoint)")
    print(f"fit_ckpt: {med['fit_ckpt'] * 1e3:8.1f} ms (with checkpoint_dir: digest + 1 checkpoint)"
          f"  x fit {med['fit_ckpt'] / med['fit']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
