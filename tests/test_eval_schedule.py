"""ParallelTrainer(eval_every=...): the full-data evaluation is the user's choice (issue 27
item 1). The schedule changes what is measured, never what is trained: the parameters equal
those of evaluating every epoch, and the history holds the same losses at the scheduled
epochs (NaN at the others), resident and streamed, for ``fit`` and ``train``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import ParallelTrainer
from accel.train import _stopping

EPOCHS = 7


@settings(max_examples=50, deadline=None)
@given(every=st.integers(2, 9), until=st.integers(1, 40))
def test_the_schedule(every, until):
    due = [e for e in range(1, until + 1) if _stopping.evaluation_due(e, every, until)]
    assert due == sorted({*range(every, until + 1, every), until})
    assert all(_stopping.evaluation_due(e, 1, until) for e in range(1, until + 1))
    assert not any(_stopping.evaluation_due(e, 0, until) for e in range(1, until + 1))


def _data(n=203, d=5):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, (X @ rng.normal(size=d)).astype(np.float32)


def _expected_nan(every: int) -> np.ndarray:
    """Which of the EPOCHS + 1 history entries (the initial parameters first) are NaN."""
    if every == 0:
        return np.ones(EPOCHS + 1, bool)
    nan = np.array([e % every != 0 and e != EPOCHS for e in range(EPOCHS + 1)])
    nan[0] = False
    return nan


def _fit(every, X, y, **kw):
    trainer = ParallelTrainer(
        n_devices=2, epochs=EPOCHS, batch_size=32, learning_rate=0.05, eval_every=every, **kw
    )
    return trainer.fit(X, y)


def _assert_scheduled(losses, every_epoch_losses, every: int, rtol: float) -> None:
    """NaN exactly off the schedule; elsewhere the losses of evaluating every epoch."""
    loss, nan = np.asarray(losses), _expected_nan(every)
    assert np.array_equal(np.isnan(loss), nan), loss
    if not nan.all():
        assert_close(loss[~nan], np.asarray(every_epoch_losses)[~nan], rtol=rtol)


@pytest.fixture(scope="module")
def every_epoch():
    X, y = _data()
    return _fit(1, X, y)


@pytest.mark.parametrize("every", [2, 3, 0])
def test_fit_trains_the_same_and_records_the_scheduled_losses(every, every_epoch):
    X, y = _data()
    pt = _fit(every, X, y)
    assert_close(pt.coef_, every_epoch.coef_, rtol=1e-6)
    _assert_scheduled(pt.history_["loss"], every_epoch.history_["loss"], every, rtol=1e-6)


@pytest.mark.parametrize("every", [3, 0])
def test_streamed_fit_follows_the_same_schedule(every, every_epoch, tmp_path):
    X, y = _data()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    Xm, ym = np.load(tmp_path / "X.npy", mmap_mode="r"), np.load(tmp_path / "y.npy", mmap_mode="r")
    pt = _fit(every, Xm, ym)
    assert_close(pt.coef_, every_epoch.coef_, rtol=1e-5)
    _assert_scheduled(pt.history_["loss"], every_epoch.history_["loss"], every, rtol=1e-5)


def test_train_of_any_model_follows_it():
    X, y = _data()

    def loss_fn(p, b):
        return jnp.mean((b["x"] @ p["w"] - b["y"]) ** 2)

    runs = {}
    for every in (1, 3):
        pt = ParallelTrainer(
            n_devices=2, epochs=EPOCHS, batch_size=32, learning_rate=0.05, eval_every=every
        )
        runs[every] = pt.train(loss_fn, {"w": np.zeros(5, np.float32)}, {"x": X, "y": y})
    assert_close(runs[3][0]["w"], runs[1][0]["w"], rtol=1e-6)
    _assert_scheduled(runs[3][1]["loss"], runs[1][1]["loss"], 3, rtol=1e-6)


def test_tol_needs_evaluations():
    X, y = _data()
    with pytest.raises(ValueError, match="eval_every=0 never computes"):
        ParallelTrainer(eval_every=0, tol=1e-3).fit(X, y)
    with pytest.raises(ValueError, match=r"eval_every must be an integer >= 0 or None, got -1"):
        ParallelTrainer(eval_every=-1).fit(X, y)
    with pytest.raises(TypeError, match="eval_every must be an integer >= 0 or None"):
        ParallelTrainer(eval_every=1.5).fit(X, y)


@pytest.mark.parametrize("strategy", ["model_parallel", "pipeline_parallel"])
def test_the_sharded_strategies_follow_it(strategy):
    from accel.parallel import mlp_loss

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 8)).astype(np.float32), rng.normal(size=(64, 2)).astype(np.float32)
    params = [
        {"w": (0.3 * rng.normal(size=(8, 8))).astype(np.float32), "b": np.zeros(8, np.float32)},
        {"w": (0.3 * rng.normal(size=(8, 2))).astype(np.float32), "b": np.zeros(2, np.float32)},
    ]

    def head(out, batch):
        return jnp.mean((out - batch["y"]) ** 2)

    runs = {}
    for every in (1, 2):
        pt = ParallelTrainer(
            n_devices=2,
            strategy=strategy,
            optimizer_type="sgd",
            learning_rate=0.05,
            epochs=5,
            batch_size=16,
            eval_every=every,
        )
        runs[every] = pt.train(mlp_loss(head, "tanh"), params, {"x": X, "y": y})
    for got, want in zip(runs[2][0], runs[1][0], strict=True):
        assert_close(got["w"], want["w"], rtol=1e-6)
    loss = np.asarray(runs[2][1]["loss"])
    assert np.isnan(loss).tolist() == [False, True, False, True, False, False]
    assert_close(loss[~np.isnan(loss)], np.asarray(runs[1][1]["loss"])[[0, 2, 4, 5]], rtol=1e-6)
