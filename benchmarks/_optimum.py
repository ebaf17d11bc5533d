"""What the suite compares every optimizer against: the exact optimum and the step-size rule.

For a design ``A = [X, 1]`` (the intercept column is included because every estimator fits
one) and ``n`` rows:

.. code-block:: text

    mse:       w* = argmin 1/(2n) |A w - y|²      (numpy.linalg.lstsq, float64)
    logistic:  w* = argmin 1/n Σ log(1+exp(a_i·w)) - y_i a_i·w   (damped Newton, float64)
    K classes: W* = argmin 1/n Σ logsumexp(W a_i) - y_i·W a_i   (y_i one-hot; trust-region
               Newton-CG with exact Hessian-vector products, scipy, float64, to |g| < 1e-10)
    + alpha/2 |w|² on every problem with a penalty (the intercept, A's last column, is free)
    L        = λ_max(Aᵀ A / n)            (mse)     L = λ_max(Aᵀ A / n) / 4   (logistic)
               λ_max(Aᵀ A / n) / 2 (K classes: the softmax Hessian is at most I/2), + alpha

``L`` bounds the Hessian, so ``1/L`` is the classical safe gradient step; it is the rule the
suite uses for the SGD family. The losses themselves come from ``accel.internals.loss_value``,
the one implementation every estimator uses.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from accel import internals

__all__ = ["Optimum", "lipschitz_constant", "solve_optimum", "targets", "training_loss"]

_DENSE_LIMIT = 2000  # above this many columns, eigsh (matrix-free) replaces eigvalsh


@dataclasses.dataclass(frozen=True)
class Optimum:
    """The minimiser of the training loss and how it was obtained."""

    loss: float
    coef: np.ndarray  # (d,), or (K, d) for K classes
    intercept: Any  # a float, or (K,)
    method: str
    grad_norm: float


def _design(X: np.ndarray) -> np.ndarray:
    return np.hstack([np.asarray(X, np.float64), np.ones((X.shape[0], 1))])


def targets(y: np.ndarray, loss: str) -> np.ndarray:
    """``y`` as the model's targets in float64: class labels encoded as the estimators encode
    them (0/1 for two classes, one-hot for more), numbers as they are."""
    if loss == "logistic" and np.unique(np.asarray(y)).size > 2:
        return internals.encode_labels(y)[0]
    return np.asarray(y, np.float64)


def training_loss(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: Any, loss: str,
                  alpha: float = 0.0) -> float:  # fmt: skip
    """The training objective of ``(coef, intercept)`` (penalty included) evaluated in float64."""
    X64 = np.asarray(X, np.float64)
    value = internals.loss_value(
        X64, targets(y, loss), np.asarray(coef, np.float64), np.asarray(intercept, np.float64),
        loss=loss, alpha=alpha, xp=np,
    )  # fmt: skip
    return float(value)


def lipschitz_constant(X: np.ndarray, loss: str, n_classes: int = 2, alpha: float = 0.0) -> float:
    """``λ_max(Aᵀ A / n)`` (divided by 4 for logistic, by 2 for ``n_classes > 2``) plus
    ``alpha``: the smoothness constant of the objective."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    A = _design(X)
    n, d = A.shape
    if d <= _DENSE_LIMIT:
        lam = float(np.linalg.eigvalsh(A.T @ A / n)[-1])
    else:  # matrix-free Lanczos: never forms the d x d Gram matrix
        op = LinearOperator((d, d), matvec=lambda v: A.T @ (A @ v) / n, dtype=np.float64)
        lam = float(eigsh(op, k=1, which="LA", return_eigenvectors=False, tol=1e-8)[0])
    if loss == "logistic":
        lam /= 2.0 if n_classes > 2 else 4.0
    return lam + alpha


def _penalized(d: int, alpha: float) -> np.ndarray:
    """``alpha`` on every coefficient, 0 on the intercept (the design's last column)."""
    mask = np.full(d, alpha)
    mask[-1] = 0.0
    return mask


