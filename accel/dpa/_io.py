"""DPA's JSON files: ``save/load_augmentation_chain``, ``save/load_augmentation_stream``,
``recover_partial_write`` and ``resume_streaming_save``.

The files are DPA's, byte for byte: ``json.dump(..., indent=2)`` of ``{"metadata":
{"num_samples", "config"[, "streaming": true]}, "augmentations": [...], "statistics": {...}}``,
or for a stream saved without statistics DPA's incremental layout (one compact object per
line, ``"num_samples": null``). Differences, all deliberate:

* every file is written to a temporary file beside the target and renamed over it only when
  complete (``accel._atomic``), so a failed write never leaves a partial file (DPA leaves one
  and offers ``recover_partial_write`` to count what survived);
* ``save_augmentation_stream`` with statistics keeps constant memory: the samples go to a
  spool file while the statistics accumulate, and the file is assembled at the end (DPA
  holds every sample in a list);
* ``load_augmentation_stream`` checks the whole file before the first item, and checks when
  called (DPA's generator raises at the first ``next``).

Shared with ``accel.augment``'s JSON files: the atomic write (``accel._atomic``), the JSON
reader with its nesting limit (``accel._checks.JSONDecoder``) and the statistics
(``accel.augment.compute_statistics``). DPA-specific, with the reason: the documents
themselves. ``accel.augment.save_augmentation_chain`` / ``load_augmentation_chain`` write and
require ``sample_id`` in every record, seed, epoch, algorithm and ``format_version`` in the
metadata and values inside the recorded ranges; DPA's records have no ``sample_id`` and
carry ``hash`` (and ``rank``), DPA's loader takes any list of dicts, and DPA's functions
print their progress and raise ``FileNotFoundError`` / ``json.JSONDecodeError`` /
``StreamingIOError`` with DPA's messages. The streaming save, ``recover_partial_write`` and
``resume_streaming_save`` exist only in DPA.

Example:
    >>> import json, os, tempfile
    >>> from accel.dpa import generate_augmentation_chain, save_augmentation_stream, load_augmentation_chain
    >>> path = os.path.join(tempfile.mkdtemp(), "aug.json")
    >>> chain = generate_augmentation_chain(3)
    >>> save_augmentation_stream(iter(chain), path)
    Saved 3 augmentations to ...
    >>> load_augmentation_chain(path) == chain
    Loaded 3 augmentations from ...
    True
"""

from __future__ import annotations

import dataclasses
import json
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from accel._atomic import atomic_open, write_atomic
from accel._checks import JSONDecoder

from ._args import non_negative, positive
from ._stats import compute_statistics, compute_streaming_statistics
from ._streaming import (
    PartialWriteError,
    ResourceCleanupError,
    StreamingError,
    StreamingIOError,
    StreamingMetadata,
    StreamingProgress,
    create_streaming_metadata,
    create_streaming_progress,
    format_progress_info,
    safe_cleanup_generator,
    update_streaming_progress,
)

__all__ = [
    "load_augmentation_chain",
    "load_augmentation_stream",
    "recover_partial_write",
    "resume_streaming_save",
    "save_augmentation_chain",
    "save_augmentation_stream",
]

ProgressCallback = Callable[[StreamingProgress, StreamingMetadata], None]


def config_dict(config: Any) -> dict[str, Any] | None:
    """``dataclasses.asdict(config)`` as DPA writes it (``None`` stays ``None``)."""
    if config is None:
        return None
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be an AugmentationConfig or None, got {type(config).__name__}")
    return dataclasses.asdict(config)


def save_augmentation_chain(
    params_list: list[dict[str, Any]],
    filepath: str,
    config: Any = None,
    include_stats: bool = True,
) -> None:
    """Write ``params_list`` (and its statistics) to ``filepath`` as DPA's JSON, atomically."""
    output: dict[str, Any] = {
        "metadata": {"num_samples": len(params_list), "config": config_dict(config)},
        "augmentations": params_list,
    }
    if include_stats:
        output["statistics"] = compute_statistics(params_list)
    try:
        write_atomic(filepath, json.dumps(output, indent=2))
    except OSError as e:
        raise OSError(f"Failed to save augmentation chain: {e}") from e
    sys.stdout.write(f"Saved {len(params_list)} augmentations to {filepath}\n")


