"""Ranks: rank-aware parameters, range splitting and per-rank streams.

``accel.augment``'s multi-process helpers (not to be confused with ``accel.distributed``,
which sets up the processes, or ``accel.dpa.distributed``, DPA's API over these).

Two different needs, kept apart:

* ``gen_distributed_augmentation_params(id, rank, world_size)`` gives each rank its *own*
  parameters for the same id (DPA's documented behaviour): the sample key is folded with
  ``RANK_STREAM`` and the rank. ``world_size`` is only validated.
* ``stream_distributed_augmentation_chain(n, rank, world_size)`` streams this rank's share of
  the *global* ids ``0 .. n-1`` with exactly the parameters the single-process stream gives
  them, so the union over ranks is the same for every world size and split mode.

``DistributedRangeSplitter`` assigns ids to ranks: ``'contiguous'`` gives rank ``r`` the block
``[r*q + min(r, m), (r+1)*q + min(r+1, m))`` with ``q, m = divmod(total, world_size)``;
``'strided'`` gives it ids ``r, r + world_size, ...``. Both are balanced (sizes differ by at
most one) and ``get_rank_for_sample`` is O(1).

Example:
    >>> from accel.augment import DistributedRangeSplitter
    >>> s = DistributedRangeSplitter(10, 4)
    >>> [tuple(r) for r in s.get_all_ranges()]
    [(0, 3), (3, 6), (6, 8), (8, 10)]
    >>> s.get_rank_for_sample(7), DistributedRangeSplitter(10, 4, mode="strided").get_rank_for_sample(7)
    (2, 3)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from .. import _keys
from ._batch import AugmentationBatch
from ._config import AugmentationConfig, resolve_config
from ._generate import check_algorithm, check_epoch, check_int, check_rank, generate, scalar_id
from ._stream import (
    DEFAULT_CHUNK_SIZE,
    as_records,
    check_chunk_size,
    check_num_samples,
    id_progression,
    stream_ids,
)

__all__ = [
    "SPLIT_MODES",
    "DistributedRangeSplitter",
    "RankRange",
    "gen_distributed_augmentation_params",
    "stream_distributed_augmentation_chain",
]

SPLIT_MODES = ("contiguous", "strided")


class RankRange(tuple):
    """``(start, end)`` of a rank's ids, with ``step`` (1 for contiguous splits).

    Unpacks like DPA's tuple (``start, end = splitter.get_rank_range(r)``); the ids are
    ``range(start, end, step)`` (``.ids()``), ``len(r.ids())`` of them.
    """

    step: int

    def __new__(cls, start: int, end: int, step: int = 1) -> RankRange:
        self = super().__new__(cls, (start, end))
        self.step = step
        return self

    @property
    def start(self) -> int:
        return self[0]

    @property
    def end(self) -> int:
        return self[1]

    @property
    def num_samples(self) -> int:
        return len(self.ids())

    def ids(self) -> range:
        return range(self[0], self[1], self.step)

    def __repr__(self) -> str:
        return f"RankRange(start={self[0]}, end={self[1]}, step={self.step})"


class DistributedRangeSplitter:
    """Split ids ``0 .. total_samples-1`` over ``world_size`` ranks (see module doc)."""

    def __init__(self, total_samples: int, world_size: int, mode: str = "contiguous") -> None:
        self.total_samples = check_int(total_samples, "total_samples", minimum=0)
        self.world_size = check_int(world_size, "world_size", minimum=1)
        if mode not in SPLIT_MODES:
            raise ValueError(f"mode must be one of {SPLIT_MODES}, got {mode!r}")
        self.mode = mode
        self._q, self._m = divmod(self.total_samples, self.world_size)

    def get_rank_range(self, rank: int) -> RankRange:
        rank, _ = check_rank(rank, self.world_size)
        if self.mode == "strided":
            return RankRange(rank, max(rank, self.total_samples), self.world_size)
        start = rank * self._q + min(rank, self._m)
        return RankRange(start, start + self._q + (rank < self._m))

    def get_all_ranges(self) -> list[RankRange]:
        return [self.get_rank_range(r) for r in range(self.world_size)]

    def validate_ranges(self) -> bool:
        """True iff the ranks' id sets are disjoint and cover ``0 .. total_samples-1``."""
        seen = 0
        sizes = []
        for r in self.get_all_ranges():
            ids = r.ids()
            sizes.append(len(ids))
            seen += len(ids)
            if len(ids) and not (0 <= ids[0] and ids[-1] < self.total_samples):
                return False
        if seen != self.total_samples or (sizes and max(sizes) - min(sizes) > 1):
            return False
        if self.mode == "contiguous":
            ranges = self.get_all_ranges()
            return ranges[0].start == 0 and all(a.end == b.start for a, b in itertools.pairwise(ranges))
        return True  # residues modulo world_size are disjoint and complete by construction

    def get_rank_for_sample(self, sample_id: int) -> int:
        """The rank owning ``sample_id``, in O(1)."""
        sid = check_int(sample_id, "sample_id", minimum=0)
        if sid >= self.total_samples:
            raise ValueError(f"sample_id must be < total_samples={self.total_samples}, got {sid}")
        if self.mode == "strided":
            return sid % self.world_size
        big = self._m * (self._q + 1)  # ids held by the first m ranks (one extra each)
        if sid < big:
            return sid // (self._q + 1)
        return self._m + (sid - big) // self._q


