"""Re-batching parameter streams: four strategies with different behaviour.

``BatchProcessor(strategy, BatchConfig(...)).process_stream(stream)`` takes a stream of
``AugmentationBatch`` chunks (or per-sample dicts) and yields batches (``AugmentationBatch``,
or lists of dicts for a dict stream):

* ``SEQUENTIAL``: consecutive batches of ``batch_size`` samples, in stream order.
* ``ROUND_ROBIN``: each window of ``batch_size * num_buckets`` samples is dealt over
  ``num_buckets`` interleaved batches: bucket ``b`` gets samples ``b, b + B, b + 2B, ...``.
* ``MEMORY_OPTIMIZED``: batch size ``= memory_fraction * budget / bytes_per_sample`` with
  ``bytes_per_sample`` measured on the first chunk and ``budget`` this process's budget:
  ``max_memory_mb`` if given, else the tightest of the cgroup memory limit (minus current
  usage) and ``RLIMIT_AS`` (minus current virtual size) - never the machine's total memory.
* ``ADAPTIVE``: hill-climbs the batch size on the consumer's measured throughput (samples
  per second between handing out a batch and being asked for the next): it keeps moving in
  the same direction (x or / ``growth``) while throughput improves by more than
  ``tolerance``, reverses on a slowdown of more than ``tolerance``, and holds otherwise.

All sizes are clamped to ``[min_batch_size, max_batch_size]``; the last batch may be short.

Example:
    >>> from accel.augment import BatchConfig, BatchProcessor, BatchStrategy, stream_augmentation_chain
    >>> p = BatchProcessor(BatchStrategy.ROUND_ROBIN, BatchConfig(batch_size=2, num_buckets=3))
    >>> [b.sample_ids.tolist() for b in p.process_stream(stream_augmentation_chain(6, chunk_size=4))]
    [[0, 3], [1, 4], [2, 5]]
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
import resource
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from .._checks import check_int, check_real
from ._batch import AugmentationBatch

__all__ = ["BatchConfig", "BatchProcessor", "BatchStrategy", "process_memory_budget"]

_UNLIMITED = 1 << 60  # cgroup v1 reports "no limit" as a huge number
_DEFAULT_BUDGET_MB = 1024  # used only when neither a cgroup limit nor RLIMIT_AS is set
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


class BatchStrategy(enum.Enum):
    """How ``BatchProcessor`` cuts a stream into batches (DPA's names and values).

    ``SEQUENTIAL``: consecutive batches of ``batch_size``; ``ROUND_ROBIN``: each window of
    ``batch_size * num_buckets`` samples dealt over ``num_buckets`` interleaved batches;
    ``MEMORY_OPTIMIZED``: ``memory_fraction * budget / bytes_per_sample`` samples per batch;
    ``ADAPTIVE``: the size hill-climbs on the consumer's measured throughput.
    """

    SEQUENTIAL = "sequential"
    ROUND_ROBIN = "round_robin"
    MEMORY_OPTIMIZED = "memory_optimized"
    ADAPTIVE = "adaptive"


@dataclasses.dataclass(frozen=True)
class BatchConfig:
    """Sizes and knobs of ``BatchProcessor`` (validated, immutable).

    ``batch_size`` is the fixed size (SEQUENTIAL, ROUND_ROBIN) or the starting size
    (ADAPTIVE); ``max_memory_mb`` overrides the measured process budget of MEMORY_OPTIMIZED.
    """

    batch_size: int = 1024
    max_memory_mb: float | None = None
    min_batch_size: int = 1
    max_batch_size: int = 1 << 20
    num_buckets: int = 4
    memory_fraction: float = 0.25
    growth: float = 2.0
    tolerance: float = 0.1
    strategy: BatchStrategy | str | None = None  # DPA's BatchConfig field; must match the processor's

    def __post_init__(self) -> None:
        if self.strategy is not None:
            try:
                object.__setattr__(self, "strategy", BatchStrategy(self.strategy))
            except ValueError:
                raise ValueError(f"unknown strategy {self.strategy!r}; accepted: {[s.value for s in BatchStrategy]}") from None
        for name in ("batch_size", "min_batch_size", "max_batch_size", "num_buckets"):
            check_int(getattr(self, name), name, minimum=1)
        if self.min_batch_size > self.max_batch_size:
            raise ValueError(f"min_batch_size ({self.min_batch_size}) must be <= max_batch_size ({self.max_batch_size})")
        check_real(self.max_memory_mb, "max_memory_mb", minimum=0.0, min_inclusive=False, allow_none=True)
        check_real(self.memory_fraction, "memory_fraction", minimum=0.0, maximum=1.0, min_inclusive=False)
        check_real(self.growth, "growth", minimum=1.0, min_inclusive=False)
        check_real(self.tolerance, "tolerance", minimum=0.0, maximum=1.0, max_inclusive=False)


# -- this process's memory budget ---------------------------------------------------------
def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _UNLIMITED else value


def _cgroup_available() -> int | None:
    """Limit minus usage of this process's memory cgroup (v2 or v1), or None if unlimited."""
    root = CGROUP_ROOT
    try:
        lines = PROC_SELF_CGROUP.read_text().splitlines()
    except OSError:
        return None
    best: int | None = None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if controllers == "":  # cgroup v2
            candidates = [(root / rel.lstrip("/"), "memory.max", "memory.current"), (root, "memory.max", "memory.current")]
        elif "memory" in controllers.split(","):  # cgroup v1
            base = root / "memory"
            candidates = [(base / rel.lstrip("/"), "memory.limit_in_bytes", "memory.usage_in_bytes"), (base, "memory.limit_in_bytes", "memory.usage_in_bytes")]
        else:
            continue
        for folder, limit_name, usage_name in candidates:
            limit = _read_int(folder / limit_name)
            if limit is not None:
                avail = max(0, limit - (_read_int(folder / usage_name) or 0))
                best = avail if best is None else min(best, avail)
                break
    return best


def _rlimit_as_available() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    vm = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                vm = int(line.split()[1]) * 1024
    except OSError:
        pass
    return max(0, soft - vm)


def process_memory_budget() -> tuple[int, str]:
    """Bytes this process may still allocate, and where the number comes from.

    The tightest of the cgroup limit (minus usage) and ``RLIMIT_AS`` (minus virtual size);
    if neither is set, a fixed default of 1024 MiB (``'default'``), never system-wide RAM.
    """
    found = [(v, src) for v, src in ((_cgroup_available(), "cgroup"), (_rlimit_as_available(), "RLIMIT_AS")) if v is not None]
    if not found:
        return _DEFAULT_BUDGET_MB << 20, "default"
    return min(found)


# -- the processor ----------------------------------------------------------------------------
def _part_size(part: Any) -> int:
    return len(part)


def _bytes_per_sample(part: Any) -> float:
    if isinstance(part, AugmentationBatch):
        cols = part.to_numpy()
        return (sum(c.nbytes for c in cols.values()) + part.sample_ids.nbytes) / max(1, len(part))
    return sum(sys.getsizeof(r) + sum(sys.getsizeof(v) for v in r.values()) for r in part) / max(1, len(part))


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], AugmentationBatch):
        return AugmentationBatch.concatenate(parts)
    return [r for p in parts for r in p]


