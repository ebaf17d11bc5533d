"""ParallelTrainer: agreement with a single-device optax loop over the same batch order,
backends, device counts, padding, gradient accumulation, collectives, mixed precision and
validation. Checkpoints: tests/test_parallel_checkpoint.py; processes:
tests/test_parallel_multiprocess.py."""

from __future__ import annotations

import math
import re

import _programs
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _compiles import COMPILES
from _helpers import assert_close, linear32
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import JAXOptimizer, ParallelTrainer, _keys, _orders, _plan
from accel.linear import NotFittedError, _model
from accel.linear import linear_loss as _linear_loss
from accel.parallel._data_parallel import build_program
from accel.train import _optax
from accel.train._precision import (
    DYNAMIC_INIT,
    DYNAMIC_PERIOD,
    LossScale,
    update_loss_scale,
)


def reference_fit(
    X,
    y,
    *,
    epochs,
    batch_size,
    optimizer_type="adam",
    learning_rate=0.01,
    seed=0,
    loss="mse",
    fit_intercept=True,
    **hyper,
):
    """A plain single-device optax loop: one jitted step per mini-batch, analytic gradient
    from accel.linear._model, batch order from accel._keys (the JAXOptimizer/NumPy contract)."""
    n, d = X.shape
    tx = _optax.make_optimizer(optimizer_type, learning_rate, fit_intercept, **hyper)
    params = {"w": jnp.zeros(d, jnp.float32), "b": jnp.zeros((), jnp.float32)}
    state = tx.init(params)

    @jax.jit
    def step(params, state, Xb, yb):
        _, gw, gb = _model.loss_and_grad(
            Xb, yb, params["w"], params["b"], loss=loss, fit_intercept=fit_intercept, xp=jnp
        )
        updates, state = tx.update({"w": gw, "b": gb}, state, params)
        return optax.apply_updates(params, updates), state

    def full_loss(p):
        return float(_model.loss_value(X, y, p["w"], p["b"], loss=loss, xp=np))

    losses = [full_loss(params)]
    for e in range(epochs):
        perm = _orders.epoch_permutation(seed, e, n)
        for s in range(0, n, batch_size):
            idx = perm[s : s + batch_size]
            params, state = step(params, state, X[idx], y[idx])
        losses.append(full_loss(jax.tree.map(np.asarray, params)))
    return np.asarray(params["w"]), float(params["b"]), np.asarray(losses)


# ---------------------------------------------------------------------------------------
# agreement: every backend x n_devices in {1, 2, 4} against the single-device loop
# ---------------------------------------------------------------------------------------
EPOCHS, BATCH = 12, 16
GRID = [(b, n) for b in ("pmap", "shard_map", "jit") for n in (1, 2, 4)]


@pytest.fixture(scope="module")
def grid_fits():
    X, y = linear32(103, 5)
    ref = reference_fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    fits = {"JAXOptimizer": JAXOptimizer(epochs=EPOCHS, batch_size=BATCH).fit(X, y)}
    for backend, n in GRID:
        pt = ParallelTrainer(n_devices=n, backend=backend, epochs=EPOCHS, batch_size=BATCH)
        fits[backend, n] = pt.fit(X, y)
    return ref, fits


def test_reference_loop_is_jax_optimizer(grid_fits):
    """The plain loop used below as the reference agrees with JAXOptimizer (issue 4)."""
    (w, _, losses), fits = grid_fits
    assert_close(fits["JAXOptimizer"].coef_, w)
    assert_close(fits["JAXOptimizer"].history_["loss"], losses)


@pytest.mark.parametrize(("backend", "n_devices"), GRID)
def test_fit_matches_jax_optimizer(grid_fits, backend, n_devices):
    """Same coef_/intercept_/loss history as JAXOptimizer with the same batch order
    (103 rows, batch 16: a padded partial last batch every epoch), 1e-5 relative."""
    (w, _, _), fits = grid_fits
    pt, jo = fits[backend, n_devices], fits["JAXOptimizer"]
    assert_close(pt.coef_, jo.coef_)
    assert_close(pt.intercept_, jo.intercept_)
    assert_close(pt.history_["loss"], jo.history_["loss"])
    assert_close(pt.coef_, w)
    assert pt.coef_.dtype == np.float32
    assert pt.n_epochs_ == EPOCHS
    assert pt.history_["skipped_steps"].tolist() == [0] * EPOCHS


