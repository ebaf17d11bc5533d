"""ParallelTrainer strategies model_parallel and pipeline_parallel (issue 8): agreement with
single-device training after >= 50 optimizer steps, shard shapes, collectives in the
compiled programs, gradients of the pipeline, accumulation/precision/checkpoints, errors.

The single-device reference is a plain optax loop (one jitted step per mini-batch, the
shared batch order of accel._keys), as in tests/test_parallel.py, where it is checked to be
JAXOptimizer and ParallelTrainer(n_devices=1).
"""

from __future__ import annotations

import functools

import _programs
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _helpers import assert_close, linear32
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from accel import ParallelTrainer, _orders, _plan
from accel.linear import linear_loss as _linear_loss
from accel.parallel import init_mlp, mlp_loss
from accel.parallel._data_parallel import AXIS
from accel.parallel._mlp import mlp_apply
from accel.parallel._model_parallel import build_program as build_mp
from accel.parallel._model_parallel import mlp_specs, tensor_parallel_apply
from accel.parallel._pipeline_parallel import Stacked, _stack, pipeline_apply
from accel.train import _optax

RTOL = 1e-5
SHARDED = {"strategy": "model_parallel", "backend": "shard_map"}
PIPELINE = {"strategy": "pipeline_parallel", "backend": "shard_map"}


def _assert_trees_close(got, want, rtol=RTOL):
    assert jax.tree.structure(got) == jax.tree.structure(want)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert np.shape(a) == np.shape(b)
        assert_close(a, b, rtol)


def _plain_loop(loss_fn, params, data, tx, epochs, batch_size, seed=0):
    """Single device, no padding: (params, [full-data loss at init and after each epoch])."""
    params = jax.tree.map(jnp.asarray, params)
    state = tx.init(params)
    n = len(jax.tree.leaves(data)[0])

    @jax.jit
    def step(p, s, b):
        updates, s = tx.update(jax.grad(loss_fn)(p, b), s, p)
        return optax.apply_updates(p, updates), s

    full = jax.jit(loss_fn)
    losses = [float(full(params, data))]
    for e in range(epochs):
        perm = _orders.epoch_permutation(seed, e, n)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            params, state = step(params, state, {k: v[idx] for k, v in data.items()})
        losses.append(float(full(params, data)))
    return jax.tree.map(np.asarray, params), losses


# 103 rows, batch 16: 7 steps per epoch (the last one partial, padded), 8 epochs = 56 steps
FIT = {"epochs": 8, "batch_size": 16}


# ---------------------------------------------------------------------------------------
# model_parallel fit: feature sharding
# ---------------------------------------------------------------------------------------
@functools.cache
def _reference_fit(optimizer_type, loss, d, epochs=FIT["epochs"], batch_size=FIT["batch_size"]):
    """(coef, intercept, loss history) of the plain loop on the linear model."""
    X, y = linear32(103, d, loss)
    tx = _optax.make_optimizer(optimizer_type, 0.01, True)
    params = {"w": np.zeros(d, np.float32), "b": np.zeros((), np.float32)}
    out, losses = _plain_loop(
        _linear_loss(loss, True), params, {"X": X, "y": y}, tx, epochs, batch_size
    )
    return out["w"], float(out["b"]), losses


@pytest.mark.parametrize(
    ("optimizer_type", "loss", "d", "n_devices"),
    [
        ("adam", "mse", 10, 2),
        ("adam", "mse", 10, 4),  # 10 columns over 4 devices: 2 zero columns of padding
        ("adamw", "logistic", 12, 4),  # weight decay with the intercept masked out
        pytest.param("adamw", "logistic", 12, 2, marks=pytest.mark.slow),
        pytest.param("momentum", "logistic", 9, 4, marks=pytest.mark.slow),
    ],
)
def test_model_parallel_fit_matches_single_device(optimizer_type, loss, d, n_devices):
    X, y = linear32(103, d, loss)
    ref = _reference_fit(optimizer_type, loss, d)
    pt = ParallelTrainer(
        n_devices=n_devices, optimizer_type=optimizer_type, loss=loss, **SHARDED, **FIT
    ).fit(X, y)
    assert pt.step_ == 56
    assert pt.coef_.shape == (d,) and pt.coef_.dtype == np.float32
    w, b, losses = ref
    assert_close(pt.coef_, w)
    assert_close(pt.intercept_, b)
    assert_close(pt.history_["loss"], losses)
    assert b != 0.0 and pt.history_["loss"][-1] < pt.history_["loss"][0]


