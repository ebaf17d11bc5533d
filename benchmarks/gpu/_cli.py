"""``python -m benchmarks.gpu``: arguments, the dry run's CPU-only set-up, the exit code.

Exit codes: 0 all sections ok, or no GPU here (``status: skipped``); 1 a section failed;
2 bad arguments (argparse); 3 incomplete (a section skipped for lack of time, or the
deadline passed); 4 a required package is missing (nothing written, see ``__main__``).

Example:
    >>> args = parse_args(["--dry-run", "--output", "out", "--sections", "tests,device"])
    >>> args.dry_run, args.output, args.sections
    (True, 'out', ['tests', 'device'])
    >>> parse_args(["--deadline", "0"])
    Traceback (most recent call last):
    ...
    SystemExit: 2
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence

__all__ = ["EXIT_CODES", "EXIT_MISSING_PACKAGE", "main", "parse_args"]

EXIT_CODES = {"ok": 0, "skipped": 0, "failed": 1, "incomplete": 3}
EXIT_MISSING_PACKAGE = 4


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, validated (``SystemExit(2)`` with a usage message when it is not)."""
    from benchmarks.gpu._runner import DEFAULT_DEADLINE_S, SECTIONS

    names = [s.name for s in SECTIONS]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu",
        description="On an NVIDIA GPU: run the gpu-marked tests, then the GPU benchmarks, within "
        "a deadline; write gpu_check.json and gpu_check.md under --output. Without a GPU: say "
        "so, write a JSON with status 'skipped', exit 0.",
    )
    parser.add_argument("--output", default="gpu_results", help="folder for the results (default gpu_results)")
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S,
                        help=f"seconds for the whole run (default {DEFAULT_DEADLINE_S:.0f})")  # fmt: skip
    parser.add_argument("--sections", default=None, help="comma-separated subset of: " + ",".join(names))
    parser.add_argument("--dry-run", action="store_true",
                        help="rehearse every section on the CPU with tiny sizes (no GPU is used; "
                        "numbers are not GPU numbers)")  # fmt: skip
    parser.add_argument("--pytest-args", default=None,
                        help="arguments of the test run (default: -m gpu -q -rfEs tests)")
    args = parser.parse_args(argv)
    if not args.deadline > 0:
        parser.error(f"--deadline must be a number of seconds > 0, got {args.deadline}")
    if not args.output:
        parser.error("--output must name a folder")
    if args.sections is not None:
        args.sections = [x.strip() for x in args.sections.split(",") if x.strip()]
        unknown = [s for s in args.sections if s not in names]
        if unknown or not args.sections:
            parser.error(f"--sections: unknown {unknown or 'empty list'}; sections are {','.join(names)}")
    if args.pytest_args is not None:
        args.pytest_args = shlex.split(args.pytest_args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the kit from the command line; returns the exit code."""
    args = parse_args(argv)
    if args.dry_run:
        # Before any backend starts: JAX on the CPU, CuPy (and the test process) see no GPU.
        os.environ["JAX_PLATFORMS"] = "cpu"
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        import jax

        jax.config.update("jax_platforms", "cpu")
    from benchmarks.gpu._document import render_markdown
    from benchmarks.gpu._pytest import DEFAULT_PYTEST_ARGS
    from benchmarks.gpu._runner import run_kit

    command = shlex.join(["python", "-m", "benchmarks.gpu", *(sys.argv[1:] if argv is None else argv)])
    doc = run_kit(
        args.output, deadline_s=args.deadline, only=args.sections, dry_run=args.dry_run,
        pytest_args=args.pytest_args or DEFAULT_PYTEST_ARGS, command=command,
    )  # fmt: skip
    print(render_markdown(doc))
    where = os.path.join(args.output, doc["files"]["json"])
    print(f"benchmarks.gpu: {doc['status']}{': ' + doc['reason'] if doc['reason'] else ''} "
          f"({doc['wall_s']:.0f} s); wrote {where} and {doc['files']['markdown']}")  # fmt: skip
    return EXIT_CODES[doc["status"]]
