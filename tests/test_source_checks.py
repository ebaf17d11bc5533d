"""Every data source gets the checks arrays get, training and validation data alike.

Issue 25.1: validation data given as files was not checked for NaN or infinity (arrays
were): the validation loss was NaN every epoch, early stopping stopped after ``patience``
epochs and ``restore_best`` handed back the untrained model, silently. Issue 28.2: the
input pipeline's finiteness check covers every column (``y`` too, not only ``X``). Issue
28.4: the validation loss over several unequal chunks is the size-weighted mean.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from _helpers import regression

from accel import JAXOptimizer, ParallelTrainer, _plan
from accel.data import ArraySource, NpyShards, ParquetShards, StepLoader
from accel.train import _validation

N, D, CUT = 24, 3, 4  # shards: rows [0, 4) and [4, 24)
FAULTS = {  # what is put where: (column, row, feature or None, value)
    "NaN in X": ("X", 5, 1, np.nan),
    "inf in X": ("X", 7, 0, np.inf),
    "NaN in y": ("y", 9, None, np.nan),
}


def _clean(seed=0):
    coef = np.array([1.0, -2.0, 0.5], np.float32)
    return regression(N, D, seed=seed, coef=coef, intercept=0.25, dtype=np.float32)


def _faulty(fault):
    X, y = _clean(1)
    column, row, feature, value = FAULTS[fault]
    if column == "X":
        X[row, feature] = value
    else:
        y[row] = value
    return X, y


class Records:
    """grain's RandomAccessDataSource protocol: ``__len__`` and ``__getitem__`` -> record."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return {"X": self.X[i], "y": self.y[i]}


def _write(kind, X, y, d):
    """``(fit arguments, where the fault's row is reported)`` of the data as ``kind``."""
    d.mkdir()
    if kind == "npy files":
        np.save(d / "X.npy", X)
        np.save(d / "y.npy", y)
        return (str(d / "X.npy"), str(d / "y.npy")), lambda c, r, f: f"row {r} of '{d / c}.npy'"
    if kind == "npy shards":
        for i, (a, b) in enumerate([(0, CUT), (CUT, N)]):
            np.save(d / f"X-{i}.npy", X[a:b])
            np.save(d / f"y-{i}.npy", y[a:b])
        src = NpyShards({"X": str(d / "X-*.npy"), "y": str(d / "y-*.npy")})
        return (src, None), lambda c, r, f: f"row {r - CUT} of '{d / c}-1.npy'"
    if kind == "parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        for i, (a, b) in enumerate([(0, CUT), (CUT, N)]):
            cols = {f"f{j}": X[a:b, j] for j in range(D)}
            pq.write_table(pa.table({**cols, "target": y[a:b]}), d / f"part-{i}.parquet")
        src = ParquetShards(str(d / "part-*.parquet"), target="target", cache_dir=d / "cache")
        where = {"X": lambda f: f"column(s) ['f{f}']", "y": lambda f: "column 'target'"}
        return (src, None), lambda c, r, f: f"row {r - CUT} of '{d / 'part-1.parquet'}', {where[c](f)}"
    assert kind == "grain records"
    return (Records(X, y), None), lambda c, r, f: f"record source[{r}]"


KINDS = ("npy files", "npy shards", "parquet", "grain records")
ESTIMATORS = {
    "JAXOptimizer": lambda **kw: JAXOptimizer("adam", learning_rate=0.05, **kw),
    "ParallelTrainer": lambda **kw: ParallelTrainer(n_devices=2, learning_rate=0.05, **kw),
}


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("role", ["training", "validation"])
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", KINDS)
def test_nan_or_infinity_in_any_source_is_refused_naming_column_row_and_file(
    tmp_path, kind, fault, role, estimator
):
    column, row, feature, _ = FAULTS[fault]
    (a, b), where = _write(kind, *_faulty(fault), tmp_path / "data")
    est = ESTIMATORS[estimator](epochs=2, batch_size=8)
    if role == "training":
        what, fit = "the source", lambda: est.fit(a, b)
    else:  # the run: patience and restore_best on NaN validation losses
        est.set_params(patience=1, restore_best=True)
        what, fit = "validation_data", lambda: est.fit(*_clean(), validation_data=(a, b) if b else a)
    message = f"column '{column}' of {what} contains NaN or infinity: {where(column, row, feature)}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        fit()
    assert not hasattr(est, "coef_")  # nothing was fitted


def test_train_eval_data_source_with_nan_is_refused_naming_eval_data(tmp_path):
    X, y = _clean()
    Xv = X.copy()
    Xv[3, 2] = np.nan

    def loss(p, batch):
        return ((batch["X"] @ p["w"] - batch["y"]) ** 2).mean()

    with pytest.raises(ValueError, match=r"^column 'X' of eval_data contains NaN or infinity: row 3 of the array$"):
        ParallelTrainer(n_devices=2).train(
            loss,
            {"w": np.zeros(D, np.float32)},
            {"X": X, "y": y},
            epochs=2,
            batch_size=8,
            eval_data=ArraySource({"X": Xv, "y": y}),
        )


