"""Saving and loading parameters: DPA-compatible JSON and a compact memory-mapped binary.

JSON (``.json``, DPA's layout)::

    {"metadata": {"num_samples", "config", "seed", "epoch", "algorithm", "format_version"},
     "augmentations": [{"sample_id", "rotation", ...}, ...], "statistics": {...}}

Binary (``.aug``), little-endian, written in one streaming pass::

    b"ACCELAUG" | u32 version=1 | u32 0                      16-byte header
    n rows of 5 values (float32: 20 B/sample; float64 for 'dpa')   sample-major
    ids: none if they form a progression first + k*step (every stream and chain),
         else u32 offsets from the smallest id (span < 2**32), else u64 ids
    footer JSON (metadata, id encoding) | u64 footer_len | u32 crc32 | u32 0 | b"AUGEND01"

So a float32 file costs 20 bytes per sample (24 with arbitrary ids spanning < 2**32;
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
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_open
from .._checks import MAX_U64, check_bool, check_int, check_path
from ._batch import AugmentationBatch
from ._config import PARAM_NAMES, AugmentationConfig
from ._stats import compute_statistics
from ._stream import DEFAULT_CHUNK_SIZE, check_chunk_size

__all__ = ["load_augmentation_chain", "load_augmentation_stream", "save_augmentation_chain"]

MAGIC = b"ACCELAUG"
END_MAGIC = b"AUGEND01"
VERSION = 1
_HEADER = struct.Struct("<8sII")
_TRAILER = struct.Struct("<QII8s")
_FORMATS = ("json", "binary")
_BLOCK = 1 << 18  # read and CRC blocks: bounds memory of verify passes




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
            _check_record(rec, f"record {i}", TypeError)
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


def _check_record(rec: Mapping[str, Any], where: str, kind_error: type[Exception]) -> None:
    """A per-sample dict: ``sample_id`` an int in [0, 2**64) if present, finite real values."""
    if "sample_id" in rec:
        try:
            check_int(rec["sample_id"], f"sample_id of {where}", minimum=0, maximum=MAX_U64)
        except TypeError as e:
            raise kind_error(str(e)) from None
    for n in PARAM_NAMES:
        v = rec[n]
        if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.integer | np.floating):
            raise kind_error(f"parameter {n} of {where} must be a real number, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"parameter {n} of {where} is not finite: {v}")


def _check_ranges(values: Mapping[str, np.ndarray], ids: np.ndarray, config: AugmentationConfig | None, where: str) -> None:
    """Every value inside its config range ``[lo, hi]`` (drawn values lie in ``[lo, hi)``)."""
    if config is None:
        return
    for n, (lo, hi) in zip(PARAM_NAMES, config.ranges, strict=True):
        v = np.asarray(values[n], dtype=np.float64)
        bad = np.flatnonzero(~((v >= lo) & (v <= hi)))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{where}: parameter {n} of sample {int(ids[i])} is {float(v[i])!r}, outside the config's "
                f"{n}_range [{lo:g}, {hi:g}] ({bad.size} such values)"
            )


def _meta_of(batch: AugmentationBatch, config: AugmentationConfig | None) -> dict[str, Any]:
    cfg = config if config is not None else batch.config
    return {
        "config": cfg.to_dict() if cfg is not None else None,
        "seed": batch.seed,
        "epoch": batch.epoch,
        "algorithm": batch.algorithm,
    }


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


class _IdTracker:
    """Follows the ids written so far: progression? smallest / largest."""

    def __init__(self) -> None:
        self.n = 0
        self.first = self.step = self.last = None
        self.progression = True
        self.lo = self.hi = None

    def update(self, ids: np.ndarray) -> None:
        if ids.size == 0:
            return
        ids = ids.astype(np.uint64, copy=False)
        lo, hi = int(ids.min()), int(ids.max())
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        if self.first is None:
            self.first = int(ids[0])
        if self.progression:
            seq = ids if self.last is None else np.concatenate([np.array([self.last], np.uint64), ids])
            if seq.size >= 2:
                increasing = bool(np.all(seq[1:] > seq[:-1]))
                diffs = seq[1:] - seq[:-1]
                step = int(diffs[0]) if self.step is None else self.step
                self.progression = increasing and bool(np.all(diffs == np.uint64(step)))
                self.step = step
        self.last = int(ids[-1])
        self.n += int(ids.size)


def _save_binary(batches: Iterable[AugmentationBatch], path: Path, config: AugmentationConfig | None) -> None:
    meta: dict[str, Any] | None = None
    dtype: np.dtype | None = None
    tracker = _IdTracker()
    crc = 0
    with atomic_open(path) as f, tempfile.TemporaryFile(dir=path.parent) as side:
        f.write(_HEADER.pack(MAGIC, VERSION, 0))
        for batch in batches:
            cols = batch.to_numpy()
            if meta is None:
                meta = _meta_of(batch, config)
                dtype = np.dtype(np.float32) if all(c.dtype == np.float32 for c in cols.values()) else np.dtype(np.float64)
                if dtype == np.float64 and all(np.array_equal(c.astype(np.float32).astype(np.float64), c) for c in cols.values()):
                    dtype = np.dtype(np.float32)  # exactly representable (e.g. reloaded float32 records)
            elif _meta_of(batch, config) != meta:
                raise ValueError("all batches saved to one file must share seed, epoch, algorithm and config")
            rows = np.stack([c.astype(dtype) for c in cols.values()], axis=1).astype(dtype.newbyteorder("<"))
            for n, c in cols.items():
                if not np.all(np.isfinite(c)):
                    raise ValueError(f"parameter {n} has non-finite values; refusing to save")
                if dtype == np.float32 and not np.array_equal(c.astype(np.float32).astype(c.dtype), c):
                    raise ValueError("batches mix float32 and float64 parameter values; save them to separate files")
            _check_ranges(cols, batch.sample_ids, config if config is not None else batch.config, f"cannot save {path}")
            data = rows.tobytes()
            crc = zlib.crc32(data, crc)
            f.write(data)
            side.write(batch.sample_ids.astype("<u8").tobytes())
            tracker.update(batch.sample_ids)
        if meta is None:
            meta = {"config": config.to_dict() if config else None, "seed": None, "epoch": None, "algorithm": None}
            dtype = np.dtype(np.float32)
        if tracker.progression:
            ids_meta = {"id_encoding": "progression", "first_id": tracker.first or 0, "id_step": tracker.step or 1}
        else:
            offset32 = tracker.hi - tracker.lo < 2**32
            ids_meta = {"id_encoding": "offset32" if offset32 else "u64", "id_base": tracker.lo if offset32 else 0}
            side.seek(0)
            while chunk := side.read(_BLOCK):
                ids = np.frombuffer(chunk, dtype="<u8")
                data = (ids - np.uint64(tracker.lo)).astype("<u4").tobytes() if offset32 else chunk
                crc = zlib.crc32(data, crc)
                f.write(data)
        meta.update(ids_meta)
        meta.update({"num_samples": tracker.n, "dtype": dtype.name, "param_names": list(PARAM_NAMES), "format_version": VERSION})
        footer = json.dumps(meta).encode()
        crc = zlib.crc32(footer, crc)
        f.write(footer)
        f.write(_TRAILER.pack(len(footer), crc, 0, END_MAGIC))


# -- reading ----------------------------------------------------------------------------
class _BinaryFile:
    """Validated view of a binary parameter file (sizes, footer, optional CRC)."""

    def __init__(self, path: Path, verify: bool) -> None:
        self.path = path
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
            if len(head) < _HEADER.size or head[:8] != MAGIC:
                raise ValueError(f"{path} is not an accel.augment binary parameter file (bad magic)")
            _, version, _ = _HEADER.unpack(head)
            if version != VERSION:
                raise ValueError(f"{path}: unsupported binary format version {version} (this build reads {VERSION})")
            if size < _HEADER.size + _TRAILER.size:
                raise ValueError(f"{path} is truncated: {size} bytes, no end marker")
            f.seek(size - _TRAILER.size)
            footer_len, crc, _, end = _TRAILER.unpack(f.read(_TRAILER.size))
            if end != END_MAGIC:
                raise ValueError(f"{path} is truncated or was not finished: end marker missing")
            footer_at = size - _TRAILER.size - footer_len
            if footer_at < _HEADER.size:
                raise ValueError(f"{path} is corrupt: footer length {footer_len} exceeds the file")
            f.seek(footer_at)
            try:
                meta = json.loads(f.read(footer_len))
                n = int(meta["num_samples"])
                dtype = np.dtype(meta["dtype"]).newbyteorder("<")
                encoding = meta["id_encoding"]
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"{path} is corrupt: unreadable footer ({e!r})") from None
            id_bytes = {"progression": 0, "offset32": 4, "u64": 8}.get(encoding)
            if id_bytes is None or dtype.kind != "f":
                raise ValueError(f"{path} is corrupt: id encoding {encoding!r}, dtype {dtype}")
            expected = _HEADER.size + n * (5 * dtype.itemsize + id_bytes) + footer_len + _TRAILER.size
            if expected != size:
                raise ValueError(f"{path} is truncated or corrupt: {size} bytes, expected {expected} for {n} samples")
            if verify:
                f.seek(_HEADER.size)
                got, left = 0, footer_at + footer_len - _HEADER.size
                while left:
                    block = f.read(min(_BLOCK, left))
                    if not block:
                        raise ValueError(f"{path} is truncated while verifying")
                    got = zlib.crc32(block, got)
                    left -= len(block)
                if got != crc:
                    raise ValueError(f"{path} is corrupt: CRC-32 mismatch (stored {crc:#010x}, computed {got:#010x})")
        self.meta, self.n, self.dtype, self.encoding, self.id_bytes = meta, n, dtype, encoding, id_bytes
        self.config = AugmentationConfig.from_dict(meta["config"]) if meta.get("config") else None

    def batches(self, chunk_size: int) -> Iterator[AugmentationBatch]:
        if self.n == 0:
            return
        rows = np.memmap(self.path, dtype=self.dtype, mode="r", offset=_HEADER.size, shape=(self.n, 5))
        ids_at = _HEADER.size + self.n * 5 * self.dtype.itemsize
        ids_mm = None
        if self.encoding != "progression":
            ids_mm = np.memmap(self.path, dtype="<u4" if self.id_bytes == 4 else "<u8", mode="r", offset=ids_at, shape=(self.n,))
        m = self.meta
        for i in range(0, self.n, chunk_size):
            j = min(self.n, i + chunk_size)
            block = np.array(rows[i:j])  # copy out of the map: constant memory per chunk
            if ids_mm is None:
                ids = np.uint64(m["first_id"]) + np.arange(i, j, dtype=np.uint64) * np.uint64(m["id_step"])
            else:
                ids = np.asarray(ids_mm[i:j]).astype(np.uint64) + np.uint64(m.get("id_base", 0))
            values = {name: block[:, k].astype(self.dtype.newbyteorder("=")) for k, name in enumerate(PARAM_NAMES)}
            yield AugmentationBatch(values, ids, seed=m.get("seed"), epoch=m.get("epoch"), algorithm=m.get("algorithm"), config=self.config)
        del rows, ids_mm


def _is_binary(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(MAGIC)) == MAGIC


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
        data = json.loads(path.read_bytes())
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
            _check_record(rec, f"augmentation {i}", ValueError)
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
