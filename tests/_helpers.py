"""Test helpers shared by several test files: small synthetic problems, a tolerance check,
a one-hidden-layer MLP loss and the walk over the project's modules.

Every generator draws from one ``np.random.default_rng(seed)`` in a fixed order (``X``, then
the coefficients when they are not given, then the noise or the labels), so the same
arguments always give the same numbers. No test file defines these names again
(tests/test_test_layout.py).
"""

from __future__ import annotations

import importlib
import pkgutil

import jax.numpy as jnp
import numpy as np


def _linear(n, d, seed, coef, intercept, dtype):
    """``(X, z, rng)``: ``X`` ~ N(0, 1) of shape ``(n, d)`` as ``dtype`` and
    ``z = X @ coef + intercept``, ``coef`` ~ N(0, 1) drawn after ``X`` when it is None."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    coef = rng.normal(size=d) if coef is None else np.asarray(coef)
    return X, X @ coef + intercept, rng


def regression(n, d, *, seed=0, coef=None, intercept=0.0, noise=0.0, dtype=np.float64):
    """``X`` ~ N(0, 1) of shape ``(n, d)`` and ``y = X @ coef + intercept + noise * ε``,
    ``ε`` ~ N(0, 1), both as ``dtype``; ``coef`` ~ N(0, 1) when None. ``y`` is computed in
    the promoted dtype of ``X @ coef`` (a float32 ``coef`` keeps float32 ``X`` float32)."""
    X, z, rng = _linear(n, d, seed, coef, intercept, dtype)
    if noise:
        z = z + noise * rng.normal(size=n)
    return X, z.astype(dtype)


def classification(
    n, d, *, seed=0, coef=None, intercept=0.0, draw=True, labels=None, dtype=np.float64
):
    """``X`` ~ N(0, 1) of shape ``(n, d)`` and a binary ``y`` from ``z = X @ coef + intercept``
    (``coef`` ~ N(0, 1) when None): with ``draw``, ``y = 1`` with probability
    ``sigmoid(z)`` (one uniform draw per row); without, ``y = (z > 0)``. ``y`` is 0/1 as
    ``dtype``, or ``labels[0]`` / ``labels[1]`` (their own dtype) when ``labels`` is given."""
    X, z, rng = _linear(n, d, seed, coef, intercept, dtype)
    positive = rng.random(n) < 1 / (1 + np.exp(-z)) if draw else z > 0
    if labels is None:
        return X, positive.astype(dtype)
    return X, np.where(positive, labels[1], labels[0])


def linear32(n, d, loss="mse", seed=0):
    """The float32 problem of the ParallelTrainer tests: ``z = X @ w + 0.3`` with ``X`` and
    ``w`` ~ N(0, 1); ``y = z`` for ``loss='mse'``, ``y = (z > 0)`` for ``'logistic'``."""
    if loss == "logistic":
        return classification(n, d, seed=seed, intercept=0.3, draw=False, dtype=np.float32)
    return regression(n, d, seed=seed, intercept=0.3, dtype=np.float32)


def random_matrix(n=32, m=None, seed=0):
    """A float64 ``(n, m)`` matrix (``(n, n)`` when ``m`` is None) of N(0, 1) entries."""
    return np.random.default_rng(seed).standard_normal((n, m or n))


def assert_close(got, want, rtol=1e-5):
    """``got`` equals ``want`` to ``rtol``, relative to each entry and to ``want``'s largest
    magnitude (so entries near zero are not held to a relative tolerance)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = np.max(np.abs(want))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def mlp_mse(params, batch):
    """Mean squared error of a one-hidden-layer tanh network from ``batch['x']`` to
    ``batch['y']``: ``tanh(x @ w1 [+ b1]) @ w2``; ``params['b1']`` is optional."""
    z = batch["x"] @ params["w1"]
    if "b1" in params:
        z = z + params["b1"]
    return jnp.mean((jnp.tanh(z) @ params["w2"] - batch["y"]) ** 2)


def package_modules(packages) -> list[str]:
    """The names of ``packages`` and of every module below them (imported to be found),
    ``__main__`` modules left out (they run a program when imported); sorted."""
    names = []
    for package in packages:
        pkg = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
            if not info.name.endswith("__main__"):
                names.append(info.name)
    return sorted(names)
