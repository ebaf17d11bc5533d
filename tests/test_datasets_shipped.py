"""scikit-learn's bundled data sets, the shared split/standardisation, and the metadata contract."""

from __future__ import annotations

import doctest
import importlib
import inspect
import sys

import numpy as np
import pytest
from _dataset_files import go_offline
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import benchmarks.datasets as ds
from benchmarks.datasets import load_diabetes, load_digits, load_digits_binary
from benchmarks.datasets._preprocess import standardize, train_test_split

sklearn_datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    go_offline(monkeypatch)


def test_digits_binary_is_sklearn_digits_with_5_to_9_as_1():
    X_tr, y_tr, X_te, y_te, meta = load_digits_binary(normalize=False)
    ref = sklearn_datasets.load_digits()
    assert X_tr.shape == (1437, 64) and X_te.shape == (360, 64)
    assert X_tr.dtype == y_tr.dtype == np.float64
    X_all, y_all = np.vstack([X_tr, X_te]), np.concatenate([y_tr, y_te])
    # Same rows, same labels, only shuffled.
    ref_rows = {(*r, float(t >= 5)) for r, t in zip(ref.data, ref.target, strict=True)}
    got_rows = {(*r, float(t)) for r, t in zip(X_all, y_all, strict=True)}
    assert got_rows == ref_rows
    assert y_all.sum() == np.sum(ref.target >= 5)
    assert meta["name"] == "digits_binary" and meta["n_features"] == 64


def test_diabetes_is_sklearn_diabetes_unscaled():
    X_tr, y_tr, X_te, y_te, meta = load_diabetes(normalize=False)
    ref = sklearn_datasets.load_diabetes(scaled=False)
    assert X_tr.shape == (353, 10) and X_te.shape == (89, 10)
    np.testing.assert_array_equal(np.sort(np.concatenate([y_tr, y_te])), np.sort(ref.target))
    np.testing.assert_array_equal(
        np.sort(np.vstack([X_tr, X_te]), axis=0), np.sort(ref.data, axis=0)
    )
    assert meta["feature_names"][0] == "age"


@pytest.mark.parametrize("loader", [load_digits_binary, load_digits, load_diabetes])
def test_split_is_deterministic_in_the_seed(loader):
    a, b, c = loader(seed=5), loader(seed=5), loader(seed=6)
    for left, right in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(left, right)
    assert not np.array_equal(a[1], c[1])
    small = loader(test_size=0.5, seed=5)
    assert (
        small[4]["n_test"] == small[4]["n_train"] or small[4]["n_test"] == small[4]["n_train"] + 1
    )


def test_ten_class_digits_are_the_binary_digits_labels():
    X_tr, y_tr, _, y_te, meta = load_digits()
    Xb_tr, yb_tr, _, yb_te, _ = load_digits_binary()
    np.testing.assert_array_equal(X_tr, Xb_tr)  # the same split and scaling
    assert y_tr.dtype == np.int64 and set(y_tr.tolist()) == set(range(10))
    np.testing.assert_array_equal(y_tr >= 5, yb_tr == 1.0)
    np.testing.assert_array_equal(y_te >= 5, yb_te == 1.0)
    assert meta["name"] == "digits" and meta["n_classes"] == 10


def test_digits_normalisation_keeps_constant_pixels_at_zero():
    X_tr, _, X_te, _, _ = load_digits_binary()
    raw_tr, *_ = load_digits_binary(normalize=False)
    constant = np.all(raw_tr == raw_tr[0], axis=0)
    assert constant.any()  # digits has always-blank pixels: this is the real test case
    assert np.all(np.isfinite(X_tr)) and np.all(np.isfinite(X_te))
    np.testing.assert_array_equal(X_tr[:, constant], 0.0)
    np.testing.assert_allclose(X_tr[:, ~constant].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(X_tr[:, ~constant].std(axis=0), 1.0, rtol=1e-12)


@pytest.mark.parametrize("loader", [load_digits_binary, load_digits, load_diabetes])
def test_missing_sklearn_gives_install_hint(loader, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'accel\[datasets\]'") as info:
        loader()
    assert loader.__name__ in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"test_size": 0}, ValueError, r"test_size must be in \(0, 1\)"),
        ({"test_size": "0.2"}, TypeError, "test_size must be a real number"),
        ({"seed": 2**64}, ValueError, "seed must be an integer in"),
        ({"normalize": None}, TypeError, "normalize must be True or False"),
    ],
)
@pytest.mark.parametrize("loader", [load_digits_binary, load_digits, load_diabetes])
def test_shipped_bad_arguments(loader, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        loader(**kwargs)


# ---- shared preprocessing ----------------------------------------------------------------------


def test_standardize_constant_column_not_representable_mean():
    X = np.column_stack([np.full(7, 0.1), np.arange(7.0)])
    Z_tr, Z_te = standardize(X, np.array([[0.3, 3.0]]))
    np.testing.assert_array_equal(Z_tr[:, 0], 0.0)  # exactly, although mean(0.1, ...) != 0.1
    assert Z_te[0, 0] == pytest.approx(0.2) and Z_te[0, 1] == 0.0


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
        elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
    )
)
def test_standardize_never_blows_up(X):
    Z, _ = standardize(X, X)
    assert np.all(np.isfinite(Z))
    assert np.all(np.abs(Z) <= np.sqrt(X.shape[0]) * (1 + 1e-9) + 1e-9)


