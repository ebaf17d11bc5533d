"""DPA's parameters of sample ids, computed by ``accel.augment``'s bit-exact DPA kernel.

For an id and a hash prefix (``""``, or ``f"{base_seed}:{rank}:"`` for the rank-aware
variant), :func:`accel.augment.dpa_draws` returns DPA's hash string and the five uniforms
``u`` of ``random.Random(int(hash, 16) % 2**32)``; a parameter is then DPA's
``random.uniform(low, high) = low + (high - low) * u`` in float64, so every value equals DPA's
bit for bit.

The kernel is the only DPA-specific computation in ``accel`` (``accel.augment._dpa_kernels``:
SHA-256, MT19937, the draws); this module adds DPA's record layout (the ``hash`` string,
``rank``). ``accel.augment.gen_augmentation_params(i, algorithm='dpa')`` computes
the same values on the host without the hash string DPA returns.

Single ids (``gen_augmentation_params(i)``, DPA's per-sample API, and the rank-aware seeds)
are computed on the host by :func:`accel.augment.dpa_draw` (``hashlib`` and
``random.Random``, as DPA; no device dispatch, nothing to compile), so a call costs what
DPA's costs whatever the order of the ids. Many ids at once (:func:`records`: chains and
streams) go through the device kernel :func:`accel.augment.dpa_draws`.

Example:
    >>> from accel.dpa import gen_augmentation_params
    >>> p = gen_augmentation_params(0)
    >>> sorted(p), len(p["hash"])
    (['brightness', 'contrast', 'hash', 'noise', 'rotation', 'scale'], 64)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from accel._checks import MAX_U64
from accel.augment import dpa_draw, dpa_draws

from ._args import at_least, non_negative, rank_and_world
from ._config import PARAM_NAMES, AugmentationConfig, ranges_of
from ._errors import SeedGenerationError

__all__ = [
    "gen_augmentation_params",
    "gen_augmentation_seed",
    "rank_prefix",
    "ranked_record",
    "records",
]


def _check_id(value: Any, name: str) -> int:
    value = non_negative(value, name)
    if value > MAX_U64:
        raise ValueError(f"{name} must be below 2**64 (the kernel's 64-bit ids), got {value}")
    return value


def _values(affine: Sequence[tuple[float, float]], uniforms: np.ndarray) -> list[list[float]]:
    """``low + (high - low) * u`` per parameter (``Ranges.affine``), in float64 as Python's
    ``random.uniform``."""
    return [(low + width * uniforms[..., j]).tolist() for j, (low, width) in enumerate(affine)]


def records(
    ids: np.ndarray, config: Any, prefix: str = "", rank: int | None = None
) -> list[dict[str, Any]]:
    """DPA's parameter dicts of many ids (``uint64`` array) in one kernel call."""
    ranges = ranges_of(config)
    uniforms, hashes = dpa_draws(ids, depth=ranges.depth, prefix=prefix)
    columns = _values(ranges.affine, uniforms)
    out = []
    for i, h in enumerate(hashes):
        rec: dict[str, Any] = {name: col[i] for name, col in zip(PARAM_NAMES, columns, strict=True)}
        rec["hash"] = h
        if rank is not None:
            rec["rank"] = rank
        out.append(rec)
    return out


def one_record(sample_id: int, config: Any, prefix: str = "", rank: int | None = None) -> dict[str, Any]:
    """DPA's parameter dict of one id, computed on the host (:func:`accel.augment.dpa_draw`)."""
    ranges = ranges_of(config)
    h, u = dpa_draw(sample_id, depth=ranges.depth, prefix=prefix)
    rec: dict[str, Any] = {
        name: low + width * v for name, (low, width), v in zip(PARAM_NAMES, ranges.affine, u, strict=True)
    }
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
    return dpa_draw(seed_id, depth=at_least(augmentation_depth, "augmentation_depth", 1))[0]


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
