"""Local gradient accumulation and masked losses over padded micro-batches.

A device's share of one optimizer step is ``rows`` of shape ``(k, m)`` (``-1`` = padding).
Its contribution, accumulated locally over the ``k`` micro-batches with ``lax.scan`` and
*without* any cross-device communication, is the flat vector

.. code-block:: text

    v = sum_j [ grad_p( scale * sum_i mask_ij * loss(p, x_ij) / N ),  sum_i mask_ij * loss(p, x_ij) / N ]

where ``N`` is the number of real rows in the whole optimizer step (all devices, all
micro-batches). Summing ``v`` over devices gives the scaled gradient of the mean loss of the
step's global batch and that mean loss: exactly the k-times-larger batch.

``loss_fn(params, batch)`` is the mean loss of a batch; it is evaluated per example (a
``vmap`` over batches of one row) so padded rows can be masked out of the sum.

Example:
    >>> import jax.numpy as jnp
    >>> from accel.parallel._accumulate import masked_loss_sum
    >>> loss = lambda w, b: jnp.mean((b["x"] * w - b["y"]) ** 2)
    >>> data = {"x": jnp.array([1.0, 2.0, 3.0]), "y": jnp.zeros(3)}
    >>> float(masked_loss_sum(loss, jnp.float32(1.0), data, jnp.array([[0, 2, -1]]), jnp.float32))
    10.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from accel.parallel._precision import cast_floating

__all__ = ["gather", "local_gradient", "masked_loss_sum", "per_example_losses"]


def gather(data: Any, rows: jax.Array) -> Any:
    """Rows ``rows`` (``-1`` read as row 0, to be masked) of every leaf of ``data``."""
    safe = jnp.maximum(rows, 0)
    return jax.tree.map(lambda a: a[safe], data)


def per_example_losses(loss_fn: Callable, params: Any, batch: Any) -> jax.Array:
    """``[loss_fn(params, batch[i:i+1]) for i]`` as one ``vmap``."""
    return jax.vmap(lambda ex: loss_fn(params, jax.tree.map(lambda a: a[None], ex)))(batch)


def _masked_sum(loss_fn, params, batch, mask, compute_dtype) -> jax.Array:
    losses = per_example_losses(
        loss_fn, cast_floating(params, compute_dtype), cast_floating(batch, compute_dtype)
    ).astype(jnp.float32)
    return jnp.sum(jnp.where(mask, losses, 0.0))


def _same(x: jax.Array) -> jax.Array:
    return x


def masked_loss_sum(
    loss_fn: Callable,
    params: Any,
    data: Any,
    rows: jax.Array,
    compute_dtype: Any,
    vary: Callable[[jax.Array], jax.Array] = _same,
) -> jax.Array:
    """``sum`` of the per-example losses of ``rows`` (shape ``(chunks, c)``), float32.

    ``vary`` marks the zero initial carry as device-varying inside ``shard_map``.
    """

    def chunk(total, r):
        return total + _masked_sum(loss_fn, params, gather(data, r), r >= 0, compute_dtype), None

    total, _ = jax.lax.scan(chunk, vary(jnp.float32(0.0)), rows)
    return total


def local_gradient(
    loss_fn: Callable,
    params: Any,
    data: Any,
    rows: jax.Array,
    count: jax.Array,
    scale: jax.Array,
    compute_dtype: Any,
    vary: Callable[[jax.Array], jax.Array] = _same,
) -> jax.Array:
    """The device's flat ``[scaled gradient..., loss]`` contribution ``v`` (see module doc)."""
    flat, _ = ravel_pytree(params)

    def micro(acc, r):
        batch = gather(data, r)

        def objective(p):
            part = _masked_sum(loss_fn, p, batch, r >= 0, compute_dtype) / count
            return part * scale, part

        (_, part), grads = jax.value_and_grad(objective, has_aux=True)(params)
        g, _ = ravel_pytree(grads)
        return acc + jnp.concatenate([g.astype(jnp.float32), part[None]]), None

    acc, _ = jax.lax.scan(micro, vary(jnp.zeros(flat.size + 1, jnp.float32)), rows)
    return acc
