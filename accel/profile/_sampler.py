"""A background thread that calls a sampling function at a fixed interval.

Used by the profilers (host RSS) and the GPU monitor (NVML). Each sample is stored with
the ``time.perf_counter()`` at which it was taken; one sample is taken at start and one at
stop, so even a short region has two. An exception inside the sampling function stops the
thread and is re-raised by :meth:`PeriodicSampler.stop` (never swallowed).

Example:
    >>> s = PeriodicSampler(lambda: 42, interval=0.001)
    >>> s.start(); s.stop()
    >>> len(s.samples) >= 2 and all(v == 42 for _, v in s.samples)
    True
"""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["PeriodicSampler", "check_interval"]


def check_interval(interval: Any) -> float:
    """A positive finite number of seconds."""
    if isinstance(interval, bool) or not isinstance(interval, numbers.Real):
        raise TypeError(f"interval must be a positive number of seconds, got {interval!r}")
    if not 0 < float(interval) < float("inf"):
        raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
    return float(interval)


class PeriodicSampler:
    """Calls ``sample()`` every ``interval`` seconds in a daemon thread."""

    def __init__(self, sample: Callable[[], Any], interval: float) -> None:
        self._sample = sample
        self.interval = check_interval(interval)
        self.samples: list[tuple[float, Any]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    def _take(self) -> None:
        value = self._sample()
        t = time.perf_counter()
        with self._lock:
            self.samples.append((t, value))

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                self._take()
        except BaseException as exc:  # re-raised in stop()
            self._error = exc

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._take()
        self._thread = threading.Thread(target=self._run, name="accel-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            raise RuntimeError("sampler was not started")
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._take()
