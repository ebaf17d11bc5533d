"""Synthetic least-squares problems whose Hessian spectrum is built exactly.

Construction (all from one ``numpy.random.default_rng(seed)``; no global RNG):

.. code-block:: text

    H = X.T @ X / n              the Hessian of L(w) = 1/(2n) ||X w - y||^2, NO intercept column
    X = U diag(s) V.T            U (n x r), V (d x r) orthonormal: QR of Gaussian matrices
    s_i = sqrt(n * lam_i)        so the nonzero eigenvalues of H are exactly lam_i
    lam_1 = 1 >= ... >= lam_r = 1 / kappa,   r = min(n, d)
    y = X @ w + noise * N(0, 1)

When ``n > d`` the Gaussian matrix behind ``U`` is column-centred first, so the columns of
``X`` have mean 0 and are orthogonal to the all-ones column. The Hessian *with* an intercept
column, ``[X, 1].T @ [X, 1] / n``, is then ``diag(H, 1)``: since ``lam_max = 1`` its
condition number is also ``kappa``. When ``n <= d`` no centring is done (it would cost a
rank); with an intercept there are then more parameters than rows and that Hessian is
singular. When ``n < d``, ``H`` itself has rank ``n < d`` and is singular: the metadata say
``singular=True`` and ``condition_number=inf``; the ``n`` nonzero eigenvalues still span
exactly ``kappa`` (``condition_number_nonzero``).

Spectra (:func:`condition_spectrum`), all with ``lam_max = 1`` and ``lam_min = 1/kappa``:

.. code-block:: text

    exponential     lam_i = kappa^(-(i-1)/(r-1))                  evenly spread on a log scale
    near_singular   r-1 eigenvalues evenly in [max(1/2, 1/kappa), 1], one at 1/kappa
    sparse_extreme  k = max(1, r // 10) spikes at 1, the other r-k geometrically in
                    [1/kappa, min(1, 2/kappa)]                    (few large outliers)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._checks import check_int, check_real, check_seed
from ._conditioning import dataset_metadata, hessian_spectrum

__all__ = [
    "CONDITION_TYPES",
    "MAX_CONDITION_NUMBER",
    "condition_spectrum",
    "generate_extreme_condition_data",
    "generate_highdim_regression",
]

CONDITION_TYPES = ("exponential", "near_singular", "sparse_extreme")
# Beyond this the smallest singular value of X falls below ~1e-8 of the largest and the
# float64 rounding of X itself (relative 1e-16) starts to move the measured spectrum.
MAX_CONDITION_NUMBER = 1e16


def condition_spectrum(condition_type: str, kappa: float, r: int) -> np.ndarray:
    """The ``r`` eigenvalues (descending) of ``H`` for a spectrum type; see the module doc.

    Example:
        >>> condition_spectrum("exponential", 100.0, 3).tolist()
        [1.0, 0.1, 0.01]
    """
    if condition_type not in CONDITION_TYPES:
        raise ValueError(f"condition_type must be one of {CONDITION_TYPES}, got {condition_type!r}")
    kappa = check_real(kappa, "condition_number", minimum=1.0, maximum=MAX_CONDITION_NUMBER)
    r = check_int(r, "r", minimum=2)
    lo = 1.0 / kappa
    if condition_type == "exponential":
        lam = kappa ** (-np.arange(r) / (r - 1))
    elif condition_type == "near_singular":
        lam = np.append(np.linspace(1.0, max(0.5, lo), r - 1), lo)
    else:
        k = max(1, r // 10)
        lam = np.append(np.ones(k), np.geomspace(min(1.0, 2.0 * lo), lo, r - k))
    lam[0], lam[-1] = 1.0, lo  # exact end points (no pow/geomspace rounding)
    return lam


def _check_shape(n_samples: object, n_features: object) -> tuple[int, int]:
    n = check_int(n_samples, "n_samples", minimum=2)
    d = check_int(n_features, "n_features", minimum=2)
    return n, d


def _design(rng: np.random.Generator, n: int, d: int, lam: np.ndarray) -> np.ndarray:
    """``X = U diag(sqrt(n lam)) V.T``; ``U`` column-centred when ``n > d``."""
    r = lam.size
    G = rng.standard_normal((n, r))
    if n > d:
        G -= G.mean(axis=0)
    U, _ = np.linalg.qr(G)
    V, _ = np.linalg.qr(rng.standard_normal((d, r)))
    return (U * np.sqrt(n * lam)) @ V.T


def _problem(
    n: int, d: int, kappa: float, condition_type: str, n_informative: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lam = condition_spectrum(condition_type, kappa, min(n, d))
    X = _design(rng, n, d, lam)
    w = np.zeros(d)
    support = np.sort(rng.choice(d, size=n_informative, replace=False))
    w[support] = rng.standard_normal(n_informative)
    y = X @ w + noise * rng.standard_normal(n)
    return X, y, w, lam


def _synthetic_metadata(
    name: str, call: str, X: np.ndarray, lam: np.ndarray, **extra: Any
) -> dict[str, Any]:
    n, d = X.shape
    if n > d:
        with_intercept = hessian_spectrum(np.column_stack([X, np.ones(n)]))["condition_number"]
    else:
        with_intercept = float("inf")  # d + 1 parameters, n <= d rows
    return dataset_metadata(
        name,
        f"synthetic: {call}",
        X,
        None,
        centered=n > d,
        condition_number_with_intercept=with_intercept,
        requested_eigenvalues=lam,
        **extra,
    )


def generate_highdim_regression(
    n_samples: int,
    n_features: int,
    condition_number: float = 50.0,
    n_informative: int | None = None,
    noise: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """A linear regression problem with an exactly prescribed Hessian condition number.

    Returns ``X (n, d), y (n,), true_params (d,), metadata``. The design is
    ``X = U diag(s) V.T`` with an ``exponential`` spectrum (see the module doc): the
    eigenvalues of the Hessian ``X.T @ X / n`` -- the intercept column NOT included -- are
    ``condition_number^(-(i-1)/(d-1))``, from 1 down to ``1/condition_number``. When
    ``n_samples > n_features`` the columns are centred, so the Hessian with an intercept
    column has the same condition number (``metadata['condition_number_with_intercept']``).
    ``metadata['condition_number']`` is measured on the returned ``X`` and equals the
    request to better than 1e-8 relative whenever ``n_samples >= n_features`` (about 1e-11
    for requests up to 1e12; the limit is :data:`MAX_CONDITION_NUMBER`). When
    ``n_samples < n_features`` the Hessian has rank ``n_samples`` and is singular:
    ``metadata['singular']`` is True and ``metadata['condition_number']`` is ``inf``.

    ``true_params`` has ``n_informative`` (1 to ``n_features``, default: all) nonzero N(0, 1)
    entries at random positions; ``y = X @ true_params + noise * N(0, 1)`` (no intercept term).

    Example:
        >>> X, y, w, meta = generate_highdim_regression(200, 20, condition_number=1e4)
        >>> X.shape, y.shape, w.shape, round(meta["condition_number"])
        ((200, 20), (200,), (20,), 10000)
    """
    n, d = _check_shape(n_samples, n_features)
    kappa = check_real(
        condition_number, "condition_number", minimum=1.0, maximum=MAX_CONDITION_NUMBER
    )
    k = (
        d
        if n_informative is None
        else check_int(n_informative, "n_informative", minimum=1, maximum=d)
    )
    noise = check_real(noise, "noise", minimum=0.0)
    seed = check_seed(seed)
    X, y, w, lam = _problem(n, d, kappa, "exponential", k, noise, seed)
    call = (
        f"generate_highdim_regression(n_samples={n}, n_features={d}, condition_number={kappa!r}, "
        f"n_informative={k}, noise={noise!r}, seed={seed})"
    )
    metadata = _synthetic_metadata(
        "highdim_regression", call, X, lam,
        requested_condition_number=kappa, n_informative=k, noise=noise, seed=seed,
    )  # fmt: skip
    return X, y, w, metadata


def generate_extreme_condition_data(
    n_samples: int = 200,
    n_features: int = 50,
    target_kappa: float = 1e6,
    condition_type: str = "exponential",
    noise: float = 0.01,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """An ill-conditioned regression problem with a chosen spectrum shape.

    Returns ``X, y, metadata``. The Hessian ``X.T @ X / n`` (intercept column NOT included;
    with ``n_samples > n_features`` including it changes nothing, see the module doc) has
    eigenvalues :func:`condition_spectrum` ``(condition_type, target_kappa, min(n, d))``:

    - ``'exponential'``: evenly spread on a log scale between 1 and ``1/target_kappa``;
    - ``'near_singular'``: a well-conditioned bulk in [1/2, 1] and one direction at
      ``1/target_kappa`` (a nearly collinear design);
    - ``'sparse_extreme'``: a few (``max(1, r // 10)``) large eigenvalues at 1, the bulk
      crowded near ``1/target_kappa``.

    ``metadata['actual_kappa']`` (= ``metadata['condition_number']``) is measured on the
    returned ``X``; it matches ``target_kappa`` to better than 1e-8 relative when
    ``n_samples >= n_features`` (``inf`` when
    ``n_samples < n_features``: the Hessian is then singular).
    ``metadata['true_params']`` holds the N(0, 1) coefficients with
    ``y = X @ true_params + noise * N(0, 1)``.

    Example:
        >>> X, y, meta = generate_extreme_condition_data(target_kappa=1e8, condition_type="near_singular")
        >>> X.shape, f"{meta['actual_kappa']:.3g}"
        ((200, 50), '1e+08')
    """
    n, d = _check_shape(n_samples, n_features)
    kappa = check_real(target_kappa, "target_kappa", minimum=1.0, maximum=MAX_CONDITION_NUMBER)
    if not isinstance(condition_type, str):
        raise TypeError(
            f"condition_type must be a str, one of {CONDITION_TYPES}, got {type(condition_type).__name__}"
        )
    if condition_type not in CONDITION_TYPES:
        raise ValueError(f"condition_type must be one of {CONDITION_TYPES}, got {condition_type!r}")
    noise = check_real(noise, "noise", minimum=0.0)
    seed = check_seed(seed)
    X, y, w, lam = _problem(n, d, kappa, condition_type, d, noise, seed)
    call = (
        f"generate_extreme_condition_data(n_samples={n}, n_features={d}, target_kappa={kappa!r}, "
        f"condition_type={condition_type!r}, noise={noise!r}, seed={seed})"
    )
    metadata = _synthetic_metadata(
        f"extreme_condition_{condition_type}", call, X, lam,
        target_kappa=kappa, condition_type=condition_type, noise=noise, seed=seed, true_params=w,
    )  # fmt: skip
    metadata["actual_kappa"] = metadata["condition_number"]
    return X, y, metadata
