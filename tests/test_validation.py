"""Validation data: val_loss per epoch, early stopping (patience), the best parameters."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import mlp_mse, regression

from accel import ParallelTrainer
from accel.data import ArraySource

D = 6


def _split(n=400, seed=0):
    X, y = regression(n, D, seed=seed, noise=1.0, dtype=np.float32)
    cut = 3 * n // 4
    return (X[:cut], y[:cut]), (X[cut:], y[cut:])


def _half_mse(w, b, X, y):  # the built-in 'mse' loss: (1/2n) Σ (x·w + b - y)²
    r = X.astype(np.float64) @ w + b - y
    return 0.5 * np.mean(r * r)


KW = dict(n_devices=2, epochs=60, batch_size=50, learning_rate=0.2)


@pytest.fixture(scope="module")
def stopped():
    (Xt, yt), (Xv, yv) = _split()
    full = ParallelTrainer(**KW).fit(Xt, yt, validation_data=(Xv, yv))
    early = ParallelTrainer(**KW, patience=3).fit(Xt, yt, validation_data=(Xv, yv))
    best = ParallelTrainer(**KW, patience=3, restore_best=True).fit(Xt, yt, validation_data=(Xv, yv))
    return full, early, best


def test_val_loss_is_the_loss_of_each_epochs_parameters_on_the_validation_rows(stopped):
    _, (Xv, yv) = _split()
    full, _, _ = stopped
    h = full.history_
    assert h["val_loss"].shape == h["loss"].shape == (61,)
    assert h["val_loss"][0] == pytest.approx(_half_mse(np.zeros(D), 0.0, Xv, yv), rel=1e-6)
    # the last epoch's parameters are the fitted ones
    assert h["val_loss"][-1] == pytest.approx(_half_mse(full.coef_, full.intercept_, Xv, yv), rel=1e-5)
    assert full.best_epoch_ == int(np.argmin(h["val_loss"]))
    assert full.best_val_loss_ == pytest.approx(float(h["val_loss"].min()), rel=1e-6)
    w, b = full.best_params_["w"], full.best_params_["b"]
    assert _half_mse(w, b, Xv, yv) == pytest.approx(full.best_val_loss_, rel=1e-5)
    assert not full.stopped_early_


def test_patience_stops_after_that_many_epochs_without_improvement(stopped):
    full, early, best = stopped
    e = early.best_epoch_
    assert early.stopped_early_ and early.n_epochs_ == e + 3 < 60
    # the same trajectory as the run without patience, up to the stop
    np.testing.assert_allclose(early.history_["val_loss"], full.history_["val_loss"][: e + 4], rtol=1e-6)
    assert np.all(early.history_["val_loss"][e + 1 :] >= early.best_val_loss_)
    assert np.all(early.history_["val_loss"][:e] > early.best_val_loss_)
    # restore_best ends with the best epoch's parameters, the last ones stay available
    np.testing.assert_array_equal(best.coef_, best.best_params_["w"])
    assert best.intercept_ == best.best_params_["b"]
    assert not np.allclose(early.coef_, best.coef_)


def test_streamed_training_and_validation_equal_the_resident_ones(tmp_path, stopped):
    (Xt, yt), (Xv, yv) = _split()
    np.save(tmp_path / "X.npy", Xt)
    np.save(tmp_path / "y.npy", yt)
    np.save(tmp_path / "Xv.npy", Xv)
    np.save(tmp_path / "yv.npy", yv)
    _, early, _ = stopped
    streamed = ParallelTrainer(**KW, patience=3).fit(
        str(tmp_path / "X.npy"),
        str(tmp_path / "y.npy"),
        validation_data=(str(tmp_path / "Xv.npy"), str(tmp_path / "yv.npy")),
    )
    assert streamed.n_epochs_ == early.n_epochs_ and streamed.best_epoch_ == early.best_epoch_
    np.testing.assert_allclose(streamed.history_["val_loss"], early.history_["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(streamed.coef_, early.coef_, rtol=1e-5, atol=1e-7)


def test_train_eval_data_arrays_or_a_source():
    (Xt, yt), (Xv, yv) = _split()
    rng = np.random.default_rng(2)
    params = {
        "w1": rng.normal(size=(D, 8)).astype(np.float32) * 0.3,
        "w2": rng.normal(size=8).astype(np.float32) * 0.3,
    }
    pt = ParallelTrainer(n_devices=2, learning_rate=0.01)
    out, h = pt.train(
        mlp_mse, params, {"x": Xt, "y": yt}, epochs=4, batch_size=30, eval_data={"x": Xv, "y": yv}
    )
    want = float(mlp_mse(out, {"x": Xv, "y": yv}))
    assert h["val_loss"][-1] == pytest.approx(want, rel=1e-5)
    _, h2 = ParallelTrainer(n_devices=2, learning_rate=0.01).train(
        mlp_mse,
        params,
        {"x": Xt, "y": yt},
        epochs=4,
        batch_size=30,
        eval_data=ArraySource({"x": Xv, "y": yv}),
    )
    np.testing.assert_allclose(h2["val_loss"], h["val_loss"], rtol=1e-6)


def test_resume_keeps_the_validation_history_and_best_parameters(tmp_path):
    (Xt, yt), (Xv, yv) = _split()
    common = dict(KW, checkpoint_dir=str(tmp_path), checkpoint_every=7, patience=4)
    val = (Xv, yv)
    straight = ParallelTrainer(**dict(KW, patience=4)).fit(Xt, yt, validation_data=val)
    ParallelTrainer(**dict(common, epochs=5)).fit(Xt, yt, validation_data=val)
    resumed = ParallelTrainer(**common).fit(Xt, yt, validation_data=val, resume=True)
    assert resumed.n_epochs_ == straight.n_epochs_ and resumed.stopped_early_
    np.testing.assert_allclose(resumed.history_["val_loss"], straight.history_["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(resumed.best_params_["w"], straight.best_params_["w"], rtol=1e-6)
    # resuming a run that stopped early trains no further
    again = ParallelTrainer(**common).fit(Xt, yt, validation_data=val, resume=True)
    assert again.n_epochs_ == resumed.n_epochs_
    np.testing.assert_array_equal(again.coef_, resumed.coef_)
    with pytest.raises(ValueError, match=r"different run or on other data.*validation"):
        ParallelTrainer(**common).fit(Xt, yt, validation_data=(Xv[:50], yv[:50]), resume=True)


@pytest.mark.parametrize(
    "kwargs, fit_kw, error, match",
    [
        ({"patience": 3}, {}, ValueError, r"patience and restore_best need validation data"),
        ({"restore_best": True}, {}, ValueError, r"patience and restore_best need validation data"),
        ({"patience": 0}, None, ValueError, r"patience"),
        ({"restore_best": "yes"}, None, TypeError, r"restore_best"),
        (
            {},
            {"validation_data": np.zeros((5, D))},
            TypeError,
            r"validation_data must be a tuple \(X_val, y_val\)",
        ),
        (
            {},
            {"validation_data": (np.zeros((5, 3)), np.zeros(5))},
            ValueError,
            r"validation_data: X_val has 3 features, but the model is expecting 6",
        ),
        (
            {},
            {"validation_data": (np.zeros((5, D)), np.zeros(4))},
            ValueError,
            r"validation_data: X and y have different lengths",
        ),
        (
            {},
            {"validation_data": (np.full((5, D), np.nan), np.zeros(5))},
            ValueError,
            r"validation_data: .*NaN",
        ),
    ],
)
def test_bad_validation_settings_are_refused(kwargs, fit_kw, error, match):
    (Xt, yt), _ = _split(40)
    with pytest.raises(error, match=match):
        ParallelTrainer(n_devices=1, epochs=2, batch_size=10, **kwargs).fit(Xt, yt, **(fit_kw or {}))


def test_logistic_validation_labels_must_be_the_fits_classes():
    (Xt, yt), (Xv, yv) = _split()
    labels = np.where(yt > 0, "pos", "neg")
    pt = ParallelTrainer(n_devices=1, loss="logistic", epochs=3, batch_size=50)
    pt.fit(Xt, labels, validation_data=(Xv, np.where(yv > 0, "pos", "neg")))
    assert np.isfinite(pt.history_["val_loss"]).all()
    with pytest.raises(ValueError, match=r"y_val has labels \['maybe'\] not among the classes"):
        pt.fit(Xt, labels, validation_data=(Xv, np.where(yv > 0, "pos", "maybe")))


# -- JAXOptimizer: the same validation, resident or streamed ---------------------------------
def test_jax_optimizer_validation_matches_parallel_trainer(tmp_path, stopped):
    from accel import JAXOptimizer

    (Xt, yt), (Xv, yv) = _split()
    _, early, best = stopped
    kw = {k: v for k, v in KW.items() if k != "n_devices"}
    jo = JAXOptimizer("adam", **kw, patience=3).fit(Xt, yt, validation_data=(Xv, yv))
    assert jo.stopped_early_ and jo.best_epoch_ == early.best_epoch_ and jo.n_epochs_ == early.n_epochs_
    np.testing.assert_allclose(jo.history_["val_loss"], early.history_["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(jo.coef_, early.coef_, rtol=1e-5, atol=1e-7)
    jb = JAXOptimizer("adam", **kw, patience=3, restore_best=True).fit(Xt, yt, validation_data=(Xv, yv))
    np.testing.assert_allclose(jb.coef_, best.coef_, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(jb.coef_, jb.best_params_["w"])
    np.testing.assert_array_equal(np.asarray(jb.params_["w"]), jb.best_params_["w"])
    np.save(tmp_path / "X.npy", Xt)
    np.save(tmp_path / "y.npy", yt)
    js = JAXOptimizer("adam", **kw, patience=3).fit(
        str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), validation_data=(Xv, yv)
    )
    assert js.n_epochs_ == jo.n_epochs_ and js.best_epoch_ == jo.best_epoch_
    np.testing.assert_allclose(js.history_["val_loss"], jo.history_["val_loss"], rtol=1e-5)
    with pytest.raises(ValueError, match=r"patience and restore_best need validation data"):
        JAXOptimizer(patience=2).fit(Xt, yt)
    with pytest.raises(ValueError, match=r"validation_data: X_val has 2 features"):
        JAXOptimizer().fit(Xt, yt, validation_data=(Xv[:, :2], yv))
