"""Orchestration: a global deadline, one budget per section, a watchdog, and the files.

The run has ``deadline_s`` seconds. Sections run in :data:`SECTIONS` order; each gets
``min(budget_s, time left - RESERVE_S)`` and is skipped, with the reason recorded, when that
is below its ``min_s``. Sections cannot be interrupted in the middle of a JAX call, so they
watch their own budget between steps; a watchdog thread enforces the deadline: at
``deadline_s + GRACE_S`` it marks the running section ``timeout``, writes the files and ends
the process (exit 3, incomplete). ``gpu_check.json`` is written last, atomically, so a reader never sees
a partial document.

Example (a CPU run of two stand-in sections):
    >>> import tempfile
    >>> specs = (SectionSpec("a", lambda ctx: {"x": 1}, budget_s=5, min_s=0),
    ...          SectionSpec("b", lambda ctx: {"problems": ["b broke"]}, budget_s=5, min_s=0))
    >>> doc = run_kit(tempfile.mkdtemp(), dry_run=True, specs=specs, deadline_s=60)
    >>> doc["status"], doc["sections"]["a"]["status"], doc["sections"]["b"]["reason"]
    ('failed', 'ok', 'b broke')
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from accel.internals import (
    check_path,
    check_positive_real,
    dump_json,
    jsonable,
    package_versions,
    write_atomic,
)
from benchmarks.gpu import _document, _sections, _sections_ops
from benchmarks.gpu._device import GpuProbe, detect_gpu
from benchmarks.gpu._plan import FULL, TINY, Plan, SectionSkipped
from benchmarks.gpu._pytest import DEFAULT_PYTEST_ARGS

__all__ = ["DEFAULT_DEADLINE_S", "SECTIONS", "SectionContext", "SectionSpec", "Watchdog", "find_root", "run_kit"]

DEFAULT_DEADLINE_S = 480.0  # the 8 minutes
RESERVE_S = 10.0  # kept back from every section for writing the files
GRACE_S = 20.0  # the watchdog fires this long after the deadline
SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the checkout, when run from one
EXTRA_PACKAGES = ("jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin",
                  "jax-cuda12-pjrt", "nvidia-ml-py", "scipy", "pytest")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SectionSpec:
    """A section: its function, its budget and the least time worth starting it with."""

    name: str
    fn: Callable[[SectionContext], dict[str, Any]]
    budget_s: float
    min_s: float


# Budgets sum to 470 s of the 480 s run (RESERVE_S for the files). The tests run first: this
# process must not touch the GPU before its pytest subprocess is done with it.
SECTIONS: tuple[SectionSpec, ...] = (
    SectionSpec("requirements", _sections.requirements, budget_s=5, min_s=1),
    SectionSpec("tests", _sections.tests, budget_s=170, min_s=30),
    SectionSpec("device", _sections.device, budget_s=15, min_s=5),
    SectionSpec("jax_optimizer", _sections.jax_optimizer, budget_s=60, min_s=15),
    SectionSpec("parallel_trainer", _sections.parallel_trainer, budget_s=55, min_s=15),
    SectionSpec("augment_params", _sections_ops.augment_params, budget_s=55, min_s=15),
    SectionSpec("image_ops", _sections_ops.image_ops, budget_s=30, min_s=10),
    SectionSpec("augment_training", _sections_ops.augment_training, budget_s=40, min_s=15),
    SectionSpec("compare_backends", _sections_ops.compare_backends, budget_s=40, min_s=10),
)


class SectionContext:
    """What a section sees: its plan, mode, budget, the shared state and the output folder."""

    def __init__(self, *, budget_s: float, plan: Plan, mode: str, state: dict[str, Any], root: Path,
                 output: Path, pytest_args: Sequence[str], files: dict[str, str]) -> None:  # fmt: skip
        self.plan, self.mode, self.state, self.root, self.output = plan, mode, state, root, output
        self.pytest_args = tuple(pytest_args)
        self._end = time.monotonic() + budget_s
        self._files = files

    def left(self) -> float:
        """Seconds of this section's budget still left (may be negative)."""
        return self._end - time.monotonic()

    def require_jax_gpu(self) -> None:
        """Fail the section unless JAX computes on a GPU (skipped in a dry run)."""
        import jax

        if self.mode == "gpu" and jax.default_backend() != "gpu":
            raise RuntimeError(f"JAX's default backend is {jax.default_backend()!r}, not 'gpu'")

    def write_file(self, name: str, text: str) -> str:
        """Write ``text`` to ``name`` in the output folder (atomically); returns the name."""
        write_atomic(self.output / name, text)
        self._files[name.rsplit(".", 1)[0]] = name
        return name


