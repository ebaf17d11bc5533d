"""Synthetic generators: exact spectra, measured condition numbers, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.datasets import (
    CONDITION_TYPES,
    generate_extreme_condition_data,
    generate_highdim_regression,
)
from benchmarks.datasets._conditioning import hessian_spectrum
from benchmarks.datasets._synthetic import condition_spectrum


def _eigs(X: np.ndarray) -> np.ndarray:
    """Reference: eigenvalues of X.T X / n, descending (NumPy symmetric solver; absolute
    accuracy ~1e-16 * lam_max, so small eigenvalues are compared with atol=1e-13)."""
    return np.linalg.eigvalsh(X.T @ X / X.shape[0])[::-1]


def _kappa_ref(X: np.ndarray) -> float:
    """Independent reference: NumPy's 2-norm condition number of X, squared."""
    return float(np.linalg.cond(X)) ** 2


# ---- generate_highdim_regression -------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "d", "kappa"),
    [
        (300, 300, 50.0),
        (300, 300, 1e3),
        (300, 300, 1e12),
        (500, 40, 1.0),
        (500, 40, 1e6),
        (41, 40, 1e9),
    ],
)
def test_highdim_condition_number_exact(n, d, kappa):
    X, y, w, meta = generate_highdim_regression(n, d, condition_number=kappa, seed=3)
    assert X.shape == (n, d) and y.shape == (n,) and w.shape == (d,)
    assert X.dtype == y.dtype == w.dtype == np.float64
    assert meta["condition_number"] == pytest.approx(kappa, rel=0.01)  # the contract
    assert meta["condition_number"] == pytest.approx(kappa, rel=1e-6)  # what the SVD gives
    assert _kappa_ref(X) == pytest.approx(kappa, rel=1e-6)
    assert not meta["singular"] and meta["rank"] == d
    # The whole spectrum is the exponential one, not only its end points.
    np.testing.assert_allclose(
        _eigs(X), condition_spectrum("exponential", kappa, d), rtol=1e-6, atol=1e-13
    )


@settings(max_examples=25, deadline=None)
@given(
    log_kappa=st.floats(3.0, 12.0),
    d=st.integers(2, 25),
    extra=st.integers(0, 40),
    seed=st.integers(0, 2**64 - 1),
)
def test_highdim_condition_number_property(log_kappa, d, extra, seed):
    kappa = 10.0**log_kappa
    X, _, _, meta = generate_highdim_regression(d + extra, d, condition_number=kappa, seed=seed)
    assert meta["condition_number"] == pytest.approx(kappa, rel=0.01)
    assert _kappa_ref(X) == pytest.approx(kappa, rel=0.01)


@pytest.mark.parametrize("kappa", [1e3, 1e12])
def test_highdim_intercept_column_does_not_change_the_condition_number(kappa):
    n, d = 120, 30
    X, _, _, meta = generate_highdim_regression(n, d, condition_number=kappa, seed=1)
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    augmented = np.column_stack([X, np.ones(n)])
    assert _kappa_ref(augmented) == pytest.approx(kappa, rel=1e-6)
    assert meta["condition_number_with_intercept"] == pytest.approx(kappa, rel=1e-6)
    assert meta["centered"] is True


def test_highdim_square_design_with_intercept_is_singular_and_says_so():
    _, _, _, meta = generate_highdim_regression(60, 60, condition_number=100.0)
    assert meta["condition_number"] == pytest.approx(100.0, rel=1e-8)
    assert meta["condition_number_with_intercept"] == np.inf and meta["centered"] is False


@pytest.mark.parametrize(("n", "d"), [(10, 40), (2, 3), (99, 100)])
def test_highdim_fewer_samples_than_features_is_singular(n, d):
    X, _, _, meta = generate_highdim_regression(n, d, condition_number=1e4)
    assert meta["singular"] is True
    assert meta["condition_number"] == np.inf
    assert meta["rank"] == n == np.linalg.matrix_rank(X)
    assert meta["condition_number_nonzero"] == pytest.approx(1e4, rel=1e-6)
    assert _eigs(X)[n:].max() < 1e-10  # d - n zero eigenvalues: really singular


def test_docstrings_state_intercept_convention_and_singularity():
    for fn in (generate_highdim_regression, generate_extreme_condition_data):
        doc = " ".join(fn.__doc__.split())
        assert "intercept column NOT included" in doc
        assert "singular" in doc


