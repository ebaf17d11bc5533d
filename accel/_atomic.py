"""Atomic file output: the one implementation every writer in the project uses.

A file is written to a temporary file beside its destination and renamed over it
(``os.replace``) only when the writer's block completes; on any exception (including
``KeyboardInterrupt``) the temporary file is removed. Readers therefore see either the old
file or the complete new one, never a partial file.

Example:
    >>> import tempfile, pathlib
    >>> from accel._atomic import atomic_open, write_atomic
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = write_atomic(folder / "a.txt", "hello")
    >>> (folder / "a.txt").read_text()
    'hello'
    >>> try:
    ...     with atomic_open(folder / "a.txt") as fh:
    ...         _ = fh.write(b"partial")
    ...         raise RuntimeError("producer died")
    ... except RuntimeError:
    ...     pass
    >>> (folder / "a.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('hello', ['a.txt'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "write_atomic"]


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], *, suffix: str = ".tmp", durable: bool = True
) -> Iterator[BinaryIO]:
    """A binary file open for writing that replaces ``path`` only if the block completes.

    Creates missing parent folders. With ``durable=True`` the data and the rename are
    flushed to disk (``fsync`` of the file and of its folder) before returning.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, durable: bool = True) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; returns the path."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_open(path, durable=durable) as fh:
        fh.write(payload)
    return Path(path)


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
