"""The linear model's math and input validation, written once against an array namespace.

Every estimator in the project (the NumPy reference in ``optimizers``, ``JAXOptimizer``,
``ParallelTrainer``) computes its loss and gradient here, so the numbers agree by
construction. The functions take the array namespace ``xp`` explicitly (``numpy``,
``jax.numpy`` or an ``array_api_compat`` namespace; ``xp=None`` infers it from the
arrays) and work inside ``jax.jit`` traces.

Model and losses (shared DESIGN.md, "The numerical contract"). ``w`` is ``(d,)`` for one output
(a regression target, or the logit of a binary classifier) and ``(k, d)`` for ``k`` outputs
(scikit-learn's ``coef_`` layout; ``b`` is then ``(k,)``, ``y`` is ``(n, k)``):

.. code-block:: text

    z = X @ wᵀ + b                                   (prediction, b = 0 without intercept)
    mse:       ℓ_i = 1/2 Σ_k (z_ik - y_ik)²               r = z - y
    logistic:  ℓ_i = log(1 + exp(z_i)) - y_i z_i          r = σ(z) - y,  σ(z) = (1 + tanh(z/2)) / 2
               (one output: binary, y in {0, 1})
    logistic:  ℓ_i = logsumexp_k(z_ik) - Σ_k y_ik z_ik    r = softmax(z) - y
               (k outputs: multinomial, y one-hot)
    L = Σ_i s_i ℓ_i / n  +  alpha/2 ||w||²              (s: sample weights of mean 1; b unpenalized)
    gradient:  ∂L/∂w = rᵀ X / n + alpha w  (computed as r @ X),   ∂L/∂b = Σ_i r_i / n
               (r_i multiplied by s_i)

One step costs two matrix products (``X @ wᵀ`` and ``rᵀ @ X``): the residual ``r`` is
computed once and used for the loss and both gradients.

Row weights: every loss/gradient function takes an optional per-row ``weight`` (shape
``(n,)``, same dtype as ``X``). Then ``n`` becomes ``Σ weight`` and each row's term is
multiplied by its weight. With a 0/1 mask this is how a compiled loop handles a padded last
mini-batch: padded rows get weight 0 and the result equals the unpadded batch's. The
penalty is written as a term of every row (``ℓ_i + alpha/2 ||w||²``, weighted by ``weight``
but not by the sample weight ``s_i``), so any sum of rows divided by their count, on any
device or over any blocks, gives ``L`` with its penalty exactly once.

Sample weights ``s`` (``sample_weight``) are those a user passed, divided by their mean on
the host (:func:`normalized_sample_weight`): the weighted mean loss ``Σ s ℓ / Σ s`` is then
``Σ s ℓ / n``, and a mini-batch's mean ``Σ_batch s ℓ / m`` estimates it without bias.

Validation of the data and of the estimator arguments is in ``_data`` and ``accel._checks``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from accel._checks import namespace

__all__ = [
    "LOSSES",
    "decision_function",
    "grad_norm",
    "linear_loss",
    "log_softmax",
    "loss_and_grad",
    "loss_and_grad_sums",
    "loss_value",
    "normalized_sample_weight",
    "penalty",
    "predict_from_decision",
    "rmatvec",
    "row_blocks_for",
    "score_from_predictions",
    "sigmoid",
    "squared_norm",
]

LOSSES = ("mse", "logistic")


# ---------------------------------------------------------------------------------------
# math (namespace-generic, traceable)
# ---------------------------------------------------------------------------------------


def _ns(xp: Any, *arrays: Any) -> Any:
    return xp if xp is not None else namespace(*arrays)


def sigmoid(z: Any, xp: Any = None) -> Any:
    """``σ(z) = (1 + tanh(z/2)) / 2``: exact identity, never overflows (no warnings)."""
    xp = _ns(xp, z)
    return 0.5 * (1.0 + xp.tanh(0.5 * z))


def log_softmax(z: Any, xp: Any = None) -> Any:
    """``z - logsumexp(z)`` along the last axis (the max subtracted first: no overflow)."""
    xp = _ns(xp, z)
    shifted = z - xp.max(z, axis=-1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-1, keepdims=True))


def _t(a: Any) -> Any:
    """The transpose of a matrix; a vector as it is."""
    return a.T if a.ndim == 2 else a


def decision_function(X: Any, w: Any, b: Any, xp: Any = None) -> Any:
    """``z = X @ wᵀ + b``: ``(n,)`` for ``w`` of shape ``(d,)``, ``(n, k)`` for ``(k, d)``."""
    return _matvec(X, w, _matmul) + b


def _normaliser(n_rows: int, weight: Any, xp: Any) -> Any:
    return n_rows if weight is None else xp.sum(weight)


def _pointwise_loss(z: Any, y: Any, loss: str, xp: Any) -> tuple[Any, Any]:
    """Per-row loss terms ``(n,)`` (without the 1/n) and the residual ``r = ∂ℓ/∂z``."""
    if loss == "mse":
        r = z - y
        sq = r * r
        return 0.5 * (sq if z.ndim == 1 else xp.sum(sq, axis=1)), r
    if loss == "logistic":
        if z.ndim == 1:
            return xp.logaddexp(xp.zeros_like(z), z) - y * z, sigmoid(z, xp) - y
        logp = log_softmax(z, xp)
        return -xp.sum(y * logp, axis=1), xp.exp(logp) - y
    raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")


def squared_norm(a: Any, xp: Any = None) -> Any:
    """``Σ a²`` over every element (``a @ a`` for a vector)."""
    xp = _ns(xp, a)
    v = xp.reshape(a, (-1,))
    return v @ v


def penalty(w: Any, alpha: float, xp: Any = None) -> Any:
    """The L2 penalty ``alpha/2 ||w||²`` (the intercept is not penalized)."""
    return 0.5 * alpha * squared_norm(w, xp)


def normalized_sample_weight(sample_weight: Any, dtype: Any = None) -> Any:
    """``s = sample_weight / mean(sample_weight)`` (NumPy, float64 arithmetic): the weights the
    model's functions take, of mean 1, so ``Σ s ℓ / n`` is the weighted mean loss."""
    import numpy as np

    w = np.asarray(sample_weight, np.float64)
    s = w * (w.shape[0] / w.sum())
    return s if dtype is None else s.astype(dtype)


