"""Linear models as notebook users expect them (issue 24): multinomial logistic regression,
multi-output least squares, the L2 penalty ``alpha``, sample weights, scikit-learn's optimum,
and L-BFGS's own stopping rules; on every estimator (NumPy reference, ``JAXOptimizer``,
``ParallelTrainer.fit``'s strategies)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizers
from accel import JAXOptimizer, ParallelTrainer
from accel.linear import DivergenceWarning, SeparationWarning, _model, loss_value
from accel.linear._data import encode_labels

_NUMPY = {
    "sgd": optimizers.SGD,
    "momentum": optimizers.MomentumSGD,
    "nesterov": optimizers.NesterovMomentum,
    "adagrad": optimizers.AdaGrad,
    "rmsprop": optimizers.RMSProp,
    "adam": optimizers.Adam,
    "adamw": optimizers.AdamW,
}


def _problem(kind: str, n: int = 60, d: int = 5, seed: int = 0):
    """``(X, y, sample_weight)``: 4 string classes, or 3 regression outputs."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((3 if kind == "mse" else 4, d))
    z = X @ W.T + 0.3 * rng.standard_normal((n, W.shape[0]))
    y = z if kind == "mse" else np.array(list("abcd"))[np.argmax(z, axis=1)]
    return X, y, rng.integers(0, 4, n).astype(np.float64)


def _objective(X, y, coef, intercept, loss, alpha, sample_weight=None):
    Y = encode_labels(y)[0] if loss == "logistic" else np.asarray(y, np.float64)
    sw = None if sample_weight is None else _model.normalized_sample_weight(sample_weight)
    return float(loss_value(X, Y, np.asarray(coef, np.float64), np.asarray(intercept, np.float64),
                            loss=loss, alpha=alpha, sample_weight=sw, xp=np))


# ----- the same math on every path ------------------------------------------------------


@pytest.mark.parametrize("name", sorted(_NUMPY))
@pytest.mark.parametrize("loss", ["logistic", "mse"])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_jax_optimizer_equals_the_numpy_reference(name, loss, batch_size):
    """Multi-class / multi-output, penalty and sample weights: float64 to 1e-9."""
    X, y, sw = _problem(loss)
    kw = {"learning_rate": 0.05, "epochs": 6, "loss": loss, "alpha": 0.1, "batch_size": batch_size}
    ref = _NUMPY[name](**kw).fit(X, y, sample_weight=sw)
    jax_est = JAXOptimizer(name, dtype="float64", **kw).fit(X, y, sample_weight=sw)
    assert ref.coef_.shape == jax_est.coef_.shape == (4 if loss == "logistic" else 3, 5)
    np.testing.assert_allclose(jax_est.history_["loss"], ref.history_["loss"], rtol=1e-9)
    np.testing.assert_allclose(jax_est.history_["grad_norm"], ref.history_["grad_norm"], rtol=1e-9)
    np.testing.assert_allclose(jax_est.coef_, ref.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(jax_est.intercept_, ref.intercept_, rtol=1e-9, atol=1e-12)
    # the history is the objective: mean weighted loss plus the penalty
    assert ref.history_["loss"][-1] == pytest.approx(
        _objective(X, y, ref.coef_, ref.intercept_, loss, 0.1, sw), rel=1e-12
    )


@pytest.mark.parametrize(
    ("strategy", "backend", "n_devices"),
    [("data_parallel", "pmap", 2), ("data_parallel", "jit", 4), ("model_parallel", "shard_map", 2)],
)
@pytest.mark.parametrize("loss", ["logistic", "mse"])
def test_parallel_trainer_equals_the_numpy_reference(strategy, backend, n_devices, loss):
    X, y, sw = _problem(loss)
    kw = {"learning_rate": 0.05, "epochs": 5, "loss": loss, "alpha": 0.1, "batch_size": 16}
    ref = optimizers.Adam(dtype="float32", **kw).fit(X, y, sample_weight=sw)
    pt = ParallelTrainer(n_devices=n_devices, strategy=strategy, backend=backend, **kw)
    pt.fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(pt.history_["loss"], ref.history_["loss"], rtol=2e-5)
    np.testing.assert_allclose(pt.coef_, ref.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pt.intercept_, ref.intercept_, rtol=1e-4, atol=1e-5)
    assert pt.coef_.shape == ref.coef_.shape and pt.intercept_.shape == ref.intercept_.shape


# ----- sample weights -------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.integers(0, 3), min_size=12, max_size=12).filter(any),
    loss=st.sampled_from(["mse", "logistic"]),
    alpha=st.sampled_from([0.0, 0.3]),
)
def test_integer_weights_are_repeated_rows(weights, loss, alpha):
    """The objective and its gradient: integer weights equal the rows repeated."""
    X, y, _ = _problem(loss, n=12, d=3, seed=1)
    Y = encode_labels(y)[0] if loss == "logistic" else y
    w = np.asarray(weights, np.float64)
    rng = np.random.default_rng(2)
    W, b = rng.standard_normal((Y.shape[1], 3)), rng.standard_normal(Y.shape[1])
    weighted = _model.loss_and_grad(X, Y, W, b, loss=loss, alpha=alpha,
                                    sample_weight=_model.normalized_sample_weight(w), xp=np)
    rows = np.repeat(np.arange(12), weights)
    repeated = _model.loss_and_grad(X[rows], Y[rows], W, b, loss=loss, alpha=alpha, xp=np)
    for a, r in zip(weighted, repeated, strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("loss", ["logistic", "mse"])
def test_weighted_fit_is_the_fit_of_repeated_rows(loss):
    X, y, sw = _problem(loss, n=40)
    rows = np.repeat(np.arange(len(sw)), sw.astype(int))
    for make in (
        lambda: JAXOptimizer("lbfgs", loss=loss, alpha=0.01, epochs=100, dtype="float64", gtol=1e-9),
        lambda: optimizers.Adam(learning_rate=0.05, loss=loss, alpha=0.01, epochs=30),
    ):
        weighted = make().fit(X, y, sample_weight=sw)
        repeated = make().fit(X[rows], y[rows])
        np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-7, atol=1e-9)


