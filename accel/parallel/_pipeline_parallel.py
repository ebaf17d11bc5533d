"""The pipeline-parallel strategy: GPipe over consecutive devices.

Model: a layer-list MLP (``accel.parallel.mlp_loss`` and ``[{'w': (in, out), 'b': (out,)},
...]``, see ``_mlp``). Its ``L`` layers are cut into ``n = n_devices`` stages of ``L / n``
consecutive layers (``L`` must be a multiple of ``n``, at least ``n``); stage ``s`` lives on
device ``s`` only (its parameters and optimizer state). So that every stage runs the same
SPMD program, each layer is zero-padded to ``W x W`` (``W`` = the widest layer) and
multiplied by a constant 0/1 mask of its true shape: padded entries contribute nothing and
get an exactly zero gradient.

Schedule (GPipe): the rows of a micro-batch (``B`` rows, ``B`` divisible by
``n_microbatches = M``) are cut into ``M`` pieces of ``B / M`` rows. In ``M + n - 1`` ticks
(a ``lax.scan``) every stage applies its layers to what it holds and ``lax.ppermute`` hands
the result to the next device:

.. code-block:: text

    tick t:   stage 0 reads piece t (t < M);  stage s > 0 reads what stage s-1 sent at t-1
              out_s = stage_s(in_s);  send out_s to stage s+1 (ppermute s -> s+1)
    piece m leaves the last stage at tick m + n - 1

The last stage's outputs are all-reduced (masked to that stage) so every device evaluates
the same loss. The backward pass is the autodiff of this scan: the reverse schedule, with
``ppermute`` s+1 -> s, after all forward ticks (GPipe's forward-then-backward). The
gradients are those of the unpipelined model (up to float32 summation order); the idle
"bubble" is ``(n - 1) / (M + n - 1)`` of the ticks.

Example:
    >>> import numpy as np, optax
    >>> from accel import ParallelTrainer
    >>> from accel.parallel import init_mlp, mlp_loss
    >>> rng = np.random.default_rng(0)
    >>> data = {"x": rng.normal(size=(32, 4)).astype(np.float32),
    ...         "y": rng.normal(size=(32, 1)).astype(np.float32)}
    >>> loss_fn = mlp_loss(lambda out, b: ((out - b["y"]) ** 2).mean(), activation="tanh")
    >>> pt = ParallelTrainer(n_devices=2, strategy="pipeline_parallel", backend="shard_map",
    ...                      n_microbatches=4, batch_size=8, epochs=3)
    >>> layers, history = pt.train(loss_fn, init_mlp([4, 8, 8, 1]), data)
    Traceback (most recent call last):
    ...
    ValueError: strategy='pipeline_parallel' cuts the 3 layers of params into n_devices=2 stages of equal length: the number of layers must be a multiple of n_devices
    >>> layers, history = pt.train(loss_fn, init_mlp([4, 8, 8, 8, 1]), data)
    >>> bool(history["loss"][3] < history["loss"][1])  # the training pass's loss, epochs 1..3
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from accel.parallel._data_parallel import AXIS, Program, ProgramSpec
from accel.parallel._mlp import ACTIVATIONS, MLPLoss, check_layers
from accel.parallel._sharded import (
    Layout,
    build_sharded_program,
    check_elementwise,
    check_single_process,
)

__all__ = ["Stacked", "build_program", "pipeline_apply"]

STRATEGY = "pipeline_parallel"


class Stacked(NamedTuple):
    """All layers, padded to ``W x W`` and stacked: ``w (L, W, W)``, ``b (L, W)``."""

    w: Any
    b: Any


def _check(backend, devices, spec, loss_fn, params) -> tuple[list, int, int]:
    if backend != "shard_map":
        raise ValueError(
            f"strategy={STRATEGY!r} supports backend='shard_map' only, got backend={backend!r}"
        )
    if getattr(loss_fn, "linear_model", None) is not None:
        raise ValueError(
            f"strategy={STRATEGY!r} pipelines a model of several stages through train(); "
            "fit() trains the one-layer linear model: use strategy='model_parallel' (feature "
            "sharding) or 'data_parallel'"
        )
    if not isinstance(loss_fn, MLPLoss):
        raise TypeError(
            f"strategy={STRATEGY!r} needs loss_fn = accel.parallel.mlp_loss(...) and params "
            f"as a list of layers; got loss_fn {type(loss_fn).__name__}, whose stages it cannot "
            "find"
        )
    check_single_process(STRATEGY, spec)
    dims = check_layers(params, f"strategy={STRATEGY!r}")
    n, L = len(devices), len(dims)
    if L < n:
        raise ValueError(
            f"strategy={STRATEGY!r} needs at least one stage (layer) per device: params has "
            f"{L} layers for n_devices={n}"
        )
    if L % n:
        raise ValueError(
            f"strategy={STRATEGY!r} cuts the {L} layers of params into n_devices={n} stages "
            "of equal length: the number of layers must be a multiple of n_devices"
        )
    M = n if spec.n_microbatches is None else spec.n_microbatches
    B = spec.layout.batch_size
    if B % M:
        raise ValueError(
            f"n_microbatches={M} must divide the batch: batch_size={B} rows per micro-batch"
        )
    return dims, n, M


def _masks(dims, layer, W):
    """0/1 masks of the true shape of layer ``layer`` (traced index) inside ``W x W``."""
    ins = jnp.asarray([a for a, _ in dims])[layer]
    outs = jnp.asarray([b for _, b in dims])[layer]
    col = jnp.arange(W) < outs
    return (jnp.arange(W)[:, None] < ins) & col[None, :], col


def pipeline_apply(
    stage: Stacked, x: jax.Array, dims: list[tuple[int, int]], n: int, M: int, activation: str
) -> jax.Array:
    """Forward pass of the whole model on ``x`` (rows, d) with the GPipe schedule, inside
    ``shard_map`` over ``AXIS``; ``stage`` holds this device's ``L / n`` padded layers.
    Returns the (rows, out) outputs on every device."""
    act = ACTIVATIONS[activation]
    L, W = len(dims), stage.w.shape[-1]
    per = L // n
    rows = x.shape[0]
    s = jax.lax.axis_index(AXIS)
    pieces = jnp.pad(x, [(0, 0), (0, W - x.shape[1])]).reshape(M, rows // M, W)

    def apply_stage(h):
        for j in range(per):
            layer = s * per + j
            wmask, bmask = _masks(dims, layer, W)
            z = h @ jnp.where(wmask, stage.w[j], 0) + jnp.where(bmask, stage.b[j], 0)
            h = jnp.where(layer == L - 1, z, act(z))
        return h

    def tick(carry, t):
        h = jnp.where(s == 0, pieces[jnp.minimum(t, M - 1)], carry)
        out = apply_stage(h)
        return jax.lax.ppermute(out, AXIS, [(i, i + 1) for i in range(n - 1)]), out

    start = jax.lax.pcast(jnp.zeros((rows // M, W), x.dtype), AXIS, to="varying")
    _, outs = jax.lax.scan(tick, start, jnp.arange(M + n - 1))
    last = jnp.where(s == n - 1, outs[n - 1 :], 0)  # pieces 0..M-1, on the last stage
    return jax.lax.psum(last, AXIS).reshape(rows, W)[:, : dims[-1][1]]


def _stack(layers, W):
    def pad(a):
        a = np.asarray(a)
        return np.pad(a, [(0, W - k) for k in a.shape])

    return Stacked(
        np.stack([pad(layer["w"]) for layer in layers]),
        np.stack([pad(layer["b"]) for layer in layers]),
    )


def _unstack(stacked: Stacked, dims):
    return [
        {"b": np.asarray(stacked.b[i, :b]), "w": np.asarray(stacked.w[i, :a, :b])}
        for i, (a, b) in enumerate(dims)
    ]


def _layout(dims, n, M, loss_fn: MLPLoss, params, opt_state) -> Layout:
    W = max(max(d) for d in dims)
    pdef = jax.tree.structure(params)

    def is_layers(t):
        return isinstance(t, list | tuple) and jax.tree.structure(t) == pdef

    def check_rest(tree, is_block):
        for leaf in jax.tree.leaves(tree, is_leaf=is_block):
            if not is_block(leaf) and np.ndim(leaf) > 0:
                raise ValueError(
                    f"strategy={STRATEGY!r} places the optimizer state with its stage, so the "
                    "optimizer must be element-wise with a state that mirrors params (e.g. "
                    f"optax.adam); got a state leaf of shape {np.shape(leaf)}"
                )

    check_rest(opt_state, is_layers)

    def to_device(params, opt_state):
        conv = lambda t: _stack(t, W) if is_layers(t) else t  # noqa: E731
        return _stack(params, W), jax.tree.map(conv, opt_state, is_leaf=is_layers)

    def is_stacked(t):
        return isinstance(t, Stacked)

    def to_host(params, opt_state):
        conv = lambda t: _unstack(t, dims) if is_stacked(t) else t  # noqa: E731
        return _unstack(params, dims), jax.tree.map(conv, opt_state, is_leaf=is_stacked)

    def spec_of(t):
        return Stacked(P(AXIS), P(AXIS)) if is_layers(t) else P()

    param_specs = Stacked(P(AXIS), P(AXIS))
    opt_specs = jax.tree.map(spec_of, opt_state, is_leaf=is_layers)

    def row_losses(stage, batch):
        out = pipeline_apply(stage, batch[loss_fn.input], dims, n, M, loss_fn.activation)
        return loss_fn.row_losses(out, batch)

    return Layout(to_device, to_host, param_specs, opt_specs, P(), lambda d: d, row_losses)


def build_program(
    backend: str,
    devices: list[jax.Device],
    spec: ProgramSpec,
    loss_fn: Callable[[Any, Any], jax.Array],
    make_tx: Callable[[dict], Any],
    optimizer: Any,
    params_template: Any,
) -> Program:
    """The pipeline-parallel ``run(carry, data, key, hyper, stop)`` (see module doc); ``optimizer``
    is a concrete transformation (checked element-wise, its state laid out like the params)."""
    dims, n, M = _check(backend, devices, spec, loss_fn, params_template)
    check_elementwise(optimizer, params_template, STRATEGY)
    opt_state = optimizer.init(params_template)
    layout = _layout(dims, n, M, loss_fn, params_template, opt_state)
    return build_sharded_program(devices, spec, make_tx, layout, params_template)