def _seed_arg(seed: int, base_seed: int | None) -> int:
    if base_seed is not None:
        if seed != 0:
            raise ValueError("pass either seed or its DPA alias base_seed, not both")
        return _keys.check_seed(base_seed, "base_seed")
    return _keys.check_seed(seed)


def gen_distributed_augmentation_params(
    sample_id: int,
    rank: int,
    world_size: int = 1,
    config: AugmentationConfig | None = None,
    *,
    seed: int = 0,
    epoch: int = 0,
    base_seed: int | None = None,
    algorithm: str | None = None,
) -> dict[str, float]:
    """Rank-aware parameters: each rank gets its own parameters for the same id.

    Key: ``fold_in(fold_in(K(seed, epoch, id), RANK_STREAM), rank)``; ``world_size`` is only
    validated (``0 <= rank < world_size``), so the same (id, rank) gives the same values for
    any world size. ``base_seed`` is DPA's name for ``seed``. For ``algorithm='dpa'`` the
    hashed string is ``f"{seed}:{rank}:{sample_id}"`` (DPA v0.2, bit-exact).

    Example:
        >>> a = gen_distributed_augmentation_params(42, rank=0, world_size=4)
        >>> b = gen_distributed_augmentation_params(42, rank=1, world_size=4)
        >>> a != b
        True
    """
    rank, world_size = check_rank(rank, world_size)
    batch = generate(
        scalar_id(sample_id),
        resolve_config(config),
        seed=_seed_arg(seed, base_seed),
        epoch=check_epoch(epoch),
        algorithm=check_algorithm(algorithm),
        rank=rank,
    )
    return {name: float(v[0]) for name, v in batch.to_numpy().items()}


def stream_distributed_augmentation_chain(
    num_samples: int,
    rank: int,
    world_size: int,
    config: AugmentationConfig | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    *,
    mode: str = "contiguous",
    seed: int = 0,
    epoch: int = 0,
    base_seed: int | None = None,
    algorithm: str | None = None,
) -> Iterator[AugmentationBatch] | Iterator[dict[str, Any]]:
    """Stream this rank's share of the global ids ``0 .. num_samples-1``.

    The parameters are those of the single-process stream (no rank in the key), so the
    union over ranks equals ``stream_augmentation_chain(num_samples)`` for every
    ``world_size`` and ``mode``. ``chunk_size=None`` yields per-sample dicts.

    Example:
        >>> from accel.augment import stream_distributed_augmentation_chain as sd
        >>> [c.sample_ids.tolist() for c in sd(5, rank=1, world_size=2, mode="strided")]
        [[1, 3]]
    """
    count = check_num_samples(num_samples, allow_infinite=False)
    splitter = DistributedRangeSplitter(count, world_size, mode)
    rng = splitter.get_rank_range(rank)
    size = check_chunk_size(chunk_size, allow_none=True)
    batch_size = DEFAULT_CHUNK_SIZE if size is None else size
    cfg = resolve_config(config)
    seed = _seed_arg(seed, base_seed)
    epoch = check_epoch(epoch)
    algorithm = check_algorithm(algorithm)
    chunks = id_progression(rng.start, rng.num_samples, rng.step, batch_size)
    batches = stream_ids(chunks, cfg, seed=seed, epoch=epoch, algorithm=algorithm, chunk_size=batch_size)
    return as_records(batches) if size is None else batches
