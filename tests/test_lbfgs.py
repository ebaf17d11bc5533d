"""JAXOptimizer('lbfgs'): optax's L-BFGS against the exact optimum, and the estimator contract.

There is no NumPy reference class for L-BFGS: reproducing optax's zoom line search step for
step in NumPy would be a second implementation of it, so the test is the exact minimiser
(least squares on [X, 1]; damped Newton for the logistic loss: benchmarks._optimum)."""

from __future__ import annotations

import numpy as np
import optax
import pytest
from _compiles import COMPILES

from accel import JAXOptimizer
from accel.linear import DivergenceWarning, _model
from benchmarks._optimum import solve_optimum


def _data(loss: str, n: int = 200, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d)  # unequal scales: not a sphere
    z = X @ np.linspace(1.0, -1.0, d) / 2 + 0.4
    if loss == "logistic":
        return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return X, z + 0.3 * rng.standard_normal(n)


@pytest.mark.parametrize("loss", _model.LOSSES)
def test_reaches_the_exact_optimum(loss):
    """With a gradient tolerance far below the default (``gtol``, scipy's rule on
    ``max|g|``) the run stops at the exact minimiser, converged, before its epochs run out."""
    X, y = _data(loss)
    best = solve_optimum(X, y, loss)
    model = JAXOptimizer("lbfgs", loss=loss, epochs=60, dtype="float64", gtol=1e-10, ftol=0.0).fit(X, y)
    np.testing.assert_allclose(model.coef_, best.coef, rtol=1e-6, atol=1e-7)
    assert model.intercept_ == pytest.approx(best.intercept, rel=1e-6, abs=1e-7)
    history = model.history_["loss"]
    assert model.converged_ and model.n_epochs_ < 60 and not model.diverged_
    assert history[-1] == pytest.approx(best.loss, rel=1e-12)
    assert np.all(np.diff(history) <= 0.0)  # an iteration that raised the loss is undone
    assert model.history_["grad_norm"][-1] < 1e-6 * model.history_["grad_norm"][0]


@pytest.mark.parametrize("loss", _model.LOSSES)
def test_default_rules_stop_near_the_optimum(loss):
    """scipy's defaults (gtol 1e-5 on max|g|, ftol 2.2e-9): converged, within what gtol
    promises of the exact minimiser."""
    X, y = _data(loss)
    best = solve_optimum(X, y, loss)
    model = JAXOptimizer("lbfgs", loss=loss, epochs=200, dtype="float64").fit(X, y)
    assert model.converged_ and model.n_epochs_ < 200
    _, gw, gb = _model.loss_and_grad(X, y, model.coef_, model.intercept_, loss=loss, xp=np)
    h = model.history_["loss"]
    small_step = h[-2] - h[-1] <= 2.220446049250313e-09 * max(abs(h[-2]), abs(h[-1]), 1.0)
    assert max(np.abs(gw).max(), abs(gb)) <= 1e-5 or small_step
    assert h[-1] == pytest.approx(best.loss, rel=1e-8)


@pytest.mark.parametrize("loss", _model.LOSSES)
def test_history_is_the_loss_of_the_parameters(loss):
    """The epoch boundary reuses the line search's loss: it is the loss at the returned
    parameters (to float64 rounding), at every length of run."""
    X, y = _data(loss, n=80, d=4)
    for epochs in (1, 2, 5):
        model = JAXOptimizer("lbfgs", loss=loss, epochs=epochs, dtype="float64").fit(X, y)
        true = _model.loss_value(X, y, model.coef_, model.intercept_, loss=loss, xp=np)
        assert model.history_["loss"][-1] == pytest.approx(true, rel=1e-12)
        _, gw, gb = _model.loss_and_grad(X, y, model.coef_, model.intercept_, loss=loss, xp=np)
        assert model.history_["grad_norm"][-1] == pytest.approx(_model.grad_norm(gw, gb, np), rel=1e-9)


def test_without_intercept_is_least_squares_on_X():
    X, y = _data("mse")
    model = JAXOptimizer("lbfgs", epochs=60, fit_intercept=False, dtype="float64", gtol=1e-10, ftol=0.0).fit(X, y)
    assert model.intercept_ == 0.0
    np.testing.assert_allclose(model.coef_, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-7)


def test_float32_reaches_the_optimum_to_its_precision():
    X, y = _data("logistic")
    best = solve_optimum(X, y, "logistic")
    model = JAXOptimizer("lbfgs", loss="logistic", epochs=60).fit(X, y)
    assert model.coef_.dtype == np.float32
    got = _model.loss_value(
        X, y, model.coef_.astype(np.float64), np.float64(model.intercept_), loss="logistic", xp=np
    )
    assert got == pytest.approx(best.loss, rel=1e-6)


