"""Streaming statistics of augmentation parameters (parallel Welford / Chan merge).

Each chunk contributes ``(n, mean, M2, min, max)`` computed in float64 with NumPy
(``M2 = sum((x - mean)**2)``); two summaries merge exactly as in Chan et al. (1979):

.. code-block:: text

    n = na + nb;  d = mean_b - mean_a;  mean = mean_a + d * nb / n
    M2 = M2_a + M2_b + d**2 * na * nb / n

``stdev`` is the sample standard deviation ``sqrt(M2 / (n - 1))`` (``0.0`` for one value),
as DPA's ``statistics.stdev``. Memory is one chunk at a time.

Example:
    >>> from accel.augment import compute_statistics, stream_augmentation_chain
    >>> s = compute_statistics(stream_augmentation_chain(1000, chunk_size=300))
    >>> s["rotation"]["count"], -30 <= s["rotation"]["min"] <= s["rotation"]["max"] < 30
    (1000, True)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._batch import AugmentationBatch
from ._config import PARAM_NAMES

__all__ = ["RunningStats", "compute_statistics"]

_RECORD_CHUNK = 65_536


@dataclass(frozen=True)
class RunningStats:
    """Summary of one parameter: count, mean, M2 (sum of squared deviations), min, max."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, values: np.ndarray) -> RunningStats:
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size == 0:
            return cls()
        if not np.all(np.isfinite(x)):
            raise ValueError("parameter values must be finite (found NaN or inf)")
        mean = float(x.mean())
        return cls(int(x.size), mean, float(np.sum((x - mean) ** 2)), float(x.min()), float(x.max()))

    def merge(self, other: RunningStats) -> RunningStats:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta * delta * (self.count * other.count / n)
        return RunningStats(n, mean, m2, min(self.min, other.min), max(self.max, other.max))

    def as_dict(self) -> dict[str, float | int]:
        stdev = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
        return {"mean": self.mean, "stdev": stdev, "min": self.min, "max": self.max, "count": self.count}


def _columns(item: Any) -> Iterable[Mapping[str, np.ndarray]]:
    """Normalise an input into a sequence of ``name -> array`` column chunks."""
    if isinstance(item, AugmentationBatch):
        yield item.to_numpy()
    elif isinstance(item, Mapping) and all(isinstance(item.get(n), np.ndarray | list | tuple) or hasattr(item.get(n), "shape") for n in PARAM_NAMES):
        yield {n: np.asarray(item[n], dtype=np.float64) for n in PARAM_NAMES}
    else:
        raise TypeError(
            "compute_statistics takes AugmentationBatch objects, per-sample dicts, dicts of "
            f"arrays, or an iterable of these; got {type(item).__name__}"
        )


def _chunks(data: Any) -> Iterable[Mapping[str, np.ndarray]]:
    if isinstance(data, Mapping) and not isinstance(data, AugmentationBatch) and isinstance(data.get("rotation"), float | int | np.floating):
        data = [data]  # one per-sample dict
    if isinstance(data, AugmentationBatch) or (isinstance(data, Mapping) and "rotation" in data and not isinstance(data.get("rotation"), float | int)):
        yield from _columns(data)
        return
    try:
        it = iter(data)
    except TypeError:
        raise TypeError(
            "compute_statistics takes AugmentationBatch objects, per-sample dicts, dicts of arrays, "
            f"or an iterable of these; got {type(data).__name__}"
        ) from None
    while True:
        head = list(itertools.islice(it, 1))
        if not head:
            return
        first = head[0]
        if isinstance(first, Mapping) and not isinstance(first, AugmentationBatch) and all(
            isinstance(first.get(n), float | int | np.floating) for n in PARAM_NAMES
        ):
            records = head + list(itertools.islice(it, _RECORD_CHUNK - 1))
            try:
                yield {n: np.array([r[n] for r in records], dtype=np.float64) for n in PARAM_NAMES}
            except (KeyError, TypeError) as e:
                raise TypeError(f"every per-sample dict needs the keys {PARAM_NAMES}: {e}") from None
        else:
            yield from _columns(first)


def compute_statistics(params_or_stream: Any) -> dict[str, dict[str, float | int]]:
    """``{name: {'mean', 'stdev', 'min', 'max', 'count'}}`` over all samples, in one pass.

    Accepts a list or stream of per-sample dicts (DPA's layout), an ``AugmentationBatch``,
    a stream of them (e.g. ``stream_augmentation_chain``), or a dict of arrays. Empty input
    raises ``ValueError``.
    """
    acc = {n: RunningStats() for n in PARAM_NAMES}
    for cols in _chunks(params_or_stream):
        for n in PARAM_NAMES:
            try:
                acc[n] = acc[n].merge(RunningStats.of(cols[n]))
            except ValueError as e:
                raise ValueError(f"compute_statistics: parameter {n}: {e}") from None
    if acc[PARAM_NAMES[0]].count == 0:
        raise ValueError("compute_statistics needs at least one sample, got none")
    return {n: acc[n].as_dict() for n in PARAM_NAMES}
