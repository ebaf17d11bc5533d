"""The data-parallel step: one optimizer step of a batch split over ``D`` devices, and the
full-data evaluation, as :class:`~accel.train.Parts` (``ParallelTrainer``'s
data_parallel strategy, and ``JAXOptimizer``'s streamed fits with ``D = 1``; its resident
fits use the linear model's flat-vector step, ``accel.linear._flat_step``).

Every device holds its own block of rows (``_plan``: about ``N / D`` rows, never the whole
data set). Per optimizer step every device

1. takes the step's ``(D, k, m)`` slots of global row ids (``_plan.step_ids``, the shared
   order; ``-1`` = padding) and fills, for EVERY device's slots, the rows it owns (zeros
   elsewhere); one ``psum_scatter`` (``device_scatter``) sums those contributions and gives
   each device its own ``(k, m)`` batch: every slot gets its row from its owner, exactly
   (the other terms are zeros). With one device the batch is gathered directly;
2. accumulates locally over its ``k`` micro-batches the gradient of
   ``scale * sum_i mask_i * loss_i / N`` (``N`` = real rows of the whole step) and that loss
   (the objective: analytic for the linear model, ``accel.linear.LinearObjective``, or
   per-example autodiff for any ``loss_fn``, ``_objective.PerExampleObjective``),
3. takes part in ONE cross-device reduction of ``(gradient, loss)`` (``device_sum``; XLA
   combines the leaves' all-reduces), so the gradient equals the gradient of the mean loss
   over the step's global batch,
4. applies the optimizer update (``_loop.apply_gradients``) to its copy of the
   parameters.

A full-batch step with nothing to accumulate and no loss scaling uses the gradient of the
previous evaluation instead of steps 1-3 (the same rows at the same parameters), so a
full-batch epoch costs one forward and one backward product of ``X``.

The evaluation at each epoch boundary: every device sums the loss (and, for the linear
model, the gradient) over the rows it holds; one reduction; divided by ``N``.

``device_scatter(f, data)`` and ``device_sum(f, data)`` are how a backend runs
``f(d, data_d)`` (device index ``d``, its data) on its devices and combines the results
(``psum_scatter`` / ``psum`` under pmap and shard_map, sums over a sharded axis under jit,
nothing on one device): the only place where the backends differ.

Example (one device, the linear model):
    >>> import jax, jax.numpy as jnp, numpy as np
    >>> from accel import _plan
    >>> from accel.linear._objective import LinearObjective
    >>> from accel.train._loop import TrainState
    >>> from accel.train._step import data_parallel_parts, one_device
    >>> lay = _plan.Layout(n_rows=4, n_shards=1, group_devices=1, batch_size=4, accum=1)
    >>> params = {"w": jnp.zeros(1), "b": jnp.zeros(())}
    >>> parts = data_parallel_parts(lay, LinearObjective("mse", True), make_tx=None,
    ...     compute_dtype=jnp.float32, loss_scale=1.0, nan_policy=None,
    ...     params_template=params, **one_device())
    >>> data = {"X": jnp.array([[1.0], [2.0], [3.0], [4.0]]), "y": jnp.array([1.0, 2.0, 3.0, 4.0])}
    >>> loss, grad, norm = parts.evaluate(data, TrainState.fresh(params, ()))
    >>> float(loss), float(grad["w"][0]), float(grad["b"])
    (3.75, -7.5, -2.5)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from accel import _plan
from accel.train._loop import Parts, StepIndex, TrainState, apply_gradients

__all__ = ["data_parallel_parts", "one_device"]


def one_device() -> dict[str, Callable]:
    """``device_scatter`` and ``device_sum`` of a single device (no communication)."""

    def device_scatter(f, data):
        return jax.tree.map(lambda a: a[0], f(jnp.int32(0), data))

    def device_sum(f, data):
        return f(jnp.int32(0), data)

    return {"device_scatter": device_scatter, "device_sum": device_sum}


def _same(x: Any) -> Any:
    return x


def _where_owned(owned: jax.Array, rows: jax.Array):
    """Rows ``rows`` of a leaf where ``owned`` (its zeros elsewhere), any leaf shape."""

    def take(a):
        mask = owned.reshape(owned.shape + (1,) * (a.ndim - 1))
        return jnp.where(mask, a[rows], jnp.zeros((), a.dtype))

    return take


def _augmentation(augment: Any) -> tuple[Callable, Callable]:
    """``seen(batch, ids, index)``: the rows a step's objective sees (``augment.apply(batch,
    ids, epoch, seed)`` when ``augment`` is set: an ``accel.augment.TrainingAugmentation``);
    ``strip(rows)``: the rows an evaluation sees (``augment.strip``: without hidden columns)."""
    if augment is None:
        return (lambda batch, ids, index: batch), _same

    def seen(batch, ids, index: StepIndex):
        return augment.apply(batch, ids, index.epoch, index.seed)

    return seen, augment.strip


def data_parallel_parts(
    lay: _plan.Layout,
    objective: Any,
    *,
    make_tx: Callable[[dict], Any],
    compute_dtype: Any,
    loss_scale: str | float,
    nan_policy: str | None,
    device_sum: Callable[[Callable[[Any, Any], Any], Any], Any],
    device_scatter: Callable[[Callable[[Any, Any], Any], Any], Any],
    params_template: Any,
    vary: Callable[[Any], Any] = _same,
    row_blocks: int = 1,
    fed: bool = False,
    evaluates_every_epoch: bool = True,
    augment: Any = None,
) -> Parts:
    """The :class:`Parts` of data-parallel training (module doc). ``data`` holds each
    device's block of rows; ``vary`` marks values device-varying inside ``shard_map``;
    ``row_blocks`` splits the linear evaluation's gradient product (``Xᵀ r``, written as
    ``r @ X``) into that many row blocks.

    ``fed``: the batches come from an input pipeline instead (``accel.data``): ``data`` is
    then, per device, ``{'block': {column: (T, k, m, ...)}, 'valid': (T, k, m)}``, the
    call's ``T`` steps already gathered, and ``Parts.evaluate`` sums over a fed chunk
    ``{'block': {column: (C, ...)}, 'valid': (C,)}`` (``[loss, gradient...]`` sums over all
    devices, not divided by ``N``: the host adds the chunks of the epoch).
    ``evaluates_every_epoch``: ``False`` when the loop skips evaluations (``LoopSpec.eval_every``),
    so a full-batch step computes its gradient rather than reusing the boundary's.
    ``augment``: an ``accel.augment.TrainingAugmentation`` (or any object with its ``apply``
    and ``strip``): every step's rows are augmented
    by their global ids and the epoch before the objective sees them (a fed block carries
    the ids as ``'ids'``, ``(T, k, m)``); evaluations see the data as they are."""
    seen, strip = _augmentation(augment)
    _, unravel = ravel_pytree(params_template)
    scaled = loss_scale != 1.0
    linear = objective.full_gradient  # its evaluation gives the gradient too (the linear model)
    reuse = (linear and not scaled and lay.steps_per_epoch == 1 and lay.accum == 1 and not fed
             and evaluates_every_epoch and augment is None)  # the boundary's gradient is this step's
    n_global = lay.n_global
    padded = lay.rows_per_device * lay.group_devices != lay.n_rows
    chunk = lay.accum * lay.micro
    # rows of a device's block that are real on every device (the last block of a group is short)
    real_rows = max(0, lay.n_rows - (lay.group_devices - 1) * lay.rows_per_device)

    def scale_of(train):
        return train.loss_scale.scale if scaled else jnp.float32(1.0)

    def batches(data, order, step):
        """Each device's ``(k, m)`` batch of the step (step 1 of the module doc)."""
        ids = _plan.step_ids(order, step, lay)

        def contribution(d, data_d):
            rows = _plan.local_row(ids, lay)
            if lay.n_devices == 1:  # the one device owns every row: a plain gather
                return jax.tree.map(lambda a: a[rows], data_d)
            owned = (_plan.owner(ids, lay) == d) & (ids >= 0)
            return jax.tree.map(_where_owned(owned, rows), data_d)

        return device_scatter(contribution, data), ids

    def full_step(count):
        """Whether every slot of the step holds a real row (``count`` of them): ``True``
        or ``None`` (never: padding slots in every step) when known statically."""
        if lay.micro * lay.n_devices != lay.batch_size:  # B not a multiple of D
            return None
        if lay.n_global % lay.rows_per_step == 0:  # no partial step
            return True
        return count == lay.rows_per_step

    def step(tx, data, train: TrainState, order, index: StepIndex, boundary):
        if reuse:  # full batch: the evaluation at these parameters gave the gradient
            loss, grads = boundary
            count = jnp.float32(n_global)
        else:
            count = _plan.step_count(index.step, lay)
            full = full_step(count)
            scale = scale_of(train)
            if fed:
                i = index.global_step - index.first

                def local(d, data_d):
                    batch_d = seen(jax.tree.map(lambda a: a[i], data_d["block"]),
                                   data_d["ids"][i] if augment is not None else None, index)  # fmt: skip
                    return objective.local_vector(
                        vary(train.params), batch_d, data_d["valid"][i], count, scale,
                        compute_dtype, vary, full,
                    )  # fmt: skip

                grads, loss = device_sum(local, data)
            else:
                batch, ids = batches(data, order, index.step)

                def local(d, batch_d):
                    return objective.local_vector(
                        vary(train.params), seen(batch_d, ids[d], index), ids[d] >= 0, count, scale,
                        compute_dtype, vary, full,
                    )  # fmt: skip

                grads, loss = device_sum(local, batch)  # the one reduction per optimizer step
            if scaled:
                grads = jax.tree.map(lambda g: g / scale, grads)
        return apply_gradients(
            train, grads, loss, index, tx, nan_policy=nan_policy, loss_scale=loss_scale, rows=count
        )

    def local_sums(params, rows, valid, weighted):
        """The loss (and gradient) sums of the rows a device holds or was fed."""
        if not linear:  # resident: every device's first real_rows rows are real
            return objective.loss_sum(vary(params), strip(rows), valid, chunk, compute_dtype, vary,
                                      0 if fed else real_rows)  # fmt: skip
        weight = valid.astype(params["w"].dtype) if weighted else None
        value, grads = objective.evaluation_sums(vary(params), rows, weight, compute_dtype, row_blocks=row_blocks)
        g, _ = ravel_pytree(grads)
        return jnp.concatenate([value[None], g])  # one reduction: [loss, gradient...]

    def evaluate(data, train: TrainState):
        params = train.params
        if fed:  # a chunk fed by the input pipeline: its sums, over all devices
            return device_sum(
                lambda d, data_d: local_sums(params, data_d["block"], data_d["valid"], True), data
            )

        def local(d, data_d):
            return local_sums(params, data_d, _plan.device_rows(d, lay) >= 0, padded)

        if not linear:
            total = device_sum(local, data)
            return total / n_global, (), jnp.float32(jnp.nan)
        total = device_sum(local, data) / n_global
        grad = unravel(total[1:])
        return total[0], grad, objective.grad_norm(grad)

    def halted(train: TrainState):
        return train.bad_step >= 0

    def grad_template(params):
        return jax.tree.map(jnp.zeros_like, params) if linear else ()

    return Parts(
        make_tx=make_tx,
        epoch_context=lambda data, order: order,
        step=step,
        evaluate=evaluate,
        grad_template=grad_template,
        halted=halted if nan_policy == "raise" else None,
        nonfinite_diverges=nan_policy != "skip",
    )
