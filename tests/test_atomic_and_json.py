"""The shared atomic writer and JSON conversion used by every file the project writes."""

from __future__ import annotations

import doctest
import errno
import json
import math
import os
import re
import signal
import stat
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from accel import _atomic
from accel._atomic import atomic_open, write_atomic
from accel._report import dump_json, jsonable


def test_write_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    write_atomic(target, "old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.txt"]


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_writer_leaves_old_file_and_no_temporary(tmp_path, exc):
    target = tmp_path / "f.bin"
    write_atomic(target, b"complete")
    with pytest.raises(type(exc)), atomic_open(target, suffix=".part") as fh:
        fh.write(b"partial")
        raise exc
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_jsonable_arrays_scalars_and_non_finite():
    value = {
        "a": np.arange(3, dtype=np.int64),
        "b": jnp.asarray([1.5, 2.5]),
        "c": np.float32(0.25),
        "d": (np.inf, -np.inf, float("nan"), 1.0),
        "e": np.array([[1.0, np.nan]]),
        3: "int key",
    }
    out = jsonable(value)
    assert out == {
        "a": [0, 1, 2],
        "b": [1.5, 2.5],
        "c": 0.25,
        "d": [None, None, None, 1.0],
        "e": [[1.0, None]],
        "3": "int key",
    }
    text = dump_json(value)
    assert json.loads(text) == out
    assert not any(math.isnan(v) for v in out["b"])


def test_docstring_example_runs():
    assert doctest.testmod(_atomic).failed == 0


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002], ids=["022", "027", "002"])
def test_written_files_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_atomic(tmp_path / f"f{umask:o}.json", "{}")
        with atomic_open(tmp_path / "g.bin", suffix=".part") as fh:
            fh.write(b"x")
    finally:
        os.umask(old)
    for p in (path, tmp_path / "g.bin"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask, oct(p.stat().st_mode)


def test_suffix_must_be_a_dot_and_word_characters(tmp_path):
    with pytest.raises(ValueError, match="suffix must be"), atomic_open(tmp_path / "f", suffix="/../x"):
        pass


_HOLD_A_TEMPORARY = """
import sys, time
from accel._atomic import atomic_open
with atomic_open(sys.argv[1]) as fh:
    fh.write(b"partial " * 1000)
    fh.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


def _start_writer(target):
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_TEMPORARY, str(target)], stdout=subprocess.PIPE
    )
    assert child.stdout.readline() == b"writing\n"
    return child


def test_sigkilled_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    """A writer killed with SIGKILL cannot clean up; the next write in the folder removes its
    temporary file, but never one whose writer is alive or on another host."""
    target = tmp_path / "result.json"
    write_atomic(target, "old")
    live = _start_writer(tmp_path / "other.json")
    killed = _start_writer(target)
    try:
        tmps = {c.pid: [p for p in tmp_path.iterdir() if f"-{c.pid}-" in p.name] for c in (live, killed)}
        assert all(len(v) == 1 for v in tmps.values()), sorted(p.name for p in tmp_path.iterdir())
        foreign = tmp_path / f".x.json.accel-{'0' * 8}-{killed.pid}-{'1' * 8}.tmp"  # another host
        foreign.write_bytes(b"not ours")
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=30) == -signal.SIGKILL
        assert tmps[killed.pid][0].exists()  # nothing could remove it
        assert target.read_text() == "old"
        write_atomic(tmp_path / "unrelated.txt", "new")  # any atomic write in the folder
        assert not tmps[killed.pid][0].exists()
        assert tmps[live.pid][0].exists() and foreign.exists()
        assert target.read_text() == "old"
    finally:
        for child in (live, killed):
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdout.close()
    assert _atomic.remove_orphans(tmp_path) == tmps[live.pid]  # its writer is gone now


def test_a_full_disk_names_the_destination_and_leaves_no_temporary(tmp_path, monkeypatch):
    """ENOSPC from write/fsync names no file: the error named nothing the user could act on."""
    target = tmp_path / "out" / "f.bin"
    write_atomic(target, b"old")
    real_fsync = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match=re.escape(f"No space left on device: '{target}'")) as err:
        write_atomic(target, b"new")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert os.listdir(target.parent) == ["f.bin"] and target.read_bytes() == b"old"
    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: the retry succeeds
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(target.parent) == ["f.bin"]


def test_errors_that_name_a_file_or_are_not_storage_errors_pass_unchanged(tmp_path):
    for exc in (
        FileNotFoundError(errno.ENOENT, "No such file or directory", "input.csv"),
        ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    ):
        with pytest.raises(type(exc)) as err, atomic_open(tmp_path / "f.bin"):
            raise exc
        assert err.value is exc
