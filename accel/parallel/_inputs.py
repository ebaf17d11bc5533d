"""Checks of ParallelTrainer's inputs (parameters, data, ``loss_fn``) and the batch plan.

Example:
    >>> import numpy as np
    >>> from accel.parallel._inputs import check_data
    >>> data, n = check_data({"x": np.ones((4, 2)), "y": np.zeros(4, np.int32)})
    >>> n, data["x"].dtype
    (4, dtype('float32'))
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import _checks, _plan
from accel import train as engine
from accel._checks import array_is_finite
from accel._migration import check_foreign_keywords

__all__ = [
    "NAN_POLICIES",
    "STRATEGY_BACKENDS",
    "check_data",
    "check_loss_fn",
    "check_params",
    "check_trainer_params",
    "devices",
    "layout",
]

NAN_POLICIES = ("raise", "skip")
# backends each strategy is written for; the first is its default
STRATEGY_BACKENDS: dict[str, tuple[str, ...]] = {
    "data_parallel": ("pmap", "shard_map", "jit"),
    "model_parallel": ("shard_map",),
    "pipeline_parallel": ("shard_map",),
}


def check_trainer_params(params: dict[str, Any], names: set[str]) -> dict[str, float]:
    """Validate a complete ParallelTrainer parameter set (``names``: the constructor's; the
    rest are the optimizer's hyperparameters); return the full hyperparameters."""
    hyper = {k: v for k, v in params.items() if k not in names}
    check_foreign_keywords(hyper, params["backend"])  # frameworm's/DDP's: name ours
    _checks.check_int(params["n_devices"], "n_devices", minimum=1, allow_none=True)
    strategy = _checks.check_choice(params["strategy"], "strategy", tuple(STRATEGY_BACKENDS))
    backend = params["backend"]
    if backend is not None:
        _checks.check_choice(backend, "backend", STRATEGY_BACKENDS["data_parallel"])
        if backend not in STRATEGY_BACKENDS[strategy]:
            raise ValueError(
                f"strategy={strategy!r} supports backend="
                f"{' or '.join(map(repr, STRATEGY_BACKENDS[strategy]))} only, got "
                f"backend={backend!r}"
            )
    _checks.check_int(params["n_microbatches"], "n_microbatches", minimum=1, allow_none=True)
    if params["n_microbatches"] is not None and strategy != "pipeline_parallel":
        raise ValueError(
            f"n_microbatches applies to strategy='pipeline_parallel' only, got "
            f"strategy={strategy!r}"
        )
    _checks.check_int(params["patience"], "patience", minimum=1, allow_none=True)
    _checks.check_bool(params["restore_best"], "restore_best")
    _checks.check_int(params["epochs"], "epochs", minimum=1)
    _checks.check_int(params["batch_size"], "batch_size", minimum=1, allow_none=True)
    _checks.check_int(params["grad_accum_steps"], "grad_accum_steps", minimum=1)
    compute = engine.check_compute_dtype(params["compute_dtype"])
    engine.check_loss_scale(params["loss_scale"], compute)
    _checks.check_choice(params["nan_policy"], "nan_policy", NAN_POLICIES)
    _checks.check_real(params["tol"], "tol", minimum=0.0, allow_none=True)
    _checks.check_int(params["eval_every"], "eval_every", minimum=0, allow_none=True)
    if params["eval_every"] == 0 and params["tol"] is not None:
        raise ValueError(
            f"tol={params['tol']!r} compares full-data losses, which eval_every=0 never "
            f"computes: set eval_every >= 1 or tol=None"
        )
    _checks.check_bool(params["progress"], "progress")
    _checks.check_path(params["checkpoint_dir"], "checkpoint_dir", allow_none=True)
    _checks.check_int(params["checkpoint_every"], "checkpoint_every", minimum=1, allow_none=True)
    _checks.check_int(params["keep_checkpoints"], "keep_checkpoints", minimum=1)
    if params["checkpoint_every"] is not None and params["checkpoint_dir"] is None:
        raise ValueError("checkpoint_every needs checkpoint_dir (where to write them)")
    _checks.check_seed(params["random_state"], "random_state")
    optimizer = params["optimizer_type"]
    if isinstance(optimizer, optax.GradientTransformation):
        engine.make_optimizer(optimizer, **hyper)
        full = {}
    else:
        engine.check_optimizer_name(optimizer, "optimizer_type")
        full = engine.check_hyperparameters(optimizer, **hyper)
    engine.check_rate_for(optimizer, params["learning_rate"])
    return full




def devices(n_devices: int | None) -> list[jax.Device]:
    """The first ``n_devices`` of all processes' devices (``None``: all), ordered by process."""
    found = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    if n_devices is None:
        return found
    if jax.process_count() > 1 and n_devices != len(found):
        raise ValueError(
            f"n_devices must be None or {len(found)} (all devices of all processes) in a "
            f"multi-process run, got {n_devices}"
        )
    if n_devices > len(found):
        raise ValueError(f"n_devices={n_devices} but only {len(found)} devices are available")
    return found[:n_devices]


def check_params(params: Any) -> Any:
    """A non-empty pytree of floating-point arrays, as float32 NumPy arrays."""
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params must be a non-empty pytree of floating-point arrays")
    out = []
    for leaf in leaves:
        a = np.asarray(leaf)
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(
                f"params must hold floating-point arrays only (they are trained in float32), "
                f"got a leaf of dtype {a.dtype}"
            )
        if not array_is_finite(a):
            raise ValueError("params contains NaN or infinity")
        out.append(a.astype(np.float32))
    return jax.tree.unflatten(jax.tree.structure(params), out)


def check_data(data: Any, *, finite: bool = True) -> tuple[Any, int]:
    """A non-empty pytree of arrays sharing the leading (row) axis; float64 -> float32.
    ``finite``: refuse NaN or infinity in floating leaves (under ``nan_policy='skip'`` such
    rows are allowed: the steps that read them are skipped)."""
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data must be a non-empty pytree of arrays sharing the leading axis")
    # JAX arrays stay where they are (data already on the devices is not copied to the host)
    arrays = [a if isinstance(a, jax.Array) else np.asarray(a) for a in leaves]
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("every leaf of data needs a leading (row) axis; got a scalar")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(
            f"every leaf of data must have the same number of rows, got "
            f"{[a.shape[0] for a in arrays]}"
        )
    if n == 0:
        raise ValueError("data has no rows")
    if finite:
        for path, a in zip(jax.tree_util.tree_flatten_with_path(data)[0], arrays, strict=True):
            if not array_is_finite(a):
                raise ValueError(
                    f"data{jax.tree_util.keystr(path[0])} contains NaN or infinity (with "
                    "nan_policy='skip' the steps that read such rows are skipped instead)"
                )
    arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in arrays]
    return jax.tree.unflatten(jax.tree.structure(data), arrays), n


