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

Permissions: files are created with mode ``0o666`` minus the process umask, like ``open``
(``tempfile.mkstemp`` would give ``0o600``: results meant to be shared were unreadable to
the group).

Leftovers of killed writers: a temporary name carries its writer's host and process id,
``.<name>.accel-<host>-<pid>-<random><suffix>`` (``<host>``: 8 hex digits of a hash of the
host name). A process killed with SIGKILL cannot remove its temporary file; the next
``atomic_open`` in the same folder removes every such leftover whose writer is gone:
same host, and no process with that id exists (``os.kill(pid, 0)``). Files of live
writers, of other hosts (a shared file system) and of unknown origin are never touched; a
process id reused by a new process only delays the removal. :func:`remove_orphans` is the
same sweep for other writers (checkpoint directories use it).

A full disk (or another storage error: ``ENOSPC``, ``EDQUOT``, ``EFBIG``, ``EIO``,
``EROFS``) raised while writing names the destination (:func:`naming_path`); the temporary
file is removed before the error propagates, so the space is free for a retry.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_open", "naming_path", "owner_tag", "remove_orphans", "write_atomic", "writer_alive"]

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
# ".<anything>.accel-<host>-<pid>-<random hex>[<suffix>]", suffix like ".tmp" or ".part"
_ORPHAN = re.compile(r"^\..+\.accel-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]{8}(?:\.\w+)?$")
_SUFFIX = re.compile(r"^(?:\.\w+)?$")


# errors of the storage being written (not of a network or of the producer's own input)
_STORAGE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "EROFS") if hasattr(errno, name)
)


def naming_path(error: OSError, path: str | os.PathLike[str]) -> OSError:
    """``error``, or where it is a storage error (full disk, quota, I/O) that names no file
    (those of ``write``/``flush``/``fsync`` never do), the same error naming ``path``:
    ``[Errno 28] No space left on device: '<path>'``. Raise the result ``from error``."""
    if error.filename is not None or error.errno not in _STORAGE_ERRNOS:
        return error
    return OSError(error.errno, error.strerror or os.strerror(error.errno), os.fspath(path))


def owner_tag() -> str:
    """``'accel-<host>-<pid>-<random>'``: put it after a ``'.'`` in a temporary name
    (``.<name>.<tag>[.suffix]``) so that :func:`remove_orphans` can tell whether its writer
    is alive."""
    return f"accel-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def writer_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host may still be writing (unsure counts as yes)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's) or cannot tell: keep the file
    return True


def remove_orphans(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove temporary files and folders in ``folder`` left by dead writers of this host.

    Only names made with :func:`owner_tag` are considered; returns what was removed.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _ORPHAN.match(entry.name)
        if m is None or m["host"] != _HOST or writer_alive(int(m["pid"])):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # another process cleaned it first
        except OSError:
            continue  # not ours to remove (permissions): leave it
        removed.append(path)
    return removed


def _create_temporary(folder: Path, name: str, suffix: str) -> tuple[int, Path]:
    """A new file ``.<name>.<owner_tag><suffix>`` opened for writing, mode 0o666 & ~umask."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = folder / f".{name}.{owner_tag()}{suffix}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], *, suffix: str = ".tmp", durable: bool = True
) -> Iterator[BinaryIO]:
    """A binary file open for writing that replaces ``path`` only if the block completes.

    Creates missing parent folders. With ``durable=True`` the data and the rename are
    flushed to disk (``fsync`` of the file and of its folder) before returning. The file
    gets mode ``0o666 & ~umask``; leftovers of dead writers in the folder are removed first
    (see the module doc). ``suffix``: ``''`` or a dot and word characters (``'.part'``).
    """
    path = Path(path)
    if not isinstance(suffix, str) or not _SUFFIX.match(suffix):
        raise ValueError(f"suffix must be '' or a dot followed by letters, digits or _, got {suffix!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(path.parent)
    fd, tmp = _create_temporary(path.parent, path.name, suffix)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and (named := naming_path(e, path)) is not e:
            raise named from e
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
