"""DPA's parameters of sample ids, computed by ``accel.augment``'s bit-exact DPA kernel.

For an id and a hash prefix (``""``, or ``f"{base_seed}:{rank}:"`` for the rank-aware
variant), :func:`accel.augment.dpa_draws` returns DPA's hash string and the five uniforms
``u`` of ``random.Random(int(hash, 16) % 2**32)``; a parameter is then DPA's
``random.uniform(low, high) = low + (high - low) * u`` in float64, so every value equals DPA's
bit for bit.

The kernel is the only DPA-specific computation in ``accel`` (``accel.augment._dpa_kernels``:
SHA-256, MT19937, the draws); this module adds DPA's record layout (the ``hash`` string,
``rank``) and a cache. ``accel.augment.gen_augmentation_params(i, algorithm='dpa')`` computes
the same values on the host without the hash string DPA returns.

Single ids (``gen_augmentation_params(i)``, DPA's per-sample API) go through a small
per-thread block cache: a miss computes the 64 ids from the requested one (the kernel's
smallest compiled batch, so they cost what one id costs); after 16 such blocks of
consecutive ids, blocks of 16384 (its largest). A loop over consecutive ids therefore
costs one kernel call per 64 (later 16384) ids instead of one per id. Values never
depend on the cache.

Example:
    >>> from accel.dpa import gen_augmentation_params
    >>> p = gen_augmentation_params(0)
    >>> sorted(p), len(p["hash"])
    (['brightness', 'contrast', 'hash', 'noise', 'rotation', 'scale'], 64)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from accel._checks import MAX_U64
from accel.augment import dpa_draws

from ._args import at_least, non_negative, rank_and_world
from ._config import PARAM_NAMES, AugmentationConfig, ranges_of
from ._errors import SeedGenerationError

__all__ = [
    "block_sizes",
    "clear_cache",
    "gen_augmentation_params",
    "gen_augmentation_seed",
    "hash_and_uniforms",
    "rank_prefix",
    "ranked_record",
    "records",
]

# The DPA kernel compiles batches of 64 and of 16384 ids (accel.augment._dpa_kernels._draws._BUCKETS): blocks
# of exactly those sizes waste no lanes. Consecutive ids switch to the large blocks after
# SMALL_RUN small ones, so short loops never pay for a 16384-id computation.
SMALL_BLOCK, LARGE_BLOCK, SMALL_RUN = 64, 1 << 14, 16


def _check_id(value: Any, name: str) -> int:
    value = non_negative(value, name)
    if value > MAX_U64:
        raise ValueError(f"{name} must be below 2**64 (the kernel's 64-bit ids), got {value}")
    return value


class _BlockCache(threading.local):
    """The last block of consecutive ids computed by this thread."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.key: tuple[int, str] | None = None
        self.start = 0
        self.uniforms = np.zeros((0, 5))
        self.hashes: list[str] = []
        self.run = 0  # consecutive blocks of consecutive ids so far


_cache = _BlockCache()


def clear_cache() -> None:
    """Forget this thread's cached block (benchmarks time cold generation with it)."""
    _cache.clear()


def block_sizes() -> tuple[int, ...]:
    """Sizes of the computation blocks of a run of consecutive ids (the last repeats)."""
    return (SMALL_BLOCK,) * SMALL_RUN + (LARGE_BLOCK,)


def hash_and_uniforms(sample_id: int, depth: int, prefix: str = "") -> tuple[str, np.ndarray]:
    """DPA's hash string and five uniforms of one id (see the module docstring)."""
    c = _cache
    key = (depth, prefix)
    end = c.start + len(c.hashes)
    if c.key == key and c.start <= sample_id < end:
        i = sample_id - c.start
        return c.hashes[i], c.uniforms[i]
    c.run = c.run + 1 if c.key == key and sample_id == end else 0
    size = min(SMALL_BLOCK if c.run < SMALL_RUN else LARGE_BLOCK, MAX_U64 - sample_id + 1)
    ids = np.uint64(sample_id) + np.arange(size, dtype=np.uint64)
    uniforms, hashes = dpa_draws(ids, depth=depth, prefix=prefix)
    c.key, c.start, c.uniforms, c.hashes = key, sample_id, uniforms, hashes  # c.run stays
    return hashes[0], uniforms[0]


