"""Training from data sources (accel.data): sources, the input pipeline, streamed fits.

A streamed fit runs the resident program's steps on rows the input pipeline reads, so its
parameters equal those of the same fit on arrays (to float32 rounding, 1e-5 relative: two
differently compiled programs, never compared bitwise).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from _helpers import linear32, mlp_mse
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import JAXOptimizer, ParallelTrainer, _orders, _plan
from accel.data import (
    ArraySource,
    NpyShards,
    ParquetShards,
    RandomAccessSource,
    StepLoader,
    Throttled,
    WrappedSource,
    as_source,
    is_source_like,
)

N, D = 300, 5
FIT = dict(optimizer_type="adam", learning_rate=0.05, epochs=3, batch_size=32, random_state=3)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The data as .npy files, as 3 .npy shards per column, and as 2 Parquet files."""
    d = tmp_path_factory.mktemp("data")
    X, y = linear32(N, D)
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    cuts = [0, 100, 170, N]
    for i in range(3):
        np.save(d / f"Xs-{i}.npy", X[cuts[i] : cuts[i + 1]])
        np.save(d / f"ys-{i}.npy", y[cuts[i] : cuts[i + 1]])
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    for i, (a, b) in enumerate([(0, 120), (120, N)]):
        cols = {f"f{j}": X[a:b, j].astype(np.float64) for j in range(D)}
        pq.write_table(pa.table({**cols, "target": y[a:b]}), d / f"part-{i}.parquet", row_group_size=50)
    return d


def _sources(d):
    X, y = linear32(N, D)

    class Records:  # grain's RandomAccessDataSource protocol
        def __len__(self):
            return N

        def __getitem__(self, i):
            return X[i], y[i]

    return {
        "memmap paths": (str(d / "X.npy"), str(d / "y.npy")),
        "memmaps": (np.load(d / "X.npy", mmap_mode="r"), np.load(d / "y.npy", mmap_mode="r")),
        "npy shards": (NpyShards({"X": str(d / "Xs-*.npy"), "y": str(d / "ys-*.npy")}), None),
        "parquet": (ParquetShards(str(d / "part-*.parquet"), target="target",
                                  cache_dir=d / f"cache-{time.monotonic_ns()}"), None),
        "random access": (Records(), None),
    }


# -- sources --------------------------------------------------------------------------------
def test_every_source_reads_the_rows_of_the_arrays(files):
    X, y = linear32(N, D)
    rows = np.array([299, 0, 100, 99, 170, 169, 5, 5])
    for name, (a, b) in _sources(files).items():
        src = as_source(a, b)
        assert len(src) == N, name
        got = src.read(rows)
        np.testing.assert_array_equal(got["X"], X[rows], err_msg=name)
        np.testing.assert_array_equal(got["y"], y[rows], err_msg=name)
        assert is_source_like(a), name
    assert not is_source_like(X) and not is_source_like({"X": X}) and not is_source_like([1, 2])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=5), st.data())
def test_npy_shards_read_any_rows_like_the_concatenation(tmp_path_factory, sizes, data):
    d = tmp_path_factory.mktemp("shards")
    parts = [np.arange(k * 2, dtype=np.float64).reshape(k, 2) + 1000 * i for i, k in enumerate(sizes)]
    for i, p in enumerate(parts):
        np.save(d / f"a-{i:03d}.npy", p)
    whole = np.concatenate(parts)
    rows = np.asarray(data.draw(st.lists(st.integers(0, len(whole) - 1), max_size=30)), np.int64)
    got = NpyShards({"a": str(d / "a-*.npy")}).read(rows)["a"]
    np.testing.assert_array_equal(got, whole[rows])