def _linear_program(n_dev, d, optimizer, accum=1):
    lay = _plan.Layout(n_rows=103, n_shards=1, group_devices=n_dev, batch_size=16, accum=accum)
    params = {"w": np.zeros(d, np.float32), "b": np.zeros((), np.float32)}
    X, y = linear32(103, d)
    return _programs.build(
        build_mp,
        "shard_map",
        n_dev,
        lay,
        _linear_loss("mse", True),
        optimizer,
        params,
        {"X": X, "y": y},
        stop=3 * lay.steps_per_epoch,
    )


@pytest.mark.parametrize(
    ("d", "n_dev"), [(10, 4), (12, 2), pytest.param(12, 4, marks=pytest.mark.slow)]
)
def test_model_parallel_each_device_holds_one_slice_of_w_and_moments(d, n_dev):
    """Memory per device is 1/n of w and of Adam's mu and nu (d padded to n * ceil(d/n)),
    before and after training; the intercept and step counters are replicated; padded
    entries stay exactly 0."""
    prog, args = _linear_program(n_dev, d, optax.adam(0.05))
    per = -(-d // n_dev)

    def layout(train):  # (global shape, shard shapes and devices) of w, Adam's mu/nu, and b
        adam = train.opt_state[0]
        return [
            (leaf.shape, [(s.data.shape, s.device) for s in sorted(leaf.addressable_shards, key=lambda s: s.device.id)])
            for leaf in (train.params["w"], adam.mu["w"], adam.nu["w"], train.params["b"])
        ]

    before = layout(args[0].train)  # read before the call: the carry is donated to it
    out, _ = prog.run(*args)
    for state in (before, layout(out.train)):
        for shape, shards in state[:3]:
            assert shape == (per * n_dev,)
            assert shards == [((per,), dev) for dev in jax.devices()[:n_dev]]
        assert {shape for shape, _ in state[3][1]} == {()}
    w = np.asarray(out.train.params["w"])
    assert np.all(w[d:] == 0) and np.all(w[:d] != 0)
    assert np.all(np.asarray(out.train.opt_state[0].nu["w"])[d:] == 0)
    host = prog.get(out)
    assert host.train.params["w"].shape == (d,) and host.train.opt_state[0].mu["w"].shape == (d,)
    # the data too: each device holds its columns of X only
    X_dev = args[1]["X"]
    assert {s.data.shape for s in X_dev.addressable_shards} == {(103, per)}


def test_model_parallel_fit_collectives():
    """Per step: the forward psum of the partial predictions (its transpose in the backward
    pass is local) and one scalar psum of the non-finite count; per evaluation site of the
    program (the initial parameters, every epoch boundary): the forward psum. No all-gather
    of w or X."""
    prog, args = _linear_program(4, 10, optax.adam(0.05))
    prims = [name for name, _ in _programs.jaxpr_primitives(jax.make_jaxpr(prog.run)(*args).jaxpr)]
    psums = [p for p in prims if p.startswith("psum")]
    assert len(psums) == 4, psums
    hlo = prog.run.lower(*args).as_text()
    assert hlo.count("all_reduce") == 4 and "all_gather" not in hlo and "all_to_all" not in hlo


def test_model_parallel_accumulation_equals_larger_batch():
    X, y = linear32(103, 10)
    w, _, losses = _reference_fit("momentum", "mse", 10, 8, 24)
    pt = ParallelTrainer(
        n_devices=4,
        epochs=8,
        batch_size=8,
        grad_accum_steps=3,
        optimizer_type="momentum",
        **SHARDED,
    )
    assert_close(pt.fit(X, y).coef_, w)
    assert_close(pt.history_["loss"], losses)


def test_model_parallel_bfloat16_keeps_float32_state():
    X, y = linear32(103, 10)
    w, _, _ = _reference_fit("adam", "mse", 10)
    pt = ParallelTrainer(n_devices=2, compute_dtype="bfloat16", **SHARDED, **FIT).fit(X, y)
    assert all(np.asarray(x).dtype == np.float32 for x in jax.tree.leaves(pt.params_))
    assert_close(pt.coef_, w, rtol=3e-2)
    assert not np.allclose(pt.coef_, w, rtol=1e-6, atol=0)  # really computed in bf16


def test_model_parallel_resume_equals_uninterrupted(tmp_path):
    X, y = linear32(103, 10)
    kw = dict(n_devices=4, batch_size=16, checkpoint_dir=str(tmp_path), **SHARDED)
    full = ParallelTrainer(n_devices=4, batch_size=16, epochs=8, **SHARDED).fit(X, y)
    ParallelTrainer(epochs=3, **kw).fit(X, y)
    pt = ParallelTrainer(epochs=8, **kw).fit(X, y, resume=True)
    assert pt.compile_time_ == 0.0  # the same compiled program as `full`: bitwise
    np.testing.assert_array_equal(pt.coef_, full.coef_)
    assert pt.intercept_ == full.intercept_
    np.testing.assert_array_equal(pt.history_["loss"], full.history_["loss"])


# ---------------------------------------------------------------------------------------
# MLP models (layer lists): tensor parallel and pipeline parallel train
# ---------------------------------------------------------------------------------------
def _head(out, batch):
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(out, batch["label"]))


