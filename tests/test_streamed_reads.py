"""How a streamed run reads its rows (issue 27 item 3): a block of steps at a time, nearby rows
of a file read together through a bounded scratch buffer, on reader threads reused by every
stream; and the history's step times count the device's work.

The speed and memory these buy are measured by ``benchmarks/bench_streaming.py``
(BENCHMARKS.md); these tests check the behaviour that gives them, with counts, not clocks.
"""

from __future__ import annotations

import os
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from accel import ParallelTrainer, _orders, _plan
from accel.data import ArraySource, StepLoader, WrappedSource, _ahead, _files
from accel.data._files import FileRows


# -- FileRows: runs of nearby rows through a bounded scratch buffer ----------------------------
# (any rows through any merge gap and scratch size: tests/test_source_files.py)
def test_a_dense_read_never_holds_more_than_the_scratch_buffer(tmp_path, monkeypatch):
    """Rows that lie close together are read in runs (gaps included) but never more than
    ``SCRATCH_BYTES`` per system call: a block whose rows span the whole file is read a
    window at a time, not the file at once."""
    A = np.random.default_rng(0).normal(size=(20000, 16)).astype(np.float32)  # 64-byte rows
    np.save(tmp_path / "a.npy", A)
    monkeypatch.setattr(_files, "SCRATCH_BYTES", 64 << 10)
    sizes: list[int] = []
    preadv = os.preadv

    def counted(fd, buffers, at):
        sizes.append(sum(len(b) for b in buffers))
        return preadv(fd, buffers, at)

    monkeypatch.setattr(os, "preadv", counted)
    rows = np.random.default_rng(1).permutation(20000)[:8000]  # 40% of the rows
    np.testing.assert_array_equal(FileRows.npy(tmp_path / "a.npy", "a").take(rows), A[rows])
    assert max(sizes) <= (64 << 10) // 2  # a piece spans at most half the scratch
    assert len(sizes) < len(rows) / 10  # runs: far fewer reads than rows
    assert sum(sizes) < A.nbytes  # the rows and the gaps between them, not the whole file


