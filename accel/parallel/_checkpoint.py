"""Atomic checkpoints of a train state: a directory per step, the last ``keep`` kept.

Layout of ``checkpoint_dir``::

    step_0000000040/arrays.npz   every leaf of the state, as leaf_0, leaf_1, ... (tree order)
    step_0000000040/meta.json    step, epoch, position in the epoch, seed, history, fingerprint

A checkpoint is written into ``.tmp-step_...-<pid>``, every file and the directory are
fsync'ed, then the directory is renamed to ``step_...`` (atomic on POSIX) and the parent
directory fsync'ed. A crash at any point leaves either the previous checkpoints only or the
new one complete; leftover ``.tmp-*`` directories are ignored and removed by the next save.

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
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = ["FORMAT_VERSION", "latest_step", "list_steps", "restore", "save"]

FORMAT_VERSION = 1
_NAME = re.compile(r"^step_(\d{10})$")


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
        if m and (child / "meta.json").is_file() and (child / "arrays.npz").is_file():
            steps.append(int(m.group(1)))
    return sorted(steps)


def latest_step(directory: str | os.PathLike) -> int | None:
    steps = list_steps(directory)
    return steps[-1] if steps else None


def save(
    directory: str | os.PathLike, step: int, state: Any, meta: dict, *, keep: int
) -> Path:
    """Write ``state`` (a pytree of arrays) and ``meta`` (JSON-able) atomically as ``step``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for stale in d.glob(".tmp-step_*"):
        shutil.rmtree(stale, ignore_errors=True)
    final = d / f"step_{step:010d}"
    tmp = d / f".tmp-{final.name}-{os.getpid()}"
    tmp.mkdir()
    leaves = [np.asarray(x) for x in jax.tree.leaves(state)]
    with open(tmp / "arrays.npz", "wb") as f:
        np.savez(f, **{f"leaf_{i}": x for i, x in enumerate(leaves)})
        f.flush()
        os.fsync(f.fileno())
    record = {"format_version": FORMAT_VERSION, "step": int(step), "n_leaves": len(leaves), **meta}
    with open(tmp / "meta.json", "w") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    _fsync_path(tmp)
    if final.exists():  # the same step written again (e.g. a resumed run): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_path(d)
    for old in list_steps(d)[:-keep]:
        shutil.rmtree(d / f"step_{old:010d}", ignore_errors=True)
    return final


def restore(
    directory: str | os.PathLike, template: Any, step: int | None = None
) -> tuple[Any, dict]:
    """Load checkpoint ``step`` (default: the latest) into the structure of ``template``.

    Raises ``FileNotFoundError`` when there is none and ``ValueError`` when its leaves do not
    match ``template`` (count, shape or dtype).
    """
    if step is None:
        step = latest_step(directory)
        if step is None:
            raise FileNotFoundError(f"no complete checkpoint in {os.fspath(directory)!r}")
    path = Path(directory) / f"step_{step:010d}"
    with open(path / "meta.json") as f:
        meta = json.load(f)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format_version {meta.get('format_version')!r}, "
            f"expected {FORMAT_VERSION}"
        )
    ref, treedef = jax.tree.flatten(template)
    with np.load(path / "arrays.npz") as z:
        leaves = [z[f"leaf_{i}"] for i in range(meta["n_leaves"])]
    if len(leaves) != len(ref):
        raise ValueError(
            f"checkpoint {path} holds {len(leaves)} arrays, the train state has {len(ref)}"
        )
    for i, (got, want) in enumerate(zip(leaves, ref, strict=True)):
        want = np.asarray(want)
        if got.shape != want.shape or got.dtype != want.dtype:
            raise ValueError(
                f"checkpoint {path} leaf {i} is {got.dtype}{list(got.shape)}, "
                f"the train state expects {want.dtype}{list(want.shape)}"
            )
    return jax.tree.unflatten(treedef, leaves), meta
