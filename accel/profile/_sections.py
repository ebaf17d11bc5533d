"""``PerformanceProfiler``: nested named sections of a JAX training step (frameworm's profiler).

.. code-block:: python

    profiler = PerformanceProfiler()
    for batch in batches:
        with profiler.profile("step"):
            with profiler.profile("forward") as s:
                loss, grads = s.wait(grad_fn(params, batch))    # waited for at the section's end
            with profiler.profile("optimizer") as s:
                params = s.wait(apply(params, grads))
        profiler.record_device_memory()                        # frameworm: record_gpu_memory()
    profiler.print_summary()

JAX dispatches work asynchronously, so a clock stopped when Python leaves a block measures
the dispatch. Every section therefore synchronises: on entry it waits for work dispatched
before it (so that work is not counted here), and on exit it waits for the values given to
``section.wait(...)``, or, when none were given, for every live JAX array
(``jax.block_until_ready(jax.live_arrays())``, a device-wide barrier). ``sync=False`` turns
both off (then only host time is measured).

The summary has one row per section path (``'step'``, ``'step/forward'``). A section's
first call is kept apart: it includes the XLA compilation of whatever is first traced and
compiled inside it (a 2 s first ``step`` next to 1.4 ms steady ones), so ``first_call_s`` is
that call's time and ``mean_s``/``min_s``/``max_s`` describe only the calls after it (the
steady state; ``None`` after a single call). ``calls`` and ``total_s`` count every call, first
included, so that totals add up: ``percent_of_parent`` is total / enclosing section's total
(for a top-level section, of all top-level time). Each parent with children gets an
``'<parent>/(unaccounted)'`` row: its time not inside any child (communication, data
loading, Python), measured per call of the parent, first call apart as well.
``record_device_memory()`` reads ``device.memory_stats()`` once per step (bytes in use and
peak, per local device); backends that report nothing (the CPU) are listed as
:class:`~accel.profile.Unavailable`. Sections are also ``jax.profiler.TraceAnnotation``s:
inside ``profiler.trace(log_dir)`` (``jax.profiler.trace``) they appear by name in the
TensorBoard and Perfetto (``perfetto_trace.json.gz``) timelines.

Example:
    >>> import jax.numpy as jnp
    >>> from accel.profile import PerformanceProfiler
    >>> prof = PerformanceProfiler()
    >>> for _ in range(2):
    ...     with prof.profile("step"):
    ...         with prof.profile("matmul") as s:
    ...             y = s.wait(jnp.ones((64, 64)) @ jnp.ones((64, 64)))
    >>> rows = prof.summary()
    >>> rows["step"]["calls"], rows["step/matmul"]["calls"], 0 < rows["step/matmul"]["percent_of_parent"] <= 100
    (2, 2, True)
    >>> step = rows["step"]  # the second call is the only steady one:
    >>> step["first_call_s"] > 0 and step["mean_s"] == step["min_s"] == step["max_s"]
    True

``print_summary()`` prints the same rows as a table (times in ms, the first call in its own
column); in Jupyter the profiler shows itself as that table in HTML.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import jax

from accel._checks import check_bool, check_path
from accel._report import Table, TableDisplay
from accel.profile._readings import Unavailable

__all__ = ["PerformanceProfiler", "Section", "device_sync"]

_MB = float(1 << 20)
UNACCOUNTED = "(unaccounted)"


def device_sync() -> None:
    """Wait for all dispatched JAX work: effects, and every live array's computation."""
    jax.effects_barrier()
    jax.block_until_ready(jax.live_arrays())


class Section:
    """Handle of a running section: ``wait(value)`` registers results to wait for at its end."""

    def __init__(self, name: str, path: str) -> None:
        self.name = name
        self.path = path
        self._outputs: list[Any] = []

    def wait(self, value: Any) -> Any:
        """Wait for ``value`` (any pytree of JAX arrays) when the section ends; returns it."""
        self._outputs.append(value)
        return value


