"""JAXOptimizer reads a full-batch NumPy X where it lies (``accel.linear._inplace``): the
products over the aligned views equal NumPy's, every fit equals the copying one and the
NumPy reference, one compiled program serves every alignment, NaN anywhere is found."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _compiles import COMPILES
from _reference import REFERENCE, linear_data
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import JAXOptimizer
from accel.linear import _inplace, _model
from accel.train import _optax

CPU = jax.devices("cpu")[0]


def at_offset(a: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``a`` starting ``offset`` bytes past a 64-byte boundary."""
    raw = np.empty(a.nbytes + 128, np.uint8)
    start = -raw.ctypes.data % 64 + offset
    out = raw[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _data(loss: str, n: int = 41, d: int = 17, seed: int = 0):
    return linear_data(loss, n, d, seed)


@pytest.fixture
def in_place_always(monkeypatch):
    """Every full-batch NumPy X of enough columns takes the in-place form (not only >= 16 MiB);
    yields the list of the ``InPlaceRows`` the fits built."""
    built = []
    from_host = _inplace.from_host

    def spy(*args, **kwargs):
        built.append(from_host(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(_inplace, "MIN_BYTES", 0)
    monkeypatch.setattr(_inplace, "from_host", spy)
    return built


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 60),
    extra=st.integers(0, 20),
    dtype=st.sampled_from([np.float32, np.float64]),
    offset=st.sampled_from([0, 16, 32, 48]),
    row_blocks=st.sampled_from([1, 2, 3, 4]),
    seed=st.integers(0, 2**16),
)
def test_products_over_the_views_equal_numpys(n, extra, dtype, offset, row_blocks, seed):
    width = 64 // np.dtype(dtype).itemsize
    d = width + extra
    row_blocks = min(row_blocks, n - 1)
    rng = np.random.default_rng(seed)
    X = at_offset(rng.standard_normal((n, d)).astype(dtype), offset)
    w, r = rng.standard_normal(d).astype(dtype), rng.standard_normal(n).astype(dtype)
    rows = _inplace.from_host(X, dtype, row_blocks, CPU)
    assert rows.body.ctypes.data % 64 == 0 and np.shares_memory(rows.body, X)  # no copy of X
    assert rows.head.ctypes.data % 64 == 0 and rows.rest.ctypes.data % 64 == 0  # read in place
    assert int(rows.shift) == (-offset % 64) // np.dtype(dtype).itemsize
    assert rows.shape == X.shape and rows.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    scale = np.abs(X) @ np.abs(w), np.abs(r) @ np.abs(X)  # the products' rounding scales
    np.testing.assert_allclose(rows.matvec(w), X @ w, rtol=0, atol=rtol * scale[0].max())
    np.testing.assert_allclose(rows.rmatvec(r, row_blocks), r @ X, rtol=0, atol=rtol * scale[1].max())
    with jax.enable_x64(dtype == np.float64):
        placed = jax.device_put(rows, CPU)
        got = jax.jit(lambda p, w, r: (p.matvec(w), p.rmatvec(r, row_blocks)))(placed, w, r)
        np.testing.assert_allclose(got[0], X @ w, rtol=0, atol=rtol * scale[0].max())
        np.testing.assert_allclose(got[1], r @ X, rtol=0, atol=rtol * scale[1].max())


@pytest.mark.parametrize("offset", [0, 16, 32, 48])
@pytest.mark.parametrize("loss", _model.LOSSES)
@pytest.mark.parametrize("name", _optax.OPTIMIZER_NAMES)
def test_fit_in_place_agrees_with_numpy_reference(name, loss, offset, in_place_always):
    X, y = _data(loss)
    X = at_offset(X, offset)
    kwargs = {"learning_rate": 0.05, "epochs": 4, "loss": loss}
    ref = REFERENCE[name](**kwargs).fit(X, y)
    got = JAXOptimizer(name, dtype="float64", **kwargs).fit(X, y)
    assert len(in_place_always) == 1 and np.shares_memory(in_place_always[0].body, X)
    scale = np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(got.history_["loss"], ref.history_["loss"], rtol=1e-9)
    np.testing.assert_allclose(got.history_["grad_norm"], ref.history_["grad_norm"], rtol=1e-8)


@pytest.mark.parametrize("loss", _model.LOSSES)
def test_lbfgs_in_place_agrees_with_the_copying_fit(loss, monkeypatch):
    X, y = _data(loss, n=60, d=9)
    kwargs = {"epochs": 6, "loss": loss, "dtype": "float64"}
    copied = JAXOptimizer("lbfgs", **kwargs).fit(X, y)
    monkeypatch.setattr(_inplace, "MIN_BYTES", 0)
    got = JAXOptimizer("lbfgs", **kwargs).fit(at_offset(X, 48), y)
    np.testing.assert_allclose(got.coef_, copied.coef_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.history_["loss"], copied.history_["loss"], rtol=1e-9)


@pytest.mark.filterwarnings("ignore::accel.linear.ConvergenceWarning")
def test_one_program_for_every_alignment(in_place_always):
    X, y = _data("mse", n=33, d=20)
    model = JAXOptimizer("adam", epochs=3).fit(at_offset(X.astype(np.float32), 16), y)
    before = COMPILES.count
    fits = [JAXOptimizer("adam", epochs=3).fit(at_offset(X.astype(np.float32), off), y) for off in (0, 32, 48)]
    fits.append(JAXOptimizer("adam", epochs=3).fit(X, y))  # float64 X: one aligned float32 copy
    assert COMPILES.count == before and all(f.compile_time_ == 0.0 for f in fits)
    assert [int(r.shift) for r in in_place_always] == [12, 0, 8, 4, 0]
    for f in fits:
        np.testing.assert_allclose(f.coef_, model.coef_, rtol=1e-5)


@pytest.mark.parametrize(
    "where", [(0, 0), (0, 16), (17, 5), (39, 19), (40, 3), (40, 19)], ids=str
)
def test_nan_anywhere_in_X_is_found(where, in_place_always):
    """Every element of X is multiplied by a zero in the first evaluation: a NaN or an
    infinity in the head columns, the body, the borrowed head of the first rest row or the
    rest is found, and the clear error names X."""
    X, y = _data("mse", n=41, d=20)
    for bad in (np.nan, np.inf):
        Z = at_offset(X.astype(np.float32), 16)
        Z[where] = bad
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            JAXOptimizer("sgd", epochs=2).fit(Z, y)
    assert int(in_place_always[0].shift) == 12


@pytest.mark.parametrize(
    ("X", "dtype", "batch_size", "expected"),
    [
        (np.zeros((600_000, 16), np.float32), "float32", None, True),  # 36.6 MiB
        (np.zeros((600_000, 16), np.float32), "float64", None, True),  # converted: one copy
        (np.zeros((600_000, 16), np.float32), "float32", 512, False),  # mini-batch gathers rows
        (np.zeros((600_000, 16), np.float32), "bfloat16", None, False),  # mixed precision
        (np.zeros((600_000, 15), np.float32), "float32", None, False),  # fewer columns than W
        (np.zeros((1000, 16), np.float32), "float32", None, False),  # small: the copy is cheap
        (jnp.zeros((600_000, 16), jnp.float32), "float32", None, False),  # JAX: on its device
    ],
    ids=["large", "converted", "mini-batch", "bfloat16", "narrow", "small", "jax"],
)
def test_which_fits_read_in_place(X, dtype, batch_size, expected):
    model = JAXOptimizer("sgd", dtype=dtype)
    data_dtype, param_dtype = model._dtypes()
    assert _inplace.use_in_place(X, data_dtype, param_dtype, CPU, batch_size is None) is expected


def test_eager_fit_in_place_equals_the_compiled_one(in_place_always):
    X, y = _data("logistic", n=30, d=16)
    X = at_offset(X.astype(np.float32), 32)
    kwargs = {"learning_rate": 0.05, "epochs": 3, "loss": "logistic"}
    jit = JAXOptimizer("nesterov", **kwargs).fit(X, y)
    eager = JAXOptimizer("nesterov", use_jit=False, **kwargs).fit(X, y)
    assert [int(r.shift) for r in in_place_always] == [8, 8]
    np.testing.assert_allclose(eager.coef_, jit.coef_, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(eager.history_["loss"], jit.history_["loss"], rtol=1e-6)
