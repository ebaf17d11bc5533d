"""The shared linear-model math (accel.linear._model) and the optimizer table (accel.train._optax)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from accel import _checks
from accel.linear import _model
from accel.linear._data import check_X, check_X_y, encode_labels
from accel.train import _optax
from accel.train._optax import check_learning_rate


def _data(loss: str, n: int = 37, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(float) if loss == "logistic" else rng.standard_normal(n)
    w = rng.standard_normal(d)
    b = np.float64(rng.standard_normal())
    return X, y, w, b


def _reference_loss(X, y, w, b, loss):
    z = X @ w + b
    if loss == "mse":
        return 0.5 * jnp.mean((z - y) ** 2)
    return jnp.mean(jnp.logaddexp(0.0, z) - y * z)


@pytest.mark.parametrize("loss", _model.LOSSES)
def test_loss_and_grad_match_autodiff_numpy_and_jax(loss):
    X, y, w, b = _data(loss)
    with jax.enable_x64(True):
        ref_l, (ref_w, ref_b) = jax.value_and_grad(_reference_loss, argnums=(2, 3))(
            jnp.asarray(X), jnp.asarray(y), jnp.asarray(w), jnp.asarray(b), loss
        )
        jl, jw, jb = _model.loss_and_grad(
            jnp.asarray(X), jnp.asarray(y), jnp.asarray(w), jnp.asarray(b), loss=loss
        )
        assert jw.dtype == jnp.float64
        for got, want in ((jl, ref_l), (jw, ref_w), (jb, ref_b)):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)
    nl, nw, nb = _model.loss_and_grad(X, y, w, b, loss=loss)
    assert isinstance(nw, np.ndarray) and nw.dtype == np.float64
    for got, want in ((nl, ref_l), (nw, ref_w), (nb, ref_b)):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12)
    np.testing.assert_allclose(_model.loss_value(X, y, w, b, loss=loss), nl, rtol=1e-14)


@pytest.mark.parametrize("loss", _model.LOSSES)
def test_zero_weight_rows_are_ignored(loss):
    X, y, w, b = _data(loss, n=20)
    rng = np.random.default_rng(1)
    Xp = np.concatenate([X, rng.standard_normal((7, X.shape[1]))])
    yp = np.concatenate([y, np.ones(7)])
    weight = np.concatenate([np.ones(20), np.zeros(7)])
    want = _model.loss_and_grad(X, y, w, b, loss=loss)
    got = _model.loss_and_grad(Xp, yp, w, b, loss=loss, weight=weight)
    for g, v in zip(got, want, strict=True):
        np.testing.assert_allclose(g, v, rtol=1e-13)


def test_no_intercept_gradient_is_zero():
    X, y, w, b = _data("mse")
    _, _, gb = _model.loss_and_grad(X, y, w, b, loss="mse", fit_intercept=False)
    assert gb == 0.0


def test_logistic_is_stable_for_huge_margins():
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    X = np.eye(5)
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    value, gw, _ = _model.loss_and_grad(X, y, z, 0.0, loss="logistic")  # warnings are errors
    assert np.isfinite(value) and np.all(np.isfinite(gw))
    np.testing.assert_allclose(_model.sigmoid(z), [0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0], atol=1e-16)
    np.testing.assert_allclose(value, (1e4 + np.log(2) + 1e4) / 5, rtol=1e-12)


def test_predict_and_score():
    z = np.array([-1.0, 2.0, 0.5])
    np.testing.assert_array_equal(_model.predict_from_decision(z, "logistic"), [0.0, 1.0, 1.0])
    assert _model.score_from_predictions(np.array([0.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0]), "logistic") == pytest.approx(2 / 3)
    y = np.array([1.0, 2.0, 3.0])
    assert _model.score_from_predictions(y, y, "mse") == 1.0
    assert _model.score_from_predictions(y, np.full(3, 2.0), "mse") == 0.0
    assert _model.score_from_predictions(np.ones(3), np.ones(3), "mse") == 1.0


_X = np.ones((4, 2))
_Y = np.ones(4)


@pytest.mark.parametrize(
    ("X", "y", "loss", "exc", "match"),
    [
        (np.array([[np.nan, 1.0]] * 4), _Y, "mse", ValueError, "X contains NaN"),
        (np.array([[np.inf, 1.0]] * 4), _Y, "mse", ValueError, "X contains NaN"),
        (_X, np.array([1.0, np.nan, 1.0, 1.0]), "mse", ValueError, "y contains NaN"),
        (np.ones(4), _Y, "mse", ValueError, "X must be 2-D"),
        (np.ones((2, 2, 2)), _Y, "mse", ValueError, "X must be 2-D"),
        (_X, np.ones(3), "mse", ValueError, "different lengths"),
        (np.ones((0, 2)), np.ones(0), "mse", ValueError, "X is empty"),
        (np.ones((4, 0)), _Y, "mse", ValueError, "X is empty"),
        (np.array([["a", "b"]] * 4), _Y, "mse", TypeError, "X must have a real numeric dtype"),
        (_X.astype(complex), _Y, "mse", ValueError, "Complex data not supported: X has dtype"),
        (_X, np.array(["a"] * 4), "mse", TypeError, "y must have a real numeric dtype"),
        (_X, np.ones((4, 2, 1)), "mse", ValueError, r"y must have shape \(n_samples,\) or \(n_samples, n_outputs\)"),
        (_X, np.ones((4, 2)), "logistic", ValueError, r"y must have shape \(n_samples,\) or \(n_samples, 1\)"),
        (_X, _Y, "hinge", ValueError, "loss must be one of"),
        (_X, _Y, 3, TypeError, "loss must be one of"),
        ([[1, 2], [3]], _Y, "mse", TypeError, "X must be array-like"),
    ],
)
def test_check_X_y_errors(X, y, loss, exc, match):
    with pytest.raises(exc, match=match):
        check_X_y(X, y, loss)


def _planted(value, *more):
    X = np.random.default_rng(0).standard_normal((50, 7))
    X[13, 2] = value
    for row, col, v in more:
        X[row, col] = v
    return X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("X", "bad"),
    [
        (_planted(np.nan), True),
        (_planted(np.inf), True),
        (_planted(-np.inf), True),
        (_planted(np.inf, (13, 5, -np.inf)), True),  # +inf and -inf in one row: a NaN sum
        (_planted(np.nan, (40, 0, np.inf)), True),
        (_planted(1.0), False),
        (_planted(3e38, (13, 3, 3e38)), False),  # finite, but the float32 row sum overflows
        (np.asfortranarray(_planted(np.nan)), True),
        (_planted(np.inf)[:, ::2], True),  # a strided view
    ],
)
def test_finiteness_test_is_exact(X, bad, dtype):
    """A 2-D float array is tested with one product X @ 1 first; the exact element-wise test
    decides whenever a row sum is not finite, so neither answer can be wrong."""
    X = X.astype(dtype, copy=False) if dtype == "float64" else X.astype(dtype)
    if bad:
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            check_X(X)
    else:
        assert check_X(X) is X
    assert check_X(X, finite=False) is X  # the caller's own test (JAXOptimizer's program)


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.array([0.5, 1.0, 0.0, 1.0]), "Unknown label type: continuous.*at least two classes"),
        (np.ones(4), "y contains one class only"),
        (np.array([1, "a"], dtype=object), "Unknown label type: y mixes"),
    ],
)
def test_labels_errors(y, match):
    with pytest.raises(ValueError, match=match):
        encode_labels(y)


def test_labels_any_two_values():
    y01, classes = encode_labels(np.array(["b", "a", "b"]))
    assert classes.tolist() == ["a", "b"] and y01.tolist() == [1.0, 0.0, 1.0]
    y01, classes = encode_labels(jnp.array([-1.0, 1.0]))
    assert classes.tolist() == [-1.0, 1.0] and y01.tolist() == [0.0, 1.0]


def test_labels_more_classes_are_one_hot():
    Y, classes = encode_labels(np.array([2, 0, 7, 0]))
    assert classes.tolist() == [0, 2, 7]
    assert Y.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 0, 0]]


def test_check_X_y_accepts_lists_jax_and_column_y():
    X, y = check_X_y([[1, 2], [3, 4]], [[0], [1]], "logistic")
    assert isinstance(X, np.ndarray) and y.shape == (2,)
    X, y = check_X_y(jnp.ones((3, 2)), jnp.ones((3, 1)), "mse")
    assert isinstance(X, jax.Array) and y.shape == (3,)
    with pytest.raises(ValueError, match="X contains NaN"):
        check_X_y(jnp.full((3, 2), jnp.nan), jnp.ones(3), "mse")
    with pytest.raises(ValueError, match="3 features"):
        check_X(np.ones((2, 3)), n_features=2)


@pytest.mark.parametrize(
    ("fn", "value", "exc", "match"),
    [
        (check_learning_rate, 0.0, ValueError, "learning_rate must be > 0"),
        (check_learning_rate, -1, ValueError, "learning_rate must be > 0"),
        (check_learning_rate, float("nan"), ValueError, "learning_rate must be finite"),
        (check_learning_rate, "0.1", TypeError, "learning_rate must be a real number"),
        (functools.partial(_checks.check_int, name="epochs", minimum=1), 0, ValueError, "epochs must be an integer >= 1"),
        (functools.partial(_checks.check_int, name="epochs", minimum=1), 2.5, TypeError, "epochs must be an integer"),
        (functools.partial(_checks.check_int, name="epochs", minimum=1), True, TypeError, "epochs must be an integer"),
        (functools.partial(_checks.check_int, name="batch_size", minimum=1, allow_none=True), 0, ValueError, "batch_size must be an integer >= 1"),
        (functools.partial(_checks.check_int, name="batch_size", minimum=1, allow_none=True), 1.0, TypeError, "batch_size must be an integer"),
        (functools.partial(_checks.check_real, name="tol", minimum=0.0, allow_none=True), -1e-3, ValueError, "tol must be >= 0"),
    ],
)
def test_hyperparameter_errors(fn, value, exc, match):
    with pytest.raises(exc, match=match):
        fn(value)


def test_hyperparameter_accepts():
    sched = optax.constant_schedule(0.1)
    assert check_learning_rate(sched) is sched
    assert check_learning_rate(np.float32(0.5)) == 0.5
    assert _checks.check_int(None, "batch_size", minimum=1, allow_none=True) is None
    tol = functools.partial(_checks.check_real, name="tol", minimum=0.0, allow_none=True)
    assert tol(None) is None and tol(0) == 0.0


# ---------------------------------------------------------------------------------------
# accel.train._optax
# ---------------------------------------------------------------------------------------

_OPTAX_EQUIVALENT = {
    "sgd": lambda: optax.sgd(0.05),
    "momentum": lambda: optax.sgd(0.05, momentum=0.9),
    "nesterov": lambda: optax.sgd(0.05, momentum=0.9, nesterov=True),
    "adagrad": lambda: optax.adagrad(0.05, initial_accumulator_value=0.1, eps=1e-7),
    "rmsprop": lambda: optax.rmsprop(0.05, decay=0.9, eps=1e-8),
    "adam": lambda: optax.adam(0.05, b1=0.9, b2=0.999, eps=1e-8),
    "adamw": lambda: optax.adamw(
        0.05, weight_decay=0.01, mask={"w": True, "b": False}
    ),
}


def test_table_lists_the_seven_optimizers():
    assert _optax.OPTIMIZER_NAMES == ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
    assert set(_OPTAX_EQUIVALENT) == set(_optax.OPTIMIZER_NAMES)


@pytest.mark.parametrize("name", _optax.OPTIMIZER_NAMES)
def test_make_optimizer_defaults_equal_optax(name):
    tx = _optax.make_optimizer(name, 0.05, True)
    ref = _OPTAX_EQUIVALENT[name]()
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.standard_normal(4), jnp.float32), "b": jnp.float32(0.7)}
    s, rs = tx.init(params), ref.init(params)
    p, rp = params, params
    for _ in range(3):
        g = {"w": jnp.asarray(rng.standard_normal(4), jnp.float32), "b": jnp.float32(rng.standard_normal())}
        u, s = tx.update(g, s, p)
        ru, rs = ref.update(g, rs, rp)
        p, rp = optax.apply_updates(p, u), optax.apply_updates(rp, ru)
    for k in params:
        np.testing.assert_array_equal(np.asarray(p[k]), np.asarray(rp[k]))


def test_adamw_does_not_decay_the_intercept():
    tx = _optax.make_optimizer("adamw", 0.1, True, weight_decay=0.5)
    params = {"w": jnp.ones(2), "b": jnp.ones(())}
    zero = {"w": jnp.zeros(2), "b": jnp.zeros(())}
    u, _ = tx.update(zero, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(u["w"]), -0.05, rtol=1e-6)
    assert float(u["b"]) == 0.0
    tx = _optax.make_optimizer("adamw", 0.1, False, weight_decay=0.5)
    u, _ = tx.update(zero, tx.init(params), params)
    assert float(u["b"]) == pytest.approx(-0.05)


def test_make_optimizer_accepts_schedules_and_transformations():
    sched = optax.linear_schedule(0.1, 0.0, 10)
    tx = _optax.make_optimizer("sgd", sched)
    params = {"w": jnp.ones(2), "b": jnp.zeros(())}
    g = {"w": jnp.ones(2), "b": jnp.ones(())}
    u, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(u["w"]), -0.1, rtol=1e-6)
    ready = optax.lion(1e-3)
    assert _optax.make_optimizer(ready) is ready
    with pytest.raises(TypeError, match="ready-made"):
        _optax.make_optimizer(ready, b1=0.5)


@pytest.mark.parametrize(
    ("args", "hyper", "exc", "match"),
    [
        (("adamax",), {}, ValueError, "unknown optimizer 'adamax'"),
        ((3,), {}, TypeError, "optimizer must be one of"),
        (("adam",), {"beta1": 0.9}, TypeError, "no hyperparameter 'beta1'"),
        (("sgd",), {"momentum": 0.9}, TypeError, "no hyperparameter 'momentum'"),
        (("adamw",), {"weight_decay": -0.1}, ValueError, "weight_decay must be in"),
        (("adam",), {"b1": 1.0}, ValueError, "b1 must be in"),
        (("adam",), {"eps": "x"}, TypeError, "eps must be a real number"),
        (("rmsprop",), {"decay": 1.5}, ValueError, "decay must be in"),
        (("adam", 0.0), {}, ValueError, "learning_rate must be > 0"),
        (("adam", -1.0), {}, ValueError, "learning_rate must be > 0"),
    ],
)
def test_make_optimizer_errors(args, hyper, exc, match):
    with pytest.raises(exc, match=match):
        _optax.make_optimizer(*args, **hyper)


def test_check_hyperparameters_fills_defaults():
    assert _optax.check_hyperparameters("adamw", b2=0.99) == {
        "b1": 0.9, "b2": 0.99, "eps": 1e-8, "weight_decay": 0.01
    }
    assert _optax.check_hyperparameters("sgd") == {}


@pytest.mark.parametrize("xp_name", ["numpy", "jax"])
def test_rmatvec_row_blocks_equal_the_single_product(xp_name):
    rng = np.random.default_rng(3)
    X, r = rng.standard_normal((96, 7)), rng.standard_normal(96)
    want = X.T @ r
    if xp_name == "jax":
        with jax.enable_x64(True):
            for blocks in (1, 4, 6):
                got = np.asarray(_model.rmatvec(jnp.asarray(r), jnp.asarray(X), blocks))
                np.testing.assert_allclose(got, want, rtol=1e-12)
    else:
        for blocks in (1, 4, 6):
            np.testing.assert_allclose(_model.rmatvec(r, X, blocks), want, rtol=1e-12)


def test_row_blocks_for():
    assert _model.row_blocks_for(160, 51) == 1  # small: one product
    assert _model.row_blocks_for(10000, 785) == 16
    assert _model.row_blocks_for(9973, 785) == 1  # prime n: no divisor
    assert _model.row_blocks_for(2048, 512) == 16
    assert _model.row_blocks_for(600, 4000) == 8  # 10 and 12 would leave < 64 rows per block
