"""``OptimizerProfiler``: wall time, per-epoch time and memory of a training region.

Measured while the ``with`` block runs:

* wall time (``time.perf_counter``), after waiting for the optimizer's fitted JAX arrays;
* per-epoch time: ``history_['epoch_time']`` of the optimizer when it records one, else the
  wall time divided by ``n_epochs_`` (``epoch_time_source`` says which);
* host memory: the process RSS sampled in a background thread (psutil; start, end, peak),
  and the peak of Python allocations traced by ``tracemalloc`` (NumPy reports its buffers
  to tracemalloc; JAX device buffers are not Python allocations and are not included);
* device memory from JAX's ``device.memory_stats()`` where the platform provides it (GPUs);
  the CPU backend provides none, and ``device_memory_reason`` says so.

Example:
    >>> import numpy as np
    >>> from accel import OptimizerProfiler
    >>> with OptimizerProfiler(interval=0.001) as prof:
    ...     a = np.ones(1_000_000)
    >>> stats = prof.get_stats()
    >>> stats["tracemalloc_peak_increase_bytes"] >= a.nbytes
    True
"""

from __future__ import annotations

import importlib
import time
import tracemalloc
from types import TracebackType
from typing import Any

import jax

from accel._checks import check_bool
from accel.profile._sampler import PeriodicSampler, check_interval
from accel.profile._sync import block_fitted, fitted_epochs

__all__ = ["OptimizerProfiler"]

# Keys of ``history_`` holding per-epoch durations in seconds, in order of preference.
EPOCH_TIME_KEYS = ("epoch_time", "epoch_times")


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


class OptimizerProfiler:
    """Context manager profiling a training region; see the module docstring.

    Args:
        optimizer: the estimator being trained (read after the block for epochs); optional.
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

    def __enter__(self) -> OptimizerProfiler:
        if self._t0 is not None:
            raise RuntimeError("an OptimizerProfiler can be entered once; make a new one")
        self._started_tracing = self.trace_python and not tracemalloc.is_tracing()
        if self._started_tracing:
            tracemalloc.start()
        if self.trace_python:
            tracemalloc.reset_peak()
            self._traced_start = tracemalloc.get_traced_memory()[0]
        self._device_start = _device_memory(self.device)
        if self._sampler is not None:
            self._sampler.start()
        self._t0 = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._t0 is not None
        if self.optimizer is not None and exc_type is None:
            block_fitted(self.optimizer)  # JAX dispatches asynchronously: wait before the clock
        wall = time.perf_counter() - self._t0
        stats: dict[str, Any] = {"wall_time": wall}
        try:
            if self._sampler is not None:
                self._sampler.stop()
        finally:
            if self.trace_python:
                current, peak = tracemalloc.get_traced_memory()
                if self._started_tracing:
                    tracemalloc.stop()
        if self.trace_python:
            stats.update(
                tracemalloc_peak_bytes=peak,
                tracemalloc_peak_increase_bytes=peak - self._traced_start,
                tracemalloc_end_increase_bytes=current - self._traced_start,
            )
        else:
            stats.update(tracemalloc_peak_bytes=None, tracemalloc_peak_increase_bytes=None,
                         tracemalloc_end_increase_bytes=None)
        if self._sampler is not None:
            rss = [v for _, v in self._sampler.samples]
            stats.update(
                rss_start_bytes=rss[0], rss_end_bytes=rss[-1], rss_peak_bytes=max(rss),
                rss_peak_increase_bytes=max(rss) - rss[0], rss_samples=len(rss),
                rss_reason=self._rss_reason,
            )
        else:
            stats.update(rss_start_bytes=None, rss_end_bytes=None, rss_peak_bytes=None,
                         rss_peak_increase_bytes=None, rss_samples=0, rss_reason=self._rss_reason)
        device_end = _device_memory(self.device)
        stats["device"] = f"{self.device.platform}:{self.device.id} ({self.device.device_kind})"
        stats["device_memory_start"] = self._device_start
        stats["device_memory_end"] = device_end
        stats["device_memory_reason"] = (
            "jax device.memory_stats()" if device_end is not None
            else f"JAX's {self.device.platform} device provides no memory_stats()"
        )
        stats.update(self._epoch_stats(wall))
        self._stats = stats

    def _epoch_stats(self, wall: float) -> dict[str, Any]:
        none = {"n_epochs": None, "epoch_times": None, "epoch_time_mean": None,
                "epoch_time_source": None}
        est = self.optimizer
        if est is None:
            return none
        history = getattr(est, "history_", None)
        if isinstance(history, dict):
            for key in EPOCH_TIME_KEYS:
                if key in history:
                    times = [float(t) for t in history[key]]
                    return {"n_epochs": len(times), "epoch_times": times,
                            "epoch_time_mean": sum(times) / len(times) if times else None,
                            "epoch_time_source": f"history_[{key!r}]"}
        try:
            n = fitted_epochs(est)
        except TypeError:
            return none  # not fitted inside the block (or not an estimator): nothing to divide
        return {"n_epochs": n, "epoch_times": None,
                "epoch_time_mean": wall / n if n else None,
                "epoch_time_source": "wall_time / n_epochs_"}

    def get_stats(self) -> dict[str, Any]:
        """The measurements of the finished ``with`` block (a new dict each call)."""
        if self._stats is None:
            raise RuntimeError("no stats yet: use the profiler as `with OptimizerProfiler() as p:`")
        return dict(self._stats)
