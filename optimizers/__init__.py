"""NumPy reference optimizers: the same math as optax, used to check every JAX path.

Seven estimators for the linear model ``z = X @ w + b`` with one shared base
(:class:`BaseOptimizer`) and one small class per update rule::

    >>> import numpy as np
    >>> from optimizers import Adam
    >>> X = np.random.default_rng(0).standard_normal((100, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    >>> model = Adam(learning_rate=0.05, epochs=500).fit(X, y)
    >>> np.round(model.coef_, 2).tolist(), round(float(model.intercept_), 2)
    ([1.0, -2.0, 0.5], 0.3)

Update formulas are in each class's docstring; hyperparameters have optax's names and
defaults (``accel.linear.HYPERPARAMETERS``).
"""

from ._base import BaseOptimizer
from ._rules import SGD, AdaGrad, Adam, AdamW, MomentumSGD, NesterovMomentum, RMSProp

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "BaseOptimizer",
    "MomentumSGD",
    "NesterovMomentum",
    "RMSProp",
]
