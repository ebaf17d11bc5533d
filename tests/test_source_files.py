"""Source files read with pread and checked for change (accel.data._files; issue 25.4).

Truncating a memory-mapped source file during a streamed fit used to kill the process with
SIGBUS and no message; rewriting it in place trained on mixed data. A changed or shrunk
file must stop the fit with an error naming the file. A SIGBUS would kill pytest, so every
run that changes a file mid-fit runs in a subprocess with a timeout, and the test asserts
it exited with the error (status 1), not a signal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel.data import ArraySource, NpyShards, _files
from accel.data._files import FileRows

WORKER = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from accel import JAXOptimizer, ParallelTrainer
    from accel.data import NpyShards, WrappedSource, as_source

    mode, folder = sys.argv[1], sys.argv[2]
    X = np.random.default_rng(0).normal(size=(4096, 8)).astype(np.float32)
    y = X.sum(axis=1)
    xp, yp = os.path.join(folder, "X.npy"), os.path.join(folder, "y.npy")
    np.save(xp, X)
    np.save(yp, y)
    if mode.startswith("shards"):  # two shards per column; the second one changes
        for i in range(2):
            np.save(os.path.join(folder, f"X-{i}.npy"), X[i * 2048 : (i + 1) * 2048])
            np.save(os.path.join(folder, f"y-{i}.npy"), y[i * 2048 : (i + 1) * 2048])
        source = NpyShards({"X": os.path.join(folder, "X-*.npy"), "y": os.path.join(folder, "y-*.npy")})
        xp, X = os.path.join(folder, "X-1.npy"), X[2048:]
    else:
        source = as_source(xp, yp)
    time.sleep(0.05)  # past the file system clock's tick: a later write changes the mtime

    def change():
        if mode.endswith("truncate"):
            os.truncate(xp, 1000)
        elif mode.endswith("rewrite"):  # in place: the same inode and size, new rows
            with open(xp, "r+b") as f:
                f.seek(-X.nbytes, os.SEEK_END)
                f.write((X + 1).tobytes())

    class Hook(WrappedSource):  # changes the file after the first block of steps was read
        reads = 0

        def read(self, rows):
            type(self).reads += 1
            if type(self).reads == 3:
                change()
            return self.source.read(rows)

    est = ParallelTrainer(n_devices=2, epochs=20, batch_size=64) if "parallel" in mode else \\
        JAXOptimizer(epochs=20, batch_size=64)
    est.fit(Hook(source))
    print("FIT ENDED", est.history_["loss"][-1])
    """
)