LOSS = mlp_loss(_head, activation="tanh")


def _mlp_data(n=96, d=6, c=3, seed=1):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(n, d)).astype(np.float32),
        "label": rng.integers(0, c, n).astype(np.int32),
    }


# 96 rows, batch 24: 4 steps per epoch, 13 epochs = 52 steps
TRAIN = {"epochs": 13, "batch_size": 24, "learning_rate": 0.02, "eval_every": 1}  # full-data losses


@functools.cache
def _reference_train(sizes, optimizer_type="adam"):
    layers = init_mlp(list(sizes), seed=2)
    tx = _optax.make_optimizer(optimizer_type, TRAIN["learning_rate"], False)
    return _plain_loop(LOSS, layers, _mlp_data(), tx, TRAIN["epochs"], TRAIN["batch_size"])


@pytest.mark.parametrize(
    ("sizes", "n_devices", "optimizer_type"),
    [
        ((6, 8, 8, 8, 3), 4, "adam"),  # two layer pairs
        # one pair and a replicated output layer
        pytest.param((6, 8, 8, 3), 2, "adamw", marks=pytest.mark.slow),
    ],
)
def test_tensor_parallel_train_matches_single_device(sizes, n_devices, optimizer_type):
    ref, ref_hist = _reference_train(sizes, optimizer_type)
    pt = ParallelTrainer(n_devices=n_devices, optimizer_type=optimizer_type, **SHARDED, **TRAIN)
    out, hist = pt.train(LOSS, init_mlp(list(sizes), seed=2), _mlp_data())
    assert pt.step_ == 52
    _assert_trees_close(out, ref)
    assert_close(hist["loss"], ref_hist)
    assert hist["loss"][-1] < hist["loss"][0]