def test_backends_identical(grid_fits):
    """pmap, shard_map and jit run the same step arithmetic: equal parameters for each
    n_devices to a few float32 ulps (this would catch a doubled gradient in shard_map,
    which pmap runs on). They are three differently compiled XLA programs, so FMA
    contraction may differ between them on some CPU: measured bitwise equal on this
    machine under AVX-512, AVX2, AVX and SSE4.2 codegen, and at most 2 ulps apart across
    those; bound 8 ulps of the largest |parameter|.
    The per-epoch loss is summed across devices in a backend-specific order: 1e-6."""
    fits = grid_fits[1]
    for n in (1, 2, 4):
        base = fits["pmap", n]
        scale = np.max(np.abs([*base.coef_, base.intercept_])).astype(np.float32)
        ulp = float(np.spacing(scale))
        for backend in ("shard_map", "jit"):
            np.testing.assert_allclose(fits[backend, n].coef_, base.coef_, rtol=0, atol=8 * ulp)
            assert abs(fits[backend, n].intercept_ - base.intercept_) <= 8 * ulp
            np.testing.assert_allclose(
                fits[backend, n].history_["loss"], base.history_["loss"], rtol=1e-6
            )


def test_history_and_prediction(grid_fits):
    X, y = linear32(103, 5)
    _, fits = grid_fits
    pt = fits["pmap", 4]
    h = pt.history_
    assert len(h["loss"]) == EPOCHS + 1 and len(h["step_time"]) == EPOCHS
    assert all(t > 0 for t in h["step_time"]) and all(s > 0 for s in h["samples_per_s"])
    exact = X.astype(np.float64) @ pt.coef_.astype(np.float64) + np.float64(pt.intercept_)
    np.testing.assert_allclose(pt.predict(X), exact, rtol=1e-6)  # float64 accumulation, float32 out
    assert pt.score(X, y) == pytest.approx(
        _model.score_from_predictions(y, pt.predict(X), "mse", xp=np)
    )


@pytest.mark.slow
def test_batch_not_divisible_by_devices_is_padded():
    """B=10 over 4 devices: 3 slots per device, 2 padded and masked out. (Padding is also
    in the default run: the grid's last batch of 7 rows over 4 devices, and the plan
    property test.)"""
    X, y = linear32(57, 5, "logistic")
    w, b, losses = reference_fit(
        X, y, epochs=6, batch_size=10, loss="logistic", optimizer_type="adamw"
    )
    assert b != 0.0
    pt = ParallelTrainer(
        n_devices=4, epochs=6, batch_size=10, loss="logistic", optimizer_type="adamw"
    ).fit(X, y)
    assert_close(pt.coef_, w)
    assert_close(pt.intercept_, b)
    assert_close(pt.history_["loss"], losses)


def test_second_fit_same_shapes_does_not_recompile():
    """Learning rate, hyperparameter values, seed and epochs are arguments of the program: a
    second fit changing any of them compiles nothing (a compile counter, as optax's tests)."""
    X, y = linear32(103, 5)
    pt = ParallelTrainer(n_devices=2, epochs=EPOCHS, batch_size=BATCH).fit(X, y)
    first = pt.coef_.copy()
    before_count = COMPILES.count
    pt.fit(X * 2, y)
    assert pt.compile_time_ == 0.0
    assert not np.array_equal(pt.coef_, first)
    for change in (
        {"epochs": EPOCHS + 5},
        {"learning_rate": 0.05},
        {"b1": 0.8},
        {"random_state": 7},
    ):
        before = pt.coef_.copy()
        pt.set_params(**change).fit(X, y)
        assert pt.compile_time_ == 0.0 and not np.array_equal(pt.coef_, before), change
    assert pt.n_epochs_ == EPOCHS + 5
    assert COMPILES.count == before_count, "a fit of same-shaped data compiled again"


