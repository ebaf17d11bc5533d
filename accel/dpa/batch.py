"""DPA's ``src.batch``: batch strategies, batch configuration and memory monitoring.

``BatchProcessor(strategy, config).process_stream(items)`` groups any stream of items (DPA's
parameter dicts, or lists of them) into lists. It is ``accel.augment.BatchProcessor`` (a
subclass: the SEQUENTIAL, ROUND_ROBIN and ADAPTIVE code is ``accel.augment``'s) adapted to
DPA's ``BatchConfig``, exceptions and memory readings:

* ``SEQUENTIAL``: consecutive batches of ``batch_size`` items (DPA's default 32);
* ``ROUND_ROBIN``: each window of ``batch_size * num_buckets`` items is dealt over
  ``num_buckets`` batches (item ``k`` of the window goes to batch ``k % num_buckets``), as
  ``accel.augment``; DPA's ROUND_ROBIN is the SEQUENTIAL code path (a bug, see
  ``docs/dpa_compatibility.md``);
* ``MEMORY_OPTIMIZED``: every 10 items the target size is re-derived from memory pressure
  (``MemoryAwareBatcher.adjust_batch_size`` of the configured size, at most twice it) and
  a batch is cut early when more than 75% of memory is in use;
* ``ADAPTIVE``: the size follows the consumer's throughput (items per second between
  handing out a batch and being asked for the next): doubled or halved while that improves
  by more than 10%, reversed on a slowdown, clamped to ``[min_batch_size, 1000]`` (or the
  starting size, if larger) and to the memory-adjusted size; the last 20 batches are kept in
  ``_performance_history``. DPA timed the producer's ``list.append`` instead (always "fast").

``MemoryInfo`` and ``memory_monitor`` read *system-wide* memory through psutil, as DPA does;
``accel.augment.process_memory_budget`` is the per-process budget (cgroup, RLIMIT_AS).

DPA-specific, with the reason: ``BatchConfig`` (DPA's mutable dataclass: its field order,
defaults and ``InvalidBatchConfigError``; the processor turns it into
``accel.augment.BatchConfig``), MEMORY_OPTIMIZED and ``process_with_memory_monitoring`` (DPA
defines them on system-wide memory read every few items, ``accel.augment`` sizes batches from
this process's budget once), ``MemoryInfo`` / ``MemoryAwareBatcher`` / ``memory_monitor``
(DPA's psutil API, which DPA's tests replace).

Example:
    >>> from accel.dpa.batch import BatchConfig, BatchProcessor, BatchStrategy
    >>> p = BatchProcessor(BatchStrategy.ROUND_ROBIN, BatchConfig(BatchStrategy.ROUND_ROBIN, batch_size=2, num_buckets=3))
    >>> list(p.process_stream(iter(range(6))))
    [[0, 3], [1, 4], [2, 5]]
    >>> [len(b) for b in BatchProcessor(BatchStrategy.SEQUENTIAL, BatchConfig(BatchStrategy.SEQUENTIAL, 4)).process_stream(range(10))]
    [4, 4, 2]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psutil

from accel import augment
from accel.augment import BatchStrategy

__all__ = [
    "BatchConfig",
    "BatchMetrics",
    "BatchProcessingError",
    "BatchProcessor",
    "BatchStrategy",
    "InvalidBatchConfigError",
    "MemoryAwareBatcher",
    "MemoryInfo",
    "MemoryLimitExceededError",
    "get_memory_usage",
    "memory_monitor",
    "safe_division",
]

_MB = 1024 * 1024
_ADAPTIVE_MAX = 1000
_CHECK_EVERY = 10


def safe_division(numerator: float, denominator: float, fallback: float = 0.0) -> float:
    """``numerator / denominator``, or ``fallback`` when the denominator is zero."""
    return fallback if denominator == 0 else numerator / denominator


class BatchProcessingError(Exception):
    """Base class of the batch processing errors."""


class MemoryLimitExceededError(BatchProcessingError):
    """Memory use crossed a limit."""


class InvalidBatchConfigError(BatchProcessingError):
    """A ``BatchConfig`` or strategy is invalid."""


@dataclass
class BatchConfig:
    """DPA's batch configuration (``batch_size=None``: 32 items); ``num_buckets`` (new,
    last so DPA's positional order is kept) is ROUND_ROBIN's number of interleaved batches."""

    strategy: BatchStrategy
    batch_size: int | None = None
    max_memory_mb: int = 1000
    min_batch_size: int = 1
    adaptive_sizing: bool = True
    num_buckets: int = 4

    def __post_init__(self) -> None:
        if self.batch_size is not None and self.batch_size <= 0:
            raise InvalidBatchConfigError(f"batch_size ({self.batch_size}) must be positive")
        if self.batch_size is not None and self.batch_size < self.min_batch_size:
            raise InvalidBatchConfigError(
                f"batch_size ({self.batch_size}) cannot be less than min_batch_size ({self.min_batch_size})"
            )
        if self.max_memory_mb <= 0:
            raise InvalidBatchConfigError(f"max_memory_mb must be positive, got {self.max_memory_mb}")
        if self.min_batch_size <= 0:
            raise InvalidBatchConfigError(f"min_batch_size must be positive, got {self.min_batch_size}")
        if isinstance(self.num_buckets, bool) or not isinstance(self.num_buckets, int) or self.num_buckets < 1:
            raise InvalidBatchConfigError(f"num_buckets must be an integer >= 1, got {self.num_buckets!r}")


@dataclass
class BatchMetrics:
    """Counts and rates of one batch processing run."""

    total_batches: int
    avg_batch_size: float
    memory_usage_mb: float
    processing_time_seconds: float
    throughput_samples_per_second: float

    @property
    def total_samples(self) -> int:
        return int(self.total_batches * self.avg_batch_size)


@dataclass
class MemoryInfo:
    """System-wide memory (psutil ``virtual_memory``), in MB."""

    available_mb: int
    used_mb: int
    total_mb: int
    percent_used: float

    @classmethod
    def current(cls) -> MemoryInfo:
        memory = psutil.virtual_memory()
        return cls(int(memory.available / _MB), int(memory.used / _MB), int(memory.total / _MB), memory.percent)


class MemoryAwareBatcher:
    """Batch sizes from memory: a fit for ``max_memory_mb`` and adjustments under pressure."""

    def __init__(self, max_memory_mb: int = 1000, min_batch_size: int = 1, adjustment_factor: float = 0.8):
        self.max_memory_mb = max_memory_mb
        self.min_batch_size = min_batch_size
        self._safety_margin = 0.1
        self._adjustment_factor = adjustment_factor

    def calculate_optimal_batch_size(self, sample_size_bytes: int) -> int:
        """Items of ``sample_size_bytes`` that fit in 90% of available memory and in
        ``max_memory_mb``, at least ``min_batch_size``."""
        if sample_size_bytes <= 0:
            return self.min_batch_size
        available = MemoryInfo.current().available_mb * (1 - self._safety_margin) * _MB
        fit = int(safe_division(available, sample_size_bytes, self.min_batch_size))
        limit = int(safe_division(self.max_memory_mb * _MB, sample_size_bytes, self.min_batch_size))
        return max(self.min_batch_size, min(fit, limit))

    def monitor_memory_usage(self) -> dict[str, int]:
        info = MemoryInfo.current()
        return {"available_mb": info.available_mb, "used_mb": info.used_mb, "total_mb": info.total_mb,
                "percent_used": int(info.percent_used)}

    def adjust_batch_size(self, current_size: int, memory_usage: dict[str, int]) -> int:
        """Shrink by ``adjustment_factor`` above 80% use, in proportion when less than
        ``max_memory_mb`` is available; grow 20% below 50% use with twice the room; else keep."""
        percent = memory_usage.get("percent_used", 0)
        available = memory_usage.get("available_mb", 0)
        if percent > 80:
            return max(self.min_batch_size, int(current_size * self._adjustment_factor))
        if available < self.max_memory_mb:
            return max(self.min_batch_size, int(current_size * available / self.max_memory_mb))
        if percent < 50 and available > self.max_memory_mb * 2:
            return int(current_size * 1.2)
        return current_size


class BatchProcessor(augment.BatchProcessor):
    """Groups a stream into batches with one of the strategies (module docstring).

    ``accel.augment.BatchProcessor`` adapted to DPA: DPA's ``BatchConfig`` and exceptions,
    any items (not only parameter dicts), the size read again for every batch (memory
    monitoring shrinks it), the adaptive size also capped by memory and recorded in
    ``_performance_history``, and DPA's own MEMORY_OPTIMIZED (system memory, see the module
    docstring; ``accel.augment``'s sizes batches from this process's budget).
    """

    def __init__(self, strategy: BatchStrategy, config: BatchConfig):
        if not isinstance(strategy, BatchStrategy):
            raise InvalidBatchConfigError(f"strategy must be a BatchStrategy enum, got {type(strategy).__name__}")
        if not isinstance(config, BatchConfig):
            raise InvalidBatchConfigError(f"config must be an accel.dpa.batch.BatchConfig, got {type(config).__name__}")
        size = config.batch_size or 32
        super().__init__(strategy, augment.BatchConfig(
            batch_size=size, min_batch_size=config.min_batch_size, max_batch_size=max(_ADAPTIVE_MAX, size, config.min_batch_size),
            num_buckets=config.num_buckets, growth=2.0, tolerance=0.1))  # fmt: skip
        self.config = config  # DPA's; the strategies read the accel.augment settings above
        self._memory_batcher = MemoryAwareBatcher(max_memory_mb=config.max_memory_mb, min_batch_size=config.min_batch_size)
        self._performance_history: list[dict[str, float]] = []
        self._current_batch_size = size

    def _parts(self, stream: Iterable[Any]) -> Iterator[list[Any]]:
        return ([item] for item in stream)  # any items, pulled one at a time as DPA does

    def _next_size(self, size: int) -> int:
        return self._current_batch_size

    def _consumed(self, batch_size: int, seconds: float) -> None:
        self._performance_history.append({"batch_size": batch_size, "processing_time": seconds,
                                          "time_per_item": seconds / batch_size})
        del self._performance_history[:-20]

    def _resized(self, size: int) -> int:
        memory = self._memory_batcher.adjust_batch_size(size, self._memory_batcher.monitor_memory_usage())
        return max(self.config.min_batch_size, min(size, memory))

    def _memory_optimized_batching(self, items: Iterator[Any]) -> Iterator[list[Any]]:
        batch: list[Any] = []
        limit = 2 * self._current_batch_size
        target = self._current_batch_size
        for item in items:
            if batch and len(batch) % _CHECK_EVERY == 0:
                usage = self._memory_batcher.monitor_memory_usage()
                target = min(limit, self._memory_batcher.adjust_batch_size(self._current_batch_size, usage))
                if usage.get("percent_used", 0) > 75:
                    target = len(batch)
            if len(batch) >= max(target, self.config.min_batch_size) or len(batch) >= limit:
                yield batch
                batch = []
            batch.append(item)
        if batch:
            yield batch

    def process_stream(self, param_generator: Iterable[Any]) -> Iterator[list[Any]]:
        """Batches of the stream's items, in the order the strategy defines."""
        if not isinstance(self.strategy, BatchStrategy):
            raise BatchProcessingError(f"Unknown batch strategy: {self.strategy}")
        if self.strategy is BatchStrategy.MEMORY_OPTIMIZED:
            return self._memory_optimized_batching(iter(param_generator))
        return super().process_stream(iter(param_generator))

    def process_with_memory_monitoring(self, param_generator: Iterable[Any]) -> Iterator[list[Any]]:
        """``process_stream``, checking system memory before each batch: above 90% use it raises
        ``MemoryLimitExceededError``, above 80% later batches shrink."""
        for batch in self.process_stream(param_generator):
            usage = self._memory_batcher.monitor_memory_usage()
            percent = usage.get("percent_used", 0)
            if percent > 90:
                raise MemoryLimitExceededError(f"Memory usage ({percent}%) is critically high")
            if percent > 80:
                self._current_batch_size = self._memory_batcher.adjust_batch_size(self._current_batch_size, usage)
            yield batch


def get_memory_usage() -> MemoryInfo:
    """System-wide memory now (``MemoryInfo.current()``)."""
    return MemoryInfo.current()


@contextlib.contextmanager
def memory_monitor(max_memory_mb: int) -> Iterator[MemoryInfo]:
    """Yield the memory at entry; raise ``MemoryLimitExceededError`` if system-wide used
    memory exceeds ``max_memory_mb`` at exit (DPA's check)."""
    yield get_memory_usage()
    final = get_memory_usage()  # not reached when the block raised: its error is the one to see
    if final.used_mb > max_memory_mb:
        raise MemoryLimitExceededError(f"Memory usage ({final.used_mb}MB) exceeded limit ({max_memory_mb}MB)")
