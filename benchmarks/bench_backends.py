"""Backend comparison of every built-in operation (``accel compare`` for each ``--op``).

Usage::

    python -m benchmarks.bench_backends --sizes 256,1024 --n-runs 10 --out benchmark_results

prints one table per operation and writes ``<out>/compare_<op>.json`` (and, with
``--plot``, ``<out>/compare_<op>.png``). Numbers in BENCHMARKS.md ("Backend comparison")
come from this script or from ``accel compare``; both use the same harness.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from accel.bench import OPERATIONS, CompareRequest, run_compare


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_backends", description=__doc__.split("\n")[0])
    parser.add_argument("--ops", default=",".join(OPERATIONS), help="comma-separated (default: all)")
    parser.add_argument("--sizes", default="256,1024")
    parser.add_argument("--backends", default="numpy,jax,cupy")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--n-runs", default="10")
    parser.add_argument("--warmup", default="3")
    parser.add_argument("--out", default="benchmark_results", help="folder for JSON (created)")
    parser.add_argument("--plot", action="store_true", help="also write a PNG per operation")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.bench_backends", *argv])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        requests = [
            CompareRequest.from_strings(
                op=op.strip(), sizes=args.sizes, backends=args.backends, dtype=args.dtype,
                n_runs=args.n_runs, warmup=args.warmup,
                json_path=str(out / f"compare_{op.strip()}.json"),
                plot_path=str(out / f"compare_{op.strip()}.png") if args.plot else None,
            )
            for op in args.ops.split(",")
        ]
    except (ValueError, TypeError, ImportError) as exc:
        print(f"bench_backends: error: {exc}", file=sys.stderr)
        return 2
    for request in requests:
        run_compare(request, command=command)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
