"""JAXOptimizer: agreement with the NumPy reference, one compiled loop, no recompiles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _compiles import COMPILES
from _reference import REFERENCE, linear_data
from sklearn.exceptions import DataConversionWarning

from accel import JAXOptimizer, _keys, _orders
from accel.linear import DivergenceWarning, WorseThanBestWarning, _model
from accel.linear import _program as jp
from accel.train import _optax
from optimizers import SGD, Adam

# n=37 with batch_size=16: batches of 16, 16 and a padded last batch of 5
N, D, EPOCHS, BATCH = 37, 3, 4, 16


def _data(loss: str, n: int = N, d: int = D, seed: int = 0):
    return linear_data(loss, n, d, seed)


_CASES = [
    (name, loss, batch)
    for name in _optax.OPTIMIZER_NAMES
    for loss in _model.LOSSES
    for batch in (None, BATCH)
]


@pytest.mark.parametrize(("dtype", "rtol"), [("float64", 1e-9), ("float32", 1e-4)])
@pytest.mark.parametrize(("name", "loss", "batch_size"), _CASES)
def test_agrees_with_numpy_reference(name, loss, batch_size, dtype, rtol):
    X, y = _data(loss)
    kwargs = {"learning_rate": 0.05, "epochs": EPOCHS, "batch_size": batch_size, "loss": loss}
    ref = REFERENCE[name](**kwargs).fit(X, y)  # float64
    got = JAXOptimizer(name, dtype=dtype, **kwargs).fit(X, y)
    assert got.coef_.dtype == np.dtype(dtype) and got.n_epochs_ == ref.n_epochs_ == EPOCHS
    scale = np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(got.intercept_, ref.intercept_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(got.history_["loss"], ref.history_["loss"], rtol=rtol)
    np.testing.assert_allclose(got.history_["grad_norm"], ref.history_["grad_norm"], rtol=10 * rtol)


# eager execution compiles every primitive on first use: two cases keep this test fast
@pytest.mark.parametrize(
    ("name", "batch_size", "dtype", "rtol"),
    [("adamw", BATCH, "float64", 1e-12), ("nesterov", None, "float32", 1e-6)],
)
def test_use_jit_false_gives_the_same_result(name, batch_size, dtype, rtol):
    X, y = _data("logistic")
    kwargs = {"learning_rate": 0.05, "epochs": 3, "batch_size": batch_size, "loss": "logistic"}
    jit = JAXOptimizer(name, dtype=dtype, **kwargs).fit(X, y)
    eager = JAXOptimizer(name, dtype=dtype, use_jit=False, **kwargs).fit(X, y)
    np.testing.assert_allclose(eager.coef_, jit.coef_, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(eager.history_["loss"], jit.history_["loss"], rtol=rtol)


def test_row_blocked_gradient_agrees_with_numpy_reference():
    """Large X (2048 x 512): the full-data gradient is a batched product over 16 row blocks."""
    X, y = _data("logistic", n=2048, d=512)
    assert _model.row_blocks_for(*X.shape) == 16
    kwargs = {"learning_rate": 0.05, "epochs": 3, "loss": "logistic"}
    ref = Adam(**kwargs).fit(X, y)
    got = JAXOptimizer("adam", dtype="float64", **kwargs).fit(X, y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref.coef_)))
    np.testing.assert_allclose(got.history_["loss"], ref.history_["loss"], rtol=1e-9)


def test_order_blocks_cross_over_like_the_reference():
    """Row orders are drawn 128 epochs at a time in the program: epoch 128 starts a new block."""
    X, y = _data("mse")
    kwargs = {"learning_rate": 0.01, "epochs": 131, "batch_size": BATCH}
    ref = SGD(**kwargs).fit(X, y)
    got = JAXOptimizer("sgd", dtype="float64", **kwargs).fit(X, y)
    np.testing.assert_allclose(got.history_["loss"], ref.history_["loss"], rtol=1e-9)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9)


def test_traced_permutation_matches_host_permutation():
    key = _keys.seed_key(2**40 + 5)

    @jax.jit
    def orders(key):
        return jax.vmap(lambda e: _keys.permutation(_keys.epoch_key(key, e), 23))(jnp.arange(3))

    got = np.asarray(orders(key))
    for epoch in range(3):
        np.testing.assert_array_equal(got[epoch], _orders.epoch_permutation(2**40 + 5, epoch, 23))


_COUNTER = COMPILES


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.filterwarnings("ignore::accel.linear.ConvergenceWarning")
def test_second_fit_does_not_recompile(dtype):
    """Learning rate, hyperparameter values, tol, seed and the number of epochs are arguments
    of the one program: a second fit changing any of them compiles nothing (as optax's
    tests assert "no recompilation on the second call"); a new data shape compiles."""
    X, y = _data("mse", n=29)
    kwargs = {"epochs": 6, "batch_size": 8, "tol": 1e-12, "dtype": dtype}
    JAXOptimizer("rmsprop", learning_rate=0.01, **kwargs).fit(X, y).predict(X)
    before = _COUNTER.count
    X2, y2 = _data("mse", n=29, seed=1)
    changes = [
        {"learning_rate": 0.02},
        {"decay": 0.8},
        {"tol": 1e-3},
        {"random_state": 9},
        {"epochs": 7},
        {"epochs": 5000},  # more epochs than one call's history: several calls, one program
    ]
    for change in changes:
        model = JAXOptimizer("rmsprop", **{"learning_rate": 0.01, **kwargs, **change}).fit(X2, y2)
        model.predict(X2)
        assert model.compile_time_ == 0.0
        assert _COUNTER.count == before, f"a second fit changing {change} compiled again"
    JAXOptimizer("rmsprop", **kwargs).fit(X[:20], y[:20])  # a new data shape compiles
    assert _COUNTER.count > before


def test_x64_is_scoped_to_fit_and_predict():
    X, y = _data("mse")
    assert not jax.config.jax_enable_x64
    model = JAXOptimizer("adam", epochs=3, dtype="float64").fit(X, y)
    assert not jax.config.jax_enable_x64 and jnp.zeros(1).dtype == jnp.float32
    assert model.coef_.dtype == np.float64 and model.params_["w"].dtype == jnp.float64
    assert model.predict(X).dtype == np.float64
    assert not jax.config.jax_enable_x64


@pytest.mark.parametrize("batch_size", [None, BATCH])
@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_divergence_is_detected_in_the_loop(name, batch_size):
    X, y = _data("mse", n=40)
    X = X * 100
    kwargs = {"learning_rate": 1e6 if name == "sgd" else 1e200, "epochs": 200, "batch_size": batch_size}
    with pytest.warns(DivergenceWarning, match="non-finite"):
        ref = REFERENCE[name](**kwargs).fit(X, y)
    with pytest.warns(DivergenceWarning, match="non-finite"):
        got = JAXOptimizer(name, dtype="float64", **kwargs).fit(X, y)
    assert got.diverged_ and not got.converged_ and got.n_epochs_ == ref.n_epochs_ < 200
    assert np.all(np.isfinite(got.coef_)) and np.all(np.isfinite(got.history_["loss"]))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9)


def test_tol_stops_like_the_reference():
    X, y = _data("mse")
    kwargs = {"learning_rate": 0.05, "epochs": 3000, "tol": 1e-7}
    ref = Adam(**kwargs).fit(X, y)
    got = JAXOptimizer("adam", dtype="float64", **kwargs).fit(X, y)
    assert got.converged_ and ref.converged_ and got.n_epochs_ == ref.n_epochs_ < 3000
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9)


def test_progress_bar_chunks_give_the_same_result(capsys):
    X, y = _data("logistic")
    kwargs = {"learning_rate": 0.1, "epochs": 250, "batch_size": BATCH, "loss": "logistic"}
    quiet = JAXOptimizer("momentum", **kwargs).fit(X, y)
    shown = JAXOptimizer("momentum", progress=True, **kwargs).fit(X, y)
    err = capsys.readouterr().err
    assert "250/250" in err and "JAXOptimizer(momentum)" in err
    np.testing.assert_array_equal(shown.coef_, quiet.coef_)
    np.testing.assert_array_equal(shown.history_["loss"], quiet.history_["loss"])
    # early stop inside a chunk
    stopped = JAXOptimizer("momentum", progress=True, tol=1e-3, **kwargs).fit(X, y)
    assert stopped.converged_ and stopped.n_epochs_ < 250


def test_schedules_and_optax_transformations():
    X, y = _data("mse")
    sched = optax.exponential_decay(0.1, transition_steps=2, decay_rate=0.7)
    ref = SGD(learning_rate=sched, epochs=5, batch_size=BATCH).fit(X, y)
    got = JAXOptimizer("sgd", learning_rate=sched, epochs=5, batch_size=BATCH, dtype="float64").fit(X, y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9)
    ready = JAXOptimizer(optax.adam(0.05), epochs=5, dtype="float64").fit(X, y)
    np.testing.assert_allclose(ready.coef_, Adam(learning_rate=0.05, epochs=5).fit(X, y).coef_, rtol=1e-9)
    with pytest.raises(TypeError, match="ready-made"):
        JAXOptimizer(optax.adam(0.05), b1=0.5).fit(X, y)


def test_bfloat16_and_jax_inputs():
    X, y = _data("mse", n=200)
    f32 = JAXOptimizer("adam", learning_rate=0.05, epochs=200).fit(X, y)
    bf16 = JAXOptimizer("adam", learning_rate=0.05, epochs=200, dtype="bfloat16").fit(X, y)
    assert bf16.coef_.dtype == np.float32 and bf16.params_["w"].dtype == jnp.float32
    np.testing.assert_allclose(bf16.coef_, f32.coef_, atol=0.05)
    Xj, yj = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        from_jax = JAXOptimizer("adam", learning_rate=0.05, epochs=200).fit(Xj, yj[:, None])
    np.testing.assert_allclose(from_jax.coef_, f32.coef_, rtol=1e-6)
    pred = from_jax.predict(Xj)
    assert isinstance(pred, jax.Array) and pred.shape == (200,)
    assert isinstance(from_jax.predict(X), np.ndarray)
    assert from_jax.score(Xj, yj) == pytest.approx(f32.score(X, y), rel=1e-5)


def test_device_placement(cpu_devices):
    X, y = _data("mse")
    model = JAXOptimizer("sgd", epochs=3, device="cpu:2").fit(X, y)
    assert model.params_["w"].devices() == {cpu_devices[2]}
    model = JAXOptimizer("sgd", epochs=3, device=cpu_devices[1]).fit(X, y)
    assert model.params_["w"].devices() == {cpu_devices[1]}
    assert isinstance(model.predict(X), np.ndarray)
    with pytest.raises(ValueError, match="device 'cpu:9'"):
        JAXOptimizer(device="cpu:9").fit(X, y)
    with pytest.raises(TypeError, match="device must be"):
        JAXOptimizer(device=3).fit(X, y)


def test_sklearn_conventions():
    model = JAXOptimizer("adamw", learning_rate=0.1, weight_decay=0.2)
    params = model.get_params()
    assert params["optimizer_type"] == "adamw" and params["weight_decay"] == 0.2
    assert "hyperparameters" not in params
    assert repr(model) == "JAXOptimizer(optimizer_type='adamw', learning_rate=0.1, weight_decay=0.2)"
    assert JAXOptimizer(**params).get_params() == params
    model.set_params(b1=0.5, epochs=3)
    assert model.get_params()["b1"] == 0.5 and model.epochs == 3
    with pytest.raises(ValueError, match="invalid parameter 'beta'"):
        model.set_params(beta=1)
    typo = JAXOptimizer("momentum", momentun=0.9)  # stored (scikit-learn's contract)
    with pytest.raises(TypeError, match="unknown hyperparameter 'momentun'"):
        typo.fit(*_data("mse"))
    with pytest.raises(TypeError, match="no hyperparameter 'momentum'"):
        JAXOptimizer("adam", momentum=0.9).fit(*_data("mse"))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"optimizer_type": "adamax"}, ValueError, "unknown optimizer_type 'adamax'"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be > 0"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1"),
        ({"loss": "hinge"}, ValueError, "loss must be one of"),
        ({"weight_decay": -1.0, "optimizer_type": "adamw"}, ValueError, "weight_decay must be in"),
        ({"dtype": "float16"}, ValueError, "dtype must be one of"),
        ({"use_jit": 1}, TypeError, "use_jit must be True or False"),
        ({"random_state": -3}, ValueError, "random_state must be an integer"),
    ],
)
def test_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        JAXOptimizer(**kwargs).fit(*_data("mse"))


def test_bad_data():
    X, y = _data("mse")
    with pytest.raises(ValueError, match="X contains NaN"):
        JAXOptimizer().fit(np.where(X > 1, np.nan, X), y)
    with pytest.raises(ValueError, match=r"continuous values in y.*at least two classes"):
        JAXOptimizer(loss="logistic").fit(X, y)
    with pytest.raises(ValueError, match="different lengths"):
        JAXOptimizer().fit(jnp.asarray(X, jnp.float32), jnp.asarray(y[:-1], jnp.float32))


def test_program_cache_key_is_static_only():
    spec_fields = set(jp.Spec.__dataclass_fields__)
    assert {"n", "d", "batch_size", "loss"} <= spec_fields
    assert not {"learning_rate", "tol", "random_state", "epochs"} & spec_fields


def test_nan_in_X_is_found_by_the_programs_first_evaluation():
    """fit skips the host's pass over X for NaN/infinity: X @ 0 at the initial parameters is
    NaN in exactly those rows, so the initial loss tells; the exact test then names X."""
    X, y = _data("mse", n=30)
    for bad in (np.nan, np.inf, -np.inf):
        Z = X.copy()
        Z[7, 1] = bad
        for data in (Z, jnp.asarray(Z, jnp.float32)):
            with pytest.raises(ValueError, match="X contains NaN or infinity"):
                JAXOptimizer("sgd", epochs=3).fit(data, y)
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            JAXOptimizer("adam", epochs=3, batch_size=8, dtype="float64").fit(Z, y)


def test_a_finite_X_with_an_overflowing_initial_loss_is_a_divergence():
    X, y = _data("mse", n=30)
    with pytest.warns(DivergenceWarning, match="non-finite"):
        model = JAXOptimizer("sgd", epochs=3).fit(X, y * 1e20)  # 0.5 * y**2 overflows float32
    assert model.diverged_ and model.n_epochs_ == 0 and np.all(model.coef_ == 0)


@pytest.mark.parametrize("batch_size", [None, BATCH])
def test_divergence_rerun_gives_the_state_before_the_diverged_epoch(batch_size):
    """The program stops AT the diverged epoch and the fit runs it again to the epoch before
    (no per-epoch copy of the state): with chunks (progress bar) and without, the kept
    parameters are those of a run of exactly that many epochs."""
    X, y = _data("mse", n=40)
    kwargs = {"learning_rate": 2.5e-4, "epochs": 200, "batch_size": batch_size, "dtype": "float64"}
    with pytest.warns(DivergenceWarning):  # the loss grows geometrically: 12 (5) good epochs
        quiet = JAXOptimizer("sgd", **kwargs).fit(X * 100, y)
    with pytest.warns(DivergenceWarning):
        shown = JAXOptimizer("sgd", progress=True, **kwargs).fit(X * 100, y)
    # the same run ended by ``epochs`` before the in-loop rule fires: its loss has grown
    # from epoch 0 all along, so the end-of-fit rule flags it (issue 25.3), not the loop
    with pytest.warns(WorseThanBestWarning, match="best epoch was epoch 0 "):
        exact = JAXOptimizer("sgd", **{**kwargs, "epochs": quiet.n_epochs_}).fit(X * 100, y)
    assert 0 < quiet.n_epochs_ == shown.n_epochs_ == exact.n_epochs_ < 200 and exact.diverged_
    np.testing.assert_array_equal(quiet.coef_, exact.coef_)
    np.testing.assert_array_equal(shown.coef_, exact.coef_)
    np.testing.assert_array_equal(quiet.history_["loss"], exact.history_["loss"])


@pytest.mark.parametrize("threaded", [False, True])
def test_numpy_data_is_read_in_place_when_aligned(threaded, monkeypatch):
    from accel.linear import _placement
    from accel.linear._placement import on_device

    if threaded:  # the copy of a large array runs in row chunks on several threads
        monkeypatch.setattr(_placement, "_PARALLEL_COPY_BYTES", 0)

    cpu = jax.devices("cpu")[0]
    raw = np.empty(64 * 7 * 4 + 64, np.uint8)
    start = -raw.ctypes.data % 64
    aligned = raw[start : start + 64 * 7 * 4].view(np.float32).reshape(64, 7)
    aligned[...] = np.arange(64 * 7).reshape(64, 7)
    assert on_device(aligned, np.float32, cpu) is aligned  # the program reads it in place
    for other in (aligned[1:], aligned.astype(np.float64), np.asfortranarray(aligned)):
        moved = on_device(other, np.float32, cpu)  # one aligned copy
        assert moved.dtype == np.float32 and moved.ctypes.data % 64 == 0 and moved.flags.c_contiguous
        np.testing.assert_array_equal(moved, np.asarray(other, np.float32))
    placed = on_device(jnp.asarray(aligned), np.float32, jax.devices("cpu")[1])
    assert placed.devices() == {jax.devices("cpu")[1]}
