"""Test helper: the NumPy reference optimizer of each name (package ``optimizers``) and the
small linear problems the JAX paths are checked on against them."""

from __future__ import annotations

import numpy as np

from optimizers import SGD, AdaGrad, Adam, AdamW, MomentumSGD, NesterovMomentum, RMSProp

REFERENCE = {
    "sgd": SGD,
    "momentum": MomentumSGD,
    "nesterov": NesterovMomentum,
    "adagrad": AdaGrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
}


def linear_data(loss: str, n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian ``X`` (n, d) and targets of a linear model: noisy for mse, 0/1 labels drawn
    from a logistic model for logistic."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    z = X @ np.linspace(1.0, -1.0, d) + 0.4
    if loss == "logistic":
        return X, (rng.random(n) < 1 / (1 + np.exp(-2 * z))).astype(np.float64)
    return X, z + 0.3 * rng.standard_normal(n)
