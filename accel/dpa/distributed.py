"""DPA's ``src.distributed``: rank-aware parameters, range splitting and per-rank streams.

Rank-aware parameters hash ``f"{base_seed}:{rank}:{sample_id}"`` through DPA's Fibonacci
chain (the same bit-exact kernel as the single-process parameters, with a prefix), so the
same id gets different parameters on different ranks, and the dicts carry ``"rank"``.
``DistributedRangeSplitter`` is ``accel.augment``'s contiguous split (the first
``total % world_size`` ranks get one extra id) with DPA's conventions: ranks without ids
get ``(0, 0)``, and ``get_rank_for_sample`` is O(1).

DPA-specific, with the reason: the streams. DPA's rank ``r`` streams its share of the ids
with *rank-aware* parameters (``hash`` and ``rank`` in every dict); the share-of-the-ids
stream of ``accel.augment`` gives every id its single-process parameters, so that the ranks'
union equals one process's stream. ``RankRange`` is DPA's dataclass (``start_id``,
``end_id``, ``rank``, ``total_samples``), not ``accel.augment.RankRange``. This module is
DPA's ``src.distributed`` (``accel.distributed`` sets up JAX processes;
``accel.augment.DistributedRangeSplitter``, ``gen_distributed_augmentation_params`` and
``stream_distributed_augmentation_chain`` are ``accel.augment``'s rank helpers).

Example:
    >>> from accel.dpa.distributed import DistributedRangeSplitter, gen_distributed_augmentation_params
    >>> DistributedRangeSplitter(10, 4).get_all_ranges()
    [(0, 3), (3, 6), (6, 8), (8, 10)]
    >>> DistributedRangeSplitter(2, 3).get_all_ranges()
    [(0, 1), (1, 2), (0, 0)]
    >>> a = gen_distributed_augmentation_params(42, 0, world_size=2)
    >>> b = gen_distributed_augmentation_params(42, 1, world_size=2)
    >>> a["hash"] != b["hash"], b["rank"]
    (True, 1)
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from accel import augment

from ._args import at_least, non_negative, positive, rank_and_world
from ._config import AugmentationConfig
from ._errors import DistributedError, InvalidRankError, RangeSplittingError, SeedGenerationError
from ._params import _check_id, rank_prefix, ranked_record, records
from ._stream import id_blocks

__all__ = [
    "DistributedError",
    "DistributedRangeSplitter",
    "InvalidRankError",
    "RangeSplittingError",
    "RankAwareSeedGenerator",
    "RankRange",
    "SeedGenerationError",
    "gen_distributed_augmentation_params",
    "stream_distributed_augmentation_chain",
    "stream_distributed_augmentation_range",
]


@dataclass
class RankRange:
    """The ids ``start_id <= id < end_id`` of ``rank``, out of ``total_samples``."""

    start_id: int
    end_id: int
    rank: int
    total_samples: int


class RankAwareSeedGenerator:
    """DPA's rank-aware hash: the Fibonacci chain of ``f"{base_seed}:{rank}:{sample_id}"``."""

    def __init__(self, base_seed: int = 0, world_size: int = 1) -> None:
        self.base_seed = non_negative(base_seed, "base_seed")
        self.world_size = at_least(world_size, "world_size", 1)

    def generate_seed(self, sample_id: int, rank: int, augmentation_depth: int = 10) -> str:
        """The 64-character hex digest for ``sample_id`` on ``rank``."""
        sample_id = _check_id(sample_id, "sample_id")
        rank, _ = rank_and_world(rank, self.world_size)
        depth = at_least(augmentation_depth, "augmentation_depth", 1)
        try:
            return augment.dpa_draw(sample_id, depth=depth, prefix=rank_prefix(self.base_seed, rank))[0]
        except Exception as e:
            raise SeedGenerationError(f"Failed to generate rank-aware seed: {e}") from e


class DistributedRangeSplitter:
    """Contiguous, balanced split of the ids ``0 .. total_samples - 1`` over the ranks."""

    def __init__(self, total_samples: int, world_size: int) -> None:
        self.total_samples = non_negative(total_samples, "total_samples")
        self.world_size = at_least(world_size, "world_size", 1)
        self._split = augment.DistributedRangeSplitter(self.total_samples, self.world_size)
        self._ranges_cache: list[tuple[int, int]] | None = None

    def get_rank_range(self, rank: int) -> tuple[int, int]:
        """``(start_id, end_id)`` of ``rank`` (end exclusive); ``(0, 0)`` when it has no ids."""
        rank, _ = rank_and_world(rank, self.world_size)
        start, end = self._split.get_rank_range(rank)
        return (start, end) if end > start else (0, 0)

    def get_all_ranges(self) -> list[tuple[int, int]]:
        if self._ranges_cache is None:
            self._ranges_cache = [self.get_rank_range(r) for r in range(self.world_size)]
        return list(self._ranges_cache)

    def get_all_rank_ranges(self) -> list[RankRange]:
        return [RankRange(s, e, r, self.total_samples) for r, (s, e) in enumerate(self.get_all_ranges())]

    def validate_ranges(self) -> bool:
        """True iff the non-empty ranges tile ``[0, total_samples)`` without gap or overlap
        (failures are logged with ``logging.error``)."""
        ranges = sorted(r for r in self.get_all_ranges() if r[1] > r[0])
        expected = 0
        for start, end in ranges:
            if start != expected:
                logging.error(f"Range validation failed: expected start_id {expected}, got {start}. Ranges: {ranges}")
                return False
            expected = end
        if expected != self.total_samples:
            logging.error(f"Range validation failed: ranges cover {expected} of {self.total_samples} samples")
            return False
        return True

    def get_rank_for_sample(self, sample_id: int) -> int:
        """The rank owning ``sample_id`` (O(1))."""
        sample_id = non_negative(sample_id, "sample_id")
        if sample_id >= self.total_samples:
            raise ValueError(f"sample_id ({sample_id}) must be < total_samples ({self.total_samples})")
        return self._split.get_rank_for_sample(sample_id)


