"""The data-parallel step: one optimizer step of a batch split over ``D`` devices (``D = 1``:
``JAXOptimizer``), and the full-data evaluation, as :class:`~accel.linear._program.Parts`.

Per optimizer step every device

1. reads its ``(k, m)`` rows of the step (``_plan.step_rows``; ``-1`` = padding, masked),
2. accumulates locally over its ``k`` micro-batches the gradient of
   ``scale * sum_i mask_i * loss_i / N`` (``N`` = real rows of the whole step) and that loss
   (``_objective``: analytic for the linear model, per-example autodiff for any ``loss_fn``),
3. takes part in ONE cross-device reduction of the flat vector ``[gradient..., loss]``
   (``device_sum``: a ``psum`` under pmap/shard_map, a sum over a sharded axis under jit,
   nothing on one device), so the gradient equals the gradient of the mean loss over the
   step's global batch,
4. applies the optimizer update (``_program.apply_gradients``) to its copy of the
   parameters.

A full-batch step with nothing to accumulate and no loss scaling uses the gradient of the
previous evaluation instead of steps 1-3 (the same rows at the same parameters), so a
full-batch epoch costs one forward and one backward product of ``X``.

The evaluation at each epoch boundary: every device sums the loss (and, for the linear
model, the gradient) over a contiguous part of the rows; one reduction; divided by ``N``.

``device_sum(f, data)`` is how a backend runs ``f(d, data_d)`` (device index ``d``, its
data) on its devices and sums the results: the only place where the backends differ.

Example (one device, the linear model):
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from accel.linear import _plan
    >>> from accel.linear._objective import LinearObjective
    >>> from accel.linear._step import data_parallel_parts
    >>> from accel.linear._program import TrainState
    >>> lay = _plan.Layout(n_rows=4, n_shards=1, group_devices=1, batch_size=4, accum=1)
    >>> params = {"w": jnp.zeros(1), "b": jnp.zeros(())}
    >>> parts = data_parallel_parts(lay, LinearObjective("mse", True), make_tx=None,
    ...     compute_dtype=jnp.float32, loss_scale=1.0, nan_policy=None,
    ...     device_sum=lambda f, data: f(0, data), params_template=params)
    >>> data = {"X": jnp.array([[1.0], [2.0], [3.0], [4.0]]), "y": jnp.array([1.0, 2.0, 3.0, 4.0])}
    >>> loss, grad, norm = parts.evaluate(data, TrainState.fresh(params, ()))
    >>> float(loss), float(grad["w"][0]), float(grad["b"])
    (3.75, -7.5, -2.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from accel.linear import _model, _plan
from accel.linear._objective import LinearObjective, PerExampleObjective
from accel.linear._program import Parts, StepIndex, TrainState, apply_gradients

__all__ = ["data_parallel_parts", "device_roles", "eval_window"]


def device_roles(d: jax.Array, lay: _plan.Layout, shard_offsets: bool):
    """``(group, rank, offset)`` of device ``d``: its shard group, its rank in the group, and
    where that shard's rows start in the device's data (``shard_offsets``: the data holds
    every shard, one after the other)."""
    group = d // lay.group_devices
    rank = d % lay.group_devices
    offset = group * lay.n_rows if shard_offsets else jnp.int32(0)
    return group, rank, offset


def _shift(rows: jax.Array, offset: jax.Array) -> jax.Array:
    return jnp.where(rows >= 0, rows + offset, -1)


def eval_window(lay: _plan.Layout) -> int:
    """Rows each device evaluates: ``ceil(n_rows / group_devices)``."""
    return math.ceil(lay.n_rows / lay.group_devices)


def _same(x: Any) -> Any:
    return x


def data_parallel_parts(
    lay: _plan.Layout,
    objective: LinearObjective | PerExampleObjective,
    *,
    make_tx: Callable[[dict], Any],
    compute_dtype: Any,
    loss_scale: str | float,
    nan_policy: str | None,
    device_sum: Callable[[Callable[[Any, Any], Any], Any], Any],
    params_template: Any,
    shard_offsets: bool = False,
    vary: Callable[[Any], Any] = _same,
    row_blocks: int = 1,
) -> Parts:
    """The :class:`Parts` of data-parallel training (module doc). ``vary`` marks values
    device-varying inside ``shard_map``; ``row_blocks`` splits the linear evaluation's
    gradient product (``_model.rmatvec``)."""
    _, unravel = ravel_pytree(params_template)
    scaled = loss_scale != 1.0
    linear = isinstance(objective, LinearObjective)
    reuse = linear and not scaled and lay.steps_per_epoch == 1 and lay.accum == 1
    reuse = reuse and lay.n_shards == 1
    n_global = lay.n_global
    window = eval_window(lay)

    def epoch_context(data, order):
        if order is None or lay.n_shards == 1:
            return order
        return jnp.stack([_plan.epoch_order(order, jnp.int32(g), lay) for g in range(lay.n_shards)])

    def scale_of(train):
        return train.loss_scale.scale if scaled else jnp.float32(1.0)

    def step(tx, data, train: TrainState, ctx, index: StepIndex, boundary):
        if reuse:  # full batch: the evaluation at these parameters gave the gradient
            loss, grads = boundary
        else:
            count = _plan.step_count(index.step, lay)
            scale = scale_of(train)

            def local(d, data_d):
                group, rank, offset = device_roles(d, lay, shard_offsets)
                order = ctx if lay.n_shards == 1 else ctx[group]
                rows = _shift(_plan.step_rows(order, index.step, rank, lay), offset)
                return objective.local_vector(
                    vary(train.params), data_d, rows, count, scale, compute_dtype, vary
                )

            vec = device_sum(local, data)  # the one reduction per optimizer step
            loss = vec[-1]
            grads = unravel(vec[:-1] / scale if scaled else vec[:-1])
        return apply_gradients(
            train, grads, loss, index, tx, nan_policy=nan_policy, loss_scale=loss_scale
        )

    def evaluate(data, train: TrainState):
        params = train.params

        def local(d, data_d):
            _, rank, offset = device_roles(d, lay, shard_offsets)
            if not linear:
                rows = _shift(_plan.eval_rows(rank, lay), offset)
                return objective.loss_sum(vary(params), data_d, rows, compute_dtype, vary)
            # a window of `window` rows starting at rank * window, moved back to end at the
            # shard's last row; rows evaluated by the previous device are masked out
            want = rank * window
            start = jnp.minimum(want, lay.n_rows - window)
            part = jax.tree.map(
                lambda a: jax.lax.dynamic_slice_in_dim(a, offset + start, window), data_d
            )
            weight = None
            if lay.group_devices * window != lay.n_rows:
                pos = start + jnp.arange(window, dtype=jnp.int32)
                weight = (pos >= want).astype(params["w"].dtype)
            value, grads = objective.sums(
                vary(params), part["X"], part["y"], weight, compute_dtype, row_blocks=row_blocks
            )
            g, _ = ravel_pytree(grads)
            return jnp.concatenate([value[None], g])  # one reduction: [loss, gradient...]

        if not linear:
            total = device_sum(local, data)
            return total / n_global, (), jnp.float32(jnp.nan)
        total = device_sum(local, data) / n_global
        grad = unravel(total[1:])
        return total[0], grad, _model.grad_norm(grad["w"], grad["b"], jnp)

    def halted(train: TrainState):
        return train.bad_step >= 0

    def grad_template(params):
        return jax.tree.map(jnp.zeros_like, params) if linear else ()

    return Parts(
        make_tx=make_tx,
        epoch_context=epoch_context,
        step=step,
        evaluate=evaluate,
        grad_template=grad_template,
        halted=halted if nan_policy == "raise" else None,
        nonfinite_diverges=nan_policy != "skip",
    )
