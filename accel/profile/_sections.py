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

The summary has one row per section path (``'step'``, ``'step/forward'``): calls, total,
mean, min and max seconds, and ``percent_of_parent`` (total / enclosing section's total; for a
top-level section, of all top-level time). Each parent with children gets an
``'<parent>/(unaccounted)'`` row: its time not inside any child (communication, data
loading, Python). ``record_device_memory()`` reads ``device.memory_stats()`` once per step
(bytes in use and peak, per local device); backends that report nothing (the CPU) are listed
as :class:`~accel.profile.Unavailable`. Sections are also ``jax.profiler.TraceAnnotation``s:
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
from accel._report import format_table
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
    calls: int = 0
    total: float = 0.0
    min: float = float("inf")
    max: float = 0.0

    def add(self, seconds: float) -> None:
        self.calls += 1
        self.total += seconds
        self.min = min(self.min, seconds)
        self.max = max(self.max, seconds)


class PerformanceProfiler:
    """Nested named sections with JAX synchronisation, device memory per step, traces.

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
        self._totals: dict[str, _Totals] = {}
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
        start = self.clock()
        try:
            with jax.profiler.TraceAnnotation(name):
                yield section
                if do_sync:
                    if section._outputs:
                        jax.block_until_ready(section._outputs)
                    else:
                        device_sync()
            self._totals.setdefault(path, _Totals()).add(self.clock() - start)
        finally:
            self._stack.pop()

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
        """``{path: {'name', 'parent', 'depth', 'calls', 'total_s', 'mean_s', 'min_s', 'max_s',
        'percent_of_parent'}}`` in first-seen order, with the ``(unaccounted)`` rows."""
        rows: dict[str, dict[str, Any]] = {}
        top_total = sum(t.total for p, t in self._totals.items() if "/" not in p)
        for path, t in self._totals.items():
            parent = path.rpartition("/")[0] or None
            base = self._totals[parent].total if parent else top_total
            rows[path] = {"name": path.rpartition("/")[2], "parent": parent, "depth": path.count("/"),
                          "calls": t.calls, "total_s": t.total, "mean_s": t.total / t.calls, "min_s": t.min,
                          "max_s": t.max, "percent_of_parent": 100.0 * t.total / base if base > 0 else 0.0}
        out: dict[str, dict[str, Any]] = {}
        for path, row in rows.items():
            out[path] = row
            children = [r for r in rows.values() if r["parent"] == path]
            if children:
                rest = max(row["total_s"] - sum(c["total_s"] for c in children), 0.0)
                key = f"{path}/{UNACCOUNTED}"
                out.setdefault(key, {"name": UNACCOUNTED, "parent": path, "depth": row["depth"] + 1,
                                     "calls": row["calls"], "total_s": rest, "mean_s": rest / row["calls"],
                                     "min_s": None, "max_s": None,
                                     "percent_of_parent": 100.0 * rest / row["total_s"] if row["total_s"] > 0 else 0.0})
        # children follow their parent, unaccounted last among them
        ordered: dict[str, dict[str, Any]] = {}

        def visit(parent: str | None) -> None:
            for path, row in out.items():
                if row["parent"] == parent and row["name"] != UNACCOUNTED:
                    ordered[path] = row
                    visit(path)
            if parent is not None and f"{parent}/{UNACCOUNTED}" in out:
                ordered[f"{parent}/{UNACCOUNTED}"] = out[f"{parent}/{UNACCOUNTED}"]

        visit(None)
        return ordered

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

    def print_summary(self, file: TextIO | None = None) -> None:
        """Print the sections as an indented table, then the device memory."""
        headers = ("section", "calls", "total ms", "mean ms", "min ms", "max ms", "% of parent")
        table = [["  " * r["depth"] + r["name"], r["calls"], r["total_s"] * 1e3, r["mean_s"] * 1e3,
                  None if r["min_s"] is None else r["min_s"] * 1e3, None if r["max_s"] is None else r["max_s"] * 1e3,
                  round(r["percent_of_parent"], 1)] for r in self.summary().values()]
        out = file if file is not None else sys.stdout
        print(format_table(headers, table) if table else "no sections recorded", file=out)
        for device, m in self.device_memory().items():
            print(f"device memory {device}: {m['steps']} step(s), last {m['last_mb']:.1f} MB, "
                  f"peak {m['peak_mb']:.1f} MB", file=out)

    def reset(self) -> None:
        """Forget all sections and memory readings."""
        if self._stack:
            raise RuntimeError(f"cannot reset inside the open section {'/'.join(self._stack)!r}")
        self._totals.clear()
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