def _slice(part: Any, index: slice) -> Any:
    return part.select(index) if isinstance(part, AugmentationBatch) else part[index]


class _Buffer:
    """FIFO of stream parts from which batches of any size are cut."""

    def __init__(self, parts: Iterator[Any]) -> None:
        self._parts = parts
        self._held: collections.deque[Any] = collections.deque()
        self._n = 0
        self.exhausted = False

    def take(self, size: int) -> Any | None:
        while self._n < size and not self.exhausted:
            try:
                part = next(self._parts)
            except StopIteration:
                self.exhausted = True
                break
            if _part_size(part):
                self._held.append(part)
                self._n += _part_size(part)
        if self._n == 0:
            return None
        out, need = [], min(size, self._n)
        while need:
            head = self._held[0]
            k = _part_size(head)
            if k <= need:
                out.append(self._held.popleft())
                need -= k
                self._n -= k
            else:
                out.append(_slice(head, slice(0, need)))
                self._held[0] = _slice(head, slice(need, None))
                self._n -= need
                need = 0
        return _concat(out)


def _parts_of(stream: Iterable[Any]) -> Iterator[Any]:
    """Stream items as parts: batches pass through, consecutive dicts are grouped into lists."""
    group: list[Any] = []
    for item in stream:
        if isinstance(item, AugmentationBatch):
            if group:
                yield group
                group = []
            yield item
        elif isinstance(item, dict):
            group.append(item)
            if len(group) >= 4096:
                yield group
                group = []
        else:
            raise TypeError(f"process_stream takes AugmentationBatch chunks or per-sample dicts, got {type(item).__name__}")
    if group:
        yield group


