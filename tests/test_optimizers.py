"""NumPy reference optimizers (package ``optimizers``) against optax and closed-form optima."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize
from _helpers import classification, regression
from _reference import REFERENCE
from sklearn.exceptions import DataConversionWarning

import optimizers
from accel import _orders
from accel.linear import DivergenceWarning, _model
from accel.linear._estimator import NotFittedError
from accel.train import _optax
from optimizers import SGD, AdaGrad, Adam, AdamW, MomentumSGD, NesterovMomentum

CLASSES = REFERENCE
# non-default hyperparameters, so a rule that ignores its arguments is caught
CUSTOM = {
    "sgd": {},
    "momentum": {"momentum": 0.7},
    "nesterov": {"momentum": 0.8},
    "adagrad": {"initial_accumulator_value": 0.3, "eps": 1e-5},
    "rmsprop": {"decay": 0.8, "eps": 1e-6},
    "adam": {"b1": 0.8, "b2": 0.99, "eps": 1e-6},
    "adamw": {"b1": 0.85, "b2": 0.98, "eps": 1e-7, "weight_decay": 0.3},
}
NOISY = {"intercept": 0.5, "noise": 0.1}  # regression(n, d, **NOISY): y = X @ w + 0.5 + 0.1 ε
LOGIT = {"coef": [1.5, -1.0, 0.5], "intercept": -0.3}  # classification(n, 3, **LOGIT)


def test_public_api():
    assert set(optimizers.__all__) >= {c.__name__ for c in CLASSES.values()}
    assert {c._name for c in CLASSES.values()} == set(_optax.OPTIMIZER_NAMES)
    for name, cls in CLASSES.items():
        assert cls.__doc__ and "θ ←" in cls.__doc__, f"{cls.__name__} docstring lacks its update"
        params = cls().get_params()
        for key, default in _optax.HYPERPARAMETERS[name].items():
            assert params[key] == default  # defaults come from the one table


@pytest.mark.parametrize("custom", [False, True], ids=["defaults", "custom"])
@pytest.mark.parametrize("name", _optax.OPTIMIZER_NAMES)
def test_update_rule_matches_optax(name, custom):
    """Three steps of the NumPy rule vs the optax transformation on random params/gradients."""
    hyper = CUSTOM[name] if custom else {}
    lr = 0.03
    model = CLASSES[name](learning_rate=lr, **hyper)
    model._h = {k: np.float64(v) for k, v in model._hyperparameters().items()}
    rng = np.random.default_rng(7)
    theta = rng.standard_normal(6)
    state = model._init_state(theta)
    with jax.enable_x64(True):
        tx = _optax.make_optimizer(name, lr, True, **hyper)
        params = {"w": jnp.asarray(theta[:-1]), "b": jnp.asarray(theta[-1])}
        opt_state = tx.init(params)
        for _ in range(3):
            g = rng.standard_normal(6)
            u, state = model._direction(g, state, theta)
            theta = theta - lr * u
            updates, opt_state = tx.update(
                {"w": jnp.asarray(g[:-1]), "b": jnp.asarray(g[-1])}, opt_state, params
            )
            params = optax.apply_updates(params, updates)
            want = np.append(np.asarray(params["w"]), np.asarray(params["b"]))
            np.testing.assert_allclose(theta, want, rtol=1e-13, atol=1e-15)


def _optax_loop(name, X, y, *, loss, epochs, batch_size, lr=0.05, fit_intercept=True, **hyper):
    """The contract written directly with optax (float64): the independent reference."""
    n, d = X.shape
    with jax.enable_x64(True):
        tx = _optax.make_optimizer(name, lr, fit_intercept, **hyper)
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        params = {"w": jnp.zeros(d), "b": jnp.zeros(())}
        state = tx.init(params)

        def full(p):
            return _model.loss_and_grad(Xj, yj, p["w"], p["b"], loss=loss, fit_intercept=fit_intercept)

        def step(params, state, Xb, yb):
            _, gw, gb = _model.loss_and_grad(
                Xb, yb, params["w"], params["b"], loss=loss, fit_intercept=fit_intercept
            )
            updates, state = tx.update({"w": gw, "b": gb}, state, params)
            return optax.apply_updates(params, updates), state

        losses = [float(full(params)[0])]
        for epoch in range(epochs):
            if batch_size is None:
                batches = [np.arange(n)]
            else:
                order = _orders.epoch_permutation(0, epoch, n)
                batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
            for rows in batches:
                params, state = step(params, state, Xj[rows], yj[rows])
            losses.append(float(full(params)[0]))
        return np.asarray(params["w"]), float(params["b"]), np.array(losses)


@pytest.mark.parametrize("batch_size", [None, 16], ids=["full", "minibatch"])
@pytest.mark.parametrize("loss", _model.LOSSES)
@pytest.mark.parametrize("name", _optax.OPTIMIZER_NAMES)
def test_fit_matches_plain_optax_loop(name, loss, batch_size):
    X, y = regression(50, 4, **NOISY) if loss == "mse" else classification(50, 3, **LOGIT)
    model = CLASSES[name](learning_rate=0.05, epochs=4, batch_size=batch_size, loss=loss, **CUSTOM[name])
    model.fit(X, y)
    w, b, losses = _optax_loop(name, X, y, loss=loss, epochs=4, batch_size=batch_size, **CUSTOM[name])
    np.testing.assert_allclose(model.coef_, w, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(model.history_["loss"], losses, rtol=1e-12)
    assert model.n_epochs_ == 4 and len(model.history_["grad_norm"]) == 5


def test_last_partial_batch_is_kept():
    """n=10, batch_size=4: three steps per epoch (4 + 4 + 2), counted by Adam's step counter."""
    X, y = regression(10, 4, **NOISY)
    steps = []
    model = Adam(epochs=3, batch_size=4)
    direction = model._direction
    model._direction = lambda g, s, t: (steps.append(1), direction(g, s, t))[1]
    model.fit(X, y)
    assert len(steps) == 9


