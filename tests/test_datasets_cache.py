"""Data folders, verified downloads and the offline error (no network: the opener is faked)."""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import urllib.error
from pathlib import Path

import pytest

from benchmarks.datasets import DataUnavailableError, _cache
from benchmarks.datasets._cache import RemoteFile, ensure_files, resolve_data_dir


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


A, B = b"alpha" * 1000, b"bravo" * 3
FILES = (
    RemoteFile("a.bin", ("https://m1.invalid/a.bin", "https://m2.invalid/a.bin"), _sha(A)),
    RemoteFile("b.bin", ("https://m1.invalid/b.bin", "https://m2.invalid/b.bin"), _sha(B)),
)


class FakeNet:
    """Stands in for ``_cache._open_url``: serves bytes or raises, per URL; records calls."""

    def __init__(self, routes: dict[str, bytes | BaseException]):
        self.routes = routes
        self.calls: list[str] = []

    def __call__(self, url: str, timeout: float):
        self.calls.append(url)
        assert timeout == _cache.DOWNLOAD_TIMEOUT_S
        result = self.routes.get(url, urllib.error.URLError("no route (offline)"))
        if isinstance(result, BaseException):
            raise result
        return io.BytesIO(result)


@pytest.fixture
def net(monkeypatch):
    def install(routes):
        fake = FakeNet(routes)
        monkeypatch.setattr(_cache, "_open_url", fake)
        return fake

    return install


@pytest.fixture(autouse=True)
def _no_real_network(monkeypatch):
    def refuse(url, timeout):
        raise AssertionError(f"test tried the real network: {url}")

    monkeypatch.setattr(_cache, "_open_url", refuse)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_download_verifies_and_renames_then_reuses(tmp_path, net):
    fake = net({"https://m1.invalid/a.bin": A, "https://m1.invalid/b.bin": B})
    target = tmp_path / "new" / "deep"
    paths = ensure_files("Toy", FILES, target, download=True, subdir="toy")
    assert paths["a.bin"].read_bytes() == A and paths["b.bin"].read_bytes() == B
    assert _tree(tmp_path) == ["new", "new/deep", "new/deep/a.bin", "new/deep/b.bin"]
    assert len(fake.calls) == 2
    ensure_files("Toy", FILES, target, download=True, subdir="toy")
    assert len(fake.calls) == 2  # present files are not fetched again


def test_falls_back_to_the_next_mirror(tmp_path, net):
    not_found = urllib.error.HTTPError("https://m1.invalid/a.bin", 404, "Not Found", None, None)
    fake = net(
        {
            "https://m1.invalid/a.bin": not_found,
            "https://m2.invalid/a.bin": A,
            "https://m1.invalid/b.bin": B,
        }
    )
    ensure_files("Toy", FILES, tmp_path, download=True, subdir="toy")
    assert fake.calls == [
        "https://m1.invalid/a.bin",
        "https://m2.invalid/a.bin",
        "https://m1.invalid/b.bin",
    ]
    assert (tmp_path / "a.bin").read_bytes() == A


def test_offline_one_error_naming_files_and_folder_and_nothing_left(tmp_path, net, monkeypatch):
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path / "data"))
    fake = net({})
    target = resolve_data_dir(None, "toy")
    with pytest.raises(DataUnavailableError, match="Toy: 2 file") as info:
        ensure_files("Toy", FILES, target, download=True, subdir="toy")
    message = str(info.value)
    for expected in (
        "a.bin",
        "b.bin",
        str(target),
        "ACCEL_DATA_DIR",
        "$ACCEL_DATA_DIR/toy",
        "data_dir=",
        FILES[0].sha256,
        "https://m1.invalid/a.bin",
        "no route",
    ):
        assert expected in message, expected
    assert isinstance(info.value, FileNotFoundError)
    assert _tree(tmp_path) == []  # no empty folder, no partial file
    # Offline is detected once: the second file is not attempted after both mirrors failed.
    assert fake.calls == ["https://m1.invalid/a.bin", "https://m2.invalid/a.bin"]
    assert "not attempted, the network is unreachable" in message