class Watchdog:
    """Calls ``on_fire()`` once, from a daemon thread, ``after_s`` seconds from ``start()``
    unless ``cancel()`` came first."""

    def __init__(self, after_s: float, on_fire: Callable[[], None]) -> None:
        self._timer = threading.Timer(after_s, on_fire)
        self._timer.daemon = True

    def start(self) -> Watchdog:
        self._timer.start()
        return self

    def cancel(self) -> None:
        self._timer.cancel()


def _utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def find_root() -> Path:
    """The repository checkout (with ``tests/`` and ``requirements-cuda.txt``): the current
    folder if it is one, else the one this package was loaded from, else the current folder."""
    for folder in (Path.cwd(), SOURCE_ROOT):
        if (folder / "tests").is_dir() and (folder / "requirements-cuda.txt").is_file():
            return folder
    return Path.cwd()


def _git_commit(root: Path) -> str | None:
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def _environment(probe: GpuProbe | None, root: Path) -> dict[str, Any]:
    """Facts about the machine that need no GPU context (no JAX backend is started)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = package_versions()
    for name in EXTRA_PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "root": str(root),
        "git_commit": _git_commit(root),
        "packages": versions,
        "gpu_probe": None if probe is None else dataclasses.asdict(probe),
        "env": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "JAX_PLATFORMS", "XLA_FLAGS",
                                               "XLA_PYTHON_CLIENT_PREALLOCATE", "CUPY_TF32")},
    }  # fmt: skip


class _Run:
    """The document of one run and the lock that keeps its writers apart."""

    def __init__(self, doc: dict[str, Any], output: Path, started: float) -> None:
        self.doc, self.output, self.started = doc, output, started
        self.lock = threading.Lock()
        self.current: str | None = None
        self.finished = False

    def write(self) -> None:
        """Finish the document and write the Markdown summary, then the JSON (caller holds the lock)."""
        doc = self.doc
        doc["finished_utc"] = _utc_now()
        doc["wall_s"] = round(time.monotonic() - self.started, 3)
        # ru_maxrss is in KiB on Linux (bytes on macOS); the GPU machines run Linux
        doc["environment"]["host_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if doc["status"] != "skipped":
            doc["status"] = _document.overall_status(doc["sections"])
        try:
            summary = _document.render_markdown(doc)
        except Exception as exc:  # the JSON must still be written; the summary says why it is short
            summary = f"# GPU check: {doc['status']}\n\nsummary not rendered ({type(exc).__name__}: {exc}); see {doc['files']['json']}\n"
            _log(f"summary not rendered: {type(exc).__name__}: {exc}")
        write_atomic(self.output / doc["files"]["markdown"], summary)
        dump_json(doc, self.output / doc["files"]["json"])

    def on_deadline(self) -> None:
        """The watchdog's action: mark the running section, write everything, exit 3 (incomplete)."""
        locked = self.lock.acquire(timeout=10)  # the main thread holds it only while writing
        try:
            if locked and self.finished:
                return
            if locked:
                if self.current is not None:
                    self.doc["sections"][self.current].update(
                        status="timeout", reason=f"still running at the deadline + {GRACE_S:.0f} s; process ended"
                    )
                self.write()
                self.finished = True  # the main thread must not write again
        finally:
            if locked:
                self.lock.release()
        _log(f"deadline passed; wrote {self.output}")
        os._exit(3)


def _log(message: str) -> None:
    """Progress on stderr (stdout is left to what the caller prints)."""
    print(f"benchmarks.gpu: {message}", file=sys.stderr, flush=True)


def _record(status: str, reason: str | None, budget: float | None) -> dict[str, Any]:
    return {"status": status, "reason": reason, "budget_s": budget, "wall_s": None, "results": None, "error": None}