# -- the loader: a block of steps per read, pieces where a call ends inside a block -------------
def _expected_ids(lay, seed, g, devices):
    S = lay.steps_per_epoch
    order = _orders.epoch_permutation(seed, g // S, lay.n_global)
    return _plan.step_ids(order, g % S, lay, xp=np)[devices]


class _Counted(WrappedSource):
    def __init__(self, source):
        super().__init__(source)
        self.reads: list[int] = []
        self.threads: set[int] = set()
        self.names: set[str] = set()

    def read(self, rows):
        self.reads.append(len(rows))
        self.threads.add(threading.get_ident())
        self.names.add(threading.current_thread().name)
        return super().read(rows)


@pytest.mark.parametrize("ends", [[5, 10, 15], [1, 2, 3, 9, 15], [7, 8, 15]])
def test_blocks_read_once_and_cut_where_calls_end_inside_them(ends):
    """The loader reads each block of ``block`` steps with one read of the source; a call
    that ends inside a block read ahead (a checkpoint period) gets that part of it, padded,
    and the next call the rest: every step's rows as the batch plan gives them."""
    n, batch, block = 120, 8, 4
    data = {"i": np.arange(n), "x": np.arange(2.0 * n).reshape(n, 2)}
    lay = _plan.Layout(n_rows=n, n_shards=1, group_devices=1, batch_size=batch, accum=1)
    S = lay.steps_per_epoch  # 15
    src = _Counted(ArraySource(data))
    loader = StepLoader(src, lay, seed=3, devices=[0], block=block, threads=2)
    g = 0
    for g1 in ends:
        for b in loader.blocks(g, g1, until=S):
            assert b.columns["i"].shape[0] == block and not b.valid[b.count :].any()
            for t in range(b.count):
                ids = _expected_ids(lay, 3, b.first + t, [0])
                np.testing.assert_array_equal(b.ids[t], ids)
                np.testing.assert_array_equal(b.columns["i"][t][ids >= 0], ids[ids >= 0])
                np.testing.assert_array_equal(b.columns["x"][t][ids >= 0], data["x"][ids[ids >= 0]])
            assert b.first == g
            g = b.first + b.count
        assert g == g1
    # one read per block (two threads: in any order)
    assert sorted(src.reads) == sorted([block * batch] * 3 + [(S - 3 * block) * batch])


# -- read-ahead on reused threads ---------------------------------------------------------------
def test_read_ahead_keeps_order_and_raises_a_failed_read_in_the_consumer():
    assert list(_ahead.read_ahead(lambda x: 2 * x, range(7), threads=3, depth=2)) == [
        0,
        2,
        4,
        6,
        8,
        10,
        12,
    ]

    def read(x):
        if x == 3:
            raise ValueError("row 3 is bad")
        return x

    got = []
    with pytest.raises(ValueError, match="row 3 is bad"):
        for v in _ahead.read_ahead(read, range(6), threads=2, depth=2):
            got.append(v)
    assert got == [0, 1, 2]


def test_read_ahead_runs_on_the_same_threads_for_every_stream():
    """Every stream (each fit, each evaluation) reads on the same few threads of the process,
    so the memory their reads freed is reused (module doc of ``accel.data._ahead``), and no
    read runs in the consumer's thread."""
    seen: list[set[int]] = []
    for _ in range(3):
        idents: set[int] = set()

        def read(x, idents=idents):
            idents.add(threading.get_ident())
            time.sleep(0.002)
            return x

        assert list(_ahead.read_ahead(read, range(8), threads=2, depth=2, role="test")) == list(
            range(8)
        )
        seen.append(idents)
    every = set().union(*seen)
    assert len(every) <= 2 and threading.get_ident() not in every
    consumer = set()
    list(
        _ahead.read_ahead(
            lambda x: consumer.add(threading.get_ident()), range(3), threads=2, depth=0
        )
    )
    assert consumer == {threading.get_ident()}  # no read-ahead: read when asked, in place


def test_a_consumer_that_stops_early_cancels_the_reads_not_started():
    """Items 0-3 are submitted to one reader thread; the consumer takes item 0 and stops
    while item 1 is being read (held on an event) or waits: items 2 and 3 never start."""
    started, go = [], threading.Event()

    def read(x):
        started.append(x)
        if x:
            go.wait(10)
        return x

    stream = _ahead.read_ahead(read, range(100), threads=1, depth=3, role="cancel")
    assert next(stream) == 0
    stream.close()
    go.set()
    _ahead._pool("cancel", 1).submit(lambda: None).result()  # the reader thread is idle now
    assert started in ([0], [0, 1])  # without the cancel: [0, 1, 2, 3]


def test_a_streamed_fit_reads_on_reused_threads():
    """Two streamed fits read their steps and evaluation chunks on the same few threads of
    the process (two for the steps, two for the chunks); the fit's own thread reads only the
    row that shapes the program."""
    X = np.random.default_rng(0).normal(size=(256, 3)).astype(np.float32)
    readers, names = set(), set()
    for _ in range(3):
        src = _Counted(ArraySource({"X": X, "y": X.sum(axis=1)}))
        ParallelTrainer(n_devices=1, epochs=2, batch_size=32).fit(src)
        readers |= src.threads - {threading.get_ident()}
        names |= src.names
    assert 1 <= len(readers) <= 4
    assert all(n.startswith(("accel-steps", "accel-chunks")) for n in names - {"MainThread"})


# -- step times count the device's work -------------------------------------------------------
def test_streamed_step_times_count_the_device_work_not_the_dispatch():
    """Each step of this ``loss_fn`` holds the device for at least 20 ms (a host callback that
    sleeps, inside the compiled step); dispatching returns at once, so step times that
    measured the dispatch would add up to almost nothing. They add up to at least the
    sleeps (a lower bound: no clock ratio is asserted)."""

    def slow(x):
        time.sleep(0.02)
        return np.float32(0.0)

    def loss_fn(params, batch):
        pause = jax.pure_callback(
            slow, jax.ShapeDtypeStruct((), jnp.float32), batch["x"].sum(), vmap_method="sequential"
        )
        return jnp.mean((batch["x"] @ params - batch["y"]) ** 2) + 0.0 * pause

    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    data = ArraySource({"x": X, "y": X.sum(axis=1)})
    pt = ParallelTrainer(n_devices=1, learning_rate=0.01)
    _, h = pt.train(
        loss_fn, np.zeros(3, np.float32), data, epochs=2, batch_size=16
    )  # 4 steps per epoch
    S = 4
    assert np.all(h["step_time"] * S >= S * 0.02)
    np.testing.assert_allclose(h["step_time"], h["data_wait_time"] + h["compute_time"], rtol=1e-9)


# -- finiteness: checked until every row of an unchanging file source was read once -------------
@pytest.mark.parametrize("where", ["files", "memory"])
def test_rows_of_files_are_checked_for_nan_until_all_were_read_once(tmp_path, monkeypatch, where):
    """A streamed fit checks each read for NaN and infinity. Rows of ``.npy`` files (checked
    for change on every read) found finite by the initial evaluation, which reads them all,
    are not checked again; arrays in memory, which the user may change, are checked at
    every read. A NaN is refused either way (``tests/test_source_checks.py``)."""
    from accel.data import _sources

    X = np.random.default_rng(0).normal(size=(512, 4)).astype(np.float32)
    y = X.sum(axis=1)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    checked = []
    real = _sources.array_is_finite
    monkeypatch.setattr(_sources, "array_is_finite", lambda a: checked.append(len(a)) or real(a))
    if where == "files":
        data = (str(tmp_path / "X.npy"), str(tmp_path / "y.npy"))
    else:
        data = (ArraySource({"X": X, "y": y}),)
    ParallelTrainer(n_devices=1, epochs=3, batch_size=64).fit(*data)
    rows = sum(checked) / 2  # two columns checked per read
    if where == "files":
        assert (
            rows == 64 + 512
        )  # the first step's (read to shape the program), the initial evaluation's
    else:
        assert rows == 64 + 512 * (4 + 3)  # and 4 evaluations and 3 epochs of steps


def test_closing_the_loader_stops_its_read_ahead():
    """At the end of a run the loader is closed: the reads not started are dropped (and the
    blocks read ahead let go at once), not left to the garbage collector."""
    lay = _plan.Layout(n_rows=320, n_shards=1, group_devices=1, batch_size=8, accum=1)  # 40 steps
    X = np.zeros((320, 2), np.float32)

    class Slow(_Counted):
        def read(self, rows):
            time.sleep(0.01)
            return super().read(rows)

    src = Slow(ArraySource({"X": X}))
    loader = StepLoader(src, lay, seed=0, devices=[0], block=1, threads=1, prefetch=4)
    assert next(loader.blocks(0, 1, until=40)).count == 1
    loader.close()
    _ahead._pool("steps", 1).submit(lambda: None).result()  # the reader thread is idle now
    assert len(src.reads) <= 3  # the block consumed, the one being read, at most one more