def _newton_logistic(A: np.ndarray, y: np.ndarray, alpha: float = 0.0, max_iter: int = 100) -> tuple[np.ndarray, int]:
    n, d = A.shape
    w = np.zeros(d)
    pen = _penalized(d, alpha)

    def f(v: np.ndarray) -> float:
        z = A @ v
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(pen * v * v))

    for it in range(max_iter):
        z = A @ w
        p = internals.sigmoid(z, np)
        g = A.T @ (p - y) / n + pen * w
        if np.linalg.norm(g) < 1e-12:
            return w, it
        h = (A * (p * (1 - p))[:, None]).T @ A / n + np.diag(pen)
        step = np.linalg.lstsq(h + 1e-12 * np.eye(d), g, rcond=None)[0]
        t, f0 = 1.0, f(w)
        while f(w - t * step) > f0 - 1e-4 * t * float(g @ step) and t > 1e-10:
            t *= 0.5  # Armijo backtracking keeps Newton monotone when far from the optimum
        w = w - t * step
    return w, max_iter


def _newton_multinomial(A: np.ndarray, Y: np.ndarray, alpha: float) -> tuple[np.ndarray, int]:
    """``W (K, d)`` minimising the softmax cross-entropy plus the penalty: scipy's trust-region
    Newton-CG with the exact Hessian-vector product
    ``H[V] = Aᵀ (P ∘ AVᵀ - P ∘ rowsum(P ∘ AVᵀ)) / n + alpha V``."""
    from scipy.optimize import minimize

    n, d = A.shape
    K = Y.shape[1]
    pen = _penalized(d, alpha)

    def value_grad(v: np.ndarray) -> tuple[float, np.ndarray]:
        W = v.reshape(K, d)
        logp = internals.log_softmax(A @ W.T, np)
        value = -np.sum(Y * logp) / n + 0.5 * np.sum(pen * W * W)
        return float(value), ((np.exp(logp) - Y).T @ A / n + pen * W).ravel()

    def hessp(v: np.ndarray, u: np.ndarray) -> np.ndarray:
        W, U = v.reshape(K, d), u.reshape(K, d)
        P = np.exp(internals.log_softmax(A @ W.T, np))
        PZ = P * (A @ U.T)
        return ((PZ - P * PZ.sum(axis=1, keepdims=True)).T @ A / n + pen * U).ravel()

    res = minimize(value_grad, np.zeros(K * d), jac=True, hessp=hessp, method="trust-ncg",
                   options={"gtol": 1e-10, "maxiter": 1000})  # fmt: skip
    return res.x.reshape(K, d), int(res.nit)


def solve_optimum(X: np.ndarray, y: np.ndarray, loss: str, alpha: float = 0.0) -> Optimum:
    """The float64 minimiser of the training objective (with intercept; ``alpha``: the L2
    penalty; more than two class labels: the multinomial model)."""
    A = _design(X)
    y64 = targets(y, loss)
    if loss == "mse":
        if alpha:  # ridge: the normal equations with the penalty (intercept free)
            sol = np.linalg.solve(A.T @ A / len(A) + np.diag(_penalized(A.shape[1], alpha)), A.T @ y64 / len(A))
            method = "ridge normal equations on [X, 1] (float64)"
        else:
            sol = np.linalg.lstsq(A, y64, rcond=None)[0]
            method = "numpy.linalg.lstsq on [X, 1] (float64)"
    elif loss == "logistic" and y64.ndim == 2:
        sol, iters = _newton_multinomial(A, y64, alpha)
        sol = sol.T  # columns as in the other problems: coefficients, then the intercepts
        method = f"trust-region Newton-CG on [X, 1], {y64.shape[1]} classes (float64, {iters} iterations)"
    elif loss == "logistic":
        sol, iters = _newton_logistic(A, y64, alpha)
        method = f"damped Newton on [X, 1] (float64, {iters} iterations)"
    else:
        raise ValueError(f"loss must be 'mse' or 'logistic', got {loss!r}")
    coef, intercept = sol[:-1].T, sol[-1]
    intercept = float(intercept) if np.ndim(intercept) == 0 else intercept
    _, gw, gb = internals.loss_and_grad(
        np.asarray(X, np.float64), y64, coef, np.asarray(intercept, np.float64), loss=loss, alpha=alpha, xp=np
    )
    grad_norm = float(internals.grad_norm(gw, gb, np))
    return Optimum(training_loss(X, y, coef, intercept, loss, alpha), coef, intercept, method, grad_norm)