@pytest.mark.parametrize(
    ("sizes", "pairs"), [((6, 8, 8, 8, 3), 2), ((6, 8, 8, 3), 1), ((6, 8, 3), 1)]
)
def test_tensor_parallel_forward_has_one_all_reduce_per_layer_pair(sizes, pairs):
    """The lowered forward pass (as the trainer shards it over 4 devices) has exactly one
    all-reduce per layer pair, no other collective, and computes the single-device output."""
    layers = init_mlp(list(sizes), seed=0)
    dims = [layer["w"].shape for layer in layers]
    mesh = Mesh(np.array(jax.devices()[:4]), (AXIS,))
    fwd = jax.jit(
        jax.shard_map(
            functools.partial(tensor_parallel_apply, activation="tanh"),
            mesh=mesh,
            in_specs=(mlp_specs(dims, 4), P()),
            out_specs=P(),
        )
    )
    x = _mlp_data()["x"]
    hlo = fwd.lower(layers, x).as_text()  # StableHLO of the program as written
    assert hlo.count("stablehlo.all_reduce") == pairs
    for other in ("all_gather", "all_to_all", "collective_permute", "reduce_scatter"):
        assert other not in hlo
    if pairs == 2:  # the same function as the single-device forward pass
        np.testing.assert_allclose(
            fwd(layers, x), mlp_apply(layers, x, "tanh"), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize(
    ("n_microbatches", "sizes"),
    [
        (None, (6, 8, 8, 8, 3)),
        pytest.param(6, (6, 10, 8, 12, 7, 5, 9, 4, 3), marks=pytest.mark.slow),  # 2 layers/stage
    ],
)
def test_pipeline_gradients_equal_unpipelined(n_microbatches, sizes):
    """jax.grad through the GPipe schedule (4 stages, ppermute inside shard_map) equals the
    gradient of the plain model, to float32 rounding; layers of different widths."""
    layers = init_mlp(list(sizes), seed=3)
    dims = [tuple(layer["w"].shape) for layer in layers]
    W = max(max(d) for d in dims)
    M = 4 if n_microbatches is None else n_microbatches
    data = _mlp_data(n=24, c=sizes[-1])
    mesh = Mesh(np.array(jax.devices()[:4]), (AXIS,))

    def pipelined(stacked, batch):
        out = pipeline_apply(stacked, batch["x"], dims, 4, M, "tanh")
        return _head(out, batch)

    grad_pp = jax.jit(
        jax.shard_map(
            jax.grad(pipelined),
            mesh=mesh,
            in_specs=(Stacked(P(AXIS), P(AXIS)), P()),
            out_specs=Stacked(P(AXIS), P(AXIS)),
        )
    )
    got = grad_pp(_stack(layers, W), data)
    want = jax.grad(LOSS)(layers, data)
    for i, (a, b) in enumerate(dims):
        np.testing.assert_allclose(got.w[i, :a, :b], want[i]["w"], rtol=2e-6, atol=1e-7)
        np.testing.assert_allclose(got.b[i, :b], want[i]["b"], rtol=2e-6, atol=1e-7)
        assert not np.any(got.w[i, a:]) and not np.any(got.w[i, :, b:])  # padding: zero grad
    jaxpr = jax.make_jaxpr(grad_pp)(_stack(layers, W), data).jaxpr
    prims = [name for name, _ in _programs.jaxpr_primitives(jaxpr)]
    assert prims.count("ppermute") == 2  # forward ticks and their transpose (backward)


@pytest.mark.parametrize(
    ("sizes", "n_devices", "n_microbatches"),
    [((6, 8, 8, 8, 3), 4, None), pytest.param((6, 10, 8, 7, 3), 2, 6, marks=pytest.mark.slow)],
)
def test_pipeline_train_matches_single_device(sizes, n_devices, n_microbatches):
    ref, ref_hist = _reference_train(sizes)
    pt = ParallelTrainer(n_devices=n_devices, n_microbatches=n_microbatches, **PIPELINE, **TRAIN)
    out, hist = pt.train(LOSS, init_mlp(list(sizes), seed=2), _mlp_data())
    assert pt.step_ == 52
    _assert_trees_close(out, ref)
    assert_close(hist["loss"], ref_hist)


def test_pipeline_stage_parameters_live_on_their_device():
    """4 layers on 4 devices: device s holds layer s (padded to W x W) and its moments."""
    from accel.parallel._pipeline_parallel import build_program

    layers = init_mlp([6, 8, 8, 8, 3], seed=0)
    lay = _plan.Layout(n_rows=96, n_shards=1, group_devices=4, batch_size=24, accum=1)
    tx = optax.adam(0.01)
    prog, args = _programs.build(build_program, "shard_map", 4, lay, LOSS, tx, layers, _mlp_data())
    dev = args[0].train
    for leaf in (dev.params.w, dev.opt_state[0].mu.w):
        shards = sorted(leaf.addressable_shards, key=lambda s: s.device.id)
        assert [s.data.shape for s in shards] == [(1, 8, 8)] * 4
        for s, shard in enumerate(shards):
            a, b = layers[s]["w"].shape
            if leaf is dev.params.w:
                np.testing.assert_array_equal(np.asarray(shard.data)[0, :a, :b], layers[s]["w"])
    back = prog.get(args[0])
    _assert_trees_close(back.train.params, layers, rtol=0)
    _assert_trees_close(back.train.opt_state, jax.tree.map(np.asarray, tx.init(layers)), rtol=0)


PIPE = (6, 8, 8, 8, 3)
PIPE_KW = {**PIPELINE, "n_devices": 4, "learning_rate": 0.02}


@pytest.mark.slow
def test_pipeline_accumulation_equals_larger_batch():
    """grad_accum_steps=2 micro-batches of 12 rows (3 pieces of 4 rows each) == batch 24."""
    ref, _ = _reference_train(PIPE)
    acc, _ = ParallelTrainer(
        epochs=13, batch_size=12, grad_accum_steps=2, n_microbatches=3, **PIPE_KW
    ).train(LOSS, init_mlp(list(PIPE), seed=2), _mlp_data())
    _assert_trees_close(acc, ref)


@pytest.mark.slow
def test_pipeline_bfloat16_close_to_float32():
    ref, _ = _reference_train(PIPE)
    bf, _ = ParallelTrainer(epochs=13, batch_size=24, compute_dtype="bfloat16", **PIPE_KW).train(
        LOSS, init_mlp(list(PIPE), seed=2), _mlp_data()
    )
    assert all(np.asarray(x).dtype == np.float32 for x in jax.tree.leaves(bf))
    _assert_trees_close(bf, ref, rtol=5e-2)


def test_pipeline_resume_equals_uninterrupted(tmp_path):
    layers = init_mlp(list(PIPE), seed=2)
    ck = dict(batch_size=24, checkpoint_dir=str(tmp_path), **PIPE_KW)
    ParallelTrainer(epochs=5, **ck).train(LOSS, layers, _mlp_data())
    res, hist = ParallelTrainer(epochs=13, **ck).train(LOSS, layers, _mlp_data(), resume=True)
    again = ParallelTrainer(epochs=13, batch_size=24, **PIPE_KW)
    full, full_hist = again.train(LOSS, layers, _mlp_data())
    assert again.compile_time_ == 0.0  # the same compiled program as the resumed run: bitwise
    for a, b in zip(jax.tree.leaves(res), jax.tree.leaves(full), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(hist["loss"], full_hist["loss"])


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"strategy": "model_parallel", "backend": "pmap"},
            r"strategy='model_parallel' supports backend='shard_map' only, got backend='pmap'",
        ),
        (
            {"strategy": "pipeline_parallel", "backend": "jit"},
            r"strategy='pipeline_parallel' supports backend='shard_map' only, got backend='jit'",
        ),
        ({"n_microbatches": 2}, r"n_microbatches applies to strategy='pipeline_parallel' only"),
        ({**PIPELINE, "n_microbatches": 0}, "n_microbatches must be an integer >= 1"),
        (
            {"strategy": "tensor"},
            r"strategy must be one of \('data_parallel', 'model_parallel', 'pipeline_parallel'\)",
        ),
    ],
)
def test_fit_rejects_bad_combinations(kwargs, match):
    pt = ParallelTrainer(**kwargs)  # the constructor only stores (issue 22)
    X, y = linear32(16, 5)
    with pytest.raises(ValueError, match=match):
        pt.fit(X, y)


