"""DPA's batched streams and batch utilities, on ``accel.dpa.batch.BatchProcessor``.

``stream_augmentation_chain_batched`` re-batches the per-sample stream with a strategy;
``process_augmentation_batches`` applies a function per batch; ``get_batch_metrics`` and
``get_batch_processing_metrics`` measure batching; the estimators are DPA's arithmetic.
MEMORY_OPTIMIZED and ADAPTIVE batches are checked against system memory before they are
handed out (``BatchProcessor.process_with_memory_monitoring``), as in DPA.

Example:
    >>> from accel.dpa import estimate_optimal_batch_size, stream_augmentation_chain_batched
    >>> [len(b) for b in stream_augmentation_chain_batched(70)]
    [32, 32, 6]
    >>> estimate_optimal_batch_size(sample_size_bytes=1024, max_memory_mb=1, safety_margin=0.5)
    512
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import psutil

from ._args import non_negative
from ._stream import ProgressCallback, check_num_samples, plain_stream
from ._streaming import (
    create_streaming_metadata,
    create_streaming_progress,
    estimate_memory_usage,
    format_memory_size,
    format_progress_info,
    update_streaming_progress,
)
from .batch import BatchConfig, BatchMetrics, BatchProcessingError, BatchProcessor, BatchStrategy

__all__ = [
    "convert_stream_to_batches",
    "estimate_optimal_batch_size",
    "get_batch_metrics",
    "get_batch_processing_metrics",
    "get_memory_usage_estimate",
    "process_augmentation_batches",
    "stream_augmentation_chain_batched",
    "stream_augmentation_chain_with_memory_limit",
    "stream_augmentation_range_batched",
]

_MONITORED = (BatchStrategy.MEMORY_OPTIMIZED, BatchStrategy.ADAPTIVE)


def _default_config(batch_config: BatchConfig | None) -> BatchConfig:
    """``batch_config``, or SEQUENTIAL batches of 32 for ``None``; anything else is a ``TypeError``."""
    if batch_config is None:
        return BatchConfig(strategy=BatchStrategy.SEQUENTIAL, batch_size=32)
    if not isinstance(batch_config, BatchConfig):
        raise TypeError(
            f"batch_config must be an accel.dpa.batch.BatchConfig or None, got {type(batch_config).__name__}"
        )
    return batch_config


def _batches(param_generator: Iterable[Any], batch_config: BatchConfig) -> Iterator[list[Any]]:
    processor = BatchProcessor(batch_config.strategy, batch_config)
    if batch_config.strategy in _MONITORED:
        return processor.process_with_memory_monitoring(param_generator)
    return processor.process_stream(param_generator)


def _wrapped(batches: Iterator[Any], message: str) -> Iterator[Any]:
    try:
        yield from batches
    except BatchProcessingError:
        raise
    except Exception as e:
        raise BatchProcessingError(f"{message}: {e}") from e


def stream_augmentation_chain_batched(
    num_samples: int,
    batch_config: BatchConfig | None = None,
    config: Any = None,
    start_id: int = 0,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Batches (lists of DPA's dicts) of ids ``start_id ..``; default 32 per batch, SEQUENTIAL."""
    count = check_num_samples(num_samples)
    start_id = non_negative(start_id, "start_id")
    batch_config = _default_config(batch_config)
    stream = plain_stream(count, config, start_id)
    progress = create_streaming_progress(estimated_total=count, start_id=start_id)
    metadata = create_streaming_metadata(total_samples=count, config=config, start_id=start_id,
                                         chunk_size=batch_config.batch_size)

    def run() -> Iterator[list[dict[str, Any]]]:
        if verbose:
            sys.stdout.write(f"Starting batched stream generation: {count} samples from ID {start_id} "
                             f"using {batch_config.strategy.value} strategy\n")
        n_batches = done = 0
        every = max(1, ((count or 0) // (batch_config.batch_size or 32)) // 20)
        for batch in _batches(stream, batch_config):
            n_batches += 1
            done += len(batch)
            update_streaming_progress(progress, done, start_id + done - 1)
            if verbose:
                if count is not None and count <= 100:
                    sys.stdout.write(f"Batch #{n_batches}: {len(batch)} samples\n")
                elif n_batches % every == 0:
                    sys.stdout.write(f"Batch progress: {format_progress_info(progress)} "
                                     f"(batch #{n_batches}, size: {len(batch)})\n")
            if progress_callback:
                progress_callback(progress, metadata)
            yield batch
        if verbose and n_batches:
            sys.stdout.write(f"Batched stream generation completed: {format_progress_info(progress)} "
                             f"({n_batches} batches, avg size: {done / n_batches:.1f})\n")

    return _wrapped(run(), "Batch processing failed")


def stream_augmentation_range_batched(
    start_id: int, end_id: int, batch_config: BatchConfig | None = None, config: Any = None
) -> Iterator[list[dict[str, Any]]]:
    """Batches of the ids ``start_id <= id < end_id``."""
    start_id = non_negative(start_id, "start_id")
    end_id = non_negative(end_id, "end_id")
    if end_id < start_id:
        raise ValueError(f"end_id must be >= start_id, got start_id={start_id}, end_id={end_id}")
    return stream_augmentation_chain_batched(end_id - start_id, batch_config, config, start_id)


def process_augmentation_batches(
    param_generator: Iterable[dict[str, Any]],
    batch_config: BatchConfig | None = None,
    processor_func: Callable[[list[dict[str, Any]]], Any] | None = None,
    verbose: bool = False,
) -> Iterator[Any]:
    """``processor_func(batch)`` for every batch of the stream (the batch itself by default)."""
    batch_config = _default_config(batch_config)
    func = processor_func if processor_func is not None else (lambda batch: batch)

    def run() -> Iterator[Any]:
        if verbose:
            sys.stdout.write(f"Starting batch processing using {batch_config.strategy.value} strategy\n")
        n = 0
        for batch in _batches(param_generator, batch_config):
            n += 1
            if verbose and n % 10 == 0:
                sys.stdout.write(f"Processed {n} batches (current batch size: {len(batch)})\n")
            yield func(batch)
        if verbose:
            sys.stdout.write(f"Batch processing completed: {n} batches processed\n")

    return _wrapped(run(), "Batch processing failed")


def _metrics_of(batches: Iterable[list[Any]]) -> BatchMetrics:
    start = time.perf_counter()
    sizes = [len(batch) for batch in batches]
    elapsed = time.perf_counter() - start
    rss_mb = psutil.Process().memory_info().rss / (1024 * 1024)
    total = sum(sizes)
    return BatchMetrics(
        total_batches=len(sizes),
        avg_batch_size=total / len(sizes) if sizes else 0,
        memory_usage_mb=rss_mb,
        processing_time_seconds=elapsed,
        throughput_samples_per_second=total / elapsed if elapsed > 0 else 0,
    )


def get_batch_metrics(param_generator: Iterable[dict[str, Any]], batch_config: BatchConfig | None = None) -> BatchMetrics:
    """Batch the stream and report batches, mean size, time, samples/s and this process's RSS."""
    return _metrics_of(_wrapped(_batches(param_generator, _default_config(batch_config)), "Failed to collect batch metrics"))


def stream_augmentation_chain_with_memory_limit(
    num_samples: int,
    max_memory_mb: int = 1000,
    config: Any = None,
    start_id: int = 0,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """``stream_augmentation_chain`` with MEMORY_OPTIMIZED batches under ``max_memory_mb``."""
    if max_memory_mb <= 0:
        raise ValueError(f"max_memory_mb must be positive, got {max_memory_mb}")
    batch_config = BatchConfig(strategy=BatchStrategy.MEMORY_OPTIMIZED, max_memory_mb=max_memory_mb,
                               min_batch_size=1, adaptive_sizing=True)
    return stream_augmentation_chain_batched(num_samples=num_samples, batch_config=batch_config, config=config,
                                             start_id=start_id, verbose=verbose, progress_callback=progress_callback)


def estimate_optimal_batch_size(sample_size_bytes: int = 200, max_memory_mb: int = 1000, safety_margin: float = 0.1) -> int:
    """``max(1, int(max_memory_mb MiB * (1 - safety_margin) / sample_size_bytes))``."""
    if sample_size_bytes <= 0:
        raise ValueError(f"sample_size_bytes must be positive, got {sample_size_bytes}")
    if max_memory_mb <= 0:
        raise ValueError(f"max_memory_mb must be positive, got {max_memory_mb}")
    if not 0 <= safety_margin < 1:
        raise ValueError(f"safety_margin must be between 0 and 1, got {safety_margin}")
    return max(1, int(max_memory_mb * 1024 * 1024 * (1 - safety_margin) / sample_size_bytes))


def get_memory_usage_estimate(num_samples: int, include_statistics: bool = True, bytes_per_param: int = 200) -> dict[str, Any]:
    """``estimate_memory_usage`` formatted (``'1.5 MB'``), in MB (``*_mb``), with advice."""
    raw = estimate_memory_usage(num_samples, include_statistics, bytes_per_param)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out[key] = format_memory_size(value)
        out[f"{key}_mb"] = value / (1024 * 1024)
    total_mb = raw["total"] / (1024 * 1024)
    if total_mb > 1000:
        out["recommendation"] = "Use streaming with memory-optimized batching"
        out["suggested_batch_size"] = estimate_optimal_batch_size(bytes_per_param, 500)
    elif total_mb > 100:
        out["recommendation"] = "Consider using chunked streaming"
        out["suggested_chunk_size"] = min(1000, num_samples // 10)
    else:
        out["recommendation"] = "Standard processing should work fine"
    return out


def convert_stream_to_batches(
    param_generator: Iterable[dict[str, Any]],
    batch_strategy: str = "sequential",
    batch_size: int = 32,
    max_memory_mb: int = 1000,
) -> Iterator[list[dict[str, Any]]]:
    """Batches of a stream with a strategy named ``'sequential'``, ``'round_robin'``,
    ``'memory_optimized'`` or ``'adaptive'``."""
    names = [s.value for s in BatchStrategy]
    if batch_strategy not in names:
        raise ValueError(f"Invalid batch_strategy: {batch_strategy}. Must be one of {names}")
    batch_config = BatchConfig(strategy=BatchStrategy(batch_strategy), batch_size=batch_size,
                               max_memory_mb=max_memory_mb, min_batch_size=1, adaptive_sizing=True)
    return _batches(param_generator, batch_config)


def get_batch_processing_metrics(
    num_samples: int,
    config: Any = None,
    batch_strategies: list[str] | None = None,
    verbose: bool = False,
) -> dict[str, BatchMetrics]:
    """``BatchMetrics`` of each strategy batching the same ``num_samples`` stream (32 per batch).

    Unlike DPA, the metrics count samples (DPA re-batched the batches and counted them as
    samples) and a failing strategy raises instead of being skipped.
    """
    strategies = [s.value for s in BatchStrategy] if batch_strategies is None else batch_strategies
    results = {}
    for name in strategies:
        if verbose:
            print(f"Benchmarking {name} strategy...")
        stream = plain_stream(check_num_samples(num_samples), config, 0)
        results[name] = _metrics_of(convert_stream_to_batches(stream, batch_strategy=name, batch_size=32))
        if verbose:
            m = results[name]
            print(f"  {name}: {m.throughput_samples_per_second:.1f} samples/sec, avg batch size: {m.avg_batch_size:.1f}")
    return results
