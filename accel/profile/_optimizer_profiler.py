"""``OptimizerProfiler``: wall time, per-epoch time, compile time and memory of a training region.

Use it as a context manager around ``fit`` or, for a hand-written loop, with
``start()`` / ``record_epoch()`` after each epoch / ``stop()``; ``get_stats()`` works during
the run too. Measured:

* wall time (``time.perf_counter``), after waiting for the optimizer's fitted JAX arrays;
* per-epoch time, compile time apart. In order of preference: the intervals between
  ``record_epoch()`` calls; ``history_['epoch_time']`` of the optimizer; else
  ``(wall - compile_time_) / n_epochs_``. The compile time is the estimator's own
  ``compile_time_`` (``ParallelTrainer`` and ``JAXOptimizer`` measure it around their
  compilation); an estimator without it gets ``compile_time`` *unavailable* and its epoch
  time is the wall time per epoch, compilation included if there was any
  (``epoch_time_source`` says which rule was used, ``compile_time_source`` where the compile
  time comes from). Without an ``optimizer`` argument, the one estimator of the calling
  scope whose ``fit`` ran inside the block (its ``history_`` was replaced) is used, as in the
  002 document's ``with OptimizerProfiler() as p: optimizer.fit(X, y)``; ``stats['optimizer']``
  names it. With none (or several), and without ``record_epoch()``, there are no epochs to
  divide by: ``avg_epoch_time`` is unavailable and says how to get it;
* host memory: the process RSS sampled in a background thread (psutil; start, end, peak),
  and the peak of Python allocations traced by ``tracemalloc`` (NumPy reports its buffers
  to tracemalloc; JAX device buffers are not Python allocations and are not included);
* device memory from JAX's ``device.memory_stats()`` where the platform provides it (GPUs),
  at start, end and every ``record_epoch()``; the CPU backend provides none, and
  ``device_memory_reason`` says so.

``get_stats()`` also has the keys of the 002 document: ``total_time`` (the wall time),
``avg_epoch_time`` (seconds) and ``peak_memory_mb`` (peak RSS in MiB); a reading that cannot
be made is :class:`~accel.profile.Unavailable`.

Example:
    >>> import numpy as np
    >>> from accel import OptimizerProfiler
    >>> with OptimizerProfiler(interval=0.001) as prof:
    ...     a = np.ones(1_000_000)
    >>> stats = prof.get_stats()
    >>> stats["tracemalloc_peak_increase_bytes"] >= a.nbytes, stats["total_time"] == stats["wall_time"]
    (True, True)
    >>> p = OptimizerProfiler(trace_python=False)
    >>> _ = p.start()
    >>> for epoch in range(3):
    ...     _ = p.record_epoch()
    >>> p.stop()["n_epochs"], p.get_stats()["epoch_time_source"]
    (3, 'record_epoch()')
"""

from __future__ import annotations

import importlib
import itertools
import sys
import time
import tracemalloc
from types import FrameType, TracebackType
from typing import Any

import jax

from accel._checks import check_bool
from accel.profile._readings import Unavailable
from accel.profile._sampler import PeriodicSampler, check_interval
from accel.profile._sync import block_fitted, fitted_epochs

__all__ = ["OptimizerProfiler"]

# Keys of ``history_`` holding per-epoch durations in seconds, in order of preference.
EPOCH_TIME_KEYS = ("epoch_time", "epoch_times")
_MB = float(1 << 20)


def _rss_reader() -> tuple[Any, str]:
    try:
        psutil = importlib.import_module("psutil")
    except ImportError as exc:
        return None, f"psutil is not installed ({exc}); pip install 'accel[profile]'"
    process = psutil.Process()
    return (lambda: process.memory_info().rss), "psutil RSS of this process"


def _device_memory(device: jax.Device) -> dict[str, int] | None:
    stats = device.memory_stats()
    if not stats:
        return None
    keys = ("bytes_in_use", "peak_bytes_in_use", "bytes_limit")
    return {k: int(stats[k]) for k in keys if k in stats}


class _Scope:
    """The estimators visible in the scope that opened the profiler, and their ``history_``."""

    def __init__(self, frame: FrameType) -> None:
        self._frame = frame
        self._before = {name: id(getattr(v, "history_", None)) for name, v in self._estimators()}

    def _estimators(self) -> list[tuple[str, Any]]:
        return [(name, v) for name, v in list(self._frame.f_locals.items())
                if not isinstance(v, type) and callable(getattr(v, "fit", None))]

    def fitted(self) -> tuple[Any, str | None]:
        """The one estimator whose ``history_`` was replaced since, with its name."""
        found = {id(v): (v, name) for name, v in self._estimators()
                 if getattr(v, "history_", None) is not None and id(v.history_) != self._before.get(name)}
        self._frame = None  # type: ignore[assignment]  # no reference cycle through the frame
        if len(found) != 1:
            return None, None
        (est, name), = found.values()
        return est, name


