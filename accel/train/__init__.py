"""The training engine: the one compiled training loop and the one host driver around it.

``JAXOptimizer`` (``accel.linear``) and every strategy of ``ParallelTrainer``
(``accel.parallel``) train through this package. Users need none of it: it is the
interface between the engine and the library's estimators, not a stable API.

* the program: :func:`build_loop` runs epochs of mini-batches, the per-epoch evaluation,
  ``tol``, divergence and the history in ONE XLA program; a strategy plugs in its
  :class:`Parts` (one optimizer step, one full-data evaluation);
* the data-parallel step (:func:`data_parallel_parts`) over ``D`` devices (one device:
  :func:`one_device`), for any objective: the linear model's analytic one
  (``accel.linear.LinearObjective``) or :class:`PerExampleObjective` for any ``loss_fn``;
* the host driver (:func:`drive`): runs a compiled program over resident data (one call
  for many epochs) or over data streamed by the input pipeline (blocks of steps, the
  evaluation streamed at epoch ends), with the history, progress, validation, checkpoints
  and the stopping rules, for both estimators;
* the settings: the optimizer table and the split of an estimator's settings into the
  static optax transformation and the traced values (:func:`program_settings`), mixed
  precision, the stopping rules, validation data and early stopping.

The batch plan and the epoch orders (which rows each device reads at each step) live at the
package root, beside the input pipeline (``accel.data``) that reads them too.
"""

# Layout: private modules, one concept each.
# - _loop: the one training program (epochs, mini-batches, tol, divergence, history);
# - _step: the data-parallel step and full-data evaluation on D devices;
# - _objective: a device's contribution to a step's gradient for any loss_fn;
# - _precision: compute dtype, loss scaling, finiteness checks;
# - _stopping: the divergence and tol rules every estimator applies, and their warnings;
# - _optax: the optimizer table and the settings -> (transformation, traced values) split;
# - _validation: validation data, early stopping;
# - _driver: the one host driver (calls, progress, validation, checkpoints) and the feed of
#   resident data;
# - _streamed: the feed of streamed data (blocks of steps, the evaluation at epoch ends);
# - _history: the run's history on the host, and where calls end.

from accel.train._driver import Feed, Report, Resident, Run, drive
from accel.train._history import Boundaries, RunHistory, chunk_ends
from accel.train._loop import (
    HIST_CAP,
    Carry,
    History,
    LoopSpec,
    Parts,
    StepIndex,
    TrainState,
    apply_gradients,
    build_loop,
    init_carry,
)
from accel.train._objective import (
    PerExampleObjective,
    accumulate,
    chunked,
    gather,
    per_example_losses,
)
from accel.train._optax import (
    ALL_HYPERPARAMETERS,
    DEFAULT_LEARNING_RATE,
    HYPERPARAMETERS,
    LINESEARCH_OPTIMIZERS,
    OPTIMIZER_NAMES,
    check_hyperparameters,
    check_learning_rate,
    check_optimizer_name,
    check_rate_for,
    learning_rate_in_effect,
    make_optimizer,
    program_settings,
    transformation_factory,
)
from accel.train._precision import (
    COMPUTE_DTYPES,
    LossScale,
    all_finite,
    cast_floating,
    check_compute_dtype,
    check_loss_scale,
    init_loss_scale,
    update_loss_scale,
)
from accel.train._step import data_parallel_parts, one_device
from accel.train._stopping import (
    DIVERGENCE_FACTOR,
    ConvergenceWarning,
    DivergenceWarning,
    Regression,
    WorseThanBestWarning,
    converged,
    diverged,
    regressed,
    warn_diverged,
    warn_not_converged,
)
from accel.train._streamed import Programs as StreamPrograms
from accel.train._streamed import Streamed
from accel.train._validation import (
    CHUNK_ROWS,
    EarlyStopping,
    Tracker,
    Validation,
    check_eval_data,
    check_source_rows,
)

__all__ = [
    "ALL_HYPERPARAMETERS",
    "CHUNK_ROWS",
    "COMPUTE_DTYPES",
    "DEFAULT_LEARNING_RATE",
    "DIVERGENCE_FACTOR",
    "HIST_CAP",
    "HYPERPARAMETERS",
    "LINESEARCH_OPTIMIZERS",
    "OPTIMIZER_NAMES",
    "Boundaries",
    "Carry",
    "ConvergenceWarning",
    "DivergenceWarning",
    "EarlyStopping",
    "Feed",
    "History",
    "LoopSpec",
    "LossScale",
    "Parts",
    "PerExampleObjective",
    "Regression",
    "Report",
    "Resident",
    "Run",
    "RunHistory",
    "StepIndex",
    "StreamPrograms",
    "Streamed",
    "Tracker",
    "TrainState",
    "Validation",
    "WorseThanBestWarning",
    "accumulate",
    "all_finite",
    "apply_gradients",
    "build_loop",
    "cast_floating",
    "check_compute_dtype",
    "check_eval_data",
    "check_hyperparameters",
    "check_learning_rate",
    "check_loss_scale",
    "check_optimizer_name",
    "check_rate_for",
    "check_source_rows",
    "chunk_ends",
    "chunked",
    "converged",
    "data_parallel_parts",
    "diverged",
    "drive",
    "gather",
    "init_carry",
    "init_loss_scale",
    "learning_rate_in_effect",
    "make_optimizer",
    "one_device",
    "per_example_losses",
    "program_settings",
    "regressed",
    "transformation_factory",
    "update_loss_scale",
    "warn_diverged",
    "warn_not_converged",
]
