"""Command line entry point: ``accel <command>`` (also ``python -m accel <command>``).

Commands:
    info      versions, JAX devices and GPU/CuPy availability
    compare   time a built-in operation on NumPy/JAX/CuPy over several sizes, e.g.
              ``accel compare --op matmul --sizes 256,1024 --backends numpy,jax,cupy
              --dtype float32 --json out.json --plot out.png``
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence


def _cmd_info(args: argparse.Namespace) -> int:
    from accel._info import render

    print(render())
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from accel.bench import CompareRequest, run_compare

    try:
        request = CompareRequest.from_strings(
            op=args.op, sizes=args.sizes, backends=args.backends, dtype=args.dtype,
            n_runs=args.n_runs, warmup=args.warmup, seed=args.seed,
            json_path=args.json, plot_path=args.plot,
        )
    except (ValueError, TypeError, ImportError) as exc:
        print(f"accel compare: error: {exc}", file=sys.stderr)
        return 2
    run_compare(request, command=shlex.join(["accel", *args.argv]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accel", description="JAX/XLA accelerated compute: tools and reports."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    info = sub.add_parser("info", help="print versions, JAX devices and GPU/CuPy availability")
    info.set_defaults(func=_cmd_info)

    cmp = sub.add_parser(
        "compare",
        help="time a built-in operation on numpy/jax/cupy over several sizes",
        description="Time a built-in operation on each backend (inputs placed on the device "
        "first, JAX compiled ahead of time, every call synchronised), print a table, and "
        "optionally write JSON and a log-log plot of median time against size.",
    )
    cmp.add_argument("--op", default="matmul",
                     help="matmul, matvec, elementwise, reduction, logreg_grad or augment (default matmul)")
    cmp.add_argument("--sizes", default="256,512,1024", help="comma-separated n (default 256,512,1024)")
    cmp.add_argument("--backends", default="numpy,jax,cupy", help="comma-separated (default numpy,jax,cupy)")
    cmp.add_argument("--dtype", default="float32", help="float16, float32 or float64 (default float32)")
    cmp.add_argument("--n-runs", default="10", help="timed calls per backend and size (default 10)")
    cmp.add_argument("--warmup", default="3", help="untimed calls before them (default 3)")
    cmp.add_argument("--seed", default="0", help="seed of the input data (default 0)")
    cmp.add_argument("--json", metavar="PATH", help="write all results as JSON")
    cmp.add_argument("--plot", metavar="PATH", help="write a log-log plot (PNG); needs accel[plot]")
    cmp.set_defaults(func=_cmd_compare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