def test_schedule_learning_rate_matches_optax():
    X, y = regression(60, 4, **NOISY)
    sched = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.5)
    model = SGD(learning_rate=sched, epochs=3, batch_size=25).fit(X, y)
    w, b, _ = _optax_loop("sgd", X, y, loss="mse", epochs=3, batch_size=25, lr=sched)
    np.testing.assert_allclose(model.coef_, w, rtol=1e-7)
    np.testing.assert_allclose(model.intercept_, b, rtol=1e-7)


@pytest.mark.parametrize(
    ("cls", "lr", "epochs"),
    [(SGD, 0.5, 400), (MomentumSGD, 0.1, 400), (NesterovMomentum, 0.1, 400), (Adam, 0.05, 3000), (AdaGrad, 1.0, 3000)],
)
def test_least_squares_converges_to_lstsq(cls, lr, epochs):
    X, y = regression(200, 5, **NOISY)
    model = cls(learning_rate=lr, epochs=epochs).fit(X, y)
    A = np.column_stack([X, np.ones(len(X))])
    want = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(np.append(model.coef_, model.intercept_), want, atol=1e-6)
    assert not model.diverged_ and model.score(X, y) > 0.99


@pytest.mark.parametrize(("cls", "lr"), [(SGD, 1.0), (NesterovMomentum, 0.3), (Adam, 0.05)])
def test_logistic_converges_to_unregularised_optimum(cls, lr):
    X, y = classification(300, 3, **LOGIT)
    A = np.column_stack([X, np.ones(len(X))])

    def nll(theta):
        z = A @ theta
        return np.mean(np.logaddexp(0, z) - y * z), A.T @ (1 / (1 + np.exp(-z)) - y) / len(y)

    want = scipy.optimize.minimize(nll, np.zeros(4), jac=True, method="BFGS", options={"gtol": 1e-12}).x
    model = cls(learning_rate=lr, epochs=4000, loss="logistic").fit(X, y)
    np.testing.assert_allclose(np.append(model.coef_, model.intercept_), want, atol=1e-5)
    assert model.history_["grad_norm"][-1] < 1e-6
    assert 0.6 < model.score(X, y) <= 1.0