def test_highdim_targets_noise_and_informative_support():
    X, y, w, meta = generate_highdim_regression(400, 50, n_informative=7, noise=0.0, seed=5)
    np.testing.assert_allclose(y, X @ w, rtol=0, atol=1e-12)
    assert np.count_nonzero(w) == 7 == meta["n_informative"]
    X, y, w, _ = generate_highdim_regression(4000, 20, noise=0.5, seed=5)
    residual = y - X @ w
    assert residual.std() == pytest.approx(0.5, rel=0.05)
    assert abs(residual.mean()) < 0.05


def test_generators_are_deterministic_and_use_no_global_rng():
    state = np.random.get_state()[1].copy()  # noqa: NPY002  (the legacy global RNG stays untouched)
    a = generate_highdim_regression(50, 20, seed=2**63 + 11)
    b = generate_highdim_regression(50, 20, seed=2**63 + 11)
    c = generate_highdim_regression(50, 20, seed=12)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    for left, right in zip(a[:3], b[:3], strict=True):
        np.testing.assert_array_equal(left, right)
    assert not np.allclose(a[0], c[0])
    e1 = generate_extreme_condition_data(seed=4, condition_type="sparse_extreme")
    e2 = generate_extreme_condition_data(seed=4, condition_type="sparse_extreme")
    np.testing.assert_array_equal(e1[0], e2[0])
    np.testing.assert_array_equal(e1[1], e2[1])


# ---- generate_extreme_condition_data ---------------------------------------------------


@pytest.mark.parametrize("condition_type", CONDITION_TYPES)
@pytest.mark.parametrize("kappa", [1e3, 1e6, 1e9, 1e12])
def test_extreme_actual_kappa_within_5_percent(condition_type, kappa):
    X, y, meta = generate_extreme_condition_data(target_kappa=kappa, condition_type=condition_type)
    assert X.shape == (200, 50) and y.shape == (200,)
    assert meta["actual_kappa"] == pytest.approx(kappa, rel=0.05)  # the contract
    assert meta["actual_kappa"] == meta["condition_number"]
    assert _kappa_ref(X) == pytest.approx(kappa, rel=1e-4)
    np.testing.assert_allclose(
        _eigs(X), condition_spectrum(condition_type, kappa, 50), rtol=1e-6, atol=1e-13
    )


@settings(max_examples=20, deadline=None)
@given(
    log_kappa=st.floats(3.0, 12.0),
    condition_type=st.sampled_from(CONDITION_TYPES),
    d=st.integers(2, 20),
    extra=st.integers(0, 30),
    seed=st.integers(0, 2**32),
)
def test_extreme_actual_kappa_property(log_kappa, condition_type, d, extra, seed):
    kappa = 10.0**log_kappa
    X, _, meta = generate_extreme_condition_data(d + extra, d, kappa, condition_type, seed=seed)
    assert meta["actual_kappa"] == pytest.approx(kappa, rel=0.05)
    assert _kappa_ref(X) == pytest.approx(kappa, rel=0.05)


def test_condition_types_give_really_different_spectra():
    kappa, d = 1e8, 50
    spectra = {}
    for kind in CONDITION_TYPES:
        X, _, meta = generate_extreme_condition_data(400, d, kappa, kind, seed=0)
        spectra[kind] = _eigs(X)
        assert meta["condition_type"] == kind
    # Same end points (1 and 1/kappa), different distributions in between: the fraction of
    # eigenvalues above the geometric middle sqrt(lam_max * lam_min) tells them apart.
    upper = {k: float(np.mean(v > np.sqrt(v[0] * v[-1]))) for k, v in spectra.items()}
    assert upper["exponential"] == pytest.approx(0.5, abs=0.03)
    assert upper["near_singular"] == pytest.approx((d - 1) / d)
    assert upper["sparse_extreme"] == pytest.approx(5 / d)
    logs = {k: np.log10(v) for k, v in spectra.items()}
    for a in CONDITION_TYPES:
        for b in CONDITION_TYPES:
            if a < b:
                assert np.max(np.abs(logs[a] - logs[b])) > 2.0, (a, b)


def test_extreme_singular_when_fewer_samples_than_features():
    _, _, meta = generate_extreme_condition_data(20, 50, 1e6, "near_singular")
    assert meta["singular"] is True and meta["actual_kappa"] == np.inf
    assert meta["condition_number_nonzero"] == pytest.approx(1e6, rel=1e-6)


