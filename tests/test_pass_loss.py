"""``train``'s default history: the loss of the training pass (issue 27 item 1), and the
step's fast paths it comes with.

``ParallelTrainer(eval_every=None).train`` records at each epoch's end the mean over the
epoch's rows of each row's loss at the parameters of the step that trained it, added up by
the steps (no pass over the data). Checked against the full-data evaluation where the two
are the same number (one step per epoch: the pass's loss of epoch e is the full-data loss
after epoch e - 1; a zero update: every epoch's), across devices, backends, a streamed
source and the stopping rules. Also: a batch without padding is computed by ``loss_fn`` on
the whole micro-batch (the same gradient as the per-example path), ``all_finite`` is exact,
and data already on a device train as NumPy data do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _helpers import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from accel import ParallelTrainer
from accel.train._objective import PerExampleObjective
from accel.train._precision import all_finite

EPOCHS = 5


def loss_fn(p, b):
    return jnp.mean((jnp.tanh(b["x"] @ p["w1"]) @ p["w2"] - b["y"]) ** 2)


def _data(n=203, d=6):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(np.float32)
    return {"x": x, "y": np.sin(x @ rng.normal(size=d)).astype(np.float32)}


def _params(d=6, h=8):
    rng = np.random.default_rng(1)
    return {
        "w1": (rng.normal(size=(d, h)) / np.sqrt(d)).astype(np.float32),
        "w2": (rng.normal(size=h) / np.sqrt(h)).astype(np.float32),
    }


def _train(data=None, optimizer=None, **kw):
    kw = {
        "n_devices": 2,
        "epochs": EPOCHS,
        "batch_size": 32,
        "optimizer_type": "adam",
        "learning_rate": 0.02,
        **kw,
    }
    pt = ParallelTrainer(**kw)
    params, hist = pt.train(
        loss_fn, _params(), _data() if data is None else data, optimizer=optimizer
    )
    return pt, params, np.asarray(hist["loss"])


def test_one_step_per_epoch_records_the_loss_before_it():
    """Full batch: epoch e's one step trains every row at the parameters after epoch e - 1,
    so its pass's loss is the full-data loss there (the evaluation's history)."""
    _, p_pass, pass_loss = _train(batch_size=None)
    _, p_eval, full = _train(batch_size=None, eval_every=1)
    assert np.isnan(pass_loss[0]) and np.isfinite(pass_loss[1:]).all()
    assert_close(pass_loss[1:], full[:-1], rtol=1e-5)
    for name in p_eval:  # what is recorded never changes what is trained
        assert_close(p_pass[name], p_eval[name], rtol=1e-5)


@pytest.mark.parametrize("batch_size", [32, 50])  # 203 rows: a partial last batch, masked
def test_without_updates_every_epoch_records_the_full_data_loss(batch_size):
    """A zero update keeps the parameters: each epoch's pass, over all rows (the partial
    batch's padding excluded), is the full-data loss at them."""
    _, _, pass_loss = _train(batch_size=batch_size, optimizer=optax.set_to_zero())
    _, _, full = _train(batch_size=batch_size, optimizer=optax.set_to_zero(), eval_every=1)
    assert_close(pass_loss[1:], np.full(EPOCHS, full[0]), rtol=1e-5)


@pytest.fixture(scope="module")
def two_devices():
    return _train()


@pytest.mark.parametrize(
    ("n_devices", "backend"), [(1, None), (4, "jit"), (4, "shard_map"), (3, "pmap")]
)
def test_the_same_on_any_devices_and_backend(n_devices, backend, two_devices):
    _, params, loss = _train(n_devices=n_devices, backend=backend)
    _, want_params, want = two_devices
    assert_close(loss[1:], want[1:], rtol=1e-4)
    for name in params:
        assert_close(params[name], want_params[name], rtol=1e-4)


def test_a_streamed_source_records_the_same(two_devices, tmp_path):
    data = _data()
    for name, a in data.items():
        np.save(tmp_path / f"{name}.npy", a)
    mapped = {name: np.load(tmp_path / f"{name}.npy", mmap_mode="r") for name in data}
    _, params, loss = _train(mapped)
    _, want_params, want = two_devices
    assert np.isnan(loss[0])
    assert_close(loss[1:], want[1:], rtol=1e-5)
    assert_close(params["w1"], want_params["w1"], rtol=1e-5)


