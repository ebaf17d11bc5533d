"""The kit's timing rule and its floors.

:func:`time_calls`: one first call timed apart (it compiles, or loads what the timed calls
reuse), then up to ``repeats`` timed calls, each waited for with ``jax.block_until_ready``
before the clock stops, fewer when ``budget_s`` runs out (at least one). The figure quoted is
the median of the timed calls.

:func:`hbm_floor_seconds`: the least time any implementation needs to stream the data
through device memory, ``epochs * passes * rows * features * itemsize / bandwidth``.

Example:
    >>> t = time_calls(lambda: sum(range(1000)), repeats=3, budget_s=10.0)
    >>> t.n_timed, t.median_s > 0, t.first_s > 0
    (3, True, True)
    >>> hbm_floor_seconds(epochs=1, passes=1, rows=60000, features=784, itemsize=4,
    ...                   bandwidth=4.8e12)   # one read of MNIST-sized float32 X on an H200
    3.92e-05
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["Timing", "hbm_floor_seconds", "time_calls"]


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds: ``first_s`` (the untimed-in-the-median first call), the timed calls, their median."""

    first_s: float
    times_s: tuple[float, ...]

    @property
    def n_timed(self) -> int:
        return len(self.times_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_call_s": self.first_s,
            "median_s": self.median_s,
            "min_s": min(self.times_s),
            "max_s": max(self.times_s),
            "n_timed": self.n_timed,
            "times_s": list(self.times_s),
        }


def time_calls(fn: Callable[[], Any], *, repeats: int, budget_s: float) -> Timing:
    """Time ``fn()`` as the module docstring says; ``fn``'s result is waited for each time."""
    t_start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t_start
    times: list[float] = []
    while len(times) < max(1, repeats):
        if times and time.perf_counter() - t_start > budget_s:
            break
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return Timing(first, tuple(times))


def hbm_floor_seconds(
    *, epochs: int, passes: int, rows: int, features: int, itemsize: int, bandwidth: float
) -> float:
    """``epochs * passes * rows * features * itemsize / bandwidth`` (see the module docstring)."""
    return epochs * passes * rows * features * itemsize / bandwidth