@pytest.mark.parametrize("backend", ["pmap", "shard_map", "jit"])
def test_the_program_compiles_before_the_data_are_placed(backend, monkeypatch):
    """The first fit compiles from the data's shapes, returns the compiler's freed heap,
    then places the data (peak memory: the larger of the two, not their sum), and the
    executable compiled from shapes runs the placed data: the same fit as JAXOptimizer."""
    from accel.parallel import _data_parallel, _programs

    events = []
    monkeypatch.setattr(_programs, "release_freed_heap", lambda: events.append("compiled"))
    real_put = _data_parallel.sharded_put

    def put(*args):
        inner = real_put(*args)
        return lambda tree: events.append("placed") or inner(tree)

    monkeypatch.setattr(_data_parallel, "sharded_put", put)
    X, y = linear32(59 + len(backend), 5)  # a shape no other test compiled: a new program
    pt = ParallelTrainer(n_devices=2, backend=backend, epochs=EPOCHS, batch_size=BATCH).fit(X, y)
    assert pt.compile_time_ > 0 and events == ["compiled", "placed"]
    ref = JAXOptimizer(
        optimizer_type="adam", learning_rate=pt.learning_rate, epochs=EPOCHS, batch_size=BATCH
    ).fit(X, y)
    assert_close(pt.coef_, ref.coef_)


# ---------------------------------------------------------------------------------------
# gradient accumulation
# ---------------------------------------------------------------------------------------
def test_accumulation_equals_larger_batch_without_leaking_across_epochs():
    """k=3 micro-batches of 8 == one batch of 24. n=103 leaves a partial last step every
    epoch (7 rows): a leak of accumulated gradient into the next epoch would break this."""
    X, y = linear32(103, 5)
    w, _, losses = reference_fit(X, y, epochs=8, batch_size=24, optimizer_type="momentum")
    pt = ParallelTrainer(
        n_devices=4, epochs=8, batch_size=8, grad_accum_steps=3, optimizer_type="momentum"
    ).fit(X, y)
    assert_close(pt.coef_, w)
    assert_close(pt.history_["loss"], losses)


def _program(backend, k, n_dev=4):
    lay = _plan.Layout(n_rows=103, n_shards=1, group_devices=n_dev, batch_size=8, accum=k)
    params = {"w": np.zeros(5, np.float32), "b": np.zeros((), np.float32)}
    X, y = linear32(103, 5)
    return _programs.build(
        build_program,
        backend,
        n_dev,
        lay,
        _linear_loss("mse", True),
        "adam",
        params,
        {"X": X, "y": y},
    )


@pytest.mark.parametrize("backend", ["pmap", "shard_map"])
@pytest.mark.parametrize("k", [1, 4])
def test_one_psum_per_step_none_in_the_micro_batch_loop(backend, k):
    prog, args = _program(backend, k)
    prims = list(_programs.jaxpr_primitives(jax.make_jaxpr(prog.run)(*args).jaxpr))
    # shard_map's typed collectives name it psum_invariant; pmap's is psum
    psums = [inside for name, inside in prims if name in ("psum", "psum_invariant")]
    # the optimizer step reduces (grad_b, grad_w, loss), one psum per leaf; each evaluation
    # site of the program (the initial parameters, every epoch boundary) one [loss, grad]
    assert len(psums) == 3 + 2, prims
    assert not any(psums), "a psum inside the micro-batch scan reduces every micro-batch"
    # XLA combines the step's psums: the compiled program has ONE all-reduce per site
    compiled = prog.run.lower(*args).compile().as_text()
    all_reduces = [line for line in compiled.splitlines() if re.search(r" = .* all-reduce(-start)?\(", line)]
    assert len(all_reduces) == 3, all_reduces
    assert any(name == "scan" for name, _ in prims) == (k > 1)  # k = 1: no loop to run
    # the step's rows reach their devices by one reduce-scatter per data leaf (X, y), once
    # per optimizer step, not per micro-batch
    scatters = [inside for name, inside in prims if name == "reduce_scatter"]
    assert len(scatters) == 2 and not any(scatters), prims


