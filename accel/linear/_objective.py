"""The linear model's objective for the training engine: analytic sums, no autodiff.

A device's share of one optimizer step is a batch of ``(k, m)`` rows and its 0/1 mask; its
contribution is the flat vector ``[scale * Σ mask ∇ℓ / N..., Σ mask ℓ / N]`` accumulated over
the ``k`` micro-batches (the engine's objective contract, ``accel.train.PerExampleObjective``
for any ``loss_fn``). For ``z = X @ w + b`` the sums are ``accel.linear._model``'s
``loss_and_grad_sums``: two matrix-vector products per micro-batch, no per-example ``vmap``.

Example:
    >>> import jax.numpy as jnp
    >>> from accel.linear._objective import LinearObjective
    >>> obj = LinearObjective("mse", True)
    >>> params = {"w": jnp.zeros(1), "b": jnp.zeros(())}
    >>> value, grads = obj.sums(params, jnp.array([[1.0], [2.0]]), jnp.array([1.0, 3.0]), None, jnp.float32)
    >>> float(value), float(grads["w"][0]), float(grads["b"])
    (5.0, -7.0, -4.0)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from accel.linear import _model
from accel.train import accumulate

__all__ = ["LinearObjective"]


def _same(x: Any) -> Any:
    return x


class LinearObjective(NamedTuple):
    """The linear model ``z = X @ wᵀ + b`` on data ``{'X': (n, d), 'y': (n,) or (n, k)}`` and
    optionally the normalized sample weights ``'sw': (n,)``, with the L2 penalty ``alpha``;
    analytic gradient (the model's math, as :func:`loss_value` computes it).

    ``scaled``: whether a loss scale other than 1 can occur (float16): without it the scale
    multiplications are left out of the program.
    """

    loss: str
    fit_intercept: bool
    alpha: float = 0.0
    scaled: bool = False
    # the full-data evaluation gives the gradient too (evaluation_sums, grad_norm)
    full_gradient = True

    def sums(self, params, X, y, weight, compute_dtype, scale=None, row_blocks: int = 1,
             sample_weight=None):  # fmt: skip
        """``(Σ loss, {'w': Σ r x, 'b': Σ r})`` in the parameters' dtype ``p``, each row with
        its share of the penalty.

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
            fit_intercept=self.fit_intercept, weight=weight, alpha=self.alpha,
            sample_weight=None if sample_weight is None else sample_weight.astype(out),
            row_blocks=row_blocks, residual_scale=rs, matmul=matmul, xp=jnp,
        )  # fmt: skip
        return value, {"b": gb, "w": gw}

    def local_vector(
        self, params, batch, mask, count, scale, compute_dtype, vary: Callable = _same,
        full: Any = None,
    ) -> tuple[Any, jax.Array]:
        """The device's ``(scaled gradient, loss)`` contribution ``v`` (module doc). (``full``,
        a batch without padding, changes nothing here: the sums weigh the rows anyway.)"""

        def micro(b, m):
            weight = m.astype(params["w"].dtype)
            value, grads = self.sums(params, b["X"], b["y"], weight, compute_dtype, scale,
                                     sample_weight=b.get("sw"))  # fmt: skip
            n = count.astype(value.dtype)
            return jax.tree.map(lambda g: g / n, grads), value / n

        return accumulate(micro, params, batch, mask, vary)

    def evaluation_sums(self, params, rows, weight, compute_dtype, row_blocks: int = 1):
        """:meth:`sums` of rows ``{'X', 'y'}`` (the engine's full-data evaluation)."""
        return self.sums(params, rows["X"], rows["y"], weight, compute_dtype, row_blocks=row_blocks,
                         sample_weight=rows.get("sw"))  # fmt: skip

    @staticmethod
    def grad_norm(grad: Any, xp: Any = jnp) -> Any:
        """The norm of the whole gradient ``{'w', 'b'}`` (``sqrt(gw·gw + gb²)``)."""
        return _model.grad_norm(grad["w"], grad["b"], xp)