def test_bad_sources_are_refused_naming_what_is_wrong(tmp_path):
    X, y = linear32(20, D)
    np.save(tmp_path / "X-0.npy", X)
    np.save(tmp_path / "X-1.npy", X[:, :3])
    np.save(tmp_path / "y-0.npy", y)
    np.save(tmp_path / "y-1.npy", y)
    with pytest.raises(ValueError, match=r"column 'X': shards with different feature counts"):
        NpyShards({"X": str(tmp_path / "X-*.npy"), "y": str(tmp_path / "y-*.npy")})
    with pytest.raises(ValueError, match=r"column 'X': no such file .*missing\.npy"):
        JAXOptimizer(batch_size=4).fit(str(tmp_path / "missing.npy"), str(tmp_path / "y-0.npy"))
    with pytest.raises(ValueError, match=r"column 'X': no file matches"):
        NpyShards({"X": str(tmp_path / "nothing-*.npy")})
    with pytest.raises(ValueError, match=r"same number of rows"):
        ArraySource({"X": X, "y": y[:5]})
    with pytest.raises(TypeError, match=r"column 'y' must be numeric"):
        ArraySource({"X": X, "y": np.array(["a"] * 20)})
    with pytest.raises(TypeError, match=r"needs __len__ and __getitem__"):
        RandomAccessSource(object())
    with pytest.raises(TypeError, match=r"source must be a data source \(accel.data\), got list"):
        Throttled([1, 2], 0.1)
    with pytest.raises(ValueError, match=r"seconds_per_read must be >= 0, got -1"):
        Throttled(ArraySource({"X": X}), -1)
    with pytest.raises(TypeError, match=r"seconds_per_read must be a real number, got bool"):
        Throttled(ArraySource({"X": X}), True)


def test_parquet_refuses_a_non_numeric_column_and_differing_features(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"a": [1.0, 2.0], "name": ["x", "y"], "y": [0.0, 1.0]}), tmp_path / "s.parquet")
    with pytest.raises(TypeError, match=r"parquet column 'name' .* must be numeric"):
        ParquetShards(str(tmp_path / "s.parquet"), cache_dir=tmp_path / "c1")
    pq.write_table(pa.table({"a": [1.0], "y": [0.0]}), tmp_path / "p-0.parquet")
    pq.write_table(pa.table({"a": [1.0], "b": [2.0], "y": [0.0]}), tmp_path / "p-1.parquet")
    with pytest.raises(ValueError, match=r"has features \['a', 'b'\], the first file has \['a'\]"):
        ParquetShards(str(tmp_path / "p-*.parquet"), cache_dir=tmp_path / "c2")
    with pytest.raises(ValueError, match=r"no target column 'label'"):
        ParquetShards(str(tmp_path / "p-0.parquet"), target="label", cache_dir=tmp_path / "c3")


def test_parquet_refuses_a_category_column_features_with_the_target_and_a_file_as_cache(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    cats = pa.array(["x", "y", "x"]).dictionary_encode()
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "c": cats, "y": [0.0, 1.0, 0.0]}), tmp_path / "d.parquet")
    with pytest.raises(TypeError, match=r"parquet column 'c' in .*d\.parquet' must be numeric .*got a dictionary"):
        ParquetShards(str(tmp_path / "d.parquet"), cache_dir=tmp_path / "c1")
    src = ParquetShards(str(tmp_path / "d.parquet"), features=["a"], cache_dir=tmp_path / "c2")  # without it
    assert src.read(np.array([2, 0]))["X"].tolist() == [[3.0], [1.0]]
    with pytest.raises(ValueError, match=r"features must not include the target column 'y'"):
        ParquetShards(str(tmp_path / "d.parquet"), features=["a", "y"], cache_dir=tmp_path / "c3")
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(ValueError, match=r"cache_dir must be a directory .*taken'"):
        ParquetShards(str(tmp_path / "d.parquet"), features=["a"], cache_dir=tmp_path / "taken")
    assert (tmp_path / "taken").read_text() == "a file"  # left as it was


def test_a_source_whose_length_or_records_change_during_training_is_refused():
    X, y = linear32(256, 4)

    class Shrinks:
        calls = 0

        def __len__(self):
            self.calls += 1
            return 256 if self.calls < 40 else 200

        def __getitem__(self, i):
            return {"X": X[i], "y": y[i]}

    with pytest.raises(ValueError, match=r"length changed from 256 to 200 during training"):
        JAXOptimizer(epochs=50, batch_size=32).fit(Shrinks())

    class Widens:
        reads = 0

        def __len__(self):
            return 256

        def __getitem__(self, i):
            self.reads += 1
            return {"X": X[i] if self.reads < 600 else X[i].astype(np.float64), "y": y[i]}

    with pytest.raises(ValueError, match=r"source\[\d+\]\['X'\] is float64\[4\], the first record's is float32\[4\]"):
        ParallelTrainer(n_devices=2, epochs=50, batch_size=32).fit(Widens())