class BatchProcessor:
    """Re-batch a parameter stream with one of the ``BatchStrategy`` behaviours (module doc).

    ``clock`` (default ``time.perf_counter``) times the consumer for ``ADAPTIVE``.
    After or during a run, ``batch_sizes`` lists the sizes handed out and
    ``memory_budget`` holds ``(bytes, source)`` used by ``MEMORY_OPTIMIZED``.
    """

    def __init__(
        self,
        strategy: BatchStrategy | str,
        config: BatchConfig | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        try:
            self.strategy = BatchStrategy(strategy)
        except ValueError:
            raise ValueError(f"unknown strategy {strategy!r}; accepted: {[s.value for s in BatchStrategy]}") from None
        if config is not None and not isinstance(config, BatchConfig):
            raise TypeError(f"config must be a BatchConfig or None, got {type(config).__name__}")
        # the settings the strategies read (an adapter may show its own ``config``)
        self.config = self._settings = config or BatchConfig()
        if self.config.strategy is not None and self.config.strategy is not self.strategy:
            raise ValueError(
                f"BatchConfig.strategy={self.config.strategy.value!r} disagrees with the processor's "
                f"strategy {self.strategy.value!r}"
            )
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        self.clock = clock
        self.batch_sizes: list[int] = []
        self.memory_budget: tuple[int, str] | None = None

    def _clamp(self, size: float) -> int:
        return int(min(self._settings.max_batch_size, max(self._settings.min_batch_size, int(size))))

    # -- hooks: this class's behaviour by default; accel.dpa.batch.BatchProcessor (DPA's API)
    # overrides them to batch any items and to keep DPA's memory-driven size changes
    def _parts(self, stream: Iterable[Any]) -> Iterator[Any]:
        """The stream as parts (lists, or ``AugmentationBatch`` chunks) to cut batches from."""
        return _parts_of(stream)

    def _next_size(self, size: int) -> int:
        """Size of the next SEQUENTIAL batch (ROUND_ROBIN: per bucket of the next window)."""
        return size

    def _consumed(self, batch_size: int, seconds: float) -> None:
        """ADAPTIVE: the consumer held a batch of ``batch_size`` for ``seconds``."""

    def _resized(self, size: int) -> int:
        """ADAPTIVE: the size after a move (already clamped to the configured bounds)."""
        return size

    def memory_batch_size(self, bytes_per_sample: float) -> int:
        """MEMORY_OPTIMIZED size: ``memory_fraction * budget / bytes_per_sample``, clamped."""
        cfg = self._settings
        if cfg.max_memory_mb is not None:
            self.memory_budget = (int(cfg.max_memory_mb * (1 << 20)), "max_memory_mb")
        else:
            self.memory_budget = process_memory_budget()
        return self._clamp(cfg.memory_fraction * self.memory_budget[0] / max(bytes_per_sample, 1.0))

    def process_stream(self, stream: Iterable[Any]) -> Iterator[Any]:
        """Yield batches of the stream's samples, in the order the strategy defines."""
        parts = self._parts(stream)
        if self.strategy is BatchStrategy.MEMORY_OPTIMIZED:
            try:
                first = next(parts)
            except StopIteration:
                return
            size = self.memory_batch_size(_bytes_per_sample(first))
            parts = _chain_first(first, parts)
        else:
            size = self._clamp(self._settings.batch_size)
        buf = _Buffer(parts)
        if self.strategy is BatchStrategy.ROUND_ROBIN:
            yield from self._round_robin(buf, size)
        elif self.strategy is BatchStrategy.ADAPTIVE:
            yield from self._adaptive(buf, size)
        else:
            while (batch := buf.take(self._next_size(size))) is not None:
                self.batch_sizes.append(len(batch))
                yield batch

    def _round_robin(self, buf: _Buffer, size: int) -> Iterator[Any]:
        buckets = self._settings.num_buckets
        while (window := buf.take(self._next_size(size) * buckets)) is not None:
            for b in range(buckets):
                batch = _slice(window, slice(b, None, buckets))
                if len(batch):
                    self.batch_sizes.append(len(batch))
                    yield batch

    def _adaptive(self, buf: _Buffer, size: int) -> Iterator[Any]:
        cfg = self._settings
        prev_rate: float | None = None
        direction = 1
        while (batch := buf.take(size)) is not None:
            self.batch_sizes.append(len(batch))
            start = self.clock()
            yield batch
            elapsed = self.clock() - start
            self._consumed(len(batch), elapsed)
            if len(batch) < size:  # a short last batch says nothing about the size
                continue
            rate = len(batch) / elapsed if elapsed > 0 else math.inf
            if prev_rate is not None and rate < prev_rate * (1 - cfg.tolerance):
                direction = -direction  # slowdown: undo the last move
            elif prev_rate is not None and rate <= prev_rate * (1 + cfg.tolerance):
                prev_rate = rate
                continue  # no clear change: hold the size
            prev_rate = rate
            size = self._resized(self._clamp(size * cfg.growth if direction > 0 else size / cfg.growth))


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