def _run(tmp_path, mode):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    try:
        return subprocess.run(
            [sys.executable, str(script), mode, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=os.getcwd(),
        )
    except subprocess.TimeoutExpired as err:  # a hang is a failure too, with what it printed
        pytest.fail(f"{mode}: no exit in 240 s; stderr: {err.stderr}")


@pytest.mark.parametrize(
    "mode, shard, match",
    [
        (
            "truncate",
            "X.npy",
            r"changed size from 131200 to 1000 bytes \(truncated\) while it was read",
        ),
        ("rewrite", "X.npy", r"was modified \(its modification time changed"),
        ("parallel truncate", "X.npy", r"changed size from 131200 to 1000 bytes \(truncated\)"),
        ("shards rewrite", "X-1.npy", r"was modified"),
    ],
)
def test_a_source_file_changed_mid_fit_stops_it_with_an_error_naming_the_file(tmp_path, mode, shard, match):
    done = _run(tmp_path, mode)
    assert done.returncode == 1, f"{mode}: exit status {done.returncode} (negative: a signal)\n{done.stderr[-3000:]}"
    path = os.fspath(tmp_path / shard)
    message = [line for line in done.stderr.splitlines() if line.startswith("ValueError")]
    assert message, done.stderr[-3000:]
    assert f"ValueError: {path!r} (column 'X') " in message[-1]
    assert re.search(match, message[-1]), message[-1]
    assert "FIT ENDED" not in done.stdout


# -- a change during a read: pread turns a truncation into a short read ----------------------
RACE = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    from accel.data import _files

    mode, path = sys.argv[1], sys.argv[2]
    X = np.arange(4096 * 8, dtype=np.float32).reshape(4096, 8)
    np.save(path, X)
    rows = _files.FileRows.npy(path, "X")
    time.sleep(0.05)
    calls = []

    def change_at_second_call(real):  # the file changes after the read has begun
        def read(fd, what, offset):
            calls.append(offset)
            if len(calls) == 2:
                if mode == "truncate":
                    os.truncate(path, 4096)
                else:
                    with open(path, "r+b") as f:
                        f.seek(-X.nbytes, os.SEEK_END)
                        f.write((X + 1).tobytes())
            return real(fd, what, offset)
        return read

    os.preadv, os.pread = change_at_second_call(os.preadv), change_at_second_call(os.pread)
    try:
        apart = 2 * _files.GAP_BYTES // 32  # rows of 32 bytes, twice the merge gap apart: one pread each
        rows.take(np.arange(0, 4096, apart))
    except ValueError as err:
        print("REFUSED", err)
    """
)


@pytest.mark.parametrize(
    "mode, match",
    [
        ("truncate", r"changed size from 131200 to 4096 bytes \(truncated\) while it was read"),
        ("rewrite", r"was modified"),
    ],
)
def test_a_file_changed_during_a_read_is_refused_not_a_signal(tmp_path, mode, match):
    script = tmp_path / "race.py"
    script.write_text(RACE)
    path = tmp_path / "X.npy"
    done = subprocess.run(
        [sys.executable, str(script), mode, str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"exit status {done.returncode} (negative: a signal)\n{done.stderr[-3000:]}"
    assert done.stdout.startswith(f"REFUSED {os.fspath(path)!r} (column 'X') "), done.stdout
    assert re.search(match, done.stdout), done.stdout


def test_a_removed_or_replaced_file_is_refused(tmp_path):
    X = np.arange(40.0).reshape(10, 4)
    np.save(tmp_path / "X.npy", X)
    rows = FileRows.npy(tmp_path / "X.npy", "X")
    np.testing.assert_array_equal(rows.take([3, 1]), X[[3, 1]])
    os.replace(tmp_path / "X.npy", tmp_path / "old.npy")
    with pytest.raises(ValueError, match=r"X\.npy' \(column 'X'\) was removed while it was read for training"):
        rows.take([0])
    np.save(tmp_path / "X.npy", X)  # the same rows, another file
    with pytest.raises(ValueError, match=r"X\.npy' \(column 'X'\) was replaced by another file"):
        rows.take([0])


# -- reading rows from files: every layout a .npy file or a memory map can have ---------------
@pytest.mark.parametrize("order", ["C", "F"])
def test_file_rows_read_any_rows_of_any_view_like_the_array(tmp_path, order):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(50, 4, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", np.asarray(A, order=order))
    rows = rng.integers(0, 50, 40)
    np.testing.assert_array_equal(FileRows.npy(tmp_path / "a.npy", "a").take(rows), A[rows])
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")
    views = [mm, mm[5:40], mm[::3], mm[::-1], mm[:, 1:3], mm[:, ::-1, 1], mm[10:0:-2, 2]]
    for view in views:
        src = ArraySource({"a": view})
        assert isinstance(src._arrays["a"], FileRows)  # read from the file, not the map
        r = rng.integers(0, len(view), 30)
        np.testing.assert_array_equal(src.read(r)["a"], np.asarray(view)[r])
        np.testing.assert_array_equal(src.read(np.arange(len(view)))["a"], np.asarray(view))


def test_shards_read_from_files_not_maps(tmp_path):
    for i in range(2):
        np.save(tmp_path / f"a-{i}.npy", np.full((3, 2), i, np.int16))
    src = NpyShards({"a": str(tmp_path / "a-*.npy")})
    assert all(isinstance(p, FileRows) for p in src._shards["a"])
    np.testing.assert_array_equal(src.read(np.array([4, 0]))["a"], [[1, 1], [0, 0]])
    assert src.locate("a", 4) == f"row 1 of {os.fspath(tmp_path / 'a-1.npy')!r}"


def test_an_empty_short_or_overlong_npy_file_is_refused_naming_it(tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    with pytest.raises(ValueError, match=r"column 'X': '.*empty\.npy' is empty \(0 bytes\), not a \.npy file"):
        NpyShards({"X": str(tmp_path / "empty.npy")})
    np.save(tmp_path / "long.npy", np.zeros((10, 3), np.float32))
    data = (tmp_path / "long.npy").read_bytes()
    header = data[: len(data) - 120]
    # the same file, its header rewritten to declare 4 of its 10 rows (padding keeps its length)
    (tmp_path / "long.npy").write_bytes(header.replace(b"(10, 3)", b"(4, 3) ") + data[len(header):])
    with pytest.raises(ValueError, match=r"'.*long\.npy' holds 120 bytes of data, its header declares 4 rows of "
                                         r"float32\[3\] \(48 bytes\): the header describes only part of the file"):
        NpyShards({"X": str(tmp_path / "long.npy")})
    np.save(tmp_path / "short.npy", np.zeros((10, 3), np.float32))
    os.truncate(tmp_path / "short.npy", os.path.getsize(tmp_path / "short.npy") - 12)
    with pytest.raises(ValueError, match=r"'.*short\.npy' holds 108 bytes of data, .*: a truncated file"):
        NpyShards({"X": str(tmp_path / "short.npy")})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shape=st.tuples(st.integers(1, 40), st.integers(1, 5), st.integers(1, 3)),
    dtype=st.sampled_from(["float32", "float64", "int8", "uint16", "bool"]),
    order=st.sampled_from(["C", "F"]),
    gap=st.sampled_from([0, 8, 64, 4096, _files.GAP_BYTES]),
    scratch=st.sampled_from([1, 16, 200, 4096, _files.SCRATCH_BYTES]),
    data=st.data(),
)
def test_file_rows_take_equals_indexing_the_array(tmp_path, monkeypatch, shape, dtype, order, gap, scratch,
                                                  data):
    """Any rows (any order, repeats, far apart or adjacent) of any layout read what NumPy's
    indexing gives, whatever the merge gap and the scratch size (runs cut into pieces,
    pieces packed in windows of the scratch buffer)."""
    monkeypatch.setattr(_files, "GAP_BYTES", gap)
    monkeypatch.setattr(_files, "SCRATCH_BYTES", scratch)
    A = np.asarray(np.arange(np.prod(shape)).reshape(shape) % 7 * 3 - 5, dtype=dtype, order=order)
    path = tmp_path / f"h-{order}-{dtype}.npy"
    np.save(path, A)
    rows = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), max_size=60)), np.int64)
    np.testing.assert_array_equal(FileRows.npy(path, "h").take(rows), A[rows])
    mm = np.load(path, mmap_mode="r")
    step = data.draw(st.sampled_from([1, 2, -1, -3]))
    view = mm[::step]
    got = ArraySource({"h": view}).read(rows % len(view))["h"]
    np.testing.assert_array_equal(got, np.asarray(view)[rows % len(view)])