def test_jit_backend_one_all_reduce_per_step():
    """GSPMD: with k=4 micro-batches per step the compiled program holds one all-reduce of
    the step's (grad_b, grad_w, loss) (XLA combines the three), two of d + 1 + 1 floats (one
    per evaluation site: initial parameters, epoch boundary) and one of the step's batch (X and
    y of the (D, k, m) slots, each filled by the device that owns the row: XLA:CPU expresses
    that reduce-scatter as an all-reduce); no other collective."""
    for k in (4,):
        prog, args = _program("jit", k)
        hlo = prog.run.lower(*args).compile().as_text()
        lines = [ln for ln in hlo.splitlines() if " all-reduce(" in ln]
        assert len(lines) == 4, lines
        assert sum("= f32[7]" in ln for ln in lines) == 2, lines
        step = [ln for ln in lines if "f32[4,4,2" not in ln and "= f32[7]" not in ln]
        assert len(step) == 1, lines  # its operands in any order (XLA's choice)
        assert sorted(step[0].split(" = (")[1].split(") all-reduce")[0].split(", ")) == ["f32[5]{0}", "f32[]", "f32[]"]
        assert sum("(f32[4,4,2,5]{3,2,1,0}, f32[4,4,2]{2,1,0}) all-reduce" in ln for ln in lines) == 1
        for other in ("all-gather(", "all-to-all(", "collective-permute("):
            assert other not in hlo, f"unexpected collective: {other}"


# ---------------------------------------------------------------------------------------
# the batch plan (property)
# ---------------------------------------------------------------------------------------
@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 40),
    batch=st.integers(1, 12),
    devices=st.sampled_from([1, 2, 4]),
    k=st.integers(1, 3),
)
def test_plan_covers_each_row_once_per_epoch_in_order(n, batch, devices, k):
    """Every row once per epoch, in the order's sequence; each row held by exactly one device
    at the place owner/local_row say; device blocks of ceil(n / D) rows."""
    lay = _plan.Layout(
        n_rows=n, n_shards=1, group_devices=devices, batch_size=min(batch, n), accum=k
    )
    perm = np.random.default_rng(n).permutation(n).astype(np.int32)
    seen = []
    for s in range(lay.steps_per_epoch):
        rows = _plan.step_ids(perm, s, lay, xp=np)
        assert rows.shape == (devices, k, lay.micro)
        for r in range(devices):
            np.testing.assert_array_equal(_plan.step_rows(perm, s, r, lay, xp=np), rows[r])
        real = rows[rows >= 0]
        q = lay.rows_per_step
        assert real.tolist() == perm[s * q : (s + 1) * q].tolist()  # in the order's sequence
        assert float(_plan.step_count(s, lay, xp=np)) == len(real)
        seen.extend(real.tolist())
    assert sorted(seen) == list(range(n))
    held = np.concatenate([_plan.device_rows(d, lay, xp=np) for d in range(devices)])
    assert sorted(held[held >= 0].tolist()) == list(range(n))
    ids = np.arange(n)
    blocks = np.stack([_plan.device_rows(d, lay, xp=np) for d in range(devices)])
    np.testing.assert_array_equal(blocks[_plan.owner(ids, lay, xp=np), _plan.local_row(ids, lay, xp=np)], ids)


def test_program_orders_are_the_shared_epoch_permutations():
    """Blocks of epochs drawn in the program give, bit for bit, the host's order of each epoch
    (``_orders.epoch_orders`` is what the training loop calls)."""
    key = _keys.seed_key(9)
    out = np.asarray(jax.jit(_orders.epoch_orders, static_argnums=(2, 3))(key, 5, 103, 11))
    assert out.shape == (11, 103) and out.dtype == np.int32
    for i in range(11):
        np.testing.assert_array_equal(out[i], _orders.epoch_permutation(9, 5 + i, 103))