def test_train_test_split_partitions_rows():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10.0)
    X_tr, y_tr, _, y_te = train_test_split(X, y, 0.25, seed=1)
    assert len(y_te) == 3 and len(y_tr) == 7
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(10))
    np.testing.assert_array_equal(X_tr[:, 0], 2 * y_tr)
    with pytest.raises(ValueError, match="same number of rows"):
        train_test_split(X, y[:5], 0.25, seed=1)


def test_public_api():
    assert sorted(ds.__all__) == sorted(
        [
            "CONDITION_TYPES",
            "DataUnavailableError",
            "IMAGE_SOURCES",
            "generate_extreme_condition_data",
            "generate_highdim_regression",
            "load_california_housing",
            "load_diabetes",
            "load_digit_images",
            "load_digits",
            "load_digits_binary",
            "load_mnist",
        ]
    )
    for name in ds.__all__:
        obj = getattr(ds, name)
        if inspect.isfunction(obj):
            assert obj.__module__.startswith("benchmarks.datasets._"), name
            assert obj.__doc__ and "Example" in obj.__doc__, name


@pytest.mark.parametrize(
    "module",
    [
        "__init__",
        "_cache",
        "_checks",
        "_conditioning",
        "_idx",
        "_images",
        "_preprocess",
        "_shipped",
        "_synthetic",
    ],
)
def test_docstring_examples_run(module):
    mod = importlib.import_module(
        "benchmarks.datasets" + ("" if module == "__init__" else "." + module)
    )
    result = doctest.testmod(mod, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_digit_images_offline_are_the_8x8_digits_scaled_up(monkeypatch, tmp_path):
    """Without MNIST's files ('auto' falls back; 'mnist' says what is missing): scikit-learn's
    digits resized to 28x28, in [0, 1], repeated in a seeded order up to n_samples rows."""
    from sklearn.datasets import load_digits

    monkeypatch.setenv("ACCEL_DATA_DIR", str(tmp_path))  # no MNIST files there
    with pytest.raises(ds.DataUnavailableError):
        ds.load_digit_images("mnist", 10)
    images, labels, meta = ds.load_digit_images("auto", 2000, seed=3)
    assert images.shape == (2000, 28, 28, 1) and images.dtype == np.float32 and labels.dtype == np.int32
    assert images.min() >= 0.0 and images.max() <= 1.0 and meta["source"].startswith("scikit-learn digits")
    small = load_digits()
    # every row is one of the 1797 digits (its label), each used once or twice
    again, again_labels, _ = ds.load_digit_images("digits", 2000, seed=3)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(again_labels, labels)
    counts = np.bincount(labels, minlength=10)
    expected = np.bincount(np.resize(small.target, 2000), minlength=10)
    np.testing.assert_array_equal(counts, expected)
    # an image's 4x4 block means follow its 8x8 digit: the closest digit has its label
    coarse = images[:50, 2:26, 2:26, 0].reshape(50, 8, 3, 8, 3).mean(axis=(2, 4))
    digits = small.images[:, :, :].reshape(-1, 64) / 16.0
    nearest = np.argmin(((coarse.reshape(50, 1, 64) - digits[None]) ** 2).sum(axis=2), axis=1)
    assert (small.target[nearest] == labels[:50]).mean() > 0.9
    with pytest.raises(ValueError, match="source must be one of"):
        ds.load_digit_images("cifar")