# -- the input pipeline ---------------------------------------------------------------------
@pytest.mark.parametrize("n, batch, n_devices, accum", [(50, 8, 1, 1), (50, 7, 4, 2), (9, 16, 4, 1)])
def test_loader_reads_the_rows_the_plan_puts_on_each_device(n, batch, n_devices, accum):
    data = {"X": np.arange(n * 2, dtype=np.float32).reshape(n, 2), "i": np.arange(n)}
    lay = _plan.Layout(n_rows=n, n_shards=1, group_devices=n_devices, batch_size=batch, accum=accum)
    S = lay.steps_per_epoch
    mine = list(range(1, n_devices)) or [0]  # a process holding all devices but the first
    loader = StepLoader(ArraySource(data), lay, seed=11, devices=mine, block=3, threads=2)
    seen = []
    for epoch in range(2):
        order = _orders.epoch_permutation(11, epoch, n)
        for block in loader.blocks(epoch * S, (epoch + 1) * S):
            for t in range(block.count):
                ids = _plan.step_ids(order, block.first - epoch * S + t, lay, xp=np)[mine]
                np.testing.assert_array_equal(block.ids[t], ids)  # what augmentation keys on
                np.testing.assert_array_equal(block.valid[t], ids >= 0)
                np.testing.assert_array_equal(block.columns["i"][t][ids >= 0], ids[ids >= 0])
                np.testing.assert_array_equal(block.columns["X"][t][ids < 0], 0.0)
                seen.extend(ids[ids >= 0].tolist())
            assert not block.valid[block.count :].any()  # padding steps hold no rows
    if n_devices == 1:  # one device reads every row once per epoch
        assert sorted(seen) == sorted(list(range(n)) * 2)
    held = np.concatenate([c.columns["i"][c.valid] for c in loader.chunks(4)])
    want = np.concatenate([_plan.device_rows(d, lay, xp=np) for d in mine])
    np.testing.assert_array_equal(np.sort(held), np.sort(want[want >= 0]))


def test_loader_refuses_a_block_over_two_epochs():
    lay = _plan.Layout(n_rows=10, n_shards=1, group_devices=1, batch_size=4, accum=1)
    loader = StepLoader(ArraySource({"X": np.zeros((10, 1))}), lay, seed=0, devices=[0])
    with pytest.raises(ValueError, match=r"span two epochs"):
        next(loader.blocks(2, 4))


