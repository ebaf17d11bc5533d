"""DPA's stream and chain functions: one entry point that takes every mode DPA's does
(per sample, chunks, batches, distributed ranks, saved to a file), dispatching to the module
of that mode (``_stream``, ``_batched``, ``distributed``, ``_io``).

Example:
    >>> from accel.dpa import gen_augmentation_params, stream_augmentation_chain
    >>> [len(c) for c in stream_augmentation_chain(10, None, 0, 4)]
    [4, 4, 2]
    >>> next(stream_augmentation_chain(1, start_id=7)) == gen_augmentation_params(7)
    True
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from ._args import non_negative, positive, rank_and_world
from ._batched import stream_augmentation_chain_batched
from ._config import AugmentationConfig
from ._io import save_augmentation_chain
from ._stream import (
    ProgressCallback,
    _check_span,
    _sample_line,
    _samples,
    check_num_samples,
    plain_stream,
)
from .distributed import stream_distributed_augmentation_chain

__all__ = ["generate_augmentation_chain", "stream_augmentation_chain", "stream_augmentation_range"]


def stream_augmentation_chain(
    num_samples: int,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    chunk_size: int | None = None,
    batch_config: Any = None,
    rank: int | None = None,
    world_size: int | None = None,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Iterator[Any]:
    """Parameters of ids ``start_id .. start_id + num_samples - 1`` as a stream (DPA's API).

    Yields one dict per sample, lists of ``chunk_size`` dicts, or batches of
    ``batch_config`` (``accel.dpa.batch.BatchConfig``). With ``rank`` and ``world_size`` it is
    DPA's distributed stream of this rank's share, with ``start_id`` as its ``base_seed``
    (DPA's convention). ``chunk_size`` and ``batch_config`` exclude each other.
    """
    count = check_num_samples(num_samples)
    start_id = non_negative(start_id, "start_id")
    _check_span(start_id, count)
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise ValueError("Both rank and world_size must be specified together")
        rank, world_size = rank_and_world(rank, world_size)
    if chunk_size is not None and batch_config is not None:
        raise ValueError("chunk_size and batch_config are mutually exclusive")
    if rank is not None:
        if batch_config is not None:
            raise ValueError("batch_config is not yet supported with distributed streaming")
        if progress_callback is not None:
            raise ValueError("progress_callback is not yet supported with distributed streaming")
        if count is None:
            raise ValueError("num_samples must be finite for distributed streaming (the ranks split it)")
        return stream_distributed_augmentation_chain(
            num_samples=count, rank=rank, world_size=world_size, config=config,
            base_seed=start_id, chunk_size=chunk_size, verbose=verbose,
        )  # fmt: skip
    if batch_config is not None:
        return stream_augmentation_chain_batched(
            num_samples=num_samples, batch_config=batch_config, config=config,
            start_id=start_id, verbose=verbose, progress_callback=progress_callback,
        )  # fmt: skip
    if chunk_size is not None:
        chunk_size = positive(chunk_size, "chunk_size")
    return plain_stream(count, config, start_id, chunk_size, verbose, progress_callback)


def stream_augmentation_range(
    start_id: int,
    end_id: int,
    config: AugmentationConfig | None = None,
    chunk_size: int | None = None,
    batch_config: Any = None,
    rank: int | None = None,
    world_size: int | None = None,
) -> Iterator[Any]:
    """Parameters of ids ``start_id <= id < end_id`` (see :func:`stream_augmentation_chain`)."""
    start_id = non_negative(start_id, "start_id")
    end_id = non_negative(end_id, "end_id")
    if end_id < start_id:
        raise ValueError(f"end_id must be >= start_id, got start_id={start_id}, end_id={end_id}")
    return stream_augmentation_chain(
        num_samples=end_id - start_id, config=config, start_id=start_id, chunk_size=chunk_size,
        batch_config=batch_config, rank=rank, world_size=world_size, verbose=False,
    )  # fmt: skip


def generate_augmentation_chain(
    num_samples: int,
    config: AugmentationConfig | None = None,
    verbose: bool = False,
    save_path: str | None = None,
) -> list[dict[str, Any]]:
    """Parameters of ids ``0 .. num_samples - 1`` as a list of DPA's dicts.

    ``verbose`` prints one line per sample; ``save_path`` also writes the list with
    ``save_augmentation_chain`` (statistics included).

    Example:
        >>> chain = generate_augmentation_chain(3)
        >>> len(chain), sorted(chain[0])[:2]
        (3, ['brightness', 'contrast'])
    """
    count = non_negative(num_samples, "num_samples")
    if config is None:
        config = AugmentationConfig()
    results = [p for _, p in _samples(0, count, config)]
    if verbose:
        sys.stdout.write("".join(_sample_line(i, p) for i, p in enumerate(results)))
    if save_path:
        save_augmentation_chain(results, save_path, config, include_stats=True)
    return results
