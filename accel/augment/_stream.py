"""Chains and streams of consecutive sample ids, in constant memory.

``stream_augmentation_chain(n, chunk_size=c, start_id=k)`` yields the parameters of ids
``k, k+1, ..., k+n-1`` in ``AugmentationBatch`` chunks of ``c`` samples (the last may be
shorter). Every chunk is computed with the same compiled shape (the last one padded), so a
stream compiles once and holds one chunk at a time. Because parameters depend only on the
id, stopping after ``m`` samples and restarting with ``start_id=k+m`` continues exactly.

Example:
    >>> from accel.augment import stream_augmentation_chain
    >>> [len(c) for c in stream_augmentation_chain(10, chunk_size=4)]
    [4, 4, 2]
    >>> next(stream_augmentation_chain(1, chunk_size=None, start_id=7))["sample_id"]
    7
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import _keys
from .._checks import check_bool, check_path
from ._batch import AugmentationBatch
from ._config import AugmentationConfig, resolve_config
from ._generate import check_algorithm, check_epoch, check_int, generate

__all__ = [
    "generate_augmentation_chain",
    "stream_augmentation_chain",
    "stream_augmentation_range",
]

_MAX_ID = 2**64 - 1
DEFAULT_CHUNK_SIZE = 10_000


def check_num_samples(num_samples: object, *, allow_infinite: bool) -> int | None:
    """``None`` for an endless stream, else an int >= 0."""
    if allow_infinite and (num_samples is None or (isinstance(num_samples, float) and num_samples == math.inf)):
        return None
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral):
        accepted = "an integer >= 0, None or float('inf')" if allow_infinite else "an integer >= 0"
        raise TypeError(f"num_samples must be {accepted}, got {num_samples!r}")
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    return int(num_samples)


def check_chunk_size(chunk_size: object, *, allow_none: bool = False) -> int | None:
    if chunk_size is None and allow_none:
        return None
    return check_int(chunk_size, "chunk_size", minimum=1)


def id_progression(
    start: int, count: int | None, step: int, chunk_size: int
) -> Iterator[np.ndarray]:
    """uint64 id chunks ``start, start+step, ...`` (``count`` ids, or endless up to 2**64 - 1)."""
    done = 0
    while count is None or done < count:
        first = start + done * step
        if first > _MAX_ID:
            return
        m = chunk_size if count is None else min(chunk_size, count - done)
        m = min(m, (_MAX_ID - first) // step + 1)
        yield first + np.arange(m, dtype=np.uint64) * np.uint64(step)
        done += m


def stream_ids(
    chunks: Iterator[np.ndarray],
    config: AugmentationConfig,
    *,
    seed: int,
    epoch: int,
    algorithm: str,
    chunk_size: int,
) -> Iterator[AugmentationBatch]:
    for ids in chunks:
        yield generate(ids, config, seed=seed, epoch=epoch, algorithm=algorithm, pad_to=chunk_size)


def as_records(batches: Iterator[AugmentationBatch]) -> Iterator[dict[str, Any]]:
    for batch in batches:
        yield from batch.records()


def stream_augmentation_chain(
    num_samples: int | float | None,
    config: AugmentationConfig | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    *,
    start_id: int = 0,
    seed: int = 0,
    epoch: int = 0,
    algorithm: str | None = None,
) -> Iterator[AugmentationBatch] | Iterator[dict[str, Any]]:
    """Stream the parameters of ids ``start_id .. start_id + num_samples - 1``.

    Args:
        num_samples: how many ids; ``None`` or ``float('inf')`` streams forever (up to id
            ``2**64 - 1``).
        chunk_size: samples per yielded ``AugmentationBatch``; ``None`` yields one dict per
            sample (computed ``10000`` at a time), DPA's record layout.
        start_id: first id; restart a stopped stream with ``start_id`` = next unseen id.

    Memory stays constant: one chunk exists at a time. Arguments are checked when called.
    """
    count = check_num_samples(num_samples, allow_infinite=True)
    size = check_chunk_size(chunk_size, allow_none=True)
    start = _keys.check_seed(start_id, "start_id")
    if count is not None and count and start + count - 1 > _MAX_ID:
        raise ValueError(f"start_id + num_samples - 1 must be < 2**64, got {start} + {count} - 1")
    cfg = resolve_config(config)
    seed = _keys.check_seed(seed)
    epoch = check_epoch(epoch)
    algorithm = check_algorithm(algorithm)
    batch_size = DEFAULT_CHUNK_SIZE if size is None else size
    batches = stream_ids(
        id_progression(start, count, 1, batch_size), cfg, seed=seed, epoch=epoch, algorithm=algorithm, chunk_size=batch_size
    )
    return as_records(batches) if size is None else batches


def stream_augmentation_range(
    start_id: int,
    end_id: int,
    config: AugmentationConfig | None = None,
    chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    **kwargs: Any,
) -> Iterator[AugmentationBatch] | Iterator[dict[str, Any]]:
    """DPA's range form: ids ``start_id <= id < end_id`` (``stream_augmentation_chain`` args)."""
    start = _keys.check_seed(start_id, "start_id")
    end = _keys.check_seed(end_id, "end_id") if end_id != 2**64 else end_id
    if end < start:
        raise ValueError(f"end_id must be >= start_id, got start_id={start}, end_id={end}")
    return stream_augmentation_chain(end - start, config, chunk_size, start_id=start, **kwargs)


def generate_augmentation_chain(
    num_samples: int,
    config: AugmentationConfig | None = None,
    save_path: str | None = None,
    *,
    verbose: bool = False,
    start_id: int = 0,
    seed: int = 0,
    epoch: int = 0,
    algorithm: str | None = None,
) -> list[dict[str, Any]]:
    """Parameters of ids ``start_id ..`` as a list of per-sample dicts (DPA's layout).

    ``save_path`` also writes them with ``save_augmentation_chain`` (JSON, or the compact
    binary format for ``.aug`` paths); ``verbose`` prints each record.

    Example:
        >>> chain = generate_augmentation_chain(3)
        >>> [c["sample_id"] for c in chain]
        [0, 1, 2]
    """
    count = check_num_samples(num_samples, allow_infinite=False)
    cfg = resolve_config(config)
    check_bool(verbose, "verbose")
    check_path(save_path, "save_path", allow_none=True)
    batches = list(
        stream_augmentation_chain(
            count, cfg, max(1, min(count, 1_000_000)), start_id=start_id, seed=seed, epoch=epoch, algorithm=algorithm
        )
    )
    records = [rec for batch in batches for rec in batch.records()]
    if verbose:
        for rec in records:
            print(rec)
    if save_path is not None:
        from ._io import save_augmentation_chain

        save_augmentation_chain(batches if batches else records, save_path, cfg)
    return records
