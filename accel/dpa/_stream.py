"""The single-process stream of consecutive ids behind DPA's stream functions (``_chain``).

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

from ._args import non_negative
from ._config import AugmentationConfig
from ._params import records
from ._streaming import (
    StreamingMetadata,
    StreamingProgress,
    create_streaming_metadata,
    create_streaming_progress,
    format_progress_info,
    update_streaming_progress,
)

__all__ = ["check_num_samples", "id_blocks", "plain_stream"]

# The DPA kernel (accel.augment.dpa_draws) compiles batches of 64 and of 16384 ids: blocks of
# exactly those sizes waste no lanes. A stream starts with SMALL_RUN small blocks, so short
# streams never pay for a 16384-id computation, then goes on in large ones.
SMALL_BLOCK, LARGE_BLOCK, SMALL_RUN = 64, 1 << 14, 16
BLOCK_SIZES = (SMALL_BLOCK,) * SMALL_RUN + (LARGE_BLOCK,)

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
    sizes = BLOCK_SIZES if sizes is None else sizes
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


def plain_stream(
    count: int | None, config: Any, start_id: int, chunk_size: int | None = None,
    verbose: bool = False, progress_callback: ProgressCallback | None = None,
) -> Iterator[Any]:
    """The single-process stream of ``count`` ids from ``start_id`` (``None``: endless): one
    dict per sample, or lists of ``chunk_size`` (arguments already checked)."""
    if config is None:
        config = AugmentationConfig()
    progress = create_streaming_progress(estimated_total=count, start_id=start_id)
    metadata = create_streaming_metadata(total_samples=count, config=config, start_id=start_id, chunk_size=chunk_size)
    if chunk_size is None:
        stream = _per_sample(start_id, count, config, verbose, progress_callback, progress, metadata)
    else:
        stream = _chunked(start_id, count, config, chunk_size, verbose, progress_callback, progress, metadata)
    return _finish(stream, verbose, count, start_id, progress)
