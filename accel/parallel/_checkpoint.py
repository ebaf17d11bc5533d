"""Atomic checkpoints of a train state: a directory per step, the last ``keep`` kept.

Layout of ``checkpoint_dir``::

    step_0000000040/arrays.npz   every leaf of the state, as leaf_0, leaf_1, ... (tree order)
    step_0000000040/meta.json    step, epoch, position in the epoch, seed, history, fingerprint

A checkpoint is written into ``.tmp-step_....accel-<host>-<pid>-<random>``, every file and
the directory are fsync'ed, then the directory is renamed to ``step_...`` (atomic on POSIX)
and the parent directory fsync'ed. A step directory is complete when it holds both files
(they are written and synced before the rename that makes it visible); old checkpoints are
deleted by renaming them to ``.del-step_....accel-...`` first, so a step directory never
loses a file in place. A crash or SIGKILL at any point leaves either the previous
checkpoints only or the new one complete, plus at most a temporary directory; the next save
removes temporary directories whose writer is gone (``accel._atomic.remove_orphans``: same
host, no such process) - never one a live writer owns - and step directories missing a file
(left by versions that deleted in place).

Errors: a checkpoint that cannot be read (truncated or corrupt files, missing leaves,
mismatched shapes or dtypes) raises ``ValueError`` naming its path and the problem.
:func:`check_directory` checks ``checkpoint_dir`` before training starts.

Our own format rather than orbax-checkpoint: orbax pulls in 13 packages (tensorstore,
protobuf, uvloop, ...), adds seconds of import time to every test process and writes
asynchronously from background threads; the state here is a small replicated pytree
that one ``np.savez`` holds.

Example:
    >>> import tempfile, numpy as np
    >>> from accel.parallel._checkpoint import save, restore, latest_step
    >>> d = tempfile.mkdtemp()
    >>> _ = save(d, 7, {"w": np.ones(2, np.float32)}, {"epoch": 0}, keep=3)
    >>> latest_step(d)
    7
    >>> state, meta = restore(d, {"w": np.zeros(2, np.float32)})
    >>> state["w"].tolist(), meta["epoch"]
    ([1.0, 1.0], 0)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from accel._atomic import naming_path, owner_tag, remove_orphans, writer_alive
from accel._checks import check_path, parse_json

__all__ = [
    "FORMAT_VERSION", "check_directory", "latest_step", "list_steps", "read_meta", "restore", "save",
]

FORMAT_VERSION = 1
_NAME = re.compile(r"^step_(\d{10})$")
_LEGACY_TMP = re.compile(r"^\.tmp-step_\d{10}-(\d+)$")  # written by earlier versions
_FILES = ("arrays.npz", "meta.json")


def check_directory(directory: Any, name: str = "checkpoint_dir") -> Path | None:
    """Check, before any training, that checkpoints can be written to ``directory``.

    ``None`` passes (no checkpoints). The folder is created if missing. Raises ``TypeError``
    for a non-path and ``ValueError`` naming ``name`` when the path is a file (or under
    one), cannot be created, or (in process 0, the one that writes) is not writable.
    """
    path = check_path(directory, name, allow_none=True)
    if path is None:
        return None
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {os.fspath(directory)!r} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"{name} {os.fspath(directory)!r} cannot be created: {e}") from None
    if jax.process_index() == 0:
        probe = path / f".write-probe.{owner_tag()}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as e:
            raise ValueError(f"{name} {os.fspath(directory)!r} is not writable: {e}") from None
    return path


def _discard(path: Path) -> None:
    """Delete a step directory: rename it out of sight first (atomic), then remove it."""
    trash = path.with_name(f".del-{path.name}.{owner_tag()}")
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _sweep(d: Path) -> None:
    """Remove what killed writers left: their temporary and half-deleted directories, and
    step directories that lost a file (deleted in place by earlier versions)."""
    remove_orphans(d)
    for child in d.iterdir():
        legacy = _LEGACY_TMP.match(child.name)
        if legacy and not writer_alive(int(legacy.group(1))):
            shutil.rmtree(child, ignore_errors=True)
        elif _NAME.match(child.name) and child.is_dir() and not _complete(child):
            _discard(child)


def _complete(step_dir: Path) -> bool:
    return all((step_dir / f).is_file() for f in _FILES)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_steps(directory: str | os.PathLike) -> list[int]:
    """Steps of the complete checkpoints in ``directory``, ascending."""
    d = Path(directory)
    if not d.is_dir():
        return []
    steps = []
    for child in d.iterdir():
        m = _NAME.match(child.name)
        if m and _complete(child):
            steps.append(int(m.group(1)))
    return sorted(steps)


def latest_step(directory: str | os.PathLike) -> int | None:
    steps = list_steps(directory)
    return steps[-1] if steps else None


def save(
    directory: str | os.PathLike, step: int, state: Any, meta: dict, *, keep: int
) -> Path:
    """Write ``state`` (a pytree of arrays) and ``meta`` (JSON-able) atomically as ``step``.

    A save that fails (a full disk, a ``meta`` that is not JSON-able, an interrupt) removes
    its temporary directory before the error propagates, so that a retry finds the space
    free; a storage error names the file being written (``[Errno 28] No space left on
    device: '<checkpoint_dir>/.tmp-step_.../arrays.npz'``).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _sweep(d)
    final = d / f"step_{step:010d}"
    tmp = d / f".tmp-{final.name}.{owner_tag()}"
    tmp.mkdir()
    writing = tmp
    try:
        leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
        writing = tmp / "arrays.npz"
        with open(writing, "wb") as f:
            np.savez(f, **{f"leaf_{i}": x for i, x in enumerate(leaves)})
            f.flush()
            os.fsync(f.fileno())
        record = {"format_version": FORMAT_VERSION, "step": int(step), "n_leaves": len(leaves), **meta}
        writing = tmp / "meta.json"
        with open(writing, "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())
        writing = tmp
        _fsync_path(tmp)
        if final.exists():  # the same step written again (e.g. a resumed run): replace it
            _discard(final)
        os.rename(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)  # a live writer's leftover is never swept
        if isinstance(e, OSError) and (named := naming_path(e, writing)) is not e:
            raise named from e
        raise
    _fsync_path(d)
    for old in list_steps(d)[:-keep]:
        _discard(d / f"step_{old:010d}")
    return final


def restore(
    directory: str | os.PathLike, template: Any, step: int | None = None
) -> tuple[Any, dict]:
    """Load checkpoint ``step`` (default: the latest) into the structure of ``template``.

    Raises ``FileNotFoundError`` when there is none and ``ValueError`` naming the checkpoint
    when it cannot be read (truncated or corrupt files, missing entries) or its leaves do not
    match ``template`` (count, shape or dtype).
    """
    if step is None:
        step = latest_step(directory)
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {os.fspath(directory)!r}")
    path = Path(directory) / f"step_{step:010d}"
    meta = _read_meta(path, step)
    ref, treedef = jax.tree.flatten(template)
    if meta["n_leaves"] != len(ref):  # before reading anything: n_leaves may be huge
        raise ValueError(
            f"checkpoint {path} holds {meta['n_leaves']} arrays, the train state has {len(ref)}"
        )
    leaves = _read_leaves(path, [np.asarray(want) for want in ref])
    return jax.tree.unflatten(treedef, leaves), meta


def read_meta(directory: str | os.PathLike, step: int) -> dict:
    """The ``meta.json`` of checkpoint ``step`` (checked like :func:`restore` checks it)."""
    return _read_meta(Path(directory) / f"step_{step:010d}", step)


class _Unreadable(ValueError):
    """A checkpoint refused with a finished message (passes the corruption handler as is)."""


def _corrupt(path: Path, problem: str) -> ValueError:
    return _Unreadable(
        f"checkpoint {os.fspath(path)!r} is unreadable: {problem}; delete that directory to "
        "resume from the previous checkpoint"
    )


def _read_meta(path: Path, step: int) -> dict:
    try:
        meta = parse_json((path / "meta.json").read_bytes())
    except FileNotFoundError:
        raise _corrupt(path, "meta.json is missing") from None
    except (OSError, ValueError) as e:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise _corrupt(path, f"meta.json is truncated or corrupt ({e})") from None
    if not isinstance(meta, dict):
        raise _corrupt(path, f"meta.json holds a {type(meta).__name__}, not an object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} has format_version {meta.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    for key in ("step", "n_leaves"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _corrupt(path, f"meta.json has {key}={value!r}, expected an integer >= 0")
    if meta["step"] != step:
        raise _corrupt(path, f"meta.json says step {meta['step']}, the directory step {step}")
    return meta


def _mismatch(path: Path, i: int, dtype: np.dtype, shape: tuple, want: np.ndarray) -> ValueError:
    return _Unreadable(
        f"checkpoint {path} leaf {i} is {dtype}{list(shape)}, "
        f"the train state expects {want.dtype}{list(want.shape)}"
    )


def _read_leaves(path: Path, ref: list[np.ndarray]) -> list[np.ndarray]:
    """The leaves of ``arrays.npz``, each checked against its template leaf in ``ref``
    *before* it is decompressed: the size the zip declares for it, then the dtype and
    shape its ``.npy`` header declares. A small (compressed) file that declares a huge
    array is refused without allocating or inflating it."""
    wanted = [f"leaf_{i}" for i in range(len(ref))]
    try:
        # our own handle: np.load leaves a file it opened itself open when the zip is bad
        with open(path / "arrays.npz", "rb") as f, zipfile.ZipFile(f) as z:
            present = {name.removesuffix(".npy") for name in z.namelist()}
            missing = [k for k in wanted if k not in present]
            if missing:
                raise _corrupt(
                    path, f"arrays.npz lacks {', '.join(missing[:3])} (meta.json says {len(ref)} leaves)"
                )
            return [_read_leaf(z, path, i, want) for i, want in enumerate(ref)]
    except FileNotFoundError:
        raise _corrupt(path, "arrays.npz is missing") from None
    except _Unreadable:
        raise
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError, KeyError) as e:
        raise _corrupt(path, f"arrays.npz is truncated or corrupt ({type(e).__name__}: {e})") from None


# a .npy header: 6 magic bytes, 2 of version, 2 or 4 of length, the dict padded to 64
_NPY_HEADER_MAX = 12 + 65536


def _read_leaf(z: zipfile.ZipFile, path: Path, i: int, want: np.ndarray) -> np.ndarray:
    info = z.getinfo(f"leaf_{i}.npy")
    if info.file_size > want.nbytes + _NPY_HEADER_MAX:  # what the zip declares, not inflated
        raise _Unreadable(
            f"checkpoint {path} leaf {i} declares {info.file_size} bytes, the train state "
            f"expects {want.dtype}{list(want.shape)} ({want.nbytes} bytes)"
        )
    with z.open(info) as entry:
        version = np.lib.format.read_magic(entry)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(entry)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(entry)
        else:
            raise _corrupt(path, f"arrays.npz leaf_{i} has .npy format version {version}")
        if dtype.hasobject:
            raise _corrupt(path, f"arrays.npz leaf_{i} holds Python objects ({dtype})")
        if dtype != want.dtype or tuple(shape) != want.shape:
            raise _mismatch(path, i, dtype, shape, want)
        data = entry.read()  # at most file_size bytes (checked above); checks the CRC too
    if len(data) != want.nbytes:
        raise _corrupt(
            path, f"arrays.npz leaf_{i} holds {len(data)} bytes of data, its header declares {want.nbytes}"
        )
    leaf = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    return leaf.copy(order="K")