def check_loss_fn(loss_fn: Any, params: Any, data: Any) -> None:
    """``loss_fn(params, batch of one row)`` must trace to a floating scalar."""
    one = jax.tree.map(lambda a: a[:1], data)
    try:
        out = jax.eval_shape(loss_fn, params, one)
    except Exception as err:  # report what was called and with what, then the cause
        raise TypeError(
            f"loss_fn(params, batch) failed on a batch of one row: {type(err).__name__}: {err}"
        ) from err
    if not hasattr(out, "shape") or out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(
            f"loss_fn(params, batch) must return a floating scalar (the batch's mean loss), "
            f"got {out}"
        )


def layout(n_rows: int, n_devices: int, batch_size: int | None, accum: int,
           data_is_local: bool) -> _plan.Layout:  # fmt: skip
    """The batch plan (``accel._plan``): with ``data_is_local`` each process's rows are
    a group held by its own devices, else all rows are one group over all devices."""
    n_groups = jax.process_count() if data_is_local else 1
    if n_groups > 1:
        from jax.experimental import multihost_utils

        counts = np.asarray(multihost_utils.process_allgather(np.int64(n_rows)))
        if np.any(counts != n_rows):
            raise ValueError(
                f"data_is_local=True needs the same number of rows in every process, got "
                f"{counts.tolist()}"
            )
    if n_devices % n_groups:
        raise ValueError(f"{n_devices} devices cannot be split over {n_groups} processes")
    n_global = n_rows * n_groups
    batch = n_global if batch_size is None else min(batch_size, n_global)
    return _plan.Layout(
        n_rows=n_rows, n_shards=n_groups, group_devices=n_devices // n_groups,
        batch_size=batch, accum=accum,
    )  # fmt: skip
