"""The linear model: its math, the optax table, the one training program, ``JAXOptimizer``.

``z = X @ w + b`` with ``loss='mse'`` (``1/(2n) Σ (z - y)²``) or ``loss='logistic'``
(``1/n Σ log(1 + exp(z)) - y z``), trained by an optax optimizer named in the table of
``HYPERPARAMETERS`` (optax's names, hyperparameters, defaults; the names: ``OPTIMIZER_NAMES``)
or any ``optax.GradientTransformation`` (``JAXOptimizer`` also L-BFGS).

``engine`` re-exports the training engine's building blocks for ``accel.parallel``.
"""

# Layout: private modules, one concept each.
# - _model: the loss, gradient and prediction math, written once for any array namespace;
# - _data: validation of X, y and of the linear estimators' own arguments;
# - _optax: the table of named optimizers (optax's names, hyperparameters, defaults);
# - _stopping: the divergence and tol rules every estimator applies, and their warnings;
# - _estimator: the estimator base shared by every estimator of the project;
# - _plan: which rows each device reads at each step (the shared epoch order, padding);
# - _objective: a device's contribution to a step's gradient (linear, or any loss_fn);
# - _precision: compute dtype, loss scaling, finiteness checks;
# - _program: the one training program (epochs, mini-batches, tol, divergence, history);
# - _step: the data-parallel step and evaluation on D devices (ParallelTrainer);
# - _single: JAXOptimizer's step and evaluation on one device (the parameters as one
#   vector; optax's L-BFGS with its line search);
# - _jax_program: JAXOptimizer's compiled program, cached per static specification;
# - _jax_optimizer: JAXOptimizer, the single-device estimator on that program.

from accel.linear._estimator import LinearEstimator, NotFittedError
from accel.linear._jax_optimizer import JAXOptimizer
from accel.linear._model import LOSSES
from accel.linear._optax import HYPERPARAMETERS, OPTIMIZER_NAMES, make_optimizer
from accel.linear._stopping import (
    DIVERGENCE_FACTOR,
    ConvergenceWarning,
    DivergenceWarning,
    WorseThanBestWarning,
)

__all__ = [
    "DIVERGENCE_FACTOR",
    "HYPERPARAMETERS",
    "LOSSES",
    "OPTIMIZER_NAMES",
    "ConvergenceWarning",
    "DivergenceWarning",
    "JAXOptimizer",
    "LinearEstimator",
    "NotFittedError",
    "WorseThanBestWarning",
    "make_optimizer",
]