def loss_value(
    X: Any, y: Any, w: Any, b: Any, *, loss: str, weight: Any = None, alpha: float = 0.0,
    sample_weight: Any = None, xp: Any = None,
) -> Any:  # fmt: skip
    """The objective ``L`` at ``(w, b)`` (one matrix product; module doc)."""
    xp = _ns(xp, X, y)
    terms, _ = _pointwise_loss(decision_function(X, w, b, xp), y, loss, xp)
    if sample_weight is not None:
        terms = terms * sample_weight
    if weight is not None:
        terms = terms * weight
    value = xp.sum(terms) / _normaliser(X.shape[0], weight, xp)
    return value + penalty(w, alpha, xp) if alpha else value


def _matmul(a: Any, b: Any) -> Any:
    return a @ b


def _matvec(X: Any, w: Any, matmul: Any) -> Any:
    """``X @ wᵀ``; ``X`` is an array or a linear operator with ``matvec`` (``_inplace``, one
    output only)."""
    return X.matvec(w) if hasattr(X, "matvec") else matmul(X, _t(w))


def rmatvec(r: Any, X: Any, row_blocks: int = 1, xp: Any = None, matmul: Any = _matmul) -> Any:
    """``rᵀ X``: shape ``(d,)`` for ``r`` of shape ``(n,)``, ``(k, d)`` for ``(n, k)``; written
    as ``r @ X`` (``r.T @ X``).

    ``row_blocks > 1`` (it must divide ``n``; one output) computes it as a batched product
    over that many row blocks, then sums the partial results: the same value up to rounding,
    and on XLA:CPU several times faster for large ``X`` than the single product in our
    timings. ``X.T @ r`` is avoided: XLA:CPU runs that form several times slower than
    ``r @ X``. ``X`` may also be a linear operator with ``rmatvec(r, row_blocks)`` (``_inplace``).
    """
    if hasattr(X, "rmatvec"):
        return X.rmatvec(r, row_blocks)
    if row_blocks == 1 or r.ndim == 2:
        return matmul(_t(r), X)
    xp = _ns(xp, r, X)
    n, d = X.shape
    parts = matmul(xp.reshape(r, (row_blocks, 1, n // row_blocks)), xp.reshape(X, (row_blocks, n // row_blocks, d)))
    return xp.sum(xp.reshape(parts, (row_blocks, d)), axis=0)


def loss_and_grad_sums(
    X: Any,
    y: Any,
    w: Any,
    b: Any,
    *,
    loss: str,
    fit_intercept: bool = True,
    weight: Any = None,
    alpha: float = 0.0,
    sample_weight: Any = None,
    row_blocks: int = 1,
    residual_scale: Any = None,
    matmul: Any = _matmul,
    xp: Any = None,
) -> tuple[Any, Any, Any]:
    """``(Σ ℓ_i, Σ r_i x_i, Σ r_i)``: the loss and gradient as SUMS over the (weighted) rows,
    each row with its share of the penalty (module doc).

    Dividing by the row count gives :func:`loss_and_grad`; summing over devices first gives
    the gradient of a batch split over devices (``accel.parallel``). ``residual_scale``
    multiplies ``r`` (and the penalty's gradient) before the gradient product (loss
    scaling: the gradient of ``scale * loss``). ``matmul(a, b)`` computes the two products
    ``X @ wᵀ`` and ``rᵀ @ X`` (mixed precision passes one that multiplies in a
    low-precision dtype and accumulates in float32, so a float16 overflow of the scaled
    residuals shows as ``inf``).
    """
    xp = _ns(xp, X, y)
    terms, r = _pointwise_loss(_matvec(X, w, matmul) + b, y, loss, xp)
    if sample_weight is not None:
        terms = terms * sample_weight
        r = r * (sample_weight if r.ndim == 1 else sample_weight[:, None])
    if weight is not None:
        terms = terms * weight
        r = r * (weight if r.ndim == 1 else weight[:, None])
    if residual_scale is not None:
        r = r * residual_scale
    value = xp.sum(terms)
    grad_w = rmatvec(r, X, row_blocks, xp, matmul)
    grad_b = xp.sum(r, axis=0) if fit_intercept else xp.zeros_like(b)
    if alpha:  # each row's share of alpha/2 ||w||²
        rows = _normaliser(X.shape[0], weight, xp)
        value = value + rows * penalty(w, alpha, xp)
        share = rows * alpha if residual_scale is None else rows * alpha * residual_scale
        grad_w = grad_w + share * w
    return value, grad_w, grad_b


def loss_and_grad(
    X: Any,
    y: Any,
    w: Any,
    b: Any,
    *,
    loss: str,
    fit_intercept: bool = True,
    weight: Any = None,
    alpha: float = 0.0,
    sample_weight: Any = None,
    row_blocks: int = 1,
    xp: Any = None,
) -> tuple[Any, Any, Any]:
    """``(L, ∂L/∂w, ∂L/∂b)`` with two matrix products: :func:`loss_and_grad_sums`
    divided by ``n`` (``Σ weight`` with row weights).

    ``w`` has shape ``(d,)`` or ``(k, d)``, ``b`` shape ``()`` or ``(k,)``. Without
    ``fit_intercept`` the intercept gradient is an exact zero, so ``b`` stays at its initial
    0 under every optimizer. ``row_blocks``: see :func:`rmatvec`.
    """
    xp = _ns(xp, X, y)
    value, grad_w, grad_b = loss_and_grad_sums(
        X, y, w, b, loss=loss, fit_intercept=fit_intercept, weight=weight, alpha=alpha,
        sample_weight=sample_weight, row_blocks=row_blocks, xp=xp,
    )  # fmt: skip
    n = _normaliser(X.shape[0], weight, xp)
    return value / n, grad_w / n, grad_b / n


def grad_norm(grad_w: Any, grad_b: Any, xp: Any = None) -> Any:
    """Euclidean norm of the whole gradient ``(∂L/∂w, ∂L/∂b)``: ``sqrt(Σ gw² + Σ gb²)``."""
    xp = _ns(xp, grad_w)
    return xp.sqrt(squared_norm(grad_w, xp) + squared_norm(grad_b, xp))


def row_blocks_for(n: int, d: int, *, min_elements: int = 1 << 20, target: int = 16) -> int:
    """Row blocks for :func:`rmatvec` on XLA:CPU: 1 for small ``X`` (fewer than
    ``min_elements``), else the divisor of ``n`` nearest ``target`` with at least 64 rows per
    block (1 when ``n`` has none in ``[4, 4 * target]``)."""
    if n * d < min_elements:
        return 1
    candidates = [k for k in range(4, 4 * target + 1) if n % k == 0 and n // k >= 64]
    return min(candidates, key=lambda k: (abs(k - target), k)) if candidates else 1


def predict_from_decision(z: Any, loss: str, xp: Any = None) -> Any:
    """Predictions from ``z``: ``z`` itself for mse; for logistic the class index, ``z > 0``
    (0/1 in ``z``'s dtype) for one output, ``argmax_k z_k`` (integers) for several."""
    xp = _ns(xp, z)
    if loss == "logistic":
        return xp.astype(z > 0, z.dtype) if z.ndim == 1 else xp.argmax(z, axis=1)
    return z


def score_from_predictions(
    y: Any, y_pred: Any, loss: str, xp: Any = None, sample_weight: Any = None
) -> float:
    """R² (``1 - SS_res/SS_tot``) for mse, accuracy for logistic, as a Python float; with
    ``sample_weight`` each row's term is weighted (and the mean of ``y`` is the weighted one).
    Several outputs (``y`` of shape ``(n, k)``): the mean of the outputs' R² (scikit-learn's
    ``'uniform_average'``).

    R² of a constant ``y`` is 1.0 for a perfect prediction and 0.0 otherwise (sklearn's rule).
    """
    xp = _ns(xp, y, y_pred)
    w = xp.ones(y.shape[0], dtype=y.dtype) if sample_weight is None else xp.asarray(sample_weight, dtype=y.dtype)
    if loss == "logistic":
        return float(xp.sum(w * xp.astype(y_pred == y, y.dtype)) / xp.sum(w))
    if y.ndim == 2:
        return sum(score_from_predictions(y[:, j], y_pred[:, j], loss, xp, w) for j in range(y.shape[1])) / y.shape[1]
    mean = xp.sum(w * y) / xp.sum(w)
    ss_res = float(xp.sum(w * (y - y_pred) ** 2))
    ss_tot = float(xp.sum(w * (y - mean) ** 2))
    if ss_tot == 0.0:
        return 1.0 if ss_res == 0.0 else 0.0
    return 1.0 - ss_res / ss_tot


@functools.cache
def linear_loss(loss: str, fit_intercept: bool, alpha: float = 0.0) -> Callable[[Any, Any], Any]:
    """``loss_fn(params, batch)``: :func:`loss_value` of ``params = {'w', 'b'}`` on
    ``batch = {'X', 'y'}`` and, when present, the normalized sample weights ``'sw'``
    (JAX; ``b`` held fixed without an intercept), the form ``ParallelTrainer.train`` and the
    validation take. The strategies read its ``linear_model`` attribute
    ``(loss, fit_intercept, alpha)`` to use the model's structure (the analytic gradient,
    the feature sharding of model_parallel)."""
    import jax
    import jax.numpy as jnp

    def loss_fn(params, batch):
        b = params["b"] if fit_intercept else jax.lax.stop_gradient(params["b"])
        return loss_value(batch["X"], batch["y"], params["w"], b, loss=loss, alpha=alpha,
                          sample_weight=batch.get("sw"), xp=jnp)  # fmt: skip

    loss_fn.linear_model = (loss, fit_intercept, float(alpha))
    return loss_fn
