"""The linear model: its math, the optax table, the one training program, ``JAXOptimizer``.

``z = X @ w + b`` with ``loss='mse'`` (``1/(2n) Σ (z - y)²``) or ``loss='logistic'``
(``1/n Σ log(1 + exp(z)) - y z``), trained by an optax optimizer named in the table of
``_optax`` (or any ``optax.GradientTransformation``).

Private modules, one concept each:

- ``_model``: the loss, gradient and prediction math, written once for any array namespace;
- ``_data``: validation of ``X``, ``y`` and of the linear estimators' own arguments;
- ``_optax``: the table of named optimizers (optax's names, hyperparameters, defaults);
- ``_estimator``: the estimator base shared by every estimator of the project;
- ``_program``: the one training program (epochs, mini-batches, tol, divergence, history);
- ``_jax_optimizer``: ``JAXOptimizer``, the single-device estimator on that program.
"""

from accel.linear._estimator import DivergenceWarning, NotFittedError
from accel.linear._jax_optimizer import JAXOptimizer
from accel.linear._model import LOSSES
from accel.linear._optax import HYPERPARAMETERS, OPTIMIZER_NAMES, make_optimizer

__all__ = [
    "HYPERPARAMETERS",
    "LOSSES",
    "OPTIMIZER_NAMES",
    "DivergenceWarning",
    "JAXOptimizer",
    "NotFittedError",
    "make_optimizer",
]