def test_sample_weight_of_a_streamed_fit_is_refused(tmp_path):
    X, y, sw = _problem("mse")
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "y.npy", y[:, 0].astype(np.float32))
    for est in (JAXOptimizer(batch_size=8, epochs=1), ParallelTrainer(n_devices=1, batch_size=8, epochs=1)):
        with pytest.raises(ValueError, match="sample_weight is supported for arrays only"):
            est.fit(str(tmp_path / "X.npy"), str(tmp_path / "y.npy"), sample_weight=sw)


# ----- scikit-learn's optimum -----------------------------------------------------------


def _scaled(load):
    from sklearn.preprocessing import StandardScaler

    X, y = load(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize(
    ("name", "weighted"),
    [("iris", False), ("iris", True), ("wine", True), ("breast_cancer", False),
     ("breast_cancer", True), ("digits", False),
     pytest.param("digits", True, marks=pytest.mark.slow), pytest.param("wine", False, marks=pytest.mark.slow)],
)
def test_logistic_regression_parity_with_scikit_learn(name, weighted):
    """float64 L-BFGS: our objective at our solution is within 1e-6 of scikit-learn's at its
    own (a tight solve of theirs), and the predictions agree."""
    import sklearn.datasets
    from sklearn.linear_model import LogisticRegression

    X, y = _scaled(getattr(sklearn.datasets, f"load_{name}"))
    sw = np.random.default_rng(0).integers(1, 4, len(y)).astype(np.float64) if weighted else None
    C = 0.5
    alpha = 1.0 / (C * (len(y) if sw is None else sw.sum()))
    sk = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y, sample_weight=sw)
    ours = JAXOptimizer("lbfgs", loss="logistic", alpha=alpha, epochs=1000, dtype="float64",
                        gtol=1e-7).fit(X, y, sample_weight=sw)
    theirs = _objective(X, y, sk.coef_.squeeze(), sk.intercept_.squeeze(), "logistic", alpha, sw)
    mine = _objective(X, y, ours.coef_, ours.intercept_, "logistic", alpha, sw)
    assert ours.converged_ and not ours.diverged_
    assert mine <= theirs * (1 + 1e-6)
    assert mine == pytest.approx(ours.history_["loss"][-1], rel=1e-12)
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    assert np.mean(ours.predict(X) == sk.predict(X)) >= 0.995
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-3)


@pytest.mark.parametrize("name", ["diabetes", "linnerud"])
def test_ridge_parity_with_scikit_learn(name):
    """``Ridge(a)`` is ``alpha = a / n``; linnerud has three outputs."""
    import sklearn.datasets
    from sklearn.linear_model import Ridge

    X, y = _scaled(getattr(sklearn.datasets, f"load_{name}"))
    a = 2.0
    sk = Ridge(alpha=a).fit(X, y)
    ours = JAXOptimizer("lbfgs", alpha=a / len(X), epochs=1000, dtype="float64", gtol=1e-9).fit(X, y)
    assert ours.coef_.shape == sk.coef_.shape and np.shape(ours.intercept_) == np.shape(sk.intercept_)
    theirs = _objective(X, y, sk.coef_, sk.intercept_, "mse", a / len(X))
    mine = _objective(X, y, ours.coef_, ours.intercept_, "mse", a / len(X))
    assert mine <= theirs * (1 + 1e-6)
    np.testing.assert_allclose(ours.predict(X), sk.predict(X), rtol=1e-5, atol=1e-5 * np.abs(y).max())
    assert ours.score(X, y) == pytest.approx(sk.score(X, y), rel=1e-6)


# ----- the classifier and regressor contracts -------------------------------------------