@dataclasses.dataclass
class _Totals:
    """Durations of one section's calls: the first (which includes compilation) apart."""

    calls: int = 0
    first: float = 0.0
    steady: float = 0.0  # sum of the calls after the first
    min: float = float("inf")  # of the calls after the first
    max: float = 0.0

    def add(self, seconds: float) -> None:
        if self.calls == 0:
            self.first = seconds
        else:
            self.steady += seconds
            self.min = min(self.min, seconds)
            self.max = max(self.max, seconds)
        self.calls += 1

    @property
    def total(self) -> float:
        return self.first + self.steady

    def stats(self) -> dict[str, Any]:
        """``calls`` and ``total_s`` of every call, ``first_call_s``, and the steady
        ``mean_s``/``min_s``/``max_s`` of the calls after the first (``None`` without any)."""
        n = self.calls - 1
        return {"calls": self.calls, "total_s": self.total, "first_call_s": self.first,
                "mean_s": self.steady / n if n else None, "min_s": self.min if n else None,
                "max_s": self.max if n else None}


_SUMMARY_HEADERS = ("section", "calls", "first call ms (incl. compile)", "mean ms", "min ms",
                    "max ms", "total ms", "% of parent")
_SUMMARY_NOTE = ("first call: includes XLA compilation; mean/min/max: the calls after it; "
                 "total, % of parent: every call")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