def _run_section(run: _Run, spec: SectionSpec, deadline: float, make_ctx: Callable[[float], SectionContext]) -> None:
    left = deadline - time.monotonic() - RESERVE_S
    budget = min(spec.budget_s, left)
    sections = run.doc["sections"]
    if budget < spec.min_s:
        sections[spec.name] = _record("skipped", f"run budget gone: {max(left, 0):.0f} s left, the "
                                      f"section needs at least {spec.min_s:.0f} s", round(budget, 1))  # fmt: skip
        return
    with run.lock:
        sections[spec.name] = _record("running", None, round(budget, 1))
        run.current = spec.name
    t0 = time.monotonic()
    record: dict[str, Any] = {}
    try:
        results = spec.fn(make_ctx(budget))
        json.dumps(jsonable(results), allow_nan=False)  # fails here, not when the files are written
        problems = results.get("problems") or []
        record = {"status": "failed" if problems else "ok", "reason": "; ".join(problems) or None, "results": results}
    except SectionSkipped as exc:
        record = {"status": "skipped", "reason": str(exc)}
    except Exception as exc:  # recorded, and the run goes on: one broken section must not hide the others
        tb = traceback.format_exc().splitlines()
        record = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:1000], "error": "\n".join(tb[-30:])}
    with run.lock:
        sections[spec.name].update(record, wall_s=round(time.monotonic() - t0, 3))
        run.current = None
    reason = record.get("reason")
    _log(f"{spec.name}: {sections[spec.name]['status']} ({sections[spec.name]['wall_s']:.1f} s)"
         + (f": {reason}" if reason else ""))  # fmt: skip


def run_kit(
    output: str | os.PathLike[str] = "gpu_results",
    *,
    deadline_s: float = DEFAULT_DEADLINE_S,
    only: Sequence[str] | None = None,
    dry_run: bool = False,
    pytest_args: Sequence[str] = DEFAULT_PYTEST_ARGS,
    detect: Callable[[], GpuProbe] | None = None,
    plan: Plan | None = None,
    specs: Sequence[SectionSpec] = SECTIONS,
    command: str | None = None,
    root: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run the kit and write ``gpu_check.json`` and ``gpu_check.md`` (and the pytest log)
    into ``output``; returns the document. See the package docstring.

    ``only``: names of the sections to run (the others are recorded ``not_selected``);
    ``detect``: the GPU check, returning a ``GpuProbe`` (default: NVML first, then
    ``nvidia-smi -L``; no CUDA context is made), not used in a dry run; ``plan``: sizes
    (default ``FULL``, ``TINY`` in a dry run); ``specs``: the sections;
    ``root``: the checkout whose ``tests/`` and ``requirements-cuda.txt`` are used (default
    :func:`find_root`).
    """
    started = time.monotonic()
    output = check_path(output, "output")
    check_positive_real(deadline_s, "deadline_s")
    if isinstance(only, str):
        raise TypeError(f"only must be a sequence of section names, got the string {only!r}")
    names = [s.name for s in specs]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown section(s) {unknown}; sections are {names}")
    probe = None if dry_run else (detect or detect_gpu)()
    mode = "dry-run" if dry_run else ("gpu" if probe.present else "none")
    doc = _document.new_document(mode=mode, deadline_s=deadline_s, started_utc=_utc_now(),
                                 command=command or "run_kit()")  # fmt: skip
    root = Path(root) if root is not None else find_root()
    doc["environment"] = _environment(probe, root)
    run = _Run(doc, output, started)
    if mode == "none":
        doc["status"], doc["reason"] = "skipped", f"no NVIDIA GPU: {probe.detail}"
        with run.lock:
            run.write()
            run.finished = True
        return doc
    plan = plan or (TINY if dry_run else FULL)
    deadline = started + deadline_s
    state: dict[str, Any] = {}

    def make_ctx(budget: float) -> SectionContext:
        return SectionContext(budget_s=budget, plan=plan, mode=mode, state=state, root=root,
                              output=output, pytest_args=pytest_args, files=doc["files"])  # fmt: skip

    watchdog = Watchdog(deadline_s + GRACE_S, run.on_deadline).start()
    try:
        for spec in specs:
            if only and spec.name not in only:
                doc["sections"][spec.name] = _record("not_selected", "not selected (--sections)", None)
                continue
            _run_section(run, spec, deadline, make_ctx)
    finally:
        watchdog.cancel()
        with run.lock:
            if not run.finished:
                if run.current is not None:  # interrupted (KeyboardInterrupt): say so in the files
                    doc["sections"][run.current].update(status="failed", reason="interrupted")
                run.write()
                run.finished = True
    return doc
