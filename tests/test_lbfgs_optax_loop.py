"""JAXOptimizer('lbfgs') is optax's L-BFGS with its documented settings, iteration for iteration.

The reference is the plain loop of optax's documentation: ``optax.lbfgs(learning_rate)``
(memory size 10, zoom line search) with ``value_and_grad_from_state``, one update per epoch,
on the model's objective written out here (``L = mean(log(1 + exp(z)) - y z)``,
``z = X w + b``). The history of the estimator must be this loop's loss after each
iteration; a problem with more features than the memory size makes the memory visible
(memory 5 or 20 gives another history).

The comparison is on the logistic loss only. On a quadratic objective (``mse``) the zoom
line search's cubic interpolation is degenerate (the cubic term is zero up to rounding), so
its trial steps depend on the last bits of the gradient: optax's own loop, run on data
changed by one ulp, ends its first iteration at a loss 65% away. Two correct computations
of the same gradient (the estimator's ``X^T r`` and autodiff's) differ in those bits, so no
tolerance could compare them there. The test checks first that the reference is stable
under such one-ulp changes of the data, so a failure means the estimator, not rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import JAXOptimizer

N, D, EPOCHS = 120, 24, 14


def _data():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N, D)) * np.geomspace(0.2, 5.0, D)  # ill-conditioned: many iterations
    z = X @ rng.standard_normal(D) / D + 0.3
    return X, (rng.random(N) < 1 / (1 + np.exp(-z))).astype(np.float64)


def _objective(X, y):
    X, y = jnp.asarray(X), jnp.asarray(y)

    def f(p):
        z = X @ p["w"] + p["b"]
        return jnp.mean(jnp.logaddexp(0.0, z) - y * z)

    return f


def _optax_loop(X, y, memory_size=10, learning_rate=1.0):
    f = _objective(X, y)
    opt = optax.lbfgs(learning_rate, memory_size=memory_size)
    value_and_grad = optax.value_and_grad_from_state(f)

    @jax.jit
    def step(p, state):
        value, grad = value_and_grad(p, state=state)
        updates, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=f)
        return optax.apply_updates(p, updates), state

    p = {"w": jnp.zeros(D, jnp.float64), "b": jnp.zeros((), jnp.float64)}
    state = opt.init(p)
    history = [float(f(p))]
    for _ in range(EPOCHS):
        p, state = step(p, state)
        history.append(float(f(p)))
    return np.array(history), p


def _relative(a, b):
    return np.max(np.abs(a - b) / np.abs(b))


def test_lbfgs_history_is_the_plain_optax_loop():
    X, y = _data()
    with jax.enable_x64(True):
        want, p = _optax_loop(X, y)
        rng = np.random.default_rng(1)
        nudged = [_optax_loop(X * (1 + rng.choice([-1.0, 0.0, 1.0], X.shape) * 2.0**-52), y)[0] for _ in range(2)]
        other = {m: _optax_loop(X, y, memory_size=m)[0] for m in (5, 20)}
        shorter = _optax_loop(X, y, learning_rate=0.5)[0]
    # the reference does not hang on the last bits of the data (module doc)
    assert max(_relative(h, want) for h in nudged) < 1e-12
    model = JAXOptimizer("lbfgs", loss="logistic", epochs=EPOCHS, dtype="float64").fit(X, y)
    np.testing.assert_allclose(model.history_["loss"], want, rtol=1e-9)
    np.testing.assert_allclose(model.coef_, np.asarray(p["w"]), rtol=1e-7, atol=1e-10)
    # the comparison can tell the settings apart: another memory size or first step differs
    for m, hist in other.items():
        assert _relative(hist, want) > 1e-6, m
    assert _relative(shorter, want) > 1e-6
    # and an explicit learning rate is passed through as optax.lbfgs(learning_rate)
    half = JAXOptimizer("lbfgs", loss="logistic", learning_rate=0.5, epochs=EPOCHS, dtype="float64").fit(X, y)
    np.testing.assert_allclose(half.history_["loss"], shorter, rtol=1e-9)
