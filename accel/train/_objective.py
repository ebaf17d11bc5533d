"""What one device contributes to a step's gradient and to an epoch's loss.

A device's share of one optimizer step is a batch of ``(k, m)`` rows (every leaf of the data
with a leading ``(k, m)``) and its 0/1 ``mask`` (padding slots are 0). Its contribution,
accumulated locally over the ``k`` micro-batches with ``lax.scan`` and *without* any
cross-device communication, is the flat vector

.. code-block:: text

    v = sum_j [ scale * sum_i mask_ij * ∇ℓ(p, x_ij) / N,   sum_i mask_ij * ℓ(p, x_ij) / N ]

where ``N`` is the number of real rows in the whole optimizer step (all devices, all
micro-batches), kept as the pair ``(gradient pytree, loss)`` (a flat vector would cost a
concatenation of every gradient leaf per step: 10% of an MLP's step on the CPU, BENCHMARKS.md).
Summing ``v`` over devices gives the scaled gradient of the mean loss of the step's global
batch and that mean loss: exactly the k-times-larger batch. Two objectives
compute the per-row terms:

* ``accel.linear.LinearObjective``: the linear model, with its analytic sums (two
  matrix-vector products per micro-batch);
* :class:`PerExampleObjective`: any ``loss_fn(params, batch)`` that is the mean of per-row
  terms, called on a whole micro-batch when every row of it is real (``mean * m``) and
  evaluated per example where padded rows must be masked (a ``vmap`` over batches of one
  row), differentiated with ``jax.grad``.

Both compute in the compute dtype (``_precision``) and return float32 (or the parameters'
float64) sums. ``vary`` marks zero initial carries as device-varying inside ``shard_map``.

Example:
    >>> import jax.numpy as jnp
    >>> from accel.train._objective import PerExampleObjective
    >>> loss = lambda w, b: jnp.mean((b["x"] * w - b["y"]) ** 2)
    >>> data = {"x": jnp.array([1.0, 2.0, 3.0]), "y": jnp.zeros(3)}
    >>> obj = PerExampleObjective(loss)
    >>> float(obj.loss_sum(jnp.float32(1.0), data, jnp.array([True, False, True]), 2, jnp.float32))
    10.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from accel.train._precision import cast_floating

__all__ = ["PerExampleObjective", "accumulate", "chunked", "gather", "per_example_losses"]


def gather(data: Any, rows: jax.Array) -> Any:
    """Rows ``rows`` (``-1`` read as row 0, to be masked) of every leaf of ``data``."""
    safe = jnp.maximum(rows, 0)
    return jax.tree.map(lambda a: a[safe], data)


def _same(x: jax.Array) -> jax.Array:
    return x


def per_example_losses(loss_fn: Callable, params: Any, batch: Any) -> jax.Array:
    """``[loss_fn(params, batch[i:i+1]) for i]`` as one ``vmap``."""
    return jax.vmap(lambda ex: loss_fn(params, jax.tree.map(lambda a: a[None], ex)))(batch)


def accumulate(micro: Callable, params: Any, batch: Any, mask: jax.Array, vary: Callable = _same) -> Any:
    """Sum ``micro(batch_j, mask_j) -> (gradient pytree, loss)`` over the ``k`` micro-batches:
    the device's contribution ``v`` (module doc). One micro-batch is a plain call; more are
    one ``lax.scan``."""
    if mask.shape[0] == 1:
        return micro(jax.tree.map(lambda a: a[0], batch), mask[0])

    def body(acc, xs):
        return jax.tree.map(jnp.add, acc, micro(*xs)), None

    shapes = jax.eval_shape(micro, jax.tree.map(lambda a: a[0], batch), mask[0])
    zeros = jax.tree.map(lambda s: vary(jnp.zeros(s.shape, s.dtype)), shapes)
    acc, _ = jax.lax.scan(body, zeros, (batch, mask))
    return acc


def chunked(mask: jax.Array, chunk: int) -> tuple[jax.Array, jax.Array]:
    """Row indices ``(ceil(R / chunk), chunk)`` of ``R = len(mask)`` rows and their validity
    (``mask``; the padding of the last chunk is invalid), for a ``lax.scan`` over chunks that
    gathers one chunk at a time (memory of one chunk, not a copy of the data)."""
    R = mask.shape[0]
    c = max(1, min(chunk, R))
    count = -(-R // c)
    rows = jnp.minimum(jnp.arange(count * c, dtype=jnp.int32), R - 1)
    valid = (jnp.arange(count * c) < R) & mask[rows]
    return rows.reshape(count, c), valid.reshape(count, c)


class PerExampleObjective(NamedTuple):
    """Any ``loss_fn(params, batch) -> mean loss of the batch`` (per-row terms, no batch statistics)."""

    loss_fn: Callable[[Any, Any], jax.Array]
    # the full-data evaluation gives the loss only (an objective with an analytic gradient,
    # such as accel.linear.LinearObjective, says True and provides evaluation_sums/grad_norm)
    full_gradient = False

    def _masked_sum(self, params, batch, mask, compute_dtype) -> jax.Array:
        losses = per_example_losses(
            self.loss_fn, cast_floating(params, compute_dtype), cast_floating(batch, compute_dtype)
        ).astype(jnp.float32)
        return jnp.sum(jnp.where(mask, losses, 0.0))

    def _batch_sum(self, params, batch, compute_dtype) -> jax.Array:
        """The sum of the per-row losses of a batch whose rows are all real: ``loss_fn`` on
        the whole batch (its mean) times its rows, one call instead of one per example."""
        rows = jax.tree.leaves(batch)[0].shape[0]
        mean = self.loss_fn(cast_floating(params, compute_dtype), cast_floating(batch, compute_dtype))
        return mean.astype(jnp.float32) * rows

    def local_vector(
        self, params, batch, mask, count, scale, compute_dtype, vary: Callable = _same,
        full: jax.Array | None = None,
    ) -> tuple[Any, jax.Array]:
        """The device's ``(scaled gradient, loss)`` contribution ``v`` (module doc), float32.

        ``full``: every row of the batch is real (``mask`` all true): ``True``, a traced
        bool (the same on every device: a ``lax.cond``), or ``None`` (not known: masked).
        Such a batch is computed by ``loss_fn`` on each micro-batch at once (``mean * m``,
        the same sum to float rounding); the per-example ``vmap`` that masks padded rows
        (about a fifth of an MLP's step on the CPU, BENCHMARKS.md) runs only for a step with
        padding (an epoch's partial last batch)."""

        def micro(b, m):
            def gradient(total):
                def objective(p):
                    part = total(p) / count
                    return part * scale, part

                (_, part), grads = jax.value_and_grad(objective, has_aux=True)(params)
                return jax.tree.map(lambda g: g.astype(jnp.float32), grads), part

            def masked(b, m):
                return gradient(lambda p: self._masked_sum(p, b, m, compute_dtype))

            def whole(b, m):  # every row real: the mask is all true
                return gradient(lambda p: self._batch_sum(p, b, compute_dtype))

            if full is None:
                return masked(b, m)
            if full is True:
                return whole(b, m)
            return jax.lax.cond(full, whole, masked, b, m)

        return accumulate(micro, params, batch, mask, vary)

    def loss_sum(self, params, data, mask, chunk, compute_dtype, vary: Callable = _same,
                 real: int = 0) -> jax.Array:  # fmt: skip
        """``sum`` of the per-example losses of the rows of ``data`` where ``mask`` is true,
        in chunks of ``chunk`` rows, float32. The first ``real`` rows (a static count) are
        known to be real (``mask`` true there): their whole chunks call ``loss_fn`` on the
        chunk, the others one ``vmap`` of it per example (masked)."""
        rows, valid = chunked(mask, chunk)
        whole = min(real // rows.shape[1], rows.shape[0])
        total = vary(jnp.float32(0.0))
        if whole:
            def plain(total, r):
                return total + self._batch_sum(params, gather(data, r), compute_dtype), None

            total, _ = jax.lax.scan(plain, total, rows[:whole])
        if whole < rows.shape[0]:
            def masked(total, xs):
                r, m = xs
                return total + self._masked_sum(params, gather(data, r), m, compute_dtype), None

            total, _ = jax.lax.scan(masked, total, (rows[whole:], valid[whole:]))
        return total