def _clip_adam():
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.01))


@pytest.mark.parametrize(
    ("make", "call", "error", "match"),
    [
        (
            lambda: ParallelTrainer(n_devices=4, **PIPELINE),
            "fit",
            ValueError,
            r"strategy='pipeline_parallel' pipelines a model of several stages through train\(\)",
        ),
        (
            lambda: ParallelTrainer(n_devices=4, **PIPELINE),
            ((6, 8, 3), {}),
            ValueError,
            r"at least one stage \(layer\) per device: params has 2 layers for n_devices=4",
        ),
        (
            lambda: ParallelTrainer(n_devices=4, **PIPELINE),
            ((6, 8, 8, 8, 8, 3), {}),
            ValueError,
            r"cuts the 5 layers of params into n_devices=4 stages",
        ),
        (
            lambda: ParallelTrainer(n_devices=4, n_microbatches=5, **PIPELINE),
            ((6, 8, 8, 8, 3), {}),
            ValueError,
            r"n_microbatches=5 must divide the batch: batch_size=24",
        ),
        (
            lambda: ParallelTrainer(n_devices=4, **SHARDED),
            ((6, 6, 8, 3), {}),
            ValueError,
            r"splits the 6 outputs of params\[0\] over n_devices=4",
        ),
        (
            lambda: ParallelTrainer(n_devices=2, **SHARDED),
            ((6, 8, 3), {"optimizer": _clip_adam()}),
            ValueError,
            r"the optimizer must be element-wise",
        ),
        (
            lambda: ParallelTrainer(n_devices=4, **PIPELINE),
            ((6, 8, 8, 8, 3), {"optimizer": _clip_adam()}),
            ValueError,
            r"must be element-wise",
        ),
        (
            lambda: ParallelTrainer(n_devices=2, **SHARDED),
            ((6, 8, 3), {"loss_fn": lambda p, b: LOSS(p, b)}),
            TypeError,
            r"strategy='model_parallel' trains the linear model \(fit\) or an MLP",
        ),
        (
            lambda: ParallelTrainer(n_devices=2, **PIPELINE),
            ((6, 8, 3), {"loss_fn": lambda p, b: LOSS(p, b)}),
            TypeError,
            r"needs loss_fn = accel.parallel.mlp_loss",
        ),
        (
            lambda: ParallelTrainer(n_devices=2, **SHARDED),
            ((6, 8, 3), {"params": "dict"}),
            TypeError,
            r"ValueError: mlp_loss needs params as a list of layers",
        ),
    ],
)
def test_bad_combinations_raise(make, call, error, match):
    pt = make()
    pt.epochs, pt.batch_size = 1, 24
    with pytest.raises(error, match=match):
        if call == "fit":
            X, y = linear32(96, 10)
            pt.fit(X, y)
        else:
            sizes, over = call
            layers = init_mlp(list(sizes), seed=0)
            if over.get("params") == "dict":
                layers = {"w": layers[0]["w"], "b": layers[0]["b"]}
            pt.train(
                over.get("loss_fn", LOSS),
                layers,
                _mlp_data(c=sizes[-1]),
                optimizer=over.get("optimizer"),
            )


def test_mlp_loss_and_layers_validation():
    with pytest.raises(ValueError, match=r"activation must be one of \('relu', 'tanh'"):
        mlp_loss(_head, activation="swish")
    with pytest.raises(TypeError, match="head must be callable"):
        mlp_loss("xent")
    bad = init_mlp([6, 8, 3])
    bad[1]["w"] = bad[1]["w"][:5]
    pt = ParallelTrainer(n_devices=2, epochs=1, **SHARDED)
    with pytest.raises(TypeError, match=r"params\[1\]\['w'\] has 5 inputs but params\[0\] has 8"):
        pt.train(LOSS, bad, _mlp_data())
