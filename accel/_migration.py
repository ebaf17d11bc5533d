"""Keywords of the systems users move from (frameworm's ``DistributedTrainer``, PyTorch DDP),
refused with a message that names this library's equivalent.

``ParallelTrainer`` passes keywords it does not know to the optimizer as hyperparameters, so
frameworm's ``use_amp=True`` used to fail with "optimizer 'adam' has no hyperparameter
'use_amp'", which names neither the cause nor the fix. :func:`check_foreign_keywords` runs
first among ``ParallelTrainer``'s parameter checks and raises a ``TypeError`` naming the
keyword, where it comes from, and what to write here; a
communication backend (``backend='nccl'``) gets a ``ValueError`` saying what ``backend``
means here. These are errors, not silent aliases: each maps to a setting with other
semantics (``use_amp`` is PyTorch's float16 autocast; ``compute_dtype='bfloat16'`` needs no
loss scaling), so the user chooses.

Example:
    >>> from accel._migration import check_foreign_keywords
    >>> try:
    ...     check_foreign_keywords({"gradient_accumulation_steps": 4}, None)
    ... except TypeError as err:
    ...     print(str(err).split(";")[0])
    ParallelTrainer has no gradient_accumulation_steps (frameworm's DistributedTrainer, Hugging Face): use grad_accum_steps=4
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "COMMUNICATION_BACKENDS",
    "FOREIGN_KEYWORDS",
    "FOREIGN_NAMES",
    "check_foreign_keywords",
    "missing_name",
]

# keyword -> (where it comes from, what to write here; ``{value}`` is the value given)
FOREIGN_KEYWORDS: dict[str, tuple[str, str]] = {
    "use_amp": (
        "frameworm's DistributedTrainer, PyTorch AMP",
        "mixed precision here is compute_dtype='bfloat16' (no loss scaling needed), or "
        "compute_dtype='float16' with loss_scale='dynamic' (the default for float16); the "
        "parameters and the optimizer state stay float32",
    ),
    "gradient_accumulation_steps": (
        "frameworm's DistributedTrainer, Hugging Face",
        "use grad_accum_steps={value}",
    ),
    "find_unused_parameters": (
        "PyTorch DDP",
        "not needed: jax.grad gives a gradient (zero where unused) for every parameter; remove it",
    ),
    "bucket_cap_mb": (
        "PyTorch DDP",
        "not needed: XLA schedules and fuses the all-reduce of the gradients; remove it",
    ),
    "model": (
        "frameworm's DistributedTrainer(model, optimizer)",
        "ParallelTrainer trains a pytree of parameters: train(loss_fn, params, data) with a "
        "loss_fn(params, batch), or fit(X, y) for the built-in linear model",
    ),
    "optimizer": (
        "frameworm's DistributedTrainer(model, optimizer)",
        "pass optimizer_type='adam' (or another name, or an optax transformation) to "
        "ParallelTrainer, or train(..., optimizer=optax_transformation)",
    ),
}
# frameworm's names (``from frameworm.distributed import ...``) -> what to use here.
FOREIGN_NAMES: dict[str, str] = {
    "DistributedTrainer": (
        "use accel.ParallelTrainer(optimizer_type=..., learning_rate=..., epochs=..., "
        "batch_size=...) and its train(loss_fn, params, data, eval_data=...) (fit(X, y) for the "
        "linear model): the model is a pytree of parameters and a loss_fn(params, batch)"
    ),
    "OptimizedDataLoader": (
        "pass arrays, .npy paths or an accel.data source (accel.data.RandomAccessSource(dataset) "
        "for a map-style dataset) with batch_size to ParallelTrainer.fit/train: reader threads "
        "and read-ahead are built in"
    ),
    "PerformanceProfiler": "from accel import PerformanceProfiler (the same methods)",
}
MIGRATION_GUIDE = "docs/migration.md"

# Values of PyTorch's ``torch.distributed`` backend: here ``backend`` is how the devices run
# the step; the communication is XLA's own.
COMMUNICATION_BACKENDS = ("nccl", "gloo", "mpi", "ucc", "ddp")


def check_foreign_keywords(hyper: Mapping[str, Any], backend: Any) -> None:
    """Raise naming our equivalent if ``hyper`` (the keywords ``ParallelTrainer`` does not
    know) holds one of :data:`FOREIGN_KEYWORDS`, or ``backend`` is a communication backend."""
    for key, value in hyper.items():
        if key in FOREIGN_KEYWORDS:
            source, ours = FOREIGN_KEYWORDS[key]
            raise TypeError(
                f"ParallelTrainer has no {key} ({source}): {ours.format(value=value)}; see "
                f"{MIGRATION_GUIDE}"
            )
    if isinstance(backend, str) and backend.lower() in COMMUNICATION_BACKENDS:
        raise ValueError(
            f"backend={backend!r} is a torch.distributed communication backend; here backend is "
            "how the devices run each step: 'pmap', 'shard_map' or 'jit' (None: the strategy's "
            "default). The gradients' all-reduce is XLA's (NCCL on NVIDIA GPUs), and several "
            "hosts join through jax.distributed.initialize()"
        )


def missing_name(module: str, name: str) -> Exception:
    """The error for ``module.name`` that does not exist: an ``ImportError`` naming our
    equivalent for a frameworm name (``from accel import DistributedTrainer``), else the
    usual ``AttributeError``. A module's ``__getattr__`` raises what this returns.

    An ``ImportError`` rather than an ``AttributeError`` because ``from m import name`` replaces
    an ``AttributeError``'s message with its own "cannot import name"; ``hasattr`` on these
    few names therefore raises instead of returning ``False``.
    """
    if name in FOREIGN_NAMES:
        return ImportError(
            f"{module} has no {name} (frameworm's distributed module): {FOREIGN_NAMES[name]}; "
            f"see {MIGRATION_GUIDE}",
            name=module,
        )
    return AttributeError(f"module {module!r} has no attribute {name!r}")