# ---------------------------------------------------------------------------------------
# mixed precision and non-finite losses
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("finite", "good", "scale", "want_scale", "want_good"),
    [
        (True, 0, 1024.0, 1024.0, 1),
        (True, DYNAMIC_PERIOD - 1, 1024.0, 2048.0, 0),
        (False, 17, 1024.0, 512.0, 0),
        (False, 3, 1.0, 1.0, 0),  # never below 1
    ],
)
def test_dynamic_loss_scale_rule(finite, good, scale, want_scale, want_good):
    s = LossScale(jnp.float32(scale), jnp.int32(good))
    out = update_loss_scale(s, jnp.bool_(finite), "dynamic")
    assert (float(out.scale), int(out.good_steps)) == (want_scale, want_good)
    assert update_loss_scale(s, jnp.bool_(finite), 1.0) is s  # fixed scale: unchanged


def test_bfloat16_compute_keeps_float32_state():
    X, y = linear32(103, 5)
    w, _, _ = reference_fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    pt = ParallelTrainer(
        n_devices=2, epochs=EPOCHS, batch_size=BATCH, compute_dtype="bfloat16"
    ).fit(X, y)
    assert pt.coef_.dtype == np.float32
    assert all(np.asarray(x).dtype == np.float32 for x in jax.tree.leaves(pt.params_))
    assert_close(pt.coef_, w, rtol=3e-2)  # bf16 has 8 bits of mantissa
    assert not np.array_equal(
        pt.coef_, ParallelTrainer(n_devices=2, epochs=EPOCHS, batch_size=BATCH).fit(X, y).coef_
    )


def test_float16_dynamic_loss_scaling_skips_overflowing_steps():
    """|y| up to ~200: the initial scale 2**15 times residuals ~ 1e2 overflows float16 (max 65504),
    so the first steps are skipped while the scale halves; then training proceeds."""
    X, y = linear32(103, 5)
    y = y * 30
    w32 = (
        ParallelTrainer(
            n_devices=2, epochs=EPOCHS, batch_size=BATCH, learning_rate=0.5, optimizer_type="adam"
        )
        .fit(X, y)
        .coef_
    )
    pt = ParallelTrainer(
        n_devices=2, epochs=EPOCHS, batch_size=BATCH, learning_rate=0.5, compute_dtype="float16"
    ).fit(X, y)
    skipped = pt.history_["skipped_steps"]
    assert skipped[0] > 0 and sum(skipped[1:]) == 0
    assert pt.history_["loss_scale"] == DYNAMIC_INIT / 2 ** sum(skipped)
    assert all(math.isfinite(v) for v in pt.history_["loss"])
    assert_close(pt.coef_, w32, rtol=5e-2)


def _first_nonfinite_step(X, y, lr, batch):
    """Plain float32 SGD loop: index of the first step whose batch loss is not finite."""
    w, b = np.zeros(X.shape[1], np.float32), np.float32(0)
    n = X.shape[0]
    step = 0
    for e in range(100):
        perm = _orders.epoch_permutation(0, e, n)
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            with np.errstate(all="ignore"):
                loss, gw, gb = _model.loss_and_grad(X[idx], y[idx], w, b, loss="mse", xp=np)
                if not np.isfinite(loss):
                    return step
                w, b = (w - lr * gw).astype(np.float32), np.float32(b - lr * gb)
            step += 1
    raise AssertionError("did not diverge")


def test_nan_policy_raise_names_the_first_nonfinite_step():
    """lr=1e6: the batch loss overflows inside the first epoch (7 steps), before the epoch
    boundary where the divergence rule would stop the run."""
    X, y = linear32(103, 5)
    bad = _first_nonfinite_step(X, y, 1e6, BATCH)
    assert bad < math.ceil(len(X) / BATCH)
    pt = ParallelTrainer(
        n_devices=2, epochs=EPOCHS, batch_size=BATCH, learning_rate=1e6, optimizer_type="sgd"
    )
    with pytest.raises(FloatingPointError, match=f"non-finite loss at optimizer step {bad} ") as info:
        pt.fit(X, y)
    assert not hasattr(pt, "coef_")  # a failed fit leaves the estimator as it was: unfitted
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(info.value.params))
    assert len(info.value.history["loss"]) >= 1


