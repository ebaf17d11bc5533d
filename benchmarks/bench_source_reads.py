"""The cost of reading source files with ``pread`` (checked for change) instead of a memory map.

Sources read ``.npy`` files with ``FileRows`` (``accel.data``'s reader, through
``accel.internals``): ``pread`` into a buffer, the file's state checked before and after
each read, so that a file truncated or rewritten during a fit stops it with an error naming
the file (through a memory map a truncation kills the process with ``SIGBUS``). This script
measures what that costs against reading the same rows through a memory map (what the
sources did before), in one run, on ``--rows`` x ``--features`` float32 rows, page cache
warm:

* ``random``: ``--batch`` random rows (a mini-batch of a shuffled epoch);
* ``block``: ``--block`` contiguous rows (an evaluation chunk, a digest block);
* ``fit``: a streamed ``JAXOptimizer`` fit (batch ``--batch``, ``--epochs`` epochs, SGD) over
  ``--fit-rows`` x ``--fit-features`` rows: from the files (``pread``) against the same
  fit from an ``ArraySource`` over the memory map's arrays (read through the map). The model
  computes almost nothing, so this is the worst case: the reading is all the work.

Medians of ``--repeats`` rounds, the two sides interleaved; ratio = ``pread / map``.
Run: ``python -m benchmarks.bench_source_reads``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time

import numpy as np

from accel import JAXOptimizer
from accel.data import ArraySource
from accel.internals import FileRows


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--features", type=int, default=256, help="256 float32: 1 KiB rows")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--block", type=int, default=16_384)
    p.add_argument("--fit-rows", type=int, default=200_000)
    p.add_argument("--fit-features", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)

    rng = np.random.default_rng(0)
    rounds: dict[str, list[float]] = {k: [] for k in ("random_pread", "random_map", "block_pread",
                                                       "block_map", "fit_pread", "fit_map")}  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "A.npy")
        np.save(path, rng.standard_normal((args.rows, args.features), dtype=np.float32))
        rows_file = FileRows.npy(path, "A")
        mapped = np.load(path, mmap_mode="r")
        Xf = rng.standard_normal((args.fit_rows, args.fit_features), dtype=np.float32)
        xp, yp = os.path.join(d, "X.npy"), os.path.join(d, "y.npy")
        np.save(xp, Xf)
        np.save(yp, (Xf[:, :4].sum(axis=1) + 0.1).astype(np.float32))
        del Xf
        through_map = ArraySource({"X": np.asarray(np.load(xp, mmap_mode="r")),  # plain views: the map
                                   "y": np.asarray(np.load(yp, mmap_mode="r"))})  # fmt: skip
        kw = {"optimizer_type": "sgd", "learning_rate": 0.01, "epochs": args.epochs, "batch_size": args.batch}
        fits = {"fit_pread": lambda: JAXOptimizer(**kw).fit(xp, yp),
                "fit_map": lambda: JAXOptimizer(**kw).fit(through_map)}  # fmt: skip
        for fn in fits.values():
            fn()  # compile and warm the page cache outside the clock
        picks = [rng.integers(0, args.rows, args.batch) for _ in range(64)]
        for r in range(args.repeats):
            start = int(rng.integers(0, args.rows - args.block))
            block = np.arange(start, start + args.block)
            pair = [("pread", rows_file.take), ("map", lambda i: np.asarray(mapped[i]))]
            for name, read in pair if r % 2 == 0 else pair[::-1]:
                rounds[f"random_{name}"].append(_time(lambda read=read: [read(i) for i in picks]) / len(picks))
                rounds[f"block_{name}"].append(_time(lambda read=read, block=block: read(block)))
            for name in (("fit_pread", "fit_map") if r % 2 == 0 else ("fit_map", "fit_pread")):
                rounds[name].append(_time(fits[name]))
            assert np.array_equal(rows_file.take(block), mapped[block])
    med = {k: statistics.median(v) for k, v in rounds.items()}
    row_kib = args.features * 4 / 1024
    print(f"{args.rows} x {args.features} float32 ({row_kib:g} KiB rows); {os.cpu_count()} cores; "
          f"medians of {args.repeats}, page cache warm")  # fmt: skip
    for case, what in (("random", f"{args.batch} random rows"), ("block", f"{args.block} contiguous rows")):
        a, b = med[f"{case}_pread"], med[f"{case}_map"]
        print(f"{what:>22}: pread {a * 1e3:8.2f} ms   map {b * 1e3:8.2f} ms   pread/map {a / b:5.2f}")
    a, b = med["fit_pread"], med["fit_map"]
    print(f"streamed fit {args.fit_rows} x {args.fit_features}, batch {args.batch}, {args.epochs} epochs: "
          f"pread {a:6.2f} s   map {b:6.2f} s   pread/map {a / b:5.2f}")  # fmt: skip
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
