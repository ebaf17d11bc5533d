"""DPA's streaming vocabulary: exceptions, progress/metadata records and small helpers.

Everything here is DPA's public API with DPA's field names, defaults and messages:
``StreamingError`` and its subclasses, ``StreamingMetadata``/``StreamingProgress`` and their
``create_*``/``update_*`` functions, memory estimates and formatting, resource cleanup
(``safe_close_file``, ``safe_cleanup_generator``, ``StreamingContext``) and the list/generator
converters.

Example:
    >>> from accel.dpa import create_streaming_progress, format_memory_size, generator_to_list
    >>> format_memory_size(1536), format_memory_size(3 * 1024**3)
    ('1.5 KB', '3.0 GB')
    >>> generator_to_list(iter([{"a": 1}, {"a": 2}, {"a": 3}]), max_items=2)
    [{'a': 1}, {'a': 2}]
    >>> create_streaming_progress(estimated_total=10).progress_percentage()
    0.0
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psutil

from ._args import non_negative, positive
from ._config import AugmentationConfig

__all__ = [
    "GeneratorExhaustionError",
    "PartialWriteError",
    "ResourceCleanupError",
    "StreamingContext",
    "StreamingError",
    "StreamingIOError",
    "StreamingMetadata",
    "StreamingProgress",
    "create_simple_progress_callback",
    "create_streaming_metadata",
    "create_streaming_progress",
    "estimate_memory_usage",
    "format_memory_size",
    "format_progress_info",
    "generator_to_list",
    "get_current_memory_usage",
    "list_to_generator",
    "safe_cleanup_generator",
    "safe_close_file",
    "update_streaming_progress",
    "with_streaming_context",
]


class StreamingError(Exception):
    """Base class of the streaming errors."""


class PartialWriteError(StreamingError):
    """A streaming write stopped early; ``samples_written`` says how far it got."""

    def __init__(self, message: str, samples_written: int) -> None:
        super().__init__(message)
        self.samples_written = samples_written


class StreamingIOError(StreamingError):
    """An I/O failure (or an invalid file) while streaming."""


class GeneratorExhaustionError(StreamingError):
    """A generator ran out unexpectedly."""


class ResourceCleanupError(StreamingError):
    """Closing a file or a generator failed."""


@dataclass
class StreamingMetadata:
    """Description of a stream (``total_samples=None``: unknown or endless)."""

    total_samples: int | None = None
    config: AugmentationConfig | None = None
    start_id: int = 0
    chunk_size: int | None = None
    buffer_size: int = 1000


@dataclass
class StreamingProgress:
    """Progress of a stream; ``start_time`` is ``time.time()`` at creation."""

    samples_processed: int = 0
    current_sample_id: int = 0
    estimated_total: int | None = None
    start_time: float = 0.0

    def progress_percentage(self) -> float | None:
        """``100 * processed / total``, or ``None`` when the total is unknown."""
        if self.estimated_total is None:
            return None
        return (self.samples_processed / self.estimated_total) * 100

    def elapsed_time(self) -> float:
        return time.time() - self.start_time

    def estimated_time_remaining(self) -> float | None:
        """Seconds left at the rate so far, or ``None`` when unknown."""
        if self.estimated_total is None or self.samples_processed == 0:
            return None
        elapsed = self.elapsed_time()
        if elapsed <= 0:
            return None
        rate = self.samples_processed / elapsed
        return (self.estimated_total - self.samples_processed) / rate


def create_streaming_metadata(
    total_samples: int | None = None,
    config: AugmentationConfig | None = None,
    start_id: int = 0,
    chunk_size: int | None = None,
    buffer_size: int = 1000,
) -> StreamingMetadata:
    """A validated :class:`StreamingMetadata`."""
    non_negative(start_id, "start_id")
    if total_samples is not None:
        non_negative(total_samples, "total_samples")
    if chunk_size is not None:
        positive(chunk_size, "chunk_size")
    positive(buffer_size, "buffer_size")
    return StreamingMetadata(total_samples, config, start_id, chunk_size, buffer_size)


def create_streaming_progress(estimated_total: int | None = None, start_id: int = 0) -> StreamingProgress:
    """A :class:`StreamingProgress` started now."""
    if estimated_total is not None:
        non_negative(estimated_total, "estimated_total")
    non_negative(start_id, "start_id")
    return StreamingProgress(0, start_id, estimated_total, time.time())


def update_streaming_progress(progress: StreamingProgress, samples_processed: int, current_sample_id: int) -> None:
    """Set the counters of ``progress`` (both must be non-negative)."""
    non_negative(samples_processed, "samples_processed")
    non_negative(current_sample_id, "current_sample_id")
    progress.samples_processed = samples_processed
    progress.current_sample_id = current_sample_id


def estimate_memory_usage(
    num_samples: int, include_statistics: bool = True, bytes_per_param: int = 200
) -> dict[str, int]:
    """DPA's rough estimate in bytes: ``parameters``, ``statistics``, ``json_serialization``, ``total``.

    ``parameters = num_samples * bytes_per_param``, the JSON text 1.2 times that, statistics
    a fixed 1024 bytes.
    """
    num_samples = non_negative(num_samples, "num_samples")
    params = num_samples * bytes_per_param
    stats = 1024 if include_statistics else 0
    json_bytes = int(params * 1.2)
    return {"parameters": params, "statistics": stats, "json_serialization": json_bytes,
            "total": params + stats + json_bytes}


def get_current_memory_usage() -> dict[str, int]:
    """This process's ``rss`` and ``vms`` (bytes) and ``percent`` of system memory (psutil);
    an empty dict where the platform denies access."""
    try:
        process = psutil.Process()
        info = process.memory_info()
        return {"rss": info.rss, "vms": info.vms, "percent": int(process.memory_percent())}
    except (AttributeError, OSError):
        return {}


def format_memory_size(bytes_size: int) -> str:
    """``'512 B'``, ``'1.5 KB'``, ``'2.0 MB'``, ``'1.0 GB'`` (powers of 1024)."""
    for unit, power in (("GB", 3), ("MB", 2), ("KB", 1)):
        if bytes_size >= 1024**power:
            return f"{bytes_size / 1024**power:.1f} {unit}"
    return f"{bytes_size} B"


def format_progress_info(progress: StreamingProgress) -> str:
    """``'50/100 (50.0%) elapsed: 1.0s ETA: 1.0s'``; unknown parts are left out."""
    total = progress.estimated_total
    parts = [f"{progress.samples_processed}/{total}" if total is not None else f"{progress.samples_processed}"]
    percentage = progress.progress_percentage()
    if percentage is not None:
        parts.append(f"({percentage:.1f}%)")
    parts.append(f"elapsed: {progress.elapsed_time():.1f}s")
    eta = progress.estimated_time_remaining()
    if eta is not None:
        parts.append(f"ETA: {eta:.1f}s")
    return " ".join(parts)


def create_simple_progress_callback(verbose: bool = True) -> Callable[[StreamingProgress, StreamingMetadata], None]:
    """A callback printing ``[processing N samples] <progress>`` (nothing when not verbose)."""

    def progress_callback(progress: StreamingProgress, metadata: StreamingMetadata) -> None:
        if verbose:
            operation = "streaming" if metadata.total_samples is None else f"processing {metadata.total_samples} samples"
            sys.stdout.write(f"[{operation}] {format_progress_info(progress)}\n")

    return progress_callback


def safe_close_file(file_handle: Any, filepath: str = "") -> None:
    """Close ``file_handle`` (``None`` is ignored); a failure raises ``ResourceCleanupError``."""
    if file_handle is None or not hasattr(file_handle, "close"):
        return
    try:
        file_handle.close()
    except Exception as e:
        where = f" for {filepath}" if filepath else ""
        raise ResourceCleanupError(f"Failed to close file handle{where}: {e}") from e


def safe_cleanup_generator(generator: Generator[Any, None, None] | None) -> None:
    """Close ``generator`` (``None`` is ignored); a failure raises ``ResourceCleanupError``."""
    if generator is None or not hasattr(generator, "close"):
        return
    try:
        generator.close()
    except Exception as e:
        raise ResourceCleanupError(f"Failed to cleanup generator: {e}") from e


class StreamingContext:
    """Closes the registered generators and files on exit, even after an exception.

    Cleanup failures are collected in ``cleanup_errors``; when the block itself succeeded
    they are raised together as one ``ResourceCleanupError``.
    """

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.generators: list[Generator[Any, None, None]] = []
        self.file_handles: list[tuple[Any, str]] = []
        self.cleanup_errors: list[Exception] = []

    def register_generator(self, generator: Generator[Any, None, None]) -> None:
        if generator is not None:
            self.generators.append(generator)

    def register_file_handle(self, file_handle: Any, filepath: str = "") -> None:
        if file_handle is not None:
            self.file_handles.append((file_handle, filepath))

    def __enter__(self) -> StreamingContext:
        return self

    def _attempt(self, cleanup: Callable[[], None], done: str) -> None:
        try:
            cleanup()
        except ResourceCleanupError as e:
            self.cleanup_errors.append(e)
            if self.verbose:
                sys.stdout.write(f"Warning: {e}\n")
        else:
            if self.verbose and done:
                sys.stdout.write(done)

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        for generator in self.generators:
            self._attempt(lambda g=generator: safe_cleanup_generator(g), "Cleaned up generator\n")
        for handle, path in self.file_handles:
            self._attempt(lambda h=handle, p=path: safe_close_file(h, p), f"Closed file handle for {path}\n" if path else "")
        if self.cleanup_errors and exc_type is None:
            raise ResourceCleanupError(
                f"Resource cleanup failed with {len(self.cleanup_errors)} errors: "
                f"{'; '.join(str(e) for e in self.cleanup_errors)}"
            )


def with_streaming_context(operation: Callable[..., Any], *args: Any, verbose: bool = False, **kwargs: Any) -> Any:
    """Run ``operation(*args, **kwargs)`` inside a :class:`StreamingContext`; an operation
    with a ``streaming_context`` parameter receives the context."""
    with StreamingContext(verbose=verbose) as context:
        code = getattr(operation, "__code__", None)
        if code is not None and "streaming_context" in code.co_varnames:
            kwargs["streaming_context"] = context
        return operation(*args, **kwargs)


def generator_to_list(param_generator: Iterable[Any], max_items: int | None = None) -> list[Any]:
    """The first ``max_items`` items (all when ``None``) as a list."""
    if max_items is not None:
        max_items = non_negative(max_items, "max_items")
    out = []
    for item in param_generator:
        if max_items is not None and len(out) >= max_items:
            break
        out.append(item)
    return out


def list_to_generator(params_list: Iterable[Any]) -> Iterator[Any]:
    """A generator over the items of ``params_list``."""
    yield from params_list
