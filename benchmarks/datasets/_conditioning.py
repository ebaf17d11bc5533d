"""Condition number of the least-squares Hessian of a design, and the common metadata.

For a design ``X`` of shape ``(n, d)`` the Hessian of ``L(w) = 1/(2n) ||X w - y||^2`` is
``H = X.T @ X / n`` (no intercept column). With singular values ``s_1 >= ... >= s_r`` of
``X`` its eigenvalues are ``s_i^2 / n``, so

.. code-block:: text

    kappa(H) = (s_max / s_min)^2          if rank(X) = d
    kappa(H) = inf                         otherwise (H is singular)

Ill-conditioned (> 1e8) or wide designs are measured by an SVD of ``X`` itself (not from
``X.T @ X``), so condition numbers up to ~1e16 are measured to many digits; tall, better
conditioned designs through the Gram matrix (see ``_singular_values``). The rank uses NumPy's
``matrix_rank`` tolerance ``s_max * max(n, d) * eps``.

Example:
    >>> import numpy as np
    >>> X = np.diag([2.0, 1.0])
    >>> round(hessian_spectrum(X)["condition_number"], 12)
    4.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["dataset_metadata", "hessian_spectrum"]


def hessian_spectrum(X: np.ndarray) -> dict[str, Any]:
    """Measured spectrum summary of ``H = X.T @ X / n``.

    Returns a dict with ``condition_number`` (``inf`` when singular), ``singular``,
    ``rank``, ``condition_number_nonzero`` (ratio of the largest to the smallest *nonzero*
    eigenvalue) and ``eigenvalue_max`` / ``eigenvalue_min`` (of ``H``).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or inf; its condition number is undefined")
    n, d = X.shape
    # All-zero columns (e.g. standardised constant pixels) only add zero singular values:
    # drop them exactly, then measure the rest.
    nonzero = np.any(X != 0.0, axis=0)
    s = _singular_values(X[:, nonzero]) if nonzero.any() else np.zeros(1)
    if s[0] == 0.0:
        rank = 0
    else:
        rank = int(np.sum(s > s[0] * max(n, d) * np.finfo(np.float64).eps))
    singular = rank < d
    eig = s**2 / n
    if rank == 0:
        kappa_nonzero = float("inf")
    else:
        kappa_nonzero = float((s[0] / s[rank - 1]) ** 2)
    return {
        "condition_number": float("inf") if singular else kappa_nonzero,
        "condition_number_nonzero": kappa_nonzero,
        "singular": bool(singular),
        "rank": rank,
        "eigenvalue_max": float(eig[0]),
        "eigenvalue_min": float(eig[-1]) if not singular else 0.0,
    }


def _singular_values(X: np.ndarray) -> np.ndarray:
    """Singular values of ``X``, descending.

    A tall ``X`` (``n >= 2 d``) goes through the Gram matrix first (one BLAS-3 product,
    several times cheaper than an SVD); its eigenvalues are accurate to ~``d * eps * lam_max``
    absolute, so they are used only when ``lam_min > 1e-8 lam_max`` (relative error of the
    condition number < ~1e-4 for d <= 1e3). Otherwise, and for wide/square ``X``, an SVD of
    ``X`` itself is used.
    """
    n, d = X.shape
    if n >= 2 * d:
        lam = np.linalg.eigvalsh(X.T @ X)[::-1]
        if lam[0] > 0.0 and lam[-1] > 1e-8 * lam[0]:
            return np.sqrt(lam)
    return np.linalg.svd(X, compute_uv=False)


def dataset_metadata(
    name: str, source: str, X_train: np.ndarray, X_test: np.ndarray | None, **extra: Any
) -> dict[str, Any]:
    """The metadata every loader and generator returns.

    Always has ``name``, ``source``, ``n_train``, ``n_test``, ``n_features`` and
    ``condition_number`` (of ``X_train.T @ X_train / n_train``, see :func:`hessian_spectrum`),
    plus ``singular``, ``rank``, ``condition_number_nonzero`` and any ``extra`` items.
    """
    spectrum = hessian_spectrum(X_train)
    metadata: dict[str, Any] = {
        "name": name,
        "source": source,
        "n_train": int(X_train.shape[0]),
        "n_test": 0 if X_test is None else int(X_test.shape[0]),
        "n_features": int(X_train.shape[1]),
        "condition_number": spectrum["condition_number"],
        "condition_number_nonzero": spectrum["condition_number_nonzero"],
        "singular": spectrum["singular"],
        "rank": spectrum["rank"],
    }
    metadata.update(extra)
    return metadata