def test_download_false_never_touches_the_network(tmp_path):
    with pytest.raises(DataUnavailableError, match=r"download=False") as info:
        ensure_files("Toy", FILES, tmp_path / "x", download=False, subdir="toy")
    assert "a.bin" in str(info.value) and "b.bin" in str(info.value)
    assert not (tmp_path / "x").exists()


def test_checksum_mismatch_leaves_nothing(tmp_path, net):
    net({"https://m1.invalid/a.bin": b"tampered", "https://m2.invalid/a.bin": b"tampered"})
    with pytest.raises(DataUnavailableError, match="SHA-256 .* != expected " + FILES[0].sha256):
        ensure_files("Toy", FILES[:1], tmp_path / "d", download=True, subdir="toy")
    assert _tree(tmp_path) == []


class _Interrupted(io.BytesIO):
    def __init__(self, data: bytes, error: BaseException):
        super().__init__(data)
        self.error = error

    def read(self, size=-1):
        if self.tell() >= 100:
            raise self.error
        return super().read(min(size, 100))


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError("connection reset mid-download"),
        http.client.IncompleteRead(b"x" * 100, 4900),
        TimeoutError("timed out"),
    ],
)
def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch, error):
    monkeypatch.setattr(_cache, "_open_url", lambda url, timeout: _Interrupted(A, error))
    with pytest.raises(DataUnavailableError, match=type(error).__name__):
        ensure_files("Toy", FILES[:1], tmp_path / "d", download=True, subdir="toy")
    assert _tree(tmp_path) == []


def test_interrupt_by_keyboard_still_cleans_up(tmp_path, monkeypatch):
    def interrupted(url, timeout):
        raise KeyboardInterrupt

    monkeypatch.setattr(_cache, "_open_url", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_files("Toy", FILES[:1], tmp_path / "d", download=True, subdir="toy")
    assert _tree(tmp_path) == []


def test_partial_success_keeps_verified_files_and_names_only_the_missing(tmp_path, net):
    bad = urllib.error.HTTPError("u", 500, "Server Error", None, None)
    net(
        {
            "https://m1.invalid/a.bin": A,
            "https://m1.invalid/b.bin": bad,
            "https://m2.invalid/b.bin": bad,
        }
    )
    with pytest.raises(DataUnavailableError, match="Toy: 1 file") as info:
        ensure_files("Toy", FILES, tmp_path / "d", download=True, subdir="toy")
    assert "b.bin" in str(info.value) and "a.bin" not in str(info.value)
    assert _tree(tmp_path) == ["d", "d/a.bin"]
    assert (tmp_path / "d" / "a.bin").read_bytes() == A
    # A later call only fetches what is still missing.
    fake = net({"https://m1.invalid/b.bin": B})
    ensure_files("Toy", FILES, tmp_path / "d", download=True, subdir="toy")
    assert fake.calls == ["https://m1.invalid/b.bin"]


def test_existing_folder_is_kept_when_download_fails(tmp_path, net):
    net({})
    with pytest.raises(DataUnavailableError):
        ensure_files("Toy", FILES, tmp_path, download=True, subdir="toy")
    assert tmp_path.is_dir()


def test_unwritable_folder_gives_the_same_single_error(tmp_path, net):
    (tmp_path / "file").write_text("not a folder")
    net({})
    with pytest.raises(DataUnavailableError, match="cannot create the folder"):
        ensure_files("Toy", FILES, tmp_path / "file" / "sub", download=True, subdir="toy")


def test_resolve_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("ACCEL_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(_cache.sys, "platform", "linux")
    assert resolve_data_dir(None, "mnist") == tmp_path / "cache" / "accel" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir(None, "mnist") == tmp_path / "home" / ".cache" / "accel" / "mnist"
    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(None, "mnist") == tmp_path / "env" / "mnist"
    assert resolve_data_dir(tmp_path / "given", "mnist") == tmp_path / "given"
    assert resolve_data_dir(os.fspath(tmp_path / "given"), "mnist") == tmp_path / "given"


@pytest.mark.parametrize(
    ("data_dir", "exc", "match"),
    [
        (3, TypeError, "data_dir must be a path"),
        ("", ValueError, "data_dir must be a non-empty path"),
    ],
)
def test_bad_data_dir(data_dir, exc, match):
    with pytest.raises(exc, match=match):
        resolve_data_dir(data_dir, "mnist")