def _read_json(filepath: str, invalid: type[Exception]) -> Any:
    try:
        with open(filepath) as f:
            return json.load(f, cls=JSONDecoder)
    except FileNotFoundError:
        raise FileNotFoundError(f"Augmentation file not found: {filepath}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        if invalid is json.JSONDecodeError:
            raise json.JSONDecodeError(f"Invalid JSON in {filepath}: {e}", "", 0) from e
        raise invalid(f"Invalid JSON in {filepath}: {e}") from e


def _augmentations(data: Any, filepath: str, invalid: type[Exception]) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or "augmentations" not in data:
        raise invalid(f"Invalid augmentation file format: missing 'augmentations' key in {filepath}")
    items = data["augmentations"]
    if not isinstance(items, list):
        raise invalid(f"Invalid augmentation file format: 'augmentations' must be a list in {filepath}")
    for i, params in enumerate(items):
        if not isinstance(params, dict):
            raise invalid(f"Invalid parameter format at index {i}: expected dict, got {type(params)}")
    return items


def load_augmentation_chain(filepath: str) -> list[dict[str, Any]]:
    """The ``augmentations`` list of a DPA JSON file.

    Raises ``FileNotFoundError``, ``json.JSONDecodeError`` for invalid JSON (as DPA) and
    ``ValueError`` naming the file when the layout is not DPA's.
    """
    data = _read_json(filepath, json.JSONDecodeError)
    items = _augmentations(data, filepath, ValueError)
    sys.stdout.write(f"Loaded {len(items)} augmentations from {filepath}\n")
    return items


def _indented(item: Any) -> str:
    """An array element as ``json.dump(..., indent=2)`` writes it at depth 2."""
    return "    " + json.dumps(item, indent=2).replace("\n", "\n    ")


def _write_with_statistics(items: Iterable[dict[str, Any]], filepath: str, config: Any) -> int:
    """Spool the items, accumulate statistics, then assemble DPA's indented file; returns n."""
    count = 0
    Path(filepath).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile("w+", dir=Path(filepath).parent, prefix=".spool.") as spool:

        def spooled() -> Iterator[dict[str, Any]]:
            nonlocal count
            for params in items:
                spool.write(("[\n" if count == 0 else ",\n") + _indented(params))
                count += 1
                yield params

        stats = compute_streaming_statistics(spooled())
        meta = json.dumps({"num_samples": count, "config": config_dict(config), "streaming": True}, indent=2)
        tail = json.dumps({"statistics": stats}, indent=2)
        spool.seek(0)
        with atomic_open(filepath) as out:
            out.write(('{\n  "metadata": ' + meta.replace("\n", "\n  ") + ',\n  "augmentations": ').encode())
            if count:
                while block := spool.read(1 << 20):
                    out.write(block.encode())
                out.write(b"\n  ],\n")
            else:
                out.write(b"[],\n")
            out.write(tail[2:].encode())  # '  "statistics": {...}\n}' without the outer '{\n'

    return count


def _write_incrementally(
    items: Iterator[dict[str, Any]], filepath: str, config: Any, buffer_size: int, verbose: bool,
    progress: StreamingProgress, metadata: StreamingMetadata, callback: ProgressCallback | None,
) -> int:
    """DPA's layout without statistics, written as the samples arrive; returns n."""
    written = 0
    with atomic_open(filepath) as out:
        out.write(b'{\n  "metadata": {\n    "num_samples": null,\n    "config": ')
        out.write(json.dumps(config_dict(config)).encode())
        out.write(b',\n    "streaming": true\n  },\n  "augmentations": [\n')
        buffer: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal written
            for params in buffer:
                out.write(((",\n" if written else "") + "    " + json.dumps(params)).encode())
                written += 1
            buffer.clear()
            update_streaming_progress(progress, written, max(written - 1, 0))

        try:
            for params in items:
                buffer.append(params)
                if len(buffer) >= buffer_size:
                    flush()
                    if verbose and written % (buffer_size * 10) == 0:
                        sys.stdout.write(f"Streaming progress: {format_progress_info(progress)}\n")
                    if callback:
                        callback(progress, metadata)
            flush()
        except Exception as e:
            raise PartialWriteError(f"Failed during streaming write: {e}", written) from e
        finally:
            try:
                safe_cleanup_generator(items if hasattr(items, "close") else None)
            except ResourceCleanupError as e:
                warnings.warn(str(e), RuntimeWarning, stacklevel=3)
        out.write(b"\n  ]\n}\n")
    return written


def save_augmentation_stream(
    param_generator: Iterable[dict[str, Any]],
    filepath: str,
    config: Any = None,
    include_stats: bool = True,
    buffer_size: int = 1000,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> None:
    """Write a stream of parameter dicts to ``filepath`` (DPA's JSON), atomically and in
    constant memory.

    Raises ``PartialWriteError`` when the stream fails (with statistics: always, as DPA),
    ``StreamingIOError`` for I/O errors; the target is then left as it was.
    """
    buffer_size = positive(buffer_size, "buffer_size")
    progress = create_streaming_progress(estimated_total=None, start_id=0)
    metadata = create_streaming_metadata(total_samples=None, config=config, buffer_size=buffer_size)
    if verbose:
        sys.stdout.write(f"Starting streaming save to {filepath}\n")
    try:
        if include_stats:
            try:
                n = _write_with_statistics(param_generator, filepath, config)
            except Exception as e:
                raise PartialWriteError(f"Failed to compute statistics and save: {e}", 0) from e
            progress.estimated_total = n
            update_streaming_progress(progress, n, max(n - 1, 0))
        else:
            n = _write_incrementally(
                iter(param_generator), filepath, config, buffer_size, verbose, progress, metadata, progress_callback
            )
    except StreamingError:
        raise
    except OSError as e:
        raise StreamingIOError(f"I/O error during streaming save: {e}") from e
    suffix = f" ({format_progress_info(progress)})" if verbose else ""
    sys.stdout.write(f"Saved {n} augmentations to {filepath}{suffix}\n")
    if progress_callback:
        progress_callback(progress, metadata)


def _yield_items(
    items: list[dict[str, Any]], chunk_size: int, verbose: bool, callback: ProgressCallback | None,
    progress: StreamingProgress, metadata: StreamingMetadata,
) -> Iterator[Any]:
    total = len(items)
    if chunk_size <= 1:
        for i, params in enumerate(items):
            update_streaming_progress(progress, i + 1, i)
            if verbose and total > 100 and (i + 1) % max(1, total // 20) == 0:
                sys.stdout.write(f"Loading progress: {format_progress_info(progress)}\n")
            if callback:
                callback(progress, metadata)
            yield params
    else:
        for start in range(0, total, chunk_size):
            chunk = items[start : start + chunk_size]
            done = start + len(chunk)
            update_streaming_progress(progress, done, done - 1)
            if verbose and total > 100 and len(chunk) == chunk_size and done % (chunk_size * 10) == 0:
                sys.stdout.write(f"Loading progress: {format_progress_info(progress)}\n")
            if callback:
                callback(progress, metadata)
            yield chunk
    if verbose:
        sys.stdout.write(f"Loading completed: {format_progress_info(progress)}\n")


def load_augmentation_stream(
    filepath: str,
    chunk_size: int = 1000,
    verbose: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> Iterator[Any]:
    """The samples of a DPA JSON file: one dict at a time for ``chunk_size <= 1``, else lists
    of ``chunk_size`` dicts (DPA's default is lists of 1000).

    Raises ``FileNotFoundError``, or ``StreamingIOError`` for invalid JSON or layout.
    """
    data = _read_json(filepath, StreamingIOError)
    items = _augmentations(data, filepath, StreamingIOError)
    sys.stdout.write(f"Loading {len(items)} augmentations from {filepath}\n")
    progress = create_streaming_progress(estimated_total=len(items), start_id=0)
    metadata = create_streaming_metadata(total_samples=len(items), chunk_size=max(1, chunk_size))
    return _yield_items(items, chunk_size, verbose, progress_callback, progress, metadata)


def _count_objects(text: str, start: int) -> int:
    """Complete JSON objects in the array that starts at ``text[start] == '['``."""
    decoder = JSONDecoder()
    pos, count = start + 1, 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            return count
        if not isinstance(obj, dict):
            return count
        count += 1


def recover_partial_write(filepath: str, expected_samples: int | None = None, verbose: bool = False) -> dict[str, Any]:
    """What a (possibly truncated) DPA file holds: ``recoverable``, ``samples_found``,
    ``metadata`` and ``error``.

    Files written by ``accel.dpa`` are never partial; this reads files that DPA (or a killed
    process writing without ``accel``) left behind.
    """
    info: dict[str, Any] = {"recoverable": False, "samples_found": 0, "metadata": None, "error": None}
    path = Path(filepath)
    if not path.exists():
        info["error"] = "File does not exist"
        return info
    if verbose:
        sys.stdout.write(f"Attempting to recover partial write from {filepath}\n")
    try:
        text = path.read_text()
    except OSError as e:
        raise StreamingIOError(f"Cannot access file for recovery: {e}") from e
    try:
        data = json.loads(text, cls=JSONDecoder)
    except json.JSONDecodeError:
        pass
    else:
        info["recoverable"] = True
        info["metadata"] = data.get("metadata", {}) if isinstance(data, dict) else {}
        if isinstance(data, dict) and isinstance(data.get("augmentations"), list):
            info["samples_found"] = len(data["augmentations"])
        if verbose:
            sys.stdout.write(f"File is complete with {info['samples_found']} samples\n")
        return info
    if verbose:
        sys.stdout.write("File appears to be incomplete, attempting partial recovery\n")
    key = text.find('"metadata"')
    if key != -1:
        brace = text.find("{", key)
        try:
            info["metadata"], _ = JSONDecoder().raw_decode(text, brace)
        except (json.JSONDecodeError, ValueError):
            pass
    key = text.find('"augmentations"')
    if key != -1 and (bracket := text.find("[", key)) != -1:
        info["samples_found"] = _count_objects(text, bracket)
        info["recoverable"] = info["samples_found"] > 0
        if verbose:
            sys.stdout.write(f"Recovered {info['samples_found']} complete samples\n")
    if not info["recoverable"]:
        info["error"] = "No recoverable data found in file"
    return info


def resume_streaming_save(
    param_generator: Iterable[dict[str, Any]],
    filepath: str,
    resume_from_sample: int = 0,
    config: Any = None,
    include_stats: bool = True,
    buffer_size: int = 1000,
    verbose: bool = False,
) -> None:
    """``save_augmentation_stream`` of the stream without its first ``resume_from_sample`` items."""
    resume_from_sample = non_negative(resume_from_sample, "resume_from_sample")
    if verbose:
        sys.stdout.write(f"Resuming streaming save from sample {resume_from_sample}\n")
    skipped = 0

    def rest() -> Iterator[dict[str, Any]]:
        nonlocal skipped
        for params in param_generator:
            if skipped < resume_from_sample:
                skipped += 1
                continue
            yield params

    try:
        save_augmentation_stream(rest(), filepath, config=config, include_stats=include_stats,
                                 buffer_size=buffer_size, verbose=verbose)
    except Exception as e:
        raise PartialWriteError(f"Failed to resume streaming save from sample {resume_from_sample}: {e}", skipped) from e