@pytest.mark.parametrize("batch_size", [None, 8])
@pytest.mark.parametrize("name", _optax.OPTIMIZER_NAMES)
def test_divergence_keeps_last_finite_parameters(name, batch_size):
    X, y = regression(40, 4, **NOISY)
    X = X * 100
    # plain/momentum SGD blow up geometrically; adaptive steps are bounded by ~lr, so they
    # overflow only with an absurd learning rate (in the first epoch)
    lr = 1e6 if name in ("sgd", "momentum", "nesterov") else 1e200
    model = CLASSES[name](learning_rate=lr, epochs=300, batch_size=batch_size)
    with pytest.warns(DivergenceWarning, match="non-finite"):
        model.fit(X, y)
    assert model.diverged_ and not model.converged_
    assert np.all(np.isfinite(model.coef_)) and np.isfinite(model.intercept_)
    assert np.all(np.isfinite(model.history_["loss"]))
    assert model.n_epochs_ == len(model.history_["loss"]) - 1 < 300
    # the kept parameters are the ones whose loss was recorded last
    last = _model.loss_value(X, y, model.coef_, model.intercept_, loss="mse")
    np.testing.assert_allclose(last, model.history_["loss"][-1], rtol=1e-12)


def test_tol_stops_with_converged():
    X, y = regression(60, 4, **NOISY)
    model = Adam(learning_rate=0.05, epochs=5000, tol=1e-9).fit(X, y)
    assert model.converged_ and not model.diverged_ and model.n_epochs_ < 5000
    h = model.history_["loss"]
    assert h[-2] - h[-1] <= 1e-9 * abs(h[-2])
    assert np.all(h[:-2] - h[1:-1] > 1e-9 * np.abs(h[:-2]))
    assert not Adam(epochs=20).fit(X, y).converged_


def test_attributes_dtypes_and_prediction():
    X, y = regression(60, 4, **NOISY)
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        model = Adam(learning_rate=0.05, epochs=300).fit(X, y[:, None])
    assert model.coef_.shape == (4,) and model.coef_.dtype == np.float64
    assert isinstance(model.intercept_, np.float64)
    assert model.history_["loss"].shape == model.history_["grad_norm"].shape == (301,)
    np.testing.assert_allclose(model.predict(X), X @ model.coef_ + model.intercept_)
    assert model.score(X, y) > 0.98
    m32 = Adam(learning_rate=0.05, epochs=300, dtype="float32").fit(X, y)
    assert m32.coef_.dtype == np.float32 and m32.history_["loss"].dtype == np.float32
    np.testing.assert_allclose(m32.coef_, model.coef_, rtol=1e-4)
    no_b = SGD(learning_rate=0.1, epochs=50, fit_intercept=False).fit(X, y)
    assert no_b.intercept_ == 0.0


def test_logistic_prediction_api():
    X, y = classification(80, 3, **LOGIT)
    model = Adam(learning_rate=0.1, epochs=200, loss="logistic").fit(X, y)
    labels = model.predict(X)
    assert set(np.unique(labels)) <= {0.0, 1.0}
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(labels, (proba[:, 1] > 0.5).astype(float))
    assert model.score(X, y) == np.mean(labels == y)
    with pytest.raises(ValueError, match="predict_proba"):
        Adam(epochs=1).fit(*regression(60, 4, **NOISY)).predict_proba(X)


def test_sklearn_conventions():
    model = AdamW(learning_rate=0.1, weight_decay=0.2)
    params = model.get_params()
    assert params["weight_decay"] == 0.2 and params["learning_rate"] == 0.1 and params["epochs"] == 1000
    assert repr(model) == "AdamW(learning_rate=0.1, weight_decay=0.2)"
    clone = type(model)(**params)
    assert clone.get_params() == params
    assert model.set_params(epochs=5, b1=0.5) is model and model.epochs == 5 and model.b1 == 0.5
    with pytest.raises(ValueError, match="invalid parameter 'momentum'"):
        model.set_params(momentum=0.9)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(np.ones((2, 4)))
    model.fit(*regression(60, 4, **NOISY))
    with pytest.raises(ValueError, match="fitted with 4"):
        model.predict(np.ones((2, 3)))