def test_tol_acts_on_the_pass_loss(two_devices):
    """``tol`` compares consecutive passes (no evaluation needed): with a loose tol the run
    stops at the first epoch whose pass decreased the loss by less than that."""
    _, _, full_run = two_devices
    decrease = -np.diff(full_run[1:]) / np.abs(full_run[1:-1])
    tol = float(np.sort(decrease)[len(decrease) // 2]) * 1.0001  # met by about half the epochs
    first = 2 + int(np.argmax(decrease <= tol))  # the epoch that meets it
    pt, _, loss = _train(tol=tol)
    assert pt.converged_ and pt.n_epochs_ == first
    assert_close(loss[1 : first + 1], full_run[1 : first + 1], rtol=1e-5)


def test_an_exploding_pass_loss_diverges():
    """The divergence rule's reference is the first epoch's pass loss: a learning rate that
    explodes the loss stops the run with the last good parameters and a warning."""
    from accel.linear import DivergenceWarning

    def linear(p, b):  # SGD far above 2/L: the loss grows about 80x per step, finitely
        return jnp.mean((b["x"] @ p["w"] - b["y"]) ** 2)

    pt = ParallelTrainer(
        n_devices=2, epochs=30, batch_size=32, optimizer_type="sgd", learning_rate=2.5
    )
    with pytest.warns(DivergenceWarning):
        params, hist = pt.train(linear, {"w": np.zeros(6, np.float32)}, _data())
    assert pt.diverged_ and pt.n_epochs_ == 1  # epoch 2 exploded: back to epoch 1's state
    assert np.isfinite(params["w"]).all() and np.isfinite(hist["loss"][1])


def test_skipped_steps_do_not_count():
    """``nan_policy='skip'``: the steps whose batch has a NaN row are skipped, and the pass's
    loss is the mean over the rows of the steps taken (finite)."""
    data = _data()
    data["y"][[3, 150]] = np.nan
    pt, _, loss = _train(data, nan_policy="skip", n_devices=1)
    assert np.isfinite(loss[1:]).all()
    assert (np.asarray(pt.history_["skipped_steps"]) > 0).any()


# -- the step's fast paths ---------------------------------------------------------------
@pytest.mark.parametrize("full", [True, "traced"])
def test_a_batch_without_padding_has_the_per_example_gradient(full):
    """``loss_fn`` on the whole micro-batch (``full``) and the masked per-example ``vmap``
    give the same (scaled gradient, loss) contribution."""
    objective = PerExampleObjective(loss_fn)
    data = _data(n=24)
    batch = {k: v.reshape(2, 12, *v.shape[1:]) for k, v in data.items()}  # k=2 micro-batches
    mask = np.ones((2, 12), bool)
    count, scale = jnp.float32(24), jnp.float32(4.0)
    params = jax.tree.map(jnp.asarray, _params())

    def contribution(flag):
        return objective.local_vector(params, batch, mask, count, scale, jnp.float32, full=flag)

    want = contribution(None)
    got = contribution(True) if full is True else jax.jit(contribution)(jnp.bool_(True))
    assert_close(got[1], want[1], rtol=1e-6)
    for name in params:
        assert_close(got[0][name], want[0][name], rtol=1e-5)
    padded = jax.jit(contribution)(jnp.bool_(False))  # the cond's other branch: per example
    assert_close(padded[0]["w1"], want[0]["w1"], rtol=1e-6)


finite_arrays = hnp.arrays(
    np.float32,
    hnp.array_shapes(max_dims=2, max_side=6),
    elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
)


@settings(max_examples=60, deadline=None)
@given(
    leaves=st.lists(finite_arrays, min_size=1, max_size=3),
    bad=st.sampled_from([None, np.nan, np.inf, -np.inf]),
    where=st.integers(0, 100),
)
def test_all_finite_is_exact(leaves, bad, where):
    """``isfinite(sum(x * 0))``: true for any finite values (however large: their sum would
    overflow), false with one NaN or infinity anywhere."""
    if bad is not None:
        leaf = leaves[where % len(leaves)]
        if leaf.size:
            leaf.reshape(-1)[where % leaf.size] = bad
    want = all(np.isfinite(a).all() for a in leaves)
    assert bool(all_finite(leaves)) == want


def test_data_on_a_device_train_as_numpy_data_do(two_devices):
    on_device = jax.device_put(_data(), jax.devices()[0])
    _, params, loss = _train(on_device)
    _, want_params, want = two_devices
    assert_close(loss[1:], want[1:], rtol=1e-6)
    assert_close(params["w1"], want_params["w1"], rtol=1e-6)
    bad = jax.device_put({**_data(), "y": np.full(203, np.nan, np.float32)})
    with pytest.raises(ValueError, match=r"data\['y'\] contains NaN"):
        _train(bad)


@pytest.mark.parametrize("strategy", ["model_parallel", "pipeline_parallel"])
def test_the_sharded_strategies_record_it(strategy):
    """Their steps add up the pass's loss too: with a zero update, every epoch's is the
    full-data loss at the parameters."""
    from accel.parallel import mlp_loss

    rng = np.random.default_rng(0)
    data = {
        "x": rng.normal(size=(60, 8)).astype(np.float32),
        "y": rng.normal(size=(60, 2)).astype(np.float32),
    }
    params = [
        {"w": (0.3 * rng.normal(size=(8, 8))).astype(np.float32), "b": np.zeros(8, np.float32)},
        {"w": (0.3 * rng.normal(size=(8, 2))).astype(np.float32), "b": np.zeros(2, np.float32)},
    ]

    def head(out, batch):
        return jnp.mean((out - batch["y"]) ** 2)

    losses = {}
    for every in (None, 1):
        pt = ParallelTrainer(
            n_devices=2, strategy=strategy, epochs=3, batch_size=16, eval_every=every
        )
        _, hist = pt.train(mlp_loss(head, "tanh"), params, data, optimizer=optax.set_to_zero())
        losses[every] = np.asarray(hist["loss"])
    assert np.isnan(losses[None][0])
    assert_close(losses[None][1:], np.full(3, losses[1][0]), rtol=1e-5)
