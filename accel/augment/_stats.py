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

from .._checks import MAX_U64, check_int
from ._batch import AugmentationBatch
from ._config import PARAM_NAMES

__all__ = ["RunningStats", "check_record", "compute_statistics"]

_RECORD_CHUNK = 65_536
# the exact types of a valid value (a fast test of a whole column; others are checked one by one)
_REAL_TYPES = frozenset({int, float, np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                         np.uint64, np.uint32, np.uint16, np.uint8})


def check_record(rec: Any, where: str, kind_error: type[Exception] = TypeError) -> None:
    """A per-sample dict: a mapping holding every name of ``PARAM_NAMES`` with a finite real
    value (``bool`` is not a number), ``sample_id`` an int in [0, 2**64) if present.
    ``kind_error`` (default ``TypeError``) for a wrong kind of value, ``ValueError`` for a
    missing parameter or a non-finite value; messages name ``where`` (e.g. ``'record 3'``)."""
    if not isinstance(rec, Mapping):
        raise kind_error(f"{where} must be a per-sample dict with the keys {PARAM_NAMES}, got {type(rec).__name__}")
    missing = [n for n in PARAM_NAMES if n not in rec]
    if missing:
        raise ValueError(f"{where} lacks {missing}: a per-sample dict needs the keys {PARAM_NAMES}")
    if "sample_id" in rec:
        try:
            check_int(rec["sample_id"], f"sample_id of {where}", minimum=0, maximum=MAX_U64)
        except TypeError as e:
            raise kind_error(str(e)) from None
    for n in PARAM_NAMES:
        v = rec[n]
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
            raise kind_error(f"parameter {n} of {where} must be a real number, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"parameter {n} of {where} is not finite: {v}")


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


def _is_columns(item: Mapping) -> bool:
    """A dict of arrays (one column per parameter), not a per-sample dict."""
    return all(isinstance(item.get(n), np.ndarray | list | tuple) or hasattr(item.get(n), "shape") for n in PARAM_NAMES)


def _record_columns(records: list[Any], start: int) -> dict[str, np.ndarray]:
    """The columns of per-sample dicts ``start, start + 1, ...``; a bad record is named."""
    try:
        values = {n: [r[n] for r in records] for n in PARAM_NAMES}
        exact = all(set(map(type, v)) <= _REAL_TYPES for v in values.values())
        cols = {n: np.array(v, dtype=np.float64) for n, v in values.items()} if exact else None
    except (KeyError, TypeError, IndexError, ValueError, OverflowError):
        cols = None
    if cols is None or not all(np.isfinite(c).all() for c in cols.values()):
        for i, rec in enumerate(records, start=start):  # the slow path only finds the culprit
            try:
                check_record(rec, f"record {i}")
            except (TypeError, ValueError) as e:
                raise type(e)(f"compute_statistics: {e}") from None
        cols = {n: np.array([float(r[n]) for r in records], dtype=np.float64) for n in PARAM_NAMES}
    return cols


def _chunks(data: Any) -> Iterable[Mapping[str, np.ndarray]]:
    if isinstance(data, AugmentationBatch) or (isinstance(data, Mapping) and _is_columns(data)):
        yield from _columns(data)
        return
    if isinstance(data, Mapping):
        data = [data]  # one per-sample dict
    try:
        it = iter(data)
    except TypeError:
        raise TypeError(
            "compute_statistics takes AugmentationBatch objects, per-sample dicts, dicts of arrays, "
            f"or an iterable of these; got {type(data).__name__}"
        ) from None
    done = 0  # records read so far (for messages)
    while True:
        head = list(itertools.islice(it, 1))
        if not head:
            return
        first = head[0]
        if isinstance(first, Mapping) and not isinstance(first, AugmentationBatch) and not _is_columns(first):
            records = head + list(itertools.islice(it, _RECORD_CHUNK - 1))
            yield _record_columns(records, done)
            done += len(records)
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