def test_mini_batch_order_comes_from_the_shared_keys():
    X, y = regression(30, 4, **NOISY)
    a = SGD(epochs=2, batch_size=7, random_state=3).fit(X, y)
    b = SGD(epochs=2, batch_size=7, random_state=3).fit(X, y)
    c = SGD(epochs=2, batch_size=7, random_state=4).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)
    # batch_size >= n is the full batch
    np.testing.assert_allclose(
        SGD(epochs=3, batch_size=30).fit(X, y).coef_, SGD(epochs=3).fit(X, y).coef_, rtol=0
    )


def test_block_epoch_orders_equal_epoch_permutation():
    from accel._orders import EpochOrders

    orders = EpochOrders(2**63 + 11, 50)
    for epoch in (0, 1, 2, 63, 64, 65, 200, 3):
        np.testing.assert_array_equal(orders.get(epoch), _orders.epoch_permutation(2**63 + 11, epoch, 50))


_X, _Y = regression(8, 4, **NOISY)


@pytest.mark.parametrize(
    ("kwargs", "X", "y", "exc", "match"),
    [
        ({}, np.where(np.eye(8, 4) > 0, np.nan, _X), _Y, ValueError, "X contains NaN"),
        ({}, _X, np.full(8, np.inf), ValueError, "y contains NaN"),
        ({}, _X[0], _Y, ValueError, "X must be 2-D"),
        ({}, _X, _Y[:5], ValueError, "different lengths"),
        ({}, np.ones((0, 4)), np.ones(0), ValueError, "X is empty"),
        ({}, _X.astype(str), _Y, TypeError, "X must have a real numeric dtype"),
        ({"loss": "logistic"}, _X, _Y, ValueError, r"continuous values in y.*at least two classes"),
        ({"loss": "huber"}, _X, _Y, ValueError, "loss must be one of"),
        ({"learning_rate": 0}, _X, _Y, ValueError, "learning_rate must be > 0"),
        ({"learning_rate": -0.1}, _X, _Y, ValueError, "learning_rate must be > 0"),
        ({"epochs": 0}, _X, _Y, ValueError, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, _X, _Y, ValueError, "batch_size must be an integer >= 1"),
        ({"weight_decay": -0.01}, _X, _Y, ValueError, "weight_decay must be in"),
        ({"tol": -1.0}, _X, _Y, ValueError, "tol must be >= 0"),
        ({"random_state": -1}, _X, _Y, ValueError, "random_state must be an integer"),
        ({"random_state": None}, _X, _Y, TypeError, "random_state must be an integer"),
        ({"dtype": "float16"}, _X, _Y, ValueError, "dtype must be one of"),
        ({"fit_intercept": "yes"}, _X, _Y, TypeError, "fit_intercept must be True or False"),
    ],
)
def test_bad_input_errors_name_the_parameter(kwargs, X, y, exc, match):
    with pytest.raises(exc, match=match):
        AdamW(**{"epochs": 2, **kwargs}).fit(X, y)


def test_no_warnings_on_extreme_logistic_margins():
    """Margins of ~1e10 raise no overflow warning (the logistic loss is computed stably);
    the loss exceeding 1e8 times its initial value is the divergence rule's case, so the
    one warning left is its DivergenceWarning."""
    X, y = classification(80, 3, **LOGIT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", DivergenceWarning)
        model = SGD(learning_rate=1e4, epochs=20, loss="logistic").fit(X * 1e3, y)
    assert np.all(np.isfinite(model.coef_)) and model.diverged_


def test_verbose_prints(capsys):
    SGD(epochs=20, verbose=True).fit(*regression(60, 4, **NOISY))
    out = capsys.readouterr().out
    assert out.count("SGD epoch") == 10 and "epoch 20/20" in out