def _values(ranges: Sequence[tuple[Any, Any]], uniforms: np.ndarray) -> list[list[float]]:
    """``low + (high - low) * u`` per parameter, in float64 as Python's ``random.uniform``."""
    return [(np.float64(low) + np.float64(high - low) * uniforms[..., j]).tolist() for j, (low, high) in enumerate(ranges)]


def records(
    ids: np.ndarray, config: Any, prefix: str = "", rank: int | None = None
) -> list[dict[str, Any]]:
    """DPA's parameter dicts of many ids (``uint64`` array) in one kernel call."""
    ranges, depth = ranges_of(config)
    uniforms, hashes = dpa_draws(ids, depth=depth, prefix=prefix)
    columns = _values(ranges, uniforms)
    out = []
    for i, h in enumerate(hashes):
        rec: dict[str, Any] = {name: col[i] for name, col in zip(PARAM_NAMES, columns, strict=True)}
        rec["hash"] = h
        if rank is not None:
            rec["rank"] = rank
        out.append(rec)
    return out


def one_record(sample_id: int, config: Any, prefix: str = "", rank: int | None = None) -> dict[str, Any]:
    """DPA's parameter dict of one id, through the block cache."""
    ranges, depth = ranges_of(config)
    h, u = hash_and_uniforms(sample_id, depth, prefix)
    rec: dict[str, Any] = dict(zip(PARAM_NAMES, _values(ranges, u), strict=True))
    rec["hash"] = h
    if rank is not None:
        rec["rank"] = rank
    return rec


def gen_augmentation_seed(seed_id: int, augmentation_depth: int = 10) -> str:
    """DPA's hash chain of one id: ``sha256(str(id))`` re-hashed with ``fib(0..depth-1)``.

    Returns the 64-character hex digest. Ids are integers in ``[0, 2**64)``.

    Example:
        >>> import hashlib
        >>> h = hashlib.sha256(b"5").hexdigest()
        >>> h = hashlib.sha256((h + "0").encode()).hexdigest()
        >>> gen_augmentation_seed(5, augmentation_depth=1) == h
        True
    """
    seed_id = _check_id(seed_id, "seed_id")
    return hash_and_uniforms(seed_id, at_least(augmentation_depth, "augmentation_depth", 1))[0]


def gen_augmentation_params(
    seed_id: int, config: AugmentationConfig | None = None, rank: int | None = None
) -> dict[str, Any]:
    """DPA's parameters of one sample: the five values and the ``hash`` string.

    ``rank`` delegates to ``accel.dpa.distributed.gen_distributed_augmentation_params``
    (world size 1, as DPA). The values equal DPA's bit for bit; unlike DPA, the global
    ``random`` module's state is not touched.

    Example:
        >>> p = gen_augmentation_params(3)
        >>> -30 <= p["rotation"] < 30 and p == gen_augmentation_params(3)
        True
    """
    seed_id = _check_id(seed_id, "seed_id")
    if config is None:
        config = AugmentationConfig()
    if rank is not None:
        rank, _ = rank_and_world(rank, 1)  # DPA: world size 1
        return ranked_record(seed_id, rank, config)
    return one_record(seed_id, config)


def rank_prefix(base_seed: int, rank: int) -> str:
    """The text DPA puts before a rank's sample ids: ``'{base_seed}:{rank}:'``."""
    return f"{base_seed}:{rank}:"


def ranked_record(sample_id: int, rank: int, config: Any, base_seed: int = 0) -> dict[str, Any]:
    """DPA's rank-aware parameters of one sample (``rank`` and ``base_seed`` checked by the
    caller); any failure is DPA's ``SeedGenerationError``."""
    try:
        return one_record(sample_id, config, rank_prefix(base_seed, rank), rank)
    except Exception as e:
        raise SeedGenerationError(f"Failed to generate distributed augmentation parameters: {e}") from e
