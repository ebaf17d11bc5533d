"""``BaseOptimizer.step(X_batch, y_batch)``: the 002 document's hand-written loop."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from _helpers import regression

import optimizers

CLASSES = ["SGD", "MomentumSGD", "NesterovMomentum", "AdaGrad", "RMSProp", "Adam", "AdamW"]


@pytest.mark.parametrize("name", CLASSES)
def test_full_batch_steps_equal_fit_bit_for_bit(name):
    X, y = regression(48, 4, intercept=0.3)
    cls = getattr(optimizers, name)
    stepped = cls(learning_rate=0.05)
    losses = [stepped.step(X, y) for _ in range(7)]
    fitted = cls(learning_rate=0.05, epochs=7).fit(X, y)
    np.testing.assert_array_equal(stepped.coef_, fitted.coef_)
    assert stepped.intercept_ == fitted.intercept_
    np.testing.assert_array_equal(losses, fitted.history_["loss"][:-1])  # the loss before each update


def test_minibatch_steps_follow_optax_with_a_schedule():
    X, y = regression(40, 4, intercept=0.3)
    schedule = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.9)
    opt = optimizers.Adam(learning_rate=schedule)
    tx = optax.adam(schedule)
    with jax.enable_x64(True):
        params = {"w": np.zeros(4), "b": np.zeros(())}
        state = tx.init(params)
        for start in range(0, 40, 8):
            Xb, yb = X[start : start + 8], y[start : start + 8]
            r = Xb @ params["w"] + params["b"] - yb
            expected_loss = float(r @ r / (2 * len(yb)))
            assert opt.step(Xb, yb) == pytest.approx(expected_loss, rel=1e-12)
            grads = {"w": Xb.T @ r / len(yb), "b": np.mean(r)}
            updates, state = tx.update(grads, state, params)
            params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(opt.coef_, params["w"], rtol=1e-12, atol=1e-15)
    assert opt.intercept_ == pytest.approx(float(params["b"]), rel=1e-12)
    np.testing.assert_allclose(opt.predict(X[:3]), X[:3] @ opt.coef_ + opt.intercept_)


def test_step_rejects_a_changed_feature_count_and_bad_data():
    opt = optimizers.SGD()
    opt.step(np.ones((4, 3)), np.ones(4))
    with pytest.raises(ValueError, match="X_batch has 2 features of dtype float64; the running parameters have 3"):
        opt.step(np.ones((4, 2)), np.ones(4))
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate=-1.0).step(np.ones((4, 3)), np.ones(4))
