"""DPA's streams of consecutive ids: ``stream_augmentation_chain``, ``stream_augmentation_range``
and ``generate_augmentation_chain``.

A stream yields DPA's per-sample dicts (or lists of ``chunk_size`` of them), with DPA's
progress callbacks and verbose output, but computes the parameters a block of ids at a
time in one kernel call (blocks of 64, then 1024, then 16384 ids, so the first sample comes
quickly). Memory stays constant: one block exists at a time.

Differences from DPA, all deliberate: arguments are checked when the function is called
(DPA's generators raise only at the first ``next``); ``num_samples=None`` or
``float('inf')`` streams without end (DPA documents endless streams but fails on them).

Example:
    >>> from accel.dpa import gen_augmentation_params, stream_augmentation_chain
    >>> [len(c) for c in stream_augmentation_chain(10, None, 0, 4)]
    [4, 4, 2]
    >>> next(stream_augmentation_chain(1, start_id=7)) == gen_augmentation_params(7)
    True
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from accel._checks import MAX_U64

from ._args import non_negative, positive, rank_and_world
from ._config import AugmentationConfig
from ._params import block_sizes, records
from ._streaming import (
    StreamingMetadata,
    StreamingProgress,
    create_streaming_metadata,
    create_streaming_progress,
    format_progress_info,
    update_streaming_progress,
)

__all__ = ["check_num_samples", "generate_augmentation_chain", "stream_augmentation_chain", "stream_augmentation_range"]

ProgressCallback = Callable[[StreamingProgress, StreamingMetadata], None]


def check_num_samples(num_samples: Any) -> int | None:
    """An integer >= 0, or ``None`` for ``None``/``float('inf')`` (an endless stream)."""
    if num_samples is None or (isinstance(num_samples, float) and num_samples == math.inf):
        return None
    return non_negative(num_samples, "num_samples")


def _check_span(start_id: int, count: int | None) -> None:
    if count and start_id + count - 1 > MAX_U64:
        raise ValueError(f"start_id + num_samples - 1 must be below 2**64, got {start_id} + {count} - 1")


def id_blocks(start: int, count: int | None, sizes: tuple[int, ...] | None = None) -> Iterator[np.ndarray]:
    """``uint64`` blocks of the ids ``start, start+1, ...`` (``count`` of them, or up to
    ``2**64 - 1``), of the growing ``sizes`` (the last repeats)."""
    sizes = block_sizes() if sizes is None else sizes
    done, k = 0, 0
    while count is None or done < count:
        first = start + done
        if first > MAX_U64:
            return
        size = sizes[min(k, len(sizes) - 1)]
        size = min(size, MAX_U64 - first + 1, size if count is None else count - done)
        yield np.uint64(first) + np.arange(size, dtype=np.uint64)
        done, k = done + size, k + 1


def _sample_line(sample_id: int, p: dict[str, Any]) -> str:
    return (
        f"Sample({sample_id}) -> rotation={p['rotation']:.2f}° brightness={p['brightness']:.2f} "
        f"noise={p['noise']:.3f} scale={p['scale']:.2f} contrast={p['contrast']:.2f}\n"
    )


def _samples(start: int, count: int | None, config: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    for ids in id_blocks(start, count):
        yield from zip(range(int(ids[0]), int(ids[0]) + len(ids)), records(ids, config), strict=True)


def _per_sample(
    start: int, count: int | None, config: Any, verbose: bool, callback: ProgressCallback | None,
    progress: StreamingProgress, metadata: StreamingMetadata,
) -> Iterator[dict[str, Any]]:
    every = max(1, (count or 0) // 20)
    for i, (sample_id, params) in enumerate(_samples(start, count, config)):
        update_streaming_progress(progress, i + 1, sample_id)
        if verbose:
            if count is None or count > 100:
                if count is not None and (i + 1) % every == 0:
                    sys.stdout.write(f"Progress: {format_progress_info(progress)}\n")
            else:
                sys.stdout.write(_sample_line(sample_id, params))
        if callback:
            callback(progress, metadata)
        yield params


def _chunked(
    start: int, count: int | None, config: Any, chunk_size: int, verbose: bool,
    callback: ProgressCallback | None, progress: StreamingProgress, metadata: StreamingMetadata,
) -> Iterator[list[dict[str, Any]]]:
    every = max(1, (count or 0) // 20)
    done = 0
    samples = _samples(start, count, config)
    while pairs := list(itertools.islice(samples, chunk_size)):
        chunk = [params for _, params in pairs]
        if verbose and count is not None and count <= 100:
            sys.stdout.write("".join(_sample_line(sample_id, params) for sample_id, params in pairs))
        done += len(chunk)
        update_streaming_progress(progress, done, pairs[-1][0])
        if verbose and len(chunk) == chunk_size and count is not None and count > 100 and done % every == 0:
            sys.stdout.write(f"Progress: {format_progress_info(progress)}\n")
        if callback:
            callback(progress, metadata)
        yield chunk


def _finish(stream: Iterator[Any], verbose: bool, count: int | None, start: int, progress: StreamingProgress) -> Iterator[Any]:
    if verbose and count != 0:
        total = "unbounded" if count is None else count
        sys.stdout.write(f"Starting stream generation: {total} samples from ID {start}\n")
    yield from stream
    if verbose and count != 0:
        sys.stdout.write(f"Stream generation completed: {format_progress_info(progress)}\n")


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
        from .distributed import stream_distributed_augmentation_chain

        return stream_distributed_augmentation_chain(
            num_samples=count, rank=rank, world_size=world_size, config=config,
            base_seed=start_id, chunk_size=chunk_size, verbose=verbose,
        )  # fmt: skip
    if batch_config is not None:
        from ._batched import stream_augmentation_chain_batched

        return stream_augmentation_chain_batched(
            num_samples=num_samples, batch_config=batch_config, config=config,
            start_id=start_id, verbose=verbose, progress_callback=progress_callback,
        )  # fmt: skip
    if chunk_size is not None:
        chunk_size = positive(chunk_size, "chunk_size")
    if config is None:
        config = AugmentationConfig()
    progress = create_streaming_progress(estimated_total=count, start_id=start_id)
    metadata = create_streaming_metadata(total_samples=count, config=config, start_id=start_id, chunk_size=chunk_size)
    if chunk_size is None:
        stream = _per_sample(start_id, count, config, verbose, progress_callback, progress, metadata)
    else:
        stream = _chunked(start_id, count, config, chunk_size, verbose, progress_callback, progress, metadata)
    return _finish(stream, verbose, count, start_id, progress)


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
        from ._io import save_augmentation_chain

        save_augmentation_chain(results, save_path, config, include_stats=True)
    return results
