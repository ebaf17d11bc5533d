"""Where data files live, verified downloads, and the one error raised when files are missing.

Every loader that reads files goes through :func:`resolve_data_dir` and :func:`ensure_files`:

1. Folder: ``data_dir`` if given, else ``$ACCEL_DATA_DIR/<subdir>``, else
   ``<user cache dir>/accel/<subdir>`` (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux,
   ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows).
2. Files already in the folder are used as they are (the parsers validate their content).
3. A missing file is downloaded (``urllib``, :data:`DOWNLOAD_TIMEOUT_S` seconds per socket
   operation, mirrors tried in order) into a temporary file in the same folder, its SHA-256
   is checked against the digest recorded in the code, and only then is it renamed into
   place (``os.replace``, atomic). A failed or interrupted download removes its temporary
   file, and folders created by the call are removed again if they stayed empty, so a
   failure never leaves a partial file or an empty folder behind.
4. If files are still missing (``download=False``, no network, bad checksum), ONE
   :class:`DataUnavailableError` names every missing file, its URL and digest, the reason,
   and the folder to put it in.

Example:
    >>> import tempfile
    >>> f = RemoteFile("x.bin", ("https://example.invalid/x.bin",), "0" * 64)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     try:
    ...         ensure_files("Example", (f,), Path(d) / "sub", download=False, subdir="sub")
    ...     except DataUnavailableError as e:
    ...         print("x.bin" in str(e), (Path(d) / "sub").exists())
    True False
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from accel.internals import atomic_open

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "ENV_VAR",
    "DataUnavailableError",
    "RemoteFile",
    "ensure_files",
    "resolve_data_dir",
    "user_cache_dir",
]

ENV_VAR = "ACCEL_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 10.0
_CHUNK = 1 << 16


class DataUnavailableError(FileNotFoundError):
    """A data set's files are not on disk and could not be downloaded."""


class _ChecksumMismatch(ValueError):
    pass


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its name on disk, download mirrors and SHA-256 digest."""

    name: str
    urls: tuple[str, ...]
    sha256: str


def user_cache_dir() -> Path:
    """The per-user cache folder of this package (not created here)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "accel" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "accel"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "accel"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None, subdir: str) -> Path:
    """``data_dir``, else ``$ACCEL_DATA_DIR/<subdir>``, else ``user_cache_dir()/<subdir>``."""
    if data_dir is not None:
        if not isinstance(data_dir, str | os.PathLike):
            raise TypeError(
                f"data_dir must be a path (str or os.PathLike) or None, got {type(data_dir).__name__}"
            )
        if os.fspath(data_dir) == "":
            raise ValueError("data_dir must be a non-empty path or None")
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR, "")
    if env:
        return Path(env).expanduser() / subdir
    return user_cache_dir() / subdir


def _open_url(url: str, timeout: float) -> BinaryIO:
    """The only network access of this package (tests replace it)."""
    request = urllib.request.Request(url, headers={"User-Agent": "accel-datasets"})
    return urllib.request.urlopen(request, timeout=timeout)


def _download(url: str, dest: Path, sha256: str) -> None:
    """Fetch ``url`` to ``dest`` through a verified temporary file; nothing partial remains."""
    with atomic_open(dest, suffix=".part") as out, _open_url(url, DOWNLOAD_TIMEOUT_S) as response:
        digest = hashlib.sha256()
        while chunk := response.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        if digest.hexdigest() != sha256:  # raising here discards the temporary file
            raise _ChecksumMismatch(f"SHA-256 {digest.hexdigest()} != expected {sha256}")


def _make_dirs(directory: Path) -> list[Path]:
    """Create ``directory`` and missing parents; return the ones created, deepest last."""
    missing = []
    path = directory
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    created = []
    for path in reversed(missing):
        path.mkdir()
        created.append(path)
    return created


def _remove_empty(created: list[Path]) -> None:
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:  # not empty (a verified file landed there) or already gone: keep it
            break


def _is_network_down(error: BaseException) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return False
    return isinstance(error, urllib.error.URLError | TimeoutError | ConnectionError)


def ensure_files(
    dataset: str,
    files: Sequence[RemoteFile],
    directory: Path,
    download: bool,
    *,
    subdir: str,
    hint: str = "",
) -> dict[str, Path]:
    """Paths of ``files`` in ``directory``, downloading the missing ones if ``download``.

    Raises :class:`DataUnavailableError` (one error for all files) when any file is still
    missing afterwards; the message names ``$ACCEL_DATA_DIR/<subdir>`` as one place to put
    them. ``hint`` is appended to the message (e.g. an alternative file layout).
    """
    paths = {f.name: directory / f.name for f in files}
    missing = [f for f in files if not paths[f.name].is_file()]
    if not missing:
        return paths
    if not download:
        _raise_missing(dataset, missing, directory, subdir, {}, "download=False", hint)
    reasons: dict[str, str] = {}
    last_error: BaseException | None = None
    created: list[Path] = []
    try:
        try:
            created = _make_dirs(directory)
        except OSError as error:
            _raise_missing(
                dataset,
                missing,
                directory,
                subdir,
                {},
                f"cannot create the folder: {error}",
                hint,
                error,
            )
        network_down = False
        for remote in missing:
            if network_down:
                reasons[remote.name] = "not attempted, the network is unreachable"
                continue
            errors: list[str] = []
            down = []
            for url in remote.urls:
                try:
                    _download(url, paths[remote.name], remote.sha256)
                    break
                except (OSError, http.client.HTTPException, _ChecksumMismatch) as error:
                    last_error = error
                    errors.append(f"{url}: {type(error).__name__}: {error}")
                    down.append(_is_network_down(error))
            else:
                reasons[remote.name] = "; ".join(errors)
                network_down = all(down)
    finally:
        _remove_empty(created)
    still_missing = [f for f in missing if not paths[f.name].is_file()]
    if still_missing:
        _raise_missing(
            dataset, still_missing, directory, subdir, reasons, "download failed", hint, last_error
        )
    return paths


def _raise_missing(
    dataset: str,
    missing: Sequence[RemoteFile],
    directory: Path,
    subdir: str,
    reasons: dict[str, str],
    why: str,
    hint: str,
    cause: BaseException | None = None,
) -> None:
    lines = [f"{dataset}: {len(missing)} file(s) missing from {directory} ({why}):"]
    for f in missing:
        lines.append(f"  {f.name}  from {f.urls[0]}  (sha256 {f.sha256})")
        if f.name in reasons:
            lines.append(f"    reason: {reasons[f.name]}")
    lines.append(
        f"Put the file(s) in {directory}, or pass data_dir=<folder holding them>, or set "
        f"{ENV_VAR} (the files then go in ${ENV_VAR}/{subdir})."
    )
    if hint:
        lines.append(hint)
    raise DataUnavailableError("\n".join(lines)) from cause
