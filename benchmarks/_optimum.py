"""What the suite compares every optimizer against: the exact optimum and the step-size rule.

For a design ``A = [X, 1]`` (the intercept column is included because every estimator fits
one) and ``n`` rows:

.. code-block:: text

    mse:       w* = argmin 1/(2n) |A w - y|²      (numpy.linalg.lstsq, float64)
    logistic:  w* = argmin 1/n Σ log(1+exp(a_i·w)) - y_i a_i·w   (damped Newton, float64)
    L        = λ_max(Aᵀ A / n)            (mse)     L = λ_max(Aᵀ A / n) / 4   (logistic)

``L`` bounds the Hessian, so ``1/L`` is the classical safe gradient step; it is the rule the
suite uses for the SGD family. The losses themselves come from ``accel.internals.loss_value``,
the one implementation every estimator uses.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from accel import internals

__all__ = ["Optimum", "lipschitz_constant", "solve_optimum", "training_loss"]

_DENSE_LIMIT = 2000  # above this many columns, eigsh (matrix-free) replaces eigvalsh


@dataclasses.dataclass(frozen=True)
class Optimum:
    """The minimiser of the training loss and how it was obtained."""

    loss: float
    coef: np.ndarray
    intercept: float
    method: str
    grad_norm: float


def _design(X: np.ndarray) -> np.ndarray:
    return np.hstack([np.asarray(X, np.float64), np.ones((X.shape[0], 1))])


def training_loss(X: np.ndarray, y: np.ndarray, coef: np.ndarray, intercept: float, loss: str) -> float:
    """The training loss of ``(coef, intercept)`` evaluated in float64."""
    X64 = np.asarray(X, np.float64)
    value = internals.loss_value(
        X64, np.asarray(y, np.float64), np.asarray(coef, np.float64), np.float64(intercept), loss=loss, xp=np
    )
    return float(value)


def lipschitz_constant(X: np.ndarray, loss: str) -> float:
    """``λ_max(Aᵀ A / n)`` (divided by 4 for logistic): the smoothness constant of the loss."""
    from scipy.sparse.linalg import LinearOperator, eigsh

    A = _design(X)
    n, d = A.shape
    if d <= _DENSE_LIMIT:
        lam = float(np.linalg.eigvalsh(A.T @ A / n)[-1])
    else:  # matrix-free Lanczos: never forms the d x d Gram matrix
        op = LinearOperator((d, d), matvec=lambda v: A.T @ (A @ v) / n, dtype=np.float64)
        lam = float(eigsh(op, k=1, which="LA", return_eigenvectors=False, tol=1e-8)[0])
    return lam / 4.0 if loss == "logistic" else lam


def _newton_logistic(A: np.ndarray, y: np.ndarray, max_iter: int = 100) -> tuple[np.ndarray, int]:
    n, d = A.shape
    w = np.zeros(d)

    def f(v: np.ndarray) -> float:
        z = A @ v
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    for it in range(max_iter):
        z = A @ w
        p = internals.sigmoid(z, np)
        g = A.T @ (p - y) / n
        if np.linalg.norm(g) < 1e-12:
            return w, it
        h = (A * (p * (1 - p))[:, None]).T @ A / n
        step = np.linalg.lstsq(h + 1e-12 * np.eye(d), g, rcond=None)[0]
        t, f0 = 1.0, f(w)
        while f(w - t * step) > f0 - 1e-4 * t * float(g @ step) and t > 1e-10:
            t *= 0.5  # Armijo backtracking keeps Newton monotone when far from the optimum
        w = w - t * step
    return w, max_iter


def solve_optimum(X: np.ndarray, y: np.ndarray, loss: str) -> Optimum:
    """The float64 minimiser of the training loss (with intercept)."""
    A = _design(X)
    y64 = np.asarray(y, np.float64)
    if loss == "mse":
        sol = np.linalg.lstsq(A, y64, rcond=None)[0]
        method = "numpy.linalg.lstsq on [X, 1] (float64)"
    elif loss == "logistic":
        sol, iters = _newton_logistic(A, y64)
        method = f"damped Newton on [X, 1] (float64, {iters} iterations)"
    else:
        raise ValueError(f"loss must be 'mse' or 'logistic', got {loss!r}")
    coef, intercept = sol[:-1], float(sol[-1])
    _, gw, gb = internals.loss_and_grad(
        np.asarray(X, np.float64), y64, coef, np.float64(intercept), loss=loss, xp=np
    )
    grad_norm = float(np.sqrt(np.sum(gw * gw) + gb * gb))
    return Optimum(training_loss(X, y, coef, intercept, loss), coef, intercept, method, grad_norm)