class PerformanceProfiler(TableDisplay):
    """Nested named sections with JAX synchronisation, device memory per step, traces.

    Shows itself (``str``, IPython, Jupyter HTML) as the :meth:`print_summary` tables.

    Args:
        sync: synchronise JAX work at every section boundary (see the module docstring).
        devices: the devices whose memory ``record_device_memory`` reads (default: all local).
    """

    def __init__(self, *, sync: bool = True, devices: list[jax.Device] | None = None) -> None:
        self.sync = check_bool(sync, "sync")
        if devices is not None and (
            isinstance(devices, str | bytes)
            or not isinstance(devices, list | tuple)
            or not all(callable(getattr(d, "memory_stats", None)) for d in devices)
        ):
            raise TypeError(
                f"devices must be None or a list of devices (jax.Device: with memory_stats()), "
                f"got {devices!r}"
            )
        self.devices = list(jax.local_devices() if devices is None else devices)
        self._stack: list[str] = []
        self._inner: list[float] = []  # per open section: time spent in its finished children
        self._totals: dict[str, _Totals] = {}
        self._own: dict[str, _Totals] = {}  # per section: its time outside its children
        self._memory: list[list[dict[str, Any]]] = []
        self.clock = time.perf_counter  # seconds; replaceable (tests)

    # ---------------------------------------------------------------- sections

    @contextlib.contextmanager
    def profile(self, name: str, *, sync: bool | None = None) -> Iterator[Section]:
        """Time the block as section ``name`` inside the enclosing section (if any).

        Yields a :class:`Section`; a block that raises is not counted."""
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"name must be a non-empty string without '/', got {name!r}")
        do_sync = self.sync if sync is None else check_bool(sync, "sync")
        path = "/".join([*self._stack, name])
        section = Section(name, path)
        if do_sync:
            device_sync()
        self._stack.append(name)
        self._inner.append(0.0)
        start = self.clock()
        try:
            with jax.profiler.TraceAnnotation(name):
                yield section
                if do_sync:
                    if section._outputs:
                        jax.block_until_ready(section._outputs)
                    else:
                        device_sync()
            elapsed = self.clock() - start
            self._totals.setdefault(path, _Totals()).add(elapsed)
            self._own.setdefault(path, _Totals()).add(max(elapsed - self._inner[-1], 0.0))
            if len(self._inner) > 1:
                self._inner[-2] += elapsed
        finally:
            self._stack.pop()
            self._inner.pop()

    # ---------------------------------------------------------------- memory

    def record_device_memory(self) -> list[dict[str, Any]]:
        """Read each device's memory now (one entry per step); returns this step's readings."""
        step = []
        for d in self.devices:
            stats = d.memory_stats() or {}
            why = f"JAX's {d.platform} device reports no memory_stats()"
            step.append({
                "device": f"{d.platform}:{d.id}",
                "bytes_in_use_mb": stats["bytes_in_use"] / _MB if "bytes_in_use" in stats else Unavailable(why),
                "peak_bytes_in_use_mb": stats["peak_bytes_in_use"] / _MB if "peak_bytes_in_use" in stats else Unavailable(why),
            })
        self._memory.append(step)
        return step

    record_gpu_memory = record_device_memory  # frameworm's name

    # ---------------------------------------------------------------- results

    def summary(self) -> dict[str, dict[str, Any]]:
        """``{path: {'name', 'parent', 'depth', 'calls', 'total_s', 'first_call_s', 'mean_s',
        'min_s', 'max_s', 'percent_of_parent'}}``, seconds, children after their parent in
        first-seen order and each parent's ``(unaccounted)`` row last among them.

        ``first_call_s`` is the section's first call (XLA compilation included);
        ``mean_s``/``min_s``/``max_s`` are over the calls after it (``None`` after one call);
        ``calls``, ``total_s`` and ``percent_of_parent`` count every call."""
        top_total = sum(t.total for p, t in self._totals.items() if "/" not in p)
        parents = {p.rpartition("/")[0] for p in self._totals if "/" in p}
        out: dict[str, dict[str, Any]] = {}

        def row(path: str, totals: _Totals) -> dict[str, Any]:
            parent = path.rpartition("/")[0] or None
            base = self._totals[parent].total if parent else top_total
            return {"name": path.rpartition("/")[2], "parent": parent, "depth": path.count("/"),
                    **totals.stats(),
                    "percent_of_parent": 100.0 * totals.total / base if base > 0 else 0.0}

        def visit(parent: str | None) -> None:
            for path, totals in self._totals.items():
                if (path.rpartition("/")[0] or None) == parent:
                    out[path] = row(path, totals)
                    visit(path)
            if parent in parents:
                key = f"{parent}/{UNACCOUNTED}"
                out[key] = row(key, self._own[parent])

        visit(None)
        return out

    def device_memory(self) -> dict[str, Any]:
        """Per device: ``steps`` recorded, ``last_mb`` and ``peak_mb`` (the largest peak seen)."""
        out: dict[str, Any] = {}
        for i, d in enumerate(self.devices):
            readings = [step[i] for step in self._memory]
            peaks = [r["peak_bytes_in_use_mb"] for r in readings if not isinstance(r["peak_bytes_in_use_mb"], Unavailable)]
            why = readings[-1]["peak_bytes_in_use_mb"] if readings else Unavailable("no steps recorded: call record_device_memory()")
            out[f"{d.platform}:{d.id}"] = {
                "steps": len(readings),
                "last_mb": readings[-1]["bytes_in_use_mb"] if readings else why,
                "peak_mb": max(peaks) if peaks else why,
            }
        return out

    def _tables(self) -> list[Table]:
        rows = [["  " * r["depth"] + r["name"], r["calls"], _ms(r["first_call_s"]),
                 _ms(r["mean_s"]), _ms(r["min_s"]), _ms(r["max_s"]), _ms(r["total_s"]),
                 round(r["percent_of_parent"], 1)]
                for r in self.summary().values()]  # fmt: skip
        tables = [Table(_SUMMARY_HEADERS, rows, note=_SUMMARY_NOTE) if rows
                  else Table((), [], title="no sections recorded")]  # fmt: skip
        if self._memory:
            memory = [[device, m["steps"], m["last_mb"], m["peak_mb"]]
                      for device, m in self.device_memory().items()]  # fmt: skip
            tables.append(Table(("device", "steps", "last MB", "peak MB"), memory,
                                title="device memory"))
        return tables

    def print_summary(self, file: TextIO | None = None) -> None:
        """Print the sections as an indented table (ms): calls, the first call (which includes
        compilation) in its own column, mean/min/max of the calls after it, total and % of
        parent over every call; then the device memory, if any step recorded it."""
        print(self, file=file if file is not None else sys.stdout)

    def reset(self) -> None:
        """Forget all sections and memory readings."""
        if self._stack:
            raise RuntimeError(f"cannot reset inside the open section {'/'.join(self._stack)!r}")
        self._totals.clear()
        self._own.clear()
        self._memory.clear()

    # ---------------------------------------------------------------- traces

    @contextlib.contextmanager
    def trace(self, log_dir: str | Path, *, perfetto: bool = True) -> Iterator[Path]:
        """Record a ``jax.profiler`` trace of the block into ``log_dir`` (TensorBoard's
        ``plugins/profile`` layout; ``perfetto_trace.json.gz`` too with ``perfetto``).
        Open it with ``tensorboard --logdir log_dir`` or at ui.perfetto.dev."""
        folder = check_path(log_dir, "log_dir")
        with jax.profiler.trace(str(folder), create_perfetto_trace=check_bool(perfetto, "perfetto")):
            yield folder
