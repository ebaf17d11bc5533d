"""The compact binary format of augmentation parameters (``.aug``), written in one streaming pass.

Layout, little-endian::

    b"ACCELAUG" | u32 version=1 | u32 0                      16-byte header
    n rows of 5 values (float32: 20 B/sample; float64 for 'dpa')   sample-major
    ids: none if they form a progression first + k*step (every stream and chain),
         else u32 offsets from the smallest id (span < 2**32), else u64 ids
    footer JSON (metadata, id encoding) | u64 footer_len | u32 crc32 | u32 0 | b"AUGEND01"

The CRC-32 covers rows, ids and footer; truncated, corrupted or foreign files raise
``ValueError`` naming the file and the problem. ``_io`` chooses between this format and
JSON by the file's extension and content.

Example:
    >>> import tempfile, os
    >>> from accel.augment import stream_augmentation_chain, save_augmentation_chain
    >>> path = os.path.join(tempfile.mkdtemp(), "params.aug")
    >>> save_augmentation_chain(stream_augmentation_chain(10), path)
    >>> _is_binary(Path(path))
    True
"""

from __future__ import annotations

import json
import struct
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_open
from .._checks import parse_json
from ._batch import AugmentationBatch
from ._config import PARAM_NAMES, AugmentationConfig

__all__ = ["END_MAGIC", "MAGIC", "VERSION"]

MAGIC = b"ACCELAUG"
END_MAGIC = b"AUGEND01"
VERSION = 1
_HEADER = struct.Struct("<8sII")
_TRAILER = struct.Struct("<QII8s")
_BLOCK = 1 << 18  # read and CRC blocks: bounds memory of verify passes


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
                meta = parse_json(f.read(footer_len))
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
