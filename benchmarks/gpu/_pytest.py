"""The ``gpu``-marked tests, run by pytest in a subprocess with a timeout.

The subprocess runs ``python -m pytest <args> -p no:cacheprovider --junitxml=<tmp>`` in the
repository root (its own process group, killed whole on timeout). Its counts and failures
come from the JUnit XML report, its summary line and the tail of its output from stdout.

Example:
    >>> parse_summary_line("== 3 passed, 1 skipped in 2.50s ==\\n")
    '3 passed, 1 skipped in 2.50s'
    >>> parse_summary_line("no summary here") is None
    True
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_PYTEST_ARGS", "parse_junit", "parse_summary_line", "run_pytest"]

DEFAULT_PYTEST_ARGS = ("-m", "gpu", "-q", "-rfEs", "tests")
_SUMMARY = re.compile(r"\d+ (passed|failed|skipped|errors?|deselected|xfailed|xpassed)|no tests ran")
OUTPUT_TAIL_LINES = 60


def parse_summary_line(output: str) -> str | None:
    """pytest's closing summary (``'3 passed, 1 skipped in 2.50s'``) from its output."""
    for line in reversed(output.splitlines()):
        if _SUMMARY.search(line):
            return line.strip().strip("=").strip()
    return None


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts and failing tests from a pytest JUnit XML report."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failures = []
    for suite in suites:
        for key in counts:
            counts[key] += int(suite.get(key, 0))
        for case in suite.iter("testcase"):
            for kind in ("failure", "error"):
                node = case.find(kind)
                if node is not None:
                    failures.append({
                        "test": f"{case.get('classname')}::{case.get('name')}",
                        "kind": kind,
                        "message": (node.get("message") or "")[:500],
                    })
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {"counts": counts, "failures": failures}


def run_pytest(args: list[str], *, cwd: Path, timeout_s: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run pytest with ``args``; returns the command, return code, whether it timed out, the
    counts, failures, summary line, the tail of the output and the whole output (``log``)."""
    with tempfile.TemporaryDirectory(prefix="accel-gpu-pytest-") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", f"--junitxml={junit}"]
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        timed_out = False
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        report = parse_junit(junit) if junit.exists() else {"counts": None, "failures": []}
    lines = output.splitlines()
    return {
        "command": " ".join(["python", "-m", "pytest", *args]),
        "returncode": proc.returncode,
        "timed_out": timed_out,
        "timeout_s": timeout_s,
        **report,
        "summary": parse_summary_line(output),
        "output_tail": lines[-OUTPUT_TAIL_LINES:],
        "log": output,
    }