def test_nan_policy_skip_counts_skipped_steps():
    """One NaN row: exactly the one step per epoch that reads it is skipped."""
    X, y = linear32(103, 5)
    data = {"X": X.copy(), "y": y.copy()}
    data["y"][5] = np.nan

    def loss_fn(p, batch):
        return jnp.mean((batch["X"] @ p["w"] + p["b"] - batch["y"]) ** 2)

    params = {"w": np.zeros(5, np.float32), "b": np.zeros((), np.float32)}
    pt = ParallelTrainer(n_devices=2, batch_size=BATCH, nan_policy="skip")
    out, hist = pt.train(loss_fn, params, data, epochs=4)
    assert hist["skipped_steps"].tolist() == [1, 1, 1, 1]
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(out))


# ---------------------------------------------------------------------------------------
# train(): any pytree model
# ---------------------------------------------------------------------------------------
def _mlp_loss(p, batch):
    h = jnp.tanh(batch["x"] @ p["w1"] + p["b1"])
    logits = h @ p["w2"] + p["b2"]
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]))


def test_train_mlp_matches_single_device_loop():
    rng = np.random.default_rng(1)
    n, d, h, c = 96, 6, 8, 3
    data = {
        "x": rng.normal(size=(n, d)).astype(np.float32),
        "label": rng.integers(0, c, n).astype(np.int32),
    }
    params = {
        "w1": rng.normal(size=(d, h)).astype(np.float32) * 0.5,
        "b1": np.zeros(h, np.float32),
        "w2": rng.normal(size=(h, c)).astype(np.float32) * 0.5,
        "b2": np.zeros(c, np.float32),
    }
    tx = optax.sgd(0.1, momentum=0.9)
    epochs, batch = 5, 24

    ref, state = jax.tree.map(jnp.asarray, params), tx.init(params)

    @jax.jit
    def step(p, s, b):
        updates, s = tx.update(jax.grad(_mlp_loss)(p, b), s, p)
        return optax.apply_updates(p, updates), s

    for e in range(epochs):
        perm = _orders.epoch_permutation(3, e, n)
        for s in range(0, n, batch):
            idx = perm[s : s + batch]
            ref, state = step(ref, state, {k: v[idx] for k, v in data.items()})

    pt = ParallelTrainer(n_devices=4, backend="shard_map", random_state=3, eval_every=1)
    out, hist = pt.train(_mlp_loss, params, data, optimizer=tx, epochs=epochs, batch_size=batch)
    for key in params:
        assert_close(out[key], ref[key])
    assert len(hist["loss"]) == epochs + 1 and hist["loss"][-1] < hist["loss"][0]


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backend": "tpu"}, ValueError, r"backend must be one of \('pmap', 'shard_map', 'jit'\)"),
        ({"strategy": "tensor"}, ValueError, r"strategy must be one of \('data_parallel', "),
        ({"compute_dtype": "float64"}, ValueError, "compute_dtype must be one of"),
        ({"nan_policy": "ignore"}, ValueError, r"nan_policy must be one of \('raise', 'skip'\)"),
        ({"loss_scale": -1.0}, ValueError, "loss_scale must be None, 'dynamic' or a finite positive"),
        ({"grad_accum_steps": 0}, ValueError, "grad_accum_steps must be an integer >= 1"),
        ({"grad_accum_steps": 2.0}, TypeError, "grad_accum_steps must be an integer"),
        ({"n_devices": 0}, ValueError, "n_devices must be an integer >= 1"),
        ({"checkpoint_every": 5}, ValueError, "checkpoint_every needs checkpoint_dir"),
        ({"keep_checkpoints": 0}, ValueError, "keep_checkpoints must be an integer >= 1"),
        ({"optimizer_type": "adamax"}, ValueError, "unknown optimizer_type 'adamax'"),
        ({"b3": 0.5}, TypeError, "optimizer 'adam' has no hyperparameter 'b3'"),
        ({"random_state": -1}, ValueError, r"random_state must be an integer in \[0, 2\*\*64\)"),
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1"),
    ],
)
def test_fit_and_train_reject_bad_settings(kwargs, error, match):
    """The constructor only stores (scikit-learn's contract, issue 22); fit and train check
    every setting first."""
    pt = ParallelTrainer(**kwargs)  # no error here
    X, y = linear32(16, 5)
    with pytest.raises(error, match=match):
        pt.fit(X, y)
    with pytest.raises(error, match=match):
        pt.train(_linear_loss("mse", True), _good_params(), {"X": X, "y": y})