def test_validation_source_labels_get_the_training_sources_checks():
    X, y = _clean()
    labels = (y > 0).astype(np.float32)
    with pytest.raises(ValueError, match=r"^validation_data: a streamed fit with loss='logistic' needs labels 0 and 1"):
        JAXOptimizer(loss="logistic", epochs=2, batch_size=8).fit(
            X, labels, validation_data=ArraySource({"X": X, "y": labels * 2}))
    with pytest.raises(ValueError, match=r"^validation_data: X_val has 2 features, but the model is expecting 3"):
        JAXOptimizer(epochs=2, batch_size=8).fit(X, y, validation_data=ArraySource({"X": X[:, :2], "y": y}))


# -- issue 28.2: the input pipeline checks every column -------------------------------------
@pytest.mark.parametrize("column", ["X", "y"])
def test_the_input_pipeline_refuses_nan_in_any_column(column):
    X, y = _clean()
    cols = {"X": X, "y": y.copy()}
    cols[column][(11, 2) if column == "X" else 11] = np.nan
    src = ArraySource(cols)
    lay = _plan.Layout(n_rows=N, n_shards=1, group_devices=1, batch_size=N, accum=1)
    loader = StepLoader(src, lay, seed=0, devices=[0], check_finite=True)
    with pytest.raises(ValueError, match=rf"^column '{column}' of the source contains NaN or infinity: row 11 of"):
        loader.read_step(0)
    with pytest.raises(ValueError, match=rf"^column '{column}' of the source contains NaN or infinity: row 11 of"):
        next(loader.chunks())
    # and a streamed fit stops there, for both estimators
    for make in ESTIMATORS.values():
        with pytest.raises(ValueError, match=rf"^column '{column}' of the source contains NaN or infinity"):
            make(epochs=1, batch_size=8).fit(src)
    # nan_policy='skip' reads such rows (the steps that read them are skipped)
    StepLoader(src, lay, seed=0, devices=[0], check_finite=False).read_step(0)


def test_a_source_whose_read_disagrees_with_its_spec_is_refused():
    X, y = _clean()

    class Lies(ArraySource):
        def read(self, rows):
            got = super().read(rows)
            return {"X": got["X"].astype(np.float64), "y": got["y"]}

    lay = _plan.Layout(n_rows=N, n_shards=1, group_devices=1, batch_size=8, accum=1)
    with pytest.raises(
        ValueError,
        match=r"^column 'X' of the source: read\(\) returned float64\[8, 3\] for 8 rows, "
        r"its spec\(\) says float32\[3\] per row$",
    ):
        StepLoader(Lies({"X": X, "y": y}), lay, seed=0, devices=[0]).read_step(0)


# -- issue 28.4: the validation loss over several unequal chunks ----------------------------
@pytest.mark.parametrize("as_source", [False, True])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_validation_loss_over_unequal_chunks_is_the_full_data_mean(monkeypatch, tmp_path, estimator, as_source):
    """23 validation rows in chunks of 7, 7, 7 and 2: the loss of each chunk weighs by its
    rows (an unweighted mean of the chunk means would be off by far more than rounding)."""
    monkeypatch.setattr(_validation, "CHUNK_ROWS", 7)
    X, y = _clean()
    rng = np.random.default_rng(5)
    Xv = rng.normal(size=(23, D)).astype(np.float32)
    yv = (Xv @ np.ones(D, np.float32)).astype(np.float32)
    yv[-2:] += 40.0  # the short last chunk's loss differs from the others'
    val = (Xv, yv)
    if as_source:
        np.save(tmp_path / "Xv.npy", Xv)
        np.save(tmp_path / "yv.npy", yv)
        val = (str(tmp_path / "Xv.npy"), str(tmp_path / "yv.npy"))
    est = ESTIMATORS[estimator](epochs=2, batch_size=8).fit(X, y, validation_data=val)
    r0 = yv.astype(np.float64)  # the initial parameters are zeros: val_loss[0] = mean(y²)/2
    assert est.history_["val_loss"][0] == pytest.approx(0.5 * np.mean(r0 * r0), rel=1e-6)
    r = Xv.astype(np.float64) @ est.coef_ + est.intercept_ - yv
    assert est.history_["val_loss"][-1] == pytest.approx(0.5 * np.mean(r * r), rel=1e-5)
    chunks = [r0[i : i + 7] for i in range(0, 23, 7)]
    unweighted = np.mean([0.5 * np.mean(c * c) for c in chunks])
    assert abs(unweighted - 0.5 * np.mean(r0 * r0)) > 1.0  # the test tells the two apart


def test_npy_locate_names_the_file(tmp_path):
    X, y = _clean()
    np.save(tmp_path / "X.npy", X)
    src = ArraySource({"X": np.load(tmp_path / "X.npy", mmap_mode="r"), "y": y})
    assert src.locate("X", 3) == f"row 3 of {os.fspath(tmp_path / 'X.npy')!r}"
