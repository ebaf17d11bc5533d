"""The linear model: its math, its objective for the training engine, ``JAXOptimizer``.

``z = X @ wᵀ + b`` with ``loss='mse'`` (``1/(2n) Σ (z - y)²``, one output or several) or
``loss='logistic'`` (``1/n Σ log(1 + exp(z)) - y z`` for two classes; softmax cross-entropy
for more), plus the L2 penalty ``alpha/2 ||w||²`` and optional sample weights, trained by an
optax optimizer named in the table of
``HYPERPARAMETERS`` (optax's names, hyperparameters, defaults; the names: ``OPTIMIZER_NAMES``)
or any ``optax.GradientTransformation`` (``JAXOptimizer`` also L-BFGS).

The model's pieces are public for the trainers built on it (``ParallelTrainer.fit`` trains
the same model): :func:`loss_value` and :func:`decision_function` (its math, for NumPy or
JAX arrays), :func:`linear_loss` (the model as a ``loss_fn(params, batch)``) and
:class:`LinearObjective` (its analytic gradient sums, as the training engine takes them).
"""

# Layout: private modules, one concept each; the training engine they build on is
# accel.train (the loop, the steps, the one host driver, the optimizer table, stopping).
# - _model: the loss, gradient and prediction math, written once for any array namespace;
# - _data: validation of X, y (arrays, sources, validation data) and of the model's settings;
# - _objective: the model's analytic gradient sums as the engine's objective;
# - _estimator: the estimator base of JAXOptimizer and ParallelTrainer (scikit-learn's API);
# - _flat_step: JAXOptimizer's step and evaluation on one device (the parameters as one
#   vector; optax's L-BFGS with its line search);
# - _placement, _inplace: X on the device: an aligned copy, or read where it lies (CPU);
# - _program: JAXOptimizer's compiled program, cached per static specification;
# - _source_fit: JAXOptimizer.fit on a data source (the engine's streamed feed);
# - _jax_optimizer: JAXOptimizer, the single-device estimator on those programs;
# - _separation: the note on separable classes (a logistic loss without a minimum).

from accel.linear._estimator import LinearEstimator, NotFittedError
from accel.linear._jax_optimizer import JAXOptimizer
from accel.linear._model import LOSSES, decision_function, linear_loss, loss_value
from accel.linear._objective import LinearObjective
from accel.linear._separation import SeparationWarning
from accel.train import (
    DIVERGENCE_FACTOR,
    HYPERPARAMETERS,
    OPTIMIZER_NAMES,
    ConvergenceWarning,
    DivergenceWarning,
    WorseThanBestWarning,
    make_optimizer,
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
    "LinearObjective",
    "NotFittedError",
    "SeparationWarning",
    "WorseThanBestWarning",
    "decision_function",
    "linear_loss",
    "loss_value",
    "make_optimizer",
]
