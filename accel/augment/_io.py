"""Saving and loading parameters: DPA-compatible JSON and a compact memory-mapped binary.

JSON (``.json``, DPA's layout)::

    {"metadata": {"num_samples", "config", "seed", "epoch", "algorithm", "format_version"},
     "augmentations": [{"sample_id", "rotation", ...}, ...], "statistics": {...}}

Binary (``.aug``): the compact format of ``_binary``, written in one streaming pass.
A float32 file costs 20 bytes per sample (24 with arbitrary ids spanning < 2**32;
28 only for arbitrary ids spanning more). The CRC-32 covers rows, ids and footer.
Every write goes to a temporary file in the target folder that is renamed over the target
only when complete (``os.replace``), so a crash never leaves a partial file. Truncated,
corrupted or foreign files raise ``ValueError`` naming the file and the problem.

What is checked, on saving and on loading JSON: every ``sample_id`` is an integer in
``[0, 2**64)`` (``1.5`` or ``True`` is refused, not truncated), every parameter a finite
real number, inside the config's range ``[lo, hi]`` when a config is recorded, and a
JSON file's ``format_version`` is this build's. JSON files written by DPA itself have no
``format_version`` and no ``sample_id``: they load as DPA loads them (all records without
``sample_id``, or all with); in files of this library every record needs one.

Example:
    >>> import tempfile, os
    >>> from accel.augment import (stream_augmentation_chain, save_augmentation_chain,
    ...     load_augmentation_stream)
    >>> path = os.path.join(tempfile.mkdtemp(), "params.aug")
    >>> save_augmentation_chain(stream_augmentation_chain(1000, chunk_size=256), path)
    >>> os.path.getsize(path) < 1000 * 20 + 1024
    True
    >>> sum(len(b) for b in load_augmentation_stream(path, chunk_size=300))
    1000
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_open
from .._checks import check_bool, check_path, parse_json
from ._batch import AugmentationBatch
from ._binary import VERSION, _BinaryFile, _check_ranges, _is_binary, _meta_of, _save_binary
from ._config import PARAM_NAMES, AugmentationConfig, resolve_config
from ._stats import check_record, compute_statistics
from ._stream import (
    DEFAULT_CHUNK_SIZE,
    check_chunk_size,
    check_num_samples,
    stream_augmentation_chain,
)

__all__ = [
    "generate_augmentation_chain",
    "load_augmentation_chain",
    "load_augmentation_stream",
    "save_augmentation_chain",
]

_FORMATS = ("json", "binary")




def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is None:
        return "binary" if path.suffix in (".aug", ".bin") else "json"
    if fmt not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS} or None, got {fmt!r}")
    return fmt


def _batches_of(params: Any, config: AugmentationConfig | None) -> Iterator[AugmentationBatch]:
    """Normalise records / a batch / a stream of batches into AugmentationBatch chunks."""
    if isinstance(params, AugmentationBatch):
        yield params
        return
    if isinstance(params, Mapping) or isinstance(params, str | bytes) or not hasattr(params, "__iter__"):
        raise TypeError(
            "params must be a list of per-sample dicts, an AugmentationBatch or an iterable of them, "
            f"got {type(params).__name__}"
        )
    records: list[Mapping[str, Any]] = []
    cfg = config
    done = 0  # records flushed so far (for messages)

    def flush() -> AugmentationBatch:
        nonlocal done
        for i, rec in enumerate(records, start=done):
            missing = [k for k in ("sample_id", *PARAM_NAMES) if k not in rec]
            if missing:
                raise ValueError(f"every per-sample dict needs 'sample_id' and {PARAM_NAMES}; record {i} lacks {missing}")
            check_record(rec, f"record {i}", TypeError)
        ids = np.array([r["sample_id"] for r in records], dtype=np.uint64)
        values = {n: np.array([r[n] for r in records], dtype=np.float64) for n in PARAM_NAMES}
        done += len(records)
        return AugmentationBatch(values, ids, seed=None, epoch=None, algorithm=None, config=cfg)

    for item in params:
        if isinstance(item, AugmentationBatch):
            if records:
                yield flush()
                records = []
            yield item
        elif isinstance(item, Mapping):
            records.append(item)
            if len(records) >= 65_536:
                yield flush()
                records = []
        else:
            raise TypeError(f"params items must be per-sample dicts or AugmentationBatch objects, got {type(item).__name__}")
    if records:
        yield flush()


def save_augmentation_chain(
    params: Any,
    path: str | os.PathLike[str],
    config: AugmentationConfig | None = None,
    *,
    include_stats: bool = True,
    format: str | None = None,
) -> None:
    """Write parameters atomically as JSON (DPA layout) or the compact binary format.

    Args:
        params: a list of per-sample dicts, an ``AugmentationBatch``, or an iterable of
            batches (e.g. a stream: the binary writer holds one chunk at a time).
        path: target file; ``format=None`` picks binary for ``.aug``/``.bin``, else JSON.
        config: recorded in the metadata (defaults to the batches' own config).
        include_stats: JSON only: add DPA's ``statistics`` section.
    """
    path = check_path(path, "path")
    check_bool(include_stats, "include_stats")
    fmt = _format_of(path, format)
    if config is not None and not isinstance(config, AugmentationConfig):
        raise TypeError(f"config must be an AugmentationConfig or None, got {type(config).__name__}")
    batches = _batches_of(params, config)
    if fmt == "json":
        _save_json(list(batches), path, config, include_stats)
    else:
        _save_binary(batches, path, config)


def _save_json(batches: list[AugmentationBatch], path: Path, config: AugmentationConfig | None, include_stats: bool) -> None:
    records = [r for b in batches for r in b.records()]
    meta: dict[str, Any] = {"num_samples": len(records)}
    meta.update(_meta_of(batches[0], config) if batches else {"config": config.to_dict() if config else None})
    meta["format_version"] = VERSION
    for rec in records:
        for n in PARAM_NAMES:
            if not math.isfinite(rec[n]):
                raise ValueError(f"parameter {n} of sample {rec['sample_id']} is not finite: {rec[n]}")
    for b in batches:
        _check_ranges(b.to_numpy(), b.sample_ids, config if config is not None else b.config, f"cannot save {path}")
    out: dict[str, Any] = {"metadata": meta, "augmentations": records}
    if include_stats:
        out["statistics"] = compute_statistics(batches) if records else {}
    data = json.dumps(out, indent=2).encode()
    with atomic_open(path) as f:
        f.write(data)


def load_augmentation_stream(
    path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK_SIZE, *, verify: bool = True
) -> Iterator[AugmentationBatch]:
    """Read a binary file in ``AugmentationBatch`` chunks through a memory map.

    The file is checked before the first chunk (sizes, footer, and with ``verify=True`` a
    streaming CRC-32 pass), then read ``chunk_size`` samples at a time: memory use does not
    grow with the file.
    """
    size = check_chunk_size(chunk_size)
    path = check_path(path, "path")
    verify = check_bool(verify, "verify")
    if not _is_binary(path):
        raise ValueError(f"{path} is not a binary parameter file; load JSON with load_augmentation_chain")
    return _BinaryFile(path, verify).batches(size)


def load_augmentation_chain(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Load a JSON (DPA layout) or binary file as a list of per-sample dicts."""
    path = check_path(path, "path")
    if _is_binary(path):
        return [r for b in _BinaryFile(path, verify=True).batches(DEFAULT_CHUNK_SIZE) for r in b.records()]
    try:
        data = parse_json(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a valid augmentation chain file (truncated or corrupt JSON: {e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("augmentations"), list):
        raise ValueError(f"{path} is not an augmentation chain file: no 'augmentations' list")
    meta = data.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is corrupt: 'metadata' is a {type(meta).__name__}, not an object")
    if "format_version" in meta and (isinstance(meta["format_version"], bool) or meta["format_version"] != VERSION):
        raise ValueError(f"{path}: unsupported format_version {meta['format_version']!r} (this build reads {VERSION})")
    ours = "format_version" in meta  # DPA's own files have neither format_version nor sample_id
    try:
        config = AugmentationConfig.from_dict(meta["config"]) if meta.get("config") is not None else None
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} is corrupt: metadata config is invalid ({e})") from None
    records = data["augmentations"]
    with_ids = 0
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or any(n not in rec for n in PARAM_NAMES):
            raise ValueError(f"{path} is corrupt: augmentation {i} lacks numeric {PARAM_NAMES}")
        if "sample_id" not in rec and (ours or with_ids):
            raise ValueError(f"{path} is corrupt: augmentation {i} has no sample_id")
        if "sample_id" in rec and with_ids < i:
            raise ValueError(f"{path} is corrupt: augmentation {i} has a sample_id, earlier ones have none")
        with_ids += "sample_id" in rec
        try:
            check_record(rec, f"augmentation {i}", ValueError)
        except ValueError as e:
            raise ValueError(f"{path} is corrupt: {e}") from None
    declared = meta.get("num_samples")
    if declared is not None and declared != len(records):
        raise ValueError(f"{path} is corrupt: metadata says {declared} samples, found {len(records)}")
    if config is not None and records:
        ids = np.array([r.get("sample_id", i) for i, r in enumerate(records)], dtype=np.uint64)
        values = {n: np.array([r[n] for r in records], dtype=np.float64) for n in PARAM_NAMES}
        _check_ranges(values, ids, config, f"{path} is corrupt")
    return records


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
        save_augmentation_chain(batches if batches else records, save_path, cfg)
    return records