def _good_params():
    return {"w": np.zeros(5, np.float32), "b": np.zeros((), np.float32)}


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda pt, X, y: pt.train(lambda p, b: b["x"] @ p["w"], _good_params(), {"x": X}),
            TypeError,
            "must return a floating scalar",
        ),
        (
            lambda pt, X, y: pt.train(lambda p, b: 0.0, _good_params(), {"x": X, "y": y[:5]}),
            ValueError,
            "same number of rows",
        ),
        (
            lambda pt, X, y: pt.train(lambda p, b: 0.0, {"w": np.zeros(3, np.int32)}, {"x": X}),
            TypeError,
            "params must hold floating-point arrays",
        ),
        (
            lambda pt, X, y: pt.train("mse", _good_params(), {"x": X}),
            TypeError,
            "loss_fn must be callable",
        ),
        (
            lambda pt, X, y: pt.train(lambda p, b: 0.0, _good_params(), {"x": X}, optimizer="adam"),
            TypeError,
            "optimizer must be an optax.GradientTransformation",
        ),
        (
            lambda pt, X, y: pt.fit(X, y, resume=True),
            ValueError,
            "resume=True needs checkpoint_dir",
        ),
        (lambda pt, X, y: pt.fit(X[:, 0], y), ValueError, "X must be 2-D"),
        (
            lambda pt, X, y: ParallelTrainer(n_devices=64).fit(X, y),
            ValueError,
            "n_devices=64 but only 4 devices are available",
        ),
        (lambda pt, X, y: pt.predict(X), NotFittedError, "not fitted yet"),
    ],
)
def test_bad_calls_raise(call, error, match):
    X, y = linear32(20, 5)
    with pytest.raises(error, match=match):
        call(ParallelTrainer(n_devices=2, epochs=1), X, y)


def test_get_set_params_roundtrip():
    pt = ParallelTrainer(n_devices=2, b1=0.8)
    params = pt.get_params()
    assert params["b1"] == 0.8 and params["backend"] is None  # the strategy's default: pmap
    assert pt._backend() == "pmap"
    clone = ParallelTrainer(**params)
    assert clone.get_params() == params
    assert pt.set_params(backend="jit", b2=0.9).get_params()["b2"] == 0.9
    assert pt.set_params(backend="gpu").backend == "gpu"  # stored; fit refuses it
    with pytest.raises(ValueError, match="backend must be one of"):
        pt.fit(*linear32(16, 5))
    assert pt.backend == "gpu" and not hasattr(pt, "coef_")


def test_progress_bar_reports_epochs(grid_fits, capsys):
    X, y = linear32(103, 5)
    pt = ParallelTrainer(n_devices=2, epochs=EPOCHS, batch_size=BATCH, progress=True).fit(X, y)
    assert pt.compile_time_ == 0.0  # the same compiled program, run in chunks: bitwise
    np.testing.assert_array_equal(pt.coef_, grid_fits[1]["pmap", 2].coef_)
    assert f"{EPOCHS}/{EPOCHS}" in capsys.readouterr().err
