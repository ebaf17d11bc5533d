"""The training engine's building blocks, for the strategies of ``accel.parallel``.

``JAXOptimizer`` and every ``ParallelTrainer`` strategy run the same program
(:func:`build_loop`); a strategy supplies :class:`Parts` (its step and evaluation) and
a backend. This module is the engine's interface to the rest of ``accel`` (the modules
behind it are private): the loop and its parts, the batch plan, the objectives, mixed
precision, and the linear model's functions and estimator base the strategies build on.
Users need none of it.
"""

from accel._plan import (
    Layout,
    device_rows,
    local_row,
    owner,
    step_count,
    step_ids,
    step_rows,
)
from accel.linear._data import array_is_finite, check_learning_rate, check_loss
from accel.linear._estimator import LinearEstimator, keeps_state_on_error
from accel.linear._model import decision_function, linear_loss, loss_value
from accel.linear._objective import LinearObjective, PerExampleObjective, chunked, gather
from accel.linear._optax import (
    check_hyperparameters,
    check_optimizer_name,
    check_rate_for,
    learning_rate_in_effect,
    make_optimizer,
    program_settings,
    transformation_factory,
)
from accel.linear._precision import (
    COMPUTE_DTYPES,
    LossScale,
    all_finite,
    cast_floating,
    check_compute_dtype,
    check_loss_scale,
    init_loss_scale,
    update_loss_scale,
)
from accel.linear._program import (
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
from accel.linear._step import data_parallel_parts, one_device
from accel.linear._stream import Call as StreamCall
from accel.linear._stream import Programs as StreamPrograms
from accel.linear._stream import check_linear_source
from accel.linear._stream import run as run_stream
from accel.linear._validation import (
    EarlyStopping,
    Tracker,
    Validation,
    check_eval_data,
    check_validation_data,
)

__all__ = [
    "COMPUTE_DTYPES",
    "HIST_CAP",
    "Carry",
    "EarlyStopping",
    "History",
    "Layout",
    "LinearEstimator",
    "LinearObjective",
    "LoopSpec",
    "LossScale",
    "Parts",
    "PerExampleObjective",
    "StepIndex",
    "StreamCall",
    "StreamPrograms",
    "Tracker",
    "TrainState",
    "Validation",
    "all_finite",
    "apply_gradients",
    "array_is_finite",
    "build_loop",
    "cast_floating",
    "check_compute_dtype",
    "check_eval_data",
    "check_hyperparameters",
    "check_learning_rate",
    "check_linear_source",
    "check_loss",
    "check_loss_scale",
    "check_optimizer_name",
    "check_rate_for",
    "check_validation_data",
    "chunked",
    "data_parallel_parts",
    "decision_function",
    "device_rows",
    "gather",
    "init_carry",
    "init_loss_scale",
    "keeps_state_on_error",
    "learning_rate_in_effect",
    "linear_loss",
    "local_row",
    "loss_value",
    "make_optimizer",
    "one_device",
    "owner",
    "program_settings",
    "run_stream",
    "step_count",
    "step_ids",
    "step_rows",
    "transformation_factory",
    "update_loss_scale",
]