def test_extreme_true_params_and_noise():
    X, y, meta = generate_extreme_condition_data(noise=0.0, seed=9)
    np.testing.assert_allclose(y, X @ meta["true_params"], rtol=0, atol=1e-12)


# ---- bad input ----------------------------------------------------------------------------

_BAD_HIGHDIM = [
    ({"n_samples": 1}, ValueError, "n_samples must be an integer >= 2"),
    ({"n_samples": 2.5}, TypeError, "n_samples must be an integer"),
    ({"n_samples": True}, TypeError, "n_samples must be an integer"),
    ({"n_features": 1}, ValueError, "n_features must be an integer >= 2"),
    ({"n_features": "10"}, TypeError, "n_features must be an integer"),
    ({"condition_number": 0.5}, ValueError, r"condition_number must be in \[1, 1e\+16\]"),
    ({"condition_number": 1e20}, ValueError, r"condition_number must be in \[1, 1e\+16\]"),
    ({"condition_number": float("nan")}, ValueError, "condition_number must be finite"),
    ({"condition_number": float("inf")}, ValueError, "condition_number must be finite"),
    ({"condition_number": "50"}, TypeError, "condition_number must be a real number"),
    ({"n_informative": 0}, ValueError, r"n_informative must be an integer in \[1, 10\], got 0"),
    ({"n_informative": 11}, ValueError, r"n_informative must be an integer in \[1, 10\], got 11"),
    ({"noise": -0.1}, ValueError, "noise must be >= 0"),
    ({"noise": float("nan")}, ValueError, "noise must be finite"),
    ({"seed": -1}, ValueError, "seed must be an integer in"),
    ({"seed": 1.5}, TypeError, "seed must be an integer in"),
]


@pytest.mark.parametrize(("kwargs", "exc", "match"), _BAD_HIGHDIM)
def test_highdim_bad_input(kwargs, exc, match):
    args = {"n_samples": 20, "n_features": 10, **kwargs}
    with pytest.raises(exc, match=match):
        generate_highdim_regression(**args)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"condition_type": "diagonal"}, ValueError, "condition_type must be one of"),
        ({"condition_type": 3}, TypeError, "condition_type must be a str"),
        ({"target_kappa": 0.0}, ValueError, "target_kappa must be in"),
        ({"target_kappa": float("inf")}, ValueError, "target_kappa must be finite"),
        ({"n_samples": 0}, ValueError, "n_samples must be an integer >= 2"),
        ({"noise": -1.0}, ValueError, "noise must be >= 0"),
    ],
)
def test_extreme_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        generate_extreme_condition_data(**kwargs)


# ---- the measurement itself -----------------------------------------------------------------


def test_hessian_spectrum_matches_numpy_and_detects_singularity():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 8))
    spec = hessian_spectrum(X)
    assert spec["condition_number"] == pytest.approx(np.linalg.cond(X.T @ X / 60), rel=1e-10)
    X[:, 3] = 0.0
    spec = hessian_spectrum(X)
    assert spec["singular"] is True and spec["condition_number"] == np.inf and spec["rank"] == 7
    with pytest.raises(ValueError, match="NaN or inf"):
        hessian_spectrum(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="non-empty 2-D"):
        hessian_spectrum(np.ones(3))


@pytest.mark.parametrize(("n", "d", "kappa"), [(400, 50, 1e7), (400, 50, 1e9), (60, 50, 1e7)])
def test_hessian_spectrum_fast_and_svd_paths_agree(n, d, kappa):
    # Tall and kappa < 1e8: Gram path; otherwise SVD. Both must match NumPy's cond of X.
    X, _, _ = generate_extreme_condition_data(n, d, kappa, seed=2)
    assert hessian_spectrum(X)["condition_number"] == pytest.approx(_kappa_ref(X), rel=1e-6)


def test_hessian_spectrum_ignores_exact_zero_columns_for_the_nonzero_part():
    rng = np.random.default_rng(1)
    X = np.zeros((100, 6))
    X[:, [1, 4]] = rng.standard_normal((100, 2))
    spec = hessian_spectrum(X)
    assert spec["singular"] is True and spec["rank"] == 2
    assert spec["condition_number_nonzero"] == pytest.approx(
        np.linalg.cond(X[:, [1, 4]]) ** 2, rel=1e-10
    )
    assert hessian_spectrum(np.zeros((3, 2)))["rank"] == 0