# -- streamed fits equal resident ones ------------------------------------------------------
@pytest.mark.parametrize("kind", ["memmap paths", "memmaps", "npy shards", "parquet", "random access"])
def test_jax_optimizer_on_a_source_equals_the_fit_on_arrays(files, kind):
    X, y = linear32(N, D)
    a, b = _sources(files)[kind]
    resident = JAXOptimizer(**FIT).fit(X, y)
    streamed = JAXOptimizer(**FIT).fit(a, b)
    np.testing.assert_allclose(streamed.coef_, resident.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(streamed.intercept_, resident.intercept_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(streamed.history_["loss"], resident.history_["loss"], rtol=1e-5)
    assert streamed.n_features_in_ == D
    np.testing.assert_allclose(streamed.predict(X), resident.predict(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_devices", [1, 2, 4])
@pytest.mark.parametrize("backend", ["pmap", "shard_map", "jit"])
def test_parallel_fit_on_files_equals_the_fit_on_arrays(files, n_devices, backend):
    X, y = linear32(N, D)
    kw = dict(FIT, n_devices=n_devices, backend=backend, grad_accum_steps=2, batch_size=24)
    resident = ParallelTrainer(**kw).fit(X, y)
    streamed = ParallelTrainer(**kw).fit(str(files / "X.npy"), str(files / "y.npy"))
    np.testing.assert_allclose(streamed.coef_, resident.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(streamed.history_["loss"], resident.history_["loss"], rtol=1e-5)
    np.testing.assert_allclose(streamed.history_["grad_norm"], resident.history_["grad_norm"], rtol=1e-4)
    assert streamed.step_ == resident.step_ and streamed.n_epochs_ == resident.n_epochs_


def test_parallel_logistic_fit_on_shards_equals_the_fit_on_arrays(tmp_path):
    X, y = linear32(N, D)
    labels = (y > 0).astype(np.float32)
    for i, rows in enumerate(np.array_split(np.arange(N), 4)):
        np.save(tmp_path / f"X-{i}.npy", X[rows])
        np.save(tmp_path / f"y-{i}.npy", labels[rows])
    kw = dict(FIT, n_devices=4, loss="logistic")
    resident = ParallelTrainer(**kw).fit(X, labels)
    streamed = ParallelTrainer(**kw).fit(
        NpyShards({"X": str(tmp_path / "X-*.npy"), "y": str(tmp_path / "y-*.npy")})
    )
    np.testing.assert_allclose(streamed.coef_, resident.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(streamed.classes_, [0.0, 1.0])
    np.testing.assert_array_equal(streamed.predict(X), resident.predict(X))
    np.save(tmp_path / "bad-y.npy", y[:75])  # not 0/1
    with pytest.raises(ValueError, match=r"loss='logistic' needs labels 0 and 1 in column 'y'"):
        ParallelTrainer(**kw).fit(str(tmp_path / "X-0.npy"), str(tmp_path / "bad-y.npy"))


def _mlp_params():
    rng = np.random.default_rng(1)
    return {
        "w1": rng.normal(size=(D, 6)).astype(np.float32) * 0.4,
        "b1": np.zeros(6, np.float32),
        "w2": rng.normal(size=6).astype(np.float32) * 0.4,
    }


@pytest.mark.parametrize("backend", ["pmap", "jit"])
def test_train_on_a_dict_of_memmaps_equals_train_on_arrays(files, backend):
    X, y = linear32(N, D)
    kw = dict(n_devices=4, backend=backend, learning_rate=0.02, grad_accum_steps=2)
    pa, ha = ParallelTrainer(**kw).train(mlp_mse, _mlp_params(), {"x": X, "y": y}, epochs=3, batch_size=16)
    mm = {"x": np.load(files / "X.npy", mmap_mode="r"), "y": np.load(files / "y.npy", mmap_mode="r")}
    pb, hb = ParallelTrainer(**kw).train(mlp_mse, _mlp_params(), mm, epochs=3, batch_size=16)
    for k in pa:
        np.testing.assert_allclose(pb[k], pa[k], rtol=1e-5, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(hb["loss"], ha["loss"], rtol=1e-5)


def test_a_memory_map_is_streamed_with_mini_batches_and_read_whole_for_a_full_batch(files, monkeypatch):
    from accel.linear import _source_fit

    X, y = linear32(N, D)
    mm = (np.load(files / "X.npy", mmap_mode="r"), np.load(files / "y.npy", mmap_mode="r"))
    calls = []
    monkeypatch.setattr(_source_fit, "prepare", lambda *a, _p=_source_fit.prepare: calls.append(1) or _p(*a))
    full = JAXOptimizer(learning_rate=0.1, epochs=5).fit(*mm)
    assert calls == []
    np.testing.assert_array_equal(full.coef_, JAXOptimizer(learning_rate=0.1, epochs=5).fit(X, y).coef_)
    JAXOptimizer(learning_rate=0.1, epochs=1, batch_size=64).fit(*mm)
    assert calls == [1]


def test_streamed_runs_refuse_what_they_cannot_do(files):
    paths = (str(files / "X.npy"), str(files / "y.npy"))
    with pytest.raises(ValueError, match=r"needs strategy='data_parallel', got 'model_parallel'"):
        ParallelTrainer(n_devices=2, strategy="model_parallel", batch_size=8).fit(*paths)
    with pytest.raises(ValueError, match=r"data_is_local=True does not apply to a data source"):
        ParallelTrainer(n_devices=2, batch_size=8).fit(*paths, data_is_local=True)
    with pytest.raises(ValueError, match=r"needs batch_size"):
        ParallelTrainer(n_devices=2).fit(*paths)
    with pytest.raises(ValueError, match=r"needs batch_size"):
        JAXOptimizer().fit(*paths)
    with pytest.raises(TypeError, match=r"y must be a path too"):
        JAXOptimizer(batch_size=8).fit(paths[0], np.zeros(N))
    with pytest.raises(TypeError, match=r"y must be None when X is a data source"):
        ParallelTrainer(batch_size=8).fit(ArraySource({"X": np.zeros((4, 2)), "y": np.zeros(4)}), np.zeros(4))
    with pytest.raises(ValueError, match=r"needs the columns 'X' and 'y', got \['a', 'y'\]"):
        JAXOptimizer(batch_size=8).fit(ArraySource({"a": np.zeros((4, 2)), "y": np.zeros(4)}))


def test_nan_in_a_source_is_refused_naming_the_column(tmp_path):
    X, y = linear32(N, D)
    X[77, 2] = np.nan
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    with pytest.raises(ValueError, match=r"column 'X' of the source contains NaN or infinity"):
        ParallelTrainer(n_devices=2, **FIT).fit(str(tmp_path / "X.npy"), str(tmp_path / "y.npy"))


# -- time waiting for data vs computing -----------------------------------------------------
def _Slow(X, y, delay):
    return Throttled(ArraySource({"X": X, "y": y}), delay)


def test_history_shows_the_time_steps_wait_for_data():
    """A loader bottleneck shows up as data_wait_time (frameworm's "data loading: x% of
    step"); resident data never wait; step_time = data_wait_time + compute_time.

    Each wait is timed around the pipeline's ``next()``: positive for streamed data and
    exactly 0 for resident data on any load. What share of a step is waiting is a wall-clock
    comparison that load moves (issue 25 item 7): ``benchmarks/bench_input_pipeline.py
    overlap`` measures it (BENCHMARKS.md)."""
    X, y = linear32(512, 4)
    kw = dict(n_devices=2, epochs=3, batch_size=32, learning_rate=0.05)
    h = ParallelTrainer(**kw).fit(_Slow(X, y, 0.02)).history_
    resident = ParallelTrainer(**kw).fit(X, y).history_
    np.testing.assert_allclose(h["step_time"], h["data_wait_time"] + h["compute_time"], rtol=1e-9)
    assert len(h["data_wait_time"]) == 3 and np.all(h["data_wait_time"] > 0), h
    np.testing.assert_array_equal(resident["data_wait_time"], 0.0)
    np.testing.assert_allclose(resident["compute_time"], resident["step_time"])


class _Recorded(WrappedSource):
    """Records the thread of every read."""

    def __init__(self, source):
        super().__init__(source)
        self.threads = []

    def read(self, rows):
        self.threads.append(threading.get_ident())
        return super().read(rows)


def test_reading_the_next_steps_overlaps_the_current_step():
    """Prefetching, checked with counts instead of a clock (issue 25 item 7): while the
    consumer holds the first step and asks for nothing (its step computing), worker threads
    go on reading the next steps; the consumer's thread never reads. How much time the
    overlap saves (an epoch takes about max(reads, compute), not their sum) is measured by
    ``benchmarks/bench_input_pipeline.py overlap`` (BENCHMARKS.md)."""
    X, y = linear32(64, 2)
    lay = _plan.Layout(n_rows=64, n_shards=1, group_devices=1, batch_size=4, accum=1)  # 16 steps
    one = _Recorded(ArraySource({"X": X, "y": y}))
    StepLoader(one, lay, seed=0, devices=[0]).read_step(0)
    per_step = len(one.threads)  # reads of one step
    src = _Recorded(ArraySource({"X": X, "y": y}))
    loader = StepLoader(src, lay, seed=0, devices=[0], block=1, threads=2, prefetch=4)
    first = next(loader.blocks(0, 1, until=lay.steps_per_epoch))
    assert first.count == 1 and per_step >= 1
    deadline = time.monotonic() + 120  # only catches a pipeline that never reads ahead
    while len(src.threads) < 3 * per_step:  # two steps beyond the one consumed
        assert time.monotonic() < deadline, f"no read-ahead: {len(src.threads)} reads"
        time.sleep(0.001)
    assert threading.get_ident() not in src.threads