def test_multiclass_contract():
    X, y, _ = _problem("logistic")
    est = JAXOptimizer("lbfgs", loss="logistic", alpha=0.01, epochs=200, dtype="float64").fit(X, y)
    assert est.classes_.tolist() == ["a", "b", "c", "d"]
    z = est.decision_function(X)
    assert z.shape == (60, 4)
    np.testing.assert_allclose(z, X @ est.coef_.T + est.intercept_, rtol=1e-12)
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-10)
    np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X), est.classes_[np.argmax(z, axis=1)])
    assert est.score(X, y) == pytest.approx(np.mean(est.predict(X) == y)) and est.score(X, y) > 0.8
    # validation data are encoded as the fit's classes
    val = JAXOptimizer("adam", loss="logistic", epochs=3).fit(X, y, validation_data=(X[:10], y[:10]))
    assert np.isfinite(val.history_["val_loss"]).all()
    with pytest.raises(ValueError, match=r"y_val has labels \['e'\] not among the classes"):
        JAXOptimizer("adam", loss="logistic", epochs=3).fit(X, y, validation_data=(X[:2], np.array(["a", "e"])))


def test_multi_output_contract():
    X, y, _ = _problem("mse")
    est = JAXOptimizer("lbfgs", epochs=200, dtype="float64").fit(X, y)
    assert est.coef_.shape == (3, 5) and est.intercept_.shape == (3,)
    # scikit-learn's rule for several outputs: float64 predictions, whatever the model's dtype
    assert JAXOptimizer(epochs=2).fit(X, y).predict(X).dtype == np.float64
    np.testing.assert_allclose(est.predict(X), X @ est.coef_.T + est.intercept_, rtol=1e-12)
    r2 = [1 - np.sum((y[:, j] - est.predict(X)[:, j]) ** 2) / np.sum((y[:, j] - y[:, j].mean()) ** 2)
          for j in range(3)]
    assert est.score(X, y) == pytest.approx(np.mean(r2), rel=1e-12)
    with pytest.raises(ValueError, match=r"y_val has shape \(4,\), but the model was fitted with 3 output"):
        JAXOptimizer(epochs=2).fit(X, y, validation_data=(X[:4], y[:4, 0]))


# ----- L-BFGS's stopping rules ----------------------------------------------------------


def _separable(n=200, d=5, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    return X, (X @ np.linspace(1, -1, d) > 0).astype(np.float32)


def test_lbfgs_on_separable_data_stops_with_a_note():
    """No penalty, separable float32 data: the loss has no minimum. L-BFGS stops on its rules
    (it used to run into overflow: a loss near 1e-12, then in the millions), ends at its
    lowest loss, and says why."""
    X, y = _separable()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DivergenceWarning)
        with pytest.warns(SeparationWarning, match="separable.*set alpha > 0"):
            est = JAXOptimizer("lbfgs", loss="logistic", epochs=2000).fit(X, y)
    h = est.history_["loss"]
    assert est.converged_ and not est.diverged_ and est.n_epochs_ < 2000
    assert np.all(np.isfinite(h)) and h[-1] == h.min() and np.all(np.diff(h) <= 0)
    assert est.score(X, y) == 1.0
    with warnings.catch_warnings():  # a penalty gives a finite optimum: no note
        warnings.simplefilter("error")
        JAXOptimizer("lbfgs", loss="logistic", alpha=1e-3, epochs=500).fit(X, y)


def test_lbfgs_undoes_an_iteration_that_raises_the_loss():
    """Whatever its rules, the run never ends above the lowest loss it reached."""
    X, y = _separable(seed=4)
    est = JAXOptimizer("lbfgs", loss="logistic", epochs=300, gtol=0.0, ftol=0.0)
    with pytest.warns(SeparationWarning):
        est.fit(X, y)
    h = est.history_["loss"]
    assert h[-1] == h.min() and np.all(np.diff(h) <= 0) and not est.diverged_


def test_lbfgs_gtol_and_ftol():
    X, y, _ = _problem("logistic")
    loose = JAXOptimizer("lbfgs", loss="logistic", alpha=0.01, epochs=500, dtype="float64", gtol=1e-2, ftol=0.0)
    tight = JAXOptimizer("lbfgs", loss="logistic", alpha=0.01, epochs=500, dtype="float64", gtol=1e-9, ftol=0.0)
    loose.fit(X, y)
    tight.fit(X, y)
    assert loose.converged_ and tight.converged_ and loose.n_epochs_ < tight.n_epochs_
    Y = encode_labels(y)[0]
    for est, gtol in ((loose, 1e-2), (tight, 1e-9)):
        _, gw, gb = _model.loss_and_grad(X, Y, est.coef_, est.intercept_, loss="logistic", alpha=0.01, xp=np)
        assert max(np.abs(gw).max(), np.abs(gb).max()) <= gtol
    stalled = JAXOptimizer("lbfgs", loss="logistic", alpha=0.01, epochs=500, dtype="float64", gtol=0.0, ftol=1e-3)
    h = stalled.fit(X, y).history_["loss"]
    assert stalled.converged_ and h[-2] - h[-1] <= 1e-3 * max(abs(h[-2]), abs(h[-1]), 1.0)
    assert np.all(h[:-2] - h[1:-1] > 1e-3 * np.maximum(np.maximum(np.abs(h[:-2]), np.abs(h[1:-1])), 1.0))
