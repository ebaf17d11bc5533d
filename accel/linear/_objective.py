"""What one device contributes to a step's gradient and to an epoch's loss.

A device's share of one optimizer step is ``rows`` of shape ``(k, m)`` (``-1`` = padding).
Its contribution, accumulated locally over the ``k`` micro-batches with ``lax.scan`` and
*without* any cross-device communication, is the flat vector

.. code-block:: text

    v = sum_j [ scale * sum_i mask_ij * ∇ℓ(p, x_ij) / N,   sum_i mask_ij * ℓ(p, x_ij) / N ]

where ``N`` is the number of real rows in the whole optimizer step (all devices, all
micro-batches). Summing ``v`` over devices gives the scaled gradient of the mean loss of the
step's global batch and that mean loss: exactly the k-times-larger batch. Two objectives
compute the per-row terms:

* :class:`LinearObjective`: the linear model, with the analytic sums of
  ``accel.linear._model.loss_and_grad_sums`` (two matrix-vector products per micro-batch);
* :class:`PerExampleObjective`: any ``loss_fn(params, batch)`` that is the mean of per-row
  terms, evaluated per example (a ``vmap`` over batches of one row, so padded rows can be
  masked) and differentiated with ``jax.grad``.

Both compute in the compute dtype (``_precision``) and return float32 (or the parameters'
float64) sums. ``vary`` marks zero initial carries as device-varying inside ``shard_map``.

Example:
    >>> import jax.numpy as jnp
    >>> from accel.linear._objective import PerExampleObjective
    >>> loss = lambda w, b: jnp.mean((b["x"] * w - b["y"]) ** 2)
    >>> data = {"x": jnp.array([1.0, 2.0, 3.0]), "y": jnp.zeros(3)}
    >>> obj = PerExampleObjective(loss)
    >>> float(obj.loss_sum(jnp.float32(1.0), data, jnp.array([[0, 2, -1]]), jnp.float32))
    10.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from accel.linear import _model
from accel.linear._precision import cast_floating

__all__ = ["LinearObjective", "PerExampleObjective", "gather", "per_example_losses"]


def gather(data: Any, rows: jax.Array) -> Any:
    """Rows ``rows`` (``-1`` read as row 0, to be masked) of every leaf of ``data``."""
    safe = jnp.maximum(rows, 0)
    return jax.tree.map(lambda a: a[safe], data)


def _same(x: jax.Array) -> jax.Array:
    return x


def per_example_losses(loss_fn: Callable, params: Any, batch: Any) -> jax.Array:
    """``[loss_fn(params, batch[i:i+1]) for i]`` as one ``vmap``."""
    return jax.vmap(lambda ex: loss_fn(params, jax.tree.map(lambda a: a[None], ex)))(batch)


def _accumulate(micro: Callable, params: Any, rows: jax.Array, vary: Callable) -> jax.Array:
    """Sum ``micro(rows_j)`` (flat vectors) over the ``k`` micro-batches with one scan."""
    flat, _ = ravel_pytree(params)

    def body(acc, r):
        return acc + micro(r), None

    acc, _ = jax.lax.scan(body, vary(jnp.zeros(flat.size + 1, flat.dtype)), rows)
    return acc


class PerExampleObjective(NamedTuple):
    """Any ``loss_fn(params, batch) -> mean loss of the batch`` (per-row terms, no batch statistics)."""

    loss_fn: Callable[[Any, Any], jax.Array]

    def _masked_sum(self, params, batch, mask, compute_dtype) -> jax.Array:
        losses = per_example_losses(
            self.loss_fn, cast_floating(params, compute_dtype), cast_floating(batch, compute_dtype)
        ).astype(jnp.float32)
        return jnp.sum(jnp.where(mask, losses, 0.0))

    def local_vector(
        self, params, data, rows, count, scale, compute_dtype, vary: Callable = _same
    ) -> jax.Array:
        """The device's flat ``[scaled gradient..., loss]`` contribution ``v`` (module doc)."""

        def micro(r):
            batch = gather(data, r)

            def objective(p):
                part = self._masked_sum(p, batch, r >= 0, compute_dtype) / count
                return part * scale, part

            (_, part), grads = jax.value_and_grad(objective, has_aux=True)(params)
            g, _ = ravel_pytree(grads)
            return jnp.concatenate([g.astype(jnp.float32), part[None]])

        return _accumulate(micro, params, rows, vary)

    def loss_sum(self, params, data, rows, compute_dtype, vary: Callable = _same) -> jax.Array:
        """``sum`` of the per-example losses of ``rows`` (shape ``(chunks, c)``), float32."""

        def chunk(total, r):
            return total + self._masked_sum(params, gather(data, r), r >= 0, compute_dtype), None

        total, _ = jax.lax.scan(chunk, vary(jnp.float32(0.0)), rows)
        return total


class LinearObjective(NamedTuple):
    """The linear model ``z = X @ w + b`` on data ``{'X': (n, d), 'y': (n,)}``, analytic gradient.

    ``scaled``: whether a loss scale other than 1 can occur (float16): without it the scale
    multiplications are left out of the program.
    """

    loss: str
    fit_intercept: bool
    scaled: bool = False

    def sums(self, params, X, y, weight, compute_dtype, scale=None, row_blocks: int = 1):
        """``(Σ loss, {'w': Σ r x, 'b': Σ r})`` in the parameters' dtype ``p``.

        With ``compute_dtype == p`` everything is computed in ``p``. A lower
        ``compute_dtype`` (bfloat16, float16) is mixed precision: the two products ``X @ w``
        and ``r @ X`` multiply in ``compute_dtype`` and accumulate in ``p``; the element-wise
        loss, residuals and sums stay in ``p`` (``scale`` multiplies the residuals before
        the product when ``scaled``)."""
        out = params["w"].dtype
        matmul = _model._matmul
        if jnp.dtype(compute_dtype) != out:

            def matmul(a, b):
                return jnp.matmul(
                    a.astype(compute_dtype), b.astype(compute_dtype), preferred_element_type=out
                )

        X = X.astype(out) if X.dtype != out and matmul is _model._matmul else X
        rs = scale.astype(out) if self.scaled and scale is not None else None
        value, gw, gb = _model.loss_and_grad_sums(
            X, y.astype(out), params["w"], params["b"], loss=self.loss,
            fit_intercept=self.fit_intercept, weight=weight, row_blocks=row_blocks,
            residual_scale=rs, matmul=matmul, xp=jnp,
        )  # fmt: skip
        return value, {"b": gb, "w": gw}

    def local_vector(
        self, params, data, rows, count, scale, compute_dtype, vary: Callable = _same
    ) -> jax.Array:
        """The device's flat ``[scaled gradient..., loss]`` contribution ``v`` (module doc)."""

        def micro(r):
            batch = gather(data, r)
            weight = (r >= 0).astype(params["w"].dtype)
            value, grads = self.sums(params, batch["X"], batch["y"], weight, compute_dtype, scale)
            g, _ = ravel_pytree(grads)
            return jnp.concatenate([g, value[None]]) / count.astype(g.dtype)

        return _accumulate(micro, params, rows, vary)