def gen_distributed_augmentation_params(
    sample_id: int,
    rank: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    world_size: int = 1,
) -> dict[str, Any]:
    """DPA's rank-aware parameters of one sample: five values, ``hash`` and ``rank``."""
    sample_id = _check_id(sample_id, "sample_id")
    rank, world_size = rank_and_world(rank, world_size)
    base_seed = non_negative(base_seed, "base_seed")
    if config is None:
        config = AugmentationConfig()
    return ranked_record(sample_id, rank, config, base_seed)


def _rank_stream(
    start: int, count: int, rank: int, config: Any, base_seed: int, chunk_size: int | None, verbose: bool
) -> Iterator[Any]:
    prefix = rank_prefix(base_seed, rank)

    def samples() -> Iterator[dict[str, Any]]:
        for ids in id_blocks(start, count):
            try:
                block = records(ids, config, prefix, rank)
            except Exception as e:
                raise SeedGenerationError(f"Failed to generate parameters for rank {rank}, samples from {int(ids[0])}: {e}") from e
            if verbose and count <= 10:
                for k, p in enumerate(block):
                    print(f"Rank {rank} Sample({int(ids[0]) + k}) -> rotation={p['rotation']:.2f}\u00b0 "
                          f"brightness={p['brightness']:.2f} hash={p['hash'][:8]}...")
            yield from block

    if chunk_size is None:
        yield from samples()
        return
    stream = samples()
    while chunk := list(itertools.islice(stream, chunk_size)):
        yield chunk


def _stream_checks(rank: Any, world_size: Any, chunk_size: Any, config: Any) -> tuple[int, int, int | None, Any]:
    rank, world_size = rank_and_world(rank, world_size)
    if chunk_size is not None:
        chunk_size = positive(chunk_size, "chunk_size")
    return rank, world_size, chunk_size, AugmentationConfig() if config is None else config


def stream_distributed_augmentation_chain(
    num_samples: int,
    rank: int,
    world_size: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    chunk_size: int | None = None,
    verbose: bool = False,
    inclusive_range: bool = True,
) -> Iterator[Any]:
    """This rank's share of the ids ``0 .. num_samples - 1`` with rank-aware parameters.

    Yields dicts, or lists of ``chunk_size`` dicts. ``inclusive_range`` is accepted and, as
    in DPA, has no effect.
    """
    num_samples = non_negative(num_samples, "num_samples")
    rank, world_size, chunk_size, config = _stream_checks(rank, world_size, chunk_size, config)
    base_seed = non_negative(base_seed, "base_seed")
    start, end = DistributedRangeSplitter(num_samples, world_size).get_rank_range(rank)

    def run() -> Iterator[Any]:
        if verbose:
            print(f"Rank {rank}/{world_size}: processing samples {start}-{end - 1} ({end - start} samples)")
        if end == start:
            if verbose:
                print(f"Rank {rank}: no samples to process (empty range)")
            return
        yield from _rank_stream(start, end - start, rank, config, base_seed, chunk_size, verbose)
        if verbose:
            print(f"Rank {rank}: completed processing {end - start} samples")

    return run()


def stream_distributed_augmentation_range(
    start_id: int,
    end_id: int,
    rank: int,
    world_size: int,
    config: AugmentationConfig | None = None,
    base_seed: int = 0,
    chunk_size: int | None = None,
    verbose: bool = False,
) -> Iterator[Any]:
    """Rank-aware parameters of the ids ``start_id <= id < end_id`` (not split over ranks)."""
    start_id = non_negative(start_id, "start_id")
    end_id = non_negative(end_id, "end_id")
    if end_id < start_id:
        raise ValueError(f"end_id must be >= start_id, got start_id={start_id}, end_id={end_id}")
    rank, world_size, chunk_size, config = _stream_checks(rank, world_size, chunk_size, config)
    base_seed = non_negative(base_seed, "base_seed")

    def run() -> Iterator[Any]:
        if verbose:
            print(f"Rank {rank}/{world_size}: processing range {start_id}-{end_id - 1} ({end_id - start_id} samples)")
        yield from _rank_stream(start_id, end_id - start_id, rank, config, base_seed, chunk_size, verbose)
        if verbose:
            print(f"Rank {rank}: completed processing range {start_id}-{end_id - 1}")

    return run()
