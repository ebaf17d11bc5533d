"""The model-parallel strategy: each device holds a slice of the parameters.

``fit(X, y)`` (the linear model): feature sharding. With ``n`` devices the columns of ``X``
and the weights ``w`` are split into ``n`` contiguous slices; ``d`` not divisible by ``n``
is padded with zero columns to ``d_pad = n * ceil(d / n)`` (their weights and optimizer
moments stay exactly 0: their gradient ``X_padᵀ r`` is exactly 0; they are dropped from
``coef_``). Device ``k`` holds ``X[:, k]``, ``w_k`` and the optimizer state of ``w_k``
(``d_pad / n`` entries each); the intercept is replicated:

.. code-block:: text

    z = psum_k(X_k @ w_k) + b        (one all-reduce of the batch's partial predictions)
    r = ∂L/∂z                        (every device, from the full z; accel.linear._model)
    g_k = X_kᵀ r / N                 (local: the transpose of psum is a broadcast)

``train(loss_fn, layers, data)`` for an MLP (``accel.parallel.mlp_loss`` and a layer list,
see ``_mlp``): Megatron-style tensor parallelism. Layers are taken in pairs ``(A, B)``:
``A`` is split by columns (``w_A[:, k]``, ``b_A[k]``), ``B`` by rows (``w_B[k, :]``; ``b_B``
replicated), so a pair costs ONE all-reduce in the forward pass:

.. code-block:: text

    h_k = act(x @ w_A[:, k] + b_A[k])          (local)
    y   = psum_k(h_k @ w_B[k, :]) + b_B         (one all-reduce per layer pair)

(and one in the backward pass, for the gradient of the pair's input, except for the first
pair whose input is the data). An odd last layer is replicated. The hidden width of every
``A`` layer must be divisible by ``n_devices``.

Both run with ``backend='shard_map'``; see ``_sharded`` for the step loop.

Example:
    >>> import numpy as np
    >>> from accel import ParallelTrainer
    >>> X = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    >>> y = X @ np.arange(6, dtype=np.float32)
    >>> pt = ParallelTrainer(n_devices=2, strategy="model_parallel", backend="shard_map",
    ...                      epochs=300, batch_size=16, learning_rate=0.1)
    >>> np.round(pt.fit(X, y).coef_).tolist()
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from accel.linear import loss_value
from accel.parallel._data_parallel import AXIS, Program, ProgramSpec
from accel.parallel._mlp import ACTIVATIONS, MLPLoss, check_layers
from accel.parallel._sharded import (
    Layout,
    build_sharded_program,
    check_elementwise,
    check_single_process,
    leafwise_layout,
)

__all__ = ["build_program", "mlp_specs", "tensor_parallel_apply"]

STRATEGY = "model_parallel"


def _check_backend(backend: str) -> None:
    if backend != "shard_map":
        raise ValueError(
            f"strategy={STRATEGY!r} supports backend='shard_map' only, got backend={backend!r}"
        )


# -- fit: feature-sharded linear model -----------------------------------------------------
def _linear_layout(n: int, loss: str, fit_intercept: bool, alpha: float, params, opt_state) -> Layout:
    w_shape = tuple(np.shape(params["w"]))  # (d,), or (k, d) for k outputs
    d = w_shape[-1]
    d_pad = n * math.ceil(d / n)
    w_spec = P(AXIS) if len(w_shape) == 1 else P(None, AXIS)
    placements = {"w": (w_spec, (*w_shape[:-1], d_pad)), "b": (P(), tuple(np.shape(params["b"])))}
    order = [k for k, _ in sorted(params.items())]  # dict leaves flatten in sorted key order
    to_device, to_host, p_specs, o_specs = leafwise_layout(
        params, opt_state, [placements[k] for k in order], STRATEGY
    )

    def prepare_data(data):  # sample weights always (1 when none: the one program layout)
        X = np.asarray(data["X"], np.float32)
        sw = data.get("sw", np.ones(X.shape[0], np.float32))
        return {"X": np.pad(X, [(0, 0), (0, d_pad - d)]), "y": np.asarray(data["y"]), "sw": np.asarray(sw, np.float32)}

    def row_losses(p, batch):
        w = p["w"]
        z = jax.lax.psum((batch["X"] @ (w.T if w.ndim == 2 else w)).astype(jnp.float32), AXIS)
        b = (p["b"] if fit_intercept else jax.lax.stop_gradient(p["b"])).astype(jnp.float32)
        # the loss of each row from its full prediction z_i: the model's loss on X = [z_i]
        # and the identity as coefficients (one output: w = [1])
        eye = jnp.ones(1, jnp.float32) if z.ndim == 1 else jnp.eye(z.shape[1], dtype=jnp.float32)
        terms = jax.vmap(
            lambda zi, yi: loss_value(zi.reshape(1, -1), yi[None], eye, b, loss=loss, xp=jnp)
        )(z, batch["y"].astype(jnp.float32))
        terms = terms * batch["sw"].astype(jnp.float32)
        if alpha:  # each row's share of alpha/2 ||w||² (the norm summed over the shards)
            w32 = w.astype(jnp.float32)
            terms = terms + 0.5 * alpha * jax.lax.psum(jnp.sum(w32 * w32), AXIS)
        return terms

    data_specs = {"X": P(None, AXIS), "y": P(), "sw": P()}
    return Layout(to_device, to_host, p_specs, o_specs, data_specs, prepare_data, row_losses)


# -- train: Megatron tensor parallelism of a layer-list MLP ---------------------------------
def mlp_specs(dims: list[tuple[int, int]], n: int) -> list[dict[str, P]]:
    """PartitionSpecs of the layers: pairs (column split, row split), odd last replicated."""
    specs = []
    for i, (_, out) in enumerate(dims):
        if i % 2 == 0 and i + 1 < len(dims):
            if out % n:
                raise ValueError(
                    f"strategy={STRATEGY!r} splits the {out} outputs of params[{i}] over "
                    f"n_devices={n}: the hidden width must be divisible by n_devices"
                )
            specs.append({"w": P(None, AXIS), "b": P(AXIS)})
        elif i % 2 == 1:
            specs.append({"w": P(AXIS, None), "b": P()})
        else:
            specs.append({"w": P(), "b": P()})
    return specs


def tensor_parallel_apply(layers: Any, x: jax.Array, activation: str) -> jax.Array:
    """The forward pass on one device's shards (inside ``shard_map`` over ``AXIS``);
    the same function as ``_mlp.mlp_apply`` with one ``psum`` per layer pair."""
    act = ACTIVATIONS[activation]
    last = len(layers) - 1
    h = x
    i = 0
    while i <= last:
        if i < last:  # a pair: column-split A, row-split B
            a, b = layers[i], layers[i + 1]
            h_k = act(h @ a["w"] + a["b"])
            h = jax.lax.psum(h_k @ b["w"], AXIS) + b["b"]
            i += 2
        else:  # odd last layer: replicated
            h = h @ layers[i]["w"] + layers[i]["b"]
            i += 1
        if i <= last:
            h = act(h)
    return h


def _mlp_layout(n: int, loss_fn: MLPLoss, params, opt_state) -> Layout:
    dims = check_layers(params, f"strategy={STRATEGY!r}")
    specs = mlp_specs(dims, n)
    placements = []
    for layer_spec, (a, b) in zip(specs, dims, strict=True):
        placements += [(layer_spec["b"], (b,)), (layer_spec["w"], (a, b))]  # b, w: sorted keys
    to_device, to_host, p_specs, o_specs = leafwise_layout(params, opt_state, placements, STRATEGY)

    def row_losses(layers, batch):
        out = tensor_parallel_apply(layers, batch[loss_fn.input], loss_fn.activation)
        return loss_fn.row_losses(out, batch)

    return Layout(to_device, to_host, p_specs, o_specs, P(), lambda d: d, row_losses)


def build_program(
    backend: str,
    devices: list[jax.Device],
    spec: ProgramSpec,
    loss_fn: Callable[[Any, Any], jax.Array],
    make_tx: Callable[[dict], Any],
    optimizer: Any,
    params_template: Any,
) -> Program:
    """The model-parallel ``run(carry, data, key, hyper, stop)`` (see module doc); ``optimizer``
    is a concrete transformation (checked element-wise, its state laid out like the params)."""
    _check_backend(backend)
    check_single_process(STRATEGY, spec)
    check_elementwise(optimizer, params_template, STRATEGY)
    opt_state = optimizer.init(params_template)
    n = len(devices)
    linear = getattr(loss_fn, "linear_model", None)
    if linear is not None:
        layout = _linear_layout(n, *linear, params_template, opt_state)
    elif isinstance(loss_fn, MLPLoss):
        layout = _mlp_layout(n, loss_fn, params_template, opt_state)
    else:
        raise TypeError(
            f"strategy={STRATEGY!r} trains the linear model (fit) or an MLP given as "
            "train(accel.parallel.mlp_loss(...), layers, data); got loss_fn "
            f"{type(loss_fn).__name__}, whose structure it cannot split"
        )
    return build_sharded_program(devices, spec, make_tx, layout, params_template)