def test_learning_rate_scales_the_first_trial_step():
    """None means optax's default 1.0 (the same program: the same bits); any other value is
    used: it changes the path, not the optimum."""
    X, y = _data("mse")
    rules = {"gtol": 1e-10, "ftol": 0.0}
    default = JAXOptimizer("lbfgs", epochs=40, dtype="float64", **rules).fit(X, y)
    one = JAXOptimizer("lbfgs", learning_rate=1.0, epochs=40, dtype="float64", **rules).fit(X, y)
    np.testing.assert_array_equal(default.history_["loss"], one.history_["loss"])
    quarter = JAXOptimizer("lbfgs", learning_rate=0.25, epochs=5, dtype="float64", **rules).fit(X, y)
    assert quarter.history_["loss"][1] != default.history_["loss"][1]  # another first step
    # the search accepts a quarter of the quasi-Newton step (enough decrease, flat enough
    # slope): slower, to the same optimum
    assert quarter.history_["loss"][5] > default.history_["loss"][5]
    longer = JAXOptimizer("lbfgs", learning_rate=0.25, epochs=300, dtype="float64", **rules).fit(X, y)
    np.testing.assert_allclose(longer.coef_, default.coef_, rtol=1e-6, atol=1e-8)
    assert JAXOptimizer("lbfgs").get_params()["learning_rate"] is None


def test_default_learning_rate_of_first_order_optimizers_is_001():
    X, y = _data("mse")
    default = JAXOptimizer("adam", epochs=5).fit(X, y)
    explicit = JAXOptimizer("adam", learning_rate=0.01, epochs=5).fit(X, y)
    np.testing.assert_array_equal(default.history_["loss"], explicit.history_["loss"])


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"batch_size": 32}, ValueError, "optimizer_type='lbfgs' trains on the full batch"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be > 0"),
        ({"memory_size": 5}, TypeError, "unknown hyperparameter 'memory_size'"),
        ({"b1": 0.5}, TypeError, "optimizer 'lbfgs' has no hyperparameter 'b1'"),
    ],
)
def test_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        JAXOptimizer("lbfgs", **kwargs).fit(*_data("mse"))


def test_ready_made_transformation_refuses_a_learning_rate():
    X, y = _data("mse")
    with pytest.raises(ValueError, match="cannot be applied to a ready-made"):
        JAXOptimizer(optax.adam(0.1), learning_rate=0.1).fit(X, y)


def test_divergence_keeps_the_last_good_parameters():
    """An absurd first trial step: the search cannot shrink it enough in its 20 steps, the
    loss explodes, the divergence rule stops and keeps the initial parameters."""
    X, y = _data("mse", n=50, d=4)
    with pytest.warns(DivergenceWarning, match="non-finite or exceeded"):
        model = JAXOptimizer("lbfgs", learning_rate=1e30, epochs=30, dtype="float64").fit(X * 100, y)
    assert model.diverged_ and model.n_epochs_ == 0
    assert np.all(model.coef_ == 0.0) and model.intercept_ == 0.0


def test_tol_stops_when_the_loss_stalls():
    X, y = _data("logistic")
    model = JAXOptimizer("lbfgs", loss="logistic", epochs=500, tol=1e-10, dtype="float64",
                         gtol=0.0, ftol=0.0).fit(X, y)  # the tol rule alone
    assert model.converged_ and model.n_epochs_ < 100
    h = model.history_["loss"]
    assert h[-2] - h[-1] <= 1e-10 * abs(h[-2])


@pytest.mark.filterwarnings("ignore::accel.linear.ConvergenceWarning")
def test_second_fit_does_not_recompile():
    X, y = _data("logistic", n=64)
    kwargs = {"loss": "logistic", "epochs": 4, "tol": 1e-12}
    JAXOptimizer("lbfgs", **kwargs).fit(X, y).predict(X)
    before = COMPILES.count
    for change in ({"learning_rate": 0.5}, {"tol": 1e-3}, {"random_state": 9}, {"epochs": 7}):
        model = JAXOptimizer("lbfgs", **{**kwargs, **change}).fit(X, y)
        model.predict(X)
        assert model.compile_time_ == 0.0
        assert COMPILES.count == before, f"a second fit changing {change} compiled again"


def test_classifier_contract_agrees_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    X, y = _data("logistic")
    labels = np.where(y > 0, "yes", "no")
    model = JAXOptimizer("lbfgs", loss="logistic", epochs=60, dtype="float64", gtol=1e-9, ftol=0.0).fit(X, labels)
    sk = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, labels)
    np.testing.assert_allclose(model.coef_, sk.coef_[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(model.classes_, sk.classes_)
    np.testing.assert_array_equal(model.predict(X), sk.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    assert model.score(X, labels) == pytest.approx(sk.score(X, labels))