class OptimizerProfiler:
    """Profiles a training region; see the module docstring.

    Args:
        optimizer: the estimator being trained (read after the block for epochs and
            ``compile_time_``); optional.
        interval: seconds between RSS samples.
        trace_python: run ``tracemalloc`` during the block (slows Python allocations).
        device: the JAX device whose ``memory_stats()`` are read (default: the first).
    """

    def __init__(
        self,
        optimizer: Any = None,
        *,
        interval: float = 0.01,
        trace_python: bool = True,
        device: jax.Device | None = None,
    ) -> None:
        if optimizer is not None and not hasattr(optimizer, "__dict__"):  # 3, "adam", ...
            raise TypeError(
                "optimizer must be the estimator being trained (its fitted attributes are read "
                f"after the block) or None, got {optimizer!r}"
            )
        if device is not None and not isinstance(device, jax.Device):
            raise TypeError(f"device must be a jax.Device or None, got {device!r}")
        check_interval(interval)
        self.optimizer = optimizer
        self.trace_python = check_bool(trace_python, "trace_python")
        self.device = jax.devices()[0] if device is None else device
        self._rss, self._rss_reason = _rss_reader()
        self._sampler = PeriodicSampler(self._rss, interval) if self._rss else None
        self._stats: dict[str, Any] | None = None
        self._t0: float | None = None
        self._epoch_marks: list[float] = []
        self._device_per_epoch: list[dict[str, int] | None] = []
        self._scope: _Scope | None = None
        self._found: Any = None
        self._found_name: str | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> OptimizerProfiler:
        """Start measuring (what ``with`` does on entry); returns ``self``."""
        return self._start(sys._getframe(1))

    def _start(self, caller: FrameType | None) -> OptimizerProfiler:
        if self._t0 is not None:
            raise RuntimeError("an OptimizerProfiler can be entered once (or started once); make a new one")
        self._started_tracing = self.trace_python and not tracemalloc.is_tracing()
        if self._started_tracing:
            tracemalloc.start()
        if self.trace_python:
            tracemalloc.reset_peak()
            self._traced_start = tracemalloc.get_traced_memory()[0]
        self._device_start = _device_memory(self.device)
        self._scope = _Scope(caller) if self.optimizer is None and caller is not None else None
        if self._sampler is not None:
            self._sampler.start()
        self._t0 = time.perf_counter()
        return self

    def record_epoch(self) -> float:
        """Mark the end of an epoch of a hand-written loop; returns its duration in seconds
        (since ``start()`` or the previous mark). Also reads the device memory."""
        if self._t0 is None or self._stats is not None:
            raise RuntimeError("record_epoch() needs a running profiler: call start() first")
        now = time.perf_counter()
        previous = self._epoch_marks[-1] if self._epoch_marks else self._t0
        self._epoch_marks.append(now)
        self._device_per_epoch.append(_device_memory(self.device))
        return now - previous

    def stop(self) -> dict[str, Any]:
        """Stop measuring (what ``with`` does on exit); returns the final stats."""
        self._finish(waited=True)
        return self.get_stats()

    def __enter__(self) -> OptimizerProfiler:
        return self._start(sys._getframe(1))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish(waited=exc_type is None)

    def _finish(self, *, waited: bool) -> None:
        if self._t0 is None:
            raise RuntimeError("the profiler was not started: use `with OptimizerProfiler()` or start()")
        if self._stats is not None:
            raise RuntimeError("the profiler is already stopped")
        if self._scope is not None:
            self._found, self._found_name = self._scope.fitted()
            self._scope = None
        if self._estimator() is not None and waited:
            block_fitted(self._estimator())  # JAX dispatches asynchronously: wait before the clock
        wall = time.perf_counter() - self._t0
        try:
            if self._sampler is not None:
                self._sampler.stop()
        finally:
            traced = tracemalloc.get_traced_memory() if self.trace_python else None
            if self.trace_python and self._started_tracing:
                tracemalloc.stop()
        self._stats = self._collect(wall, traced, _device_memory(self.device))

    # ---------------------------------------------------------------- results

    def _collect(self, wall: float, traced: tuple[int, int] | None, device_end: dict[str, int] | None) -> dict[str, Any]:
        stats: dict[str, Any] = {"wall_time": wall, "total_time": wall, "running": False}
        if traced is not None:
            current, peak = traced
            stats.update(tracemalloc_peak_bytes=peak, tracemalloc_peak_increase_bytes=peak - self._traced_start,
                         tracemalloc_end_increase_bytes=current - self._traced_start)
        else:
            stats.update(tracemalloc_peak_bytes=None, tracemalloc_peak_increase_bytes=None,
                         tracemalloc_end_increase_bytes=None)
        rss = [v for _, v in self._sampler.samples] if self._sampler is not None else []
        if rss:
            stats.update(rss_start_bytes=rss[0], rss_end_bytes=rss[-1], rss_peak_bytes=max(rss),
                         rss_peak_increase_bytes=max(rss) - rss[0], rss_samples=len(rss),
                         rss_reason=self._rss_reason, peak_memory_mb=max(rss) / _MB)
        else:
            stats.update(rss_start_bytes=None, rss_end_bytes=None, rss_peak_bytes=None,
                         rss_peak_increase_bytes=None, rss_samples=0, rss_reason=self._rss_reason,
                         peak_memory_mb=Unavailable(self._rss_reason))
        stats["device"] = f"{self.device.platform}:{self.device.id} ({self.device.device_kind})"
        stats["device_memory_start"] = self._device_start
        stats["device_memory_end"] = device_end
        stats["device_memory_per_epoch"] = list(self._device_per_epoch)
        stats["device_memory_reason"] = (
            "jax device.memory_stats()" if device_end is not None
            else f"JAX's {self.device.platform} device provides no memory_stats()"
        )
        peak_device = (device_end or {}).get("peak_bytes_in_use")
        stats["device_peak_memory_mb"] = (peak_device / _MB if peak_device is not None
                                          else Unavailable(stats["device_memory_reason"]))
        stats.update(self._epoch_stats(wall))
        est = self._estimator()
        stats["optimizer"] = (None if est is None else type(est).__name__ if self.optimizer is not None
                              else f"{self._found_name} ({type(est).__name__}, fitted in the calling scope)")
        return stats

    def _estimator(self) -> Any:
        return self.optimizer if self.optimizer is not None else self._found

    def _compile_time(self) -> tuple[Any, str]:
        est = self._estimator()
        value = getattr(est, "compile_time_", None) if est is not None else None
        if value is not None:
            return float(value), f"{type(est).__name__}.compile_time_"
        why = ("no optimizer given" if est is None
               else f"{type(est).__name__} reports no compile_time_")
        return Unavailable(f"compile time unknown: {why}"), f"unknown ({why})"

    def _epoch_stats(self, wall: float) -> dict[str, Any]:
        compile_time, compile_source = self._compile_time()
        out: dict[str, Any] = {"compile_time": compile_time, "compile_time_source": compile_source}
        if self._epoch_marks:
            assert self._t0 is not None
            marks = [self._t0, *self._epoch_marks]
            times = [b - a for a, b in itertools.pairwise(marks)]
            return {**out, "n_epochs": len(times), "epoch_times": times, "epoch_time_mean": sum(times) / len(times),
                    "avg_epoch_time": sum(times) / len(times), "epoch_time_source": "record_epoch()"}
        none = {**out, "n_epochs": None, "epoch_times": None, "epoch_time_mean": None, "epoch_time_source": None,
                "avg_epoch_time": Unavailable("no epochs: pass the estimator (OptimizerProfiler(est)) "
                                              "or call record_epoch() after each epoch")}
        est = self._estimator()
        if est is None:
            return none
        history = getattr(est, "history_", None)
        if isinstance(history, dict):
            for key in EPOCH_TIME_KEYS:
                if key in history:
                    times = [float(t) for t in history[key]]
                    mean = sum(times) / len(times) if times else None
                    return {**out, "n_epochs": len(times), "epoch_times": times, "epoch_time_mean": mean,
                            "avg_epoch_time": Unavailable("no epochs recorded") if mean is None else mean,
                            "epoch_time_source": f"history_[{key!r}]"}
        try:
            n = fitted_epochs(est)
        except TypeError:
            return none  # not fitted inside the block (or not an estimator): nothing to divide
        if not n:
            return {**none, "n_epochs": n}
        if isinstance(compile_time, Unavailable):
            mean, source = wall / n, "wall_time / n_epochs_ (compile time unknown: included if any)"
        else:
            mean, source = max(wall - compile_time, 0.0) / n, "(wall_time - compile_time_) / n_epochs_"
        return {**out, "n_epochs": n, "epoch_times": None, "epoch_time_mean": mean, "avg_epoch_time": mean,
                "epoch_time_source": source}

    def get_stats(self) -> dict[str, Any]:
        """The measurements (a new dict each call): final after the block or ``stop()``, the
        values so far while running (``running`` is then True)."""
        if self._stats is not None:
            return dict(self._stats)
        if self._t0 is None:
            raise RuntimeError("no stats yet: use the profiler as `with OptimizerProfiler() as p:` or call start()")
        traced = tracemalloc.get_traced_memory() if self.trace_python and tracemalloc.is_tracing() else None
        stats = self._collect(time.perf_counter() - self._t0, traced, _device_memory(self.device))
        stats["running"] = True
        return stats
