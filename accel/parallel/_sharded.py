"""The program of the sharded strategies (model_parallel, pipeline_parallel).

Unlike data parallelism, every device reads *all* rows of a step and holds only a *part of
the parameters* (and of the optimizer state). A strategy describes its split with a
:class:`Layout`; this module runs it with the same batch plan, training loop (``accel.train``), loss
scaling, ``nan_policy`` and train state as ``_data_parallel`` (one ``jax.jit(jax.shard_map(...))``).

Per optimizer step, on every device:

1. rows ``(k, B)`` of the step (``_plan.step_rows`` of the whole step, ``-1`` = padding);
2. for each of the ``k`` micro-batches, ``value_and_grad`` of
   ``scale * sum_i mask_i * loss_i / N`` where ``loss_i = Layout.row_losses(local params,
   rows)`` is computed by the strategy's collectives (psum / ppermute) and is the same on
   every device; the gradient of each device's own parameter shard comes out local
   (shard_map's autodiff transposes the forward collectives), accumulated with ``lax.scan``;
3. one scalar all-reduce: the count of non-finite gradient entries, so every device takes
   the same update-or-skip decision;
4. the optimizer update of the local shards (``accel.train.apply_gradients``). This is
   exact for element-wise optimizers (every optimizer of ``accel.train._optax``); an optimizer
   whose state does not mirror the parameters is refused by the layouts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from accel import _plan
from accel import train as engine
from accel.parallel._data_parallel import AXIS, Program, ProgramSpec

__all__ = [
    "Layout",
    "build_sharded_program",
    "check_elementwise",
    "check_single_process",
    "leafwise_layout",
]


class Layout(NamedTuple):
    """How a strategy splits parameters, optimizer state and data over the devices."""

    to_device: Callable[[Any, Any], tuple[Any, Any]]  # host (params, opt) -> device layout
    to_host: Callable[[Any, Any], tuple[Any, Any]]  # inverse
    param_specs: Any  # PartitionSpec per device-layout param leaf
    opt_specs: Any  # PartitionSpec per device-layout optimizer-state leaf
    data_specs: Any  # PartitionSpec per data leaf, or one for all (a prefix of the data tree)
    prepare_data: Callable[[Any], Any]  # host data -> host data in device layout (e.g. padded)
    row_losses: Callable[[Any, Any], jax.Array]  # (local params, local batch) -> (rows,) f32


def check_single_process(strategy: str, spec: ProgramSpec) -> None:
    if jax.process_count() > 1 or spec.layout.n_shards > 1:
        raise ValueError(
            f"strategy={strategy!r} runs in one process with the full data set "
            "(data_is_local=True and multi-process runs are data_parallel only)"
        )


def check_elementwise(optimizer: Any, params: Any, strategy: str) -> None:
    """Refuse an optimizer whose update of one entry depends on other entries (e.g. global
    norm clipping): applied shard by shard it would silently compute something else.

    Probe: the update for random gradients ``g`` and for ``g`` with one entry changed by
    1e6 must agree bitwise everywhere else.
    """
    rng = np.random.default_rng(0)
    leaves, treedef = jax.tree.flatten(params)
    g = [rng.normal(size=np.shape(a)).astype(np.float32) for a in leaves]
    g2 = [a.copy() for a in g]
    g2[0].reshape(-1)[0] += np.float32(1e6)
    state = optimizer.init(params)
    u1, u2 = (
        jax.tree.leaves(optimizer.update(treedef.unflatten(x), state, params)[0]) for x in (g, g2)
    )
    for i, (a, b) in enumerate(zip(u1, u2, strict=True)):
        a, b = np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)
        if i == 0:
            a, b = a[1:], b[1:]
        if not np.array_equal(a, b):
            raise ValueError(
                f"strategy={strategy!r} applies the optimizer to each device's shard of the "
                "parameters, so the optimizer must be element-wise (each entry's update depends "
                "on that entry only, like optax.sgd/adam/adamw); this one couples entries "
                "(e.g. clip_by_global_norm): use strategy='data_parallel'"
            )


def _is_spec(x: Any) -> bool:
    return isinstance(x, P)


def _path_suffix(path: tuple, param_paths: list[tuple]) -> int | None:
    for i, q in enumerate(param_paths):
        if len(path) >= len(q) and tuple(path[len(path) - len(q) :]) == tuple(q):
            return i
    return None


def leafwise_layout(
    params: Any, opt_state: Any, placements: list[tuple[P, tuple[int, ...]]], strategy: str
):
    """Leaf-by-leaf split (the tree keeps its structure): param leaf ``i`` (flatten order) gets
    ``placements[i] = (spec, padded global shape)``; an optimizer-state leaf whose key path
    ends with a param's key path and has its shape gets the same; scalar state leaves are
    replicated. Returns ``(to_device, to_host, param_specs, opt_specs)``."""
    p_leaves, p_def = jax.tree_util.tree_flatten_with_path(params)
    p_paths = [path for path, _ in p_leaves]
    o_leaves, o_def = jax.tree_util.tree_flatten_with_path(opt_state)
    o_place = []
    for path, leaf in o_leaves:
        i = _path_suffix(path, p_paths)
        if i is not None and np.shape(leaf) == np.shape(p_leaves[i][1]):
            o_place.append((*placements[i], np.shape(leaf)))
        elif np.ndim(leaf) == 0:
            o_place.append((P(), (), ()))
        else:
            raise ValueError(
                f"strategy={strategy!r} shards the optimizer state like the parameters, so the "
                f"optimizer must be element-wise (its state mirrors params, e.g. optax.adam); "
                f"got a state leaf {jax.tree_util.keystr(path)} of shape {np.shape(leaf)}"
            )
    p_place = [(*placements[i], np.shape(leaf)) for i, (_, leaf) in enumerate(p_leaves)]

    def pad(leaf, target):
        leaf = np.asarray(leaf)
        if leaf.shape == tuple(target):
            return leaf
        return np.pad(leaf, [(0, t - s) for s, t in zip(leaf.shape, target, strict=True)])

    def unpad(leaf, shape):
        return np.asarray(leaf)[tuple(slice(0, s) for s in shape)]

    def to_device(params, opt_state):
        pl, ol = jax.tree.leaves(params), jax.tree.leaves(opt_state)
        return (
            p_def.unflatten([pad(a, t) for a, (_, t, _) in zip(pl, p_place, strict=True)]),
            o_def.unflatten([pad(a, t) for a, (_, t, _) in zip(ol, o_place, strict=True)]),
        )

    def to_host(params, opt_state):
        pl, ol = jax.tree.leaves(params), jax.tree.leaves(opt_state)
        return (
            p_def.unflatten([unpad(a, s) for a, (_, _, s) in zip(pl, p_place, strict=True)]),
            o_def.unflatten([unpad(a, s) for a, (_, _, s) in zip(ol, o_place, strict=True)]),
        )

    p_specs = p_def.unflatten([s for s, _, _ in p_place])
    o_specs = o_def.unflatten([s for s, _, _ in o_place])
    return to_device, to_host, p_specs, o_specs


def build_sharded_program(
    devices: list[jax.Device],
    spec: ProgramSpec,
    make_tx: Any,
    layout: Layout,
    params_template: Any,
) -> Program:
    """``run(carry, data, key, hyper, stop)`` for a sharded strategy (see module doc)."""
    lay = spec.layout._replace(group_devices=1)  # every device reads every row of the step
    cdt = engine.COMPUTE_DTYPES[spec.compute_dtype]
    mesh = Mesh(np.array(devices), (AXIS,))
    n_global = jnp.float32(lay.n_global)
    scaled = spec.loss_scale != 1.0

    def objective_terms(params, batch, mask):
        losses = layout.row_losses(engine.cast_floating(params, cdt), engine.cast_floating(batch, cdt))
        return jnp.sum(jnp.where(mask, losses.astype(jnp.float32), 0.0))

    def accumulate(params, data, rows, count, scale):
        def micro(acc, r):
            batch = engine.gather(data, r)

            def objective(p):
                part = objective_terms(p, batch, r >= 0) / count
                return part * scale, part

            (_, part), grads = jax.value_and_grad(objective, has_aux=True)(params)
            grads = jax.tree.map(lambda a: a.astype(jnp.float32), grads)
            return (jax.tree.map(jnp.add, acc[0], grads), acc[1] + part), None

        zeros = jax.tree.map(lambda p: jnp.zeros_like(p, jnp.float32), params)  # keeps varying-ness
        (grads, loss), _ = jax.lax.scan(micro, (zeros, jnp.float32(0.0)), rows)
        return grads, loss

    def evaluate(data, train):
        def chunk(total, xs):
            rows, mask = xs
            return total + objective_terms(train.params, engine.gather(data, rows), mask), None

        rows, valid = engine.chunked(jnp.ones(lay.n_global, bool), lay.accum * lay.micro)
        total, _ = jax.lax.scan(chunk, jnp.float32(0.0), (rows, valid))
        return total / n_global, (), jnp.float32(jnp.nan)

    def step(tx, data, train, order, index, boundary):
        rows = _plan.step_rows(order, index.step, 0, lay)
        count = _plan.step_count(index.step, lay)
        scale = train.loss_scale.scale if scaled else jnp.float32(1.0)
        grads, loss = accumulate(train.params, data, rows, count, scale)
        if scaled:
            grads = jax.tree.map(lambda g: g / scale, grads)
        bad = sum(jnp.sum(~jnp.isfinite(g)) for g in jax.tree.leaves(grads))
        grads_ok = jax.lax.psum(bad, AXIS) == 0  # one scalar all-reduce per step
        return engine.apply_gradients(
            train, grads, loss, index, tx, nan_policy=spec.nan_policy,
            loss_scale=spec.loss_scale, grads_ok=grads_ok, rows=count,
        )  # fmt: skip

    parts = engine.Parts(
        make_tx=make_tx,
        epoch_context=lambda data, order: order,
        step=step,
        evaluate=evaluate,
        grad_template=lambda params: (),
        halted=(lambda train: train.bad_step >= 0) if spec.nan_policy == "raise" else None,
    )
    loop = engine.build_loop(spec.loop._replace(n_rows=lay.n_global), parts)

    train_specs = engine.TrainState(
        params=layout.param_specs,
        opt_state=layout.opt_specs,
        loss_scale=engine.LossScale(P(), P()),
        bad_step=P(),
        skipped=P(),
        pass_loss=P() if spec.loop.pass_loss else (),
    )
    carry_specs = engine.Carry(
        train=train_specs, step=P(), loss=P(), grad=(), loss0=P(), converged=P(),
        diverged=P(), started=P(), orders=P(), orders_first=P(),
    )  # fmt: skip
    run = jax.jit(
        jax.shard_map(
            lambda carry, data, key, hyper, stop: loop(carry, data, key, hyper, stop),
            mesh=mesh,
            in_specs=(carry_specs, layout.data_specs, P(), P(), P()),
            out_specs=(carry_specs, P()),
        ),
        donate_argnums=0,
    )

    def put(tree, specs):
        def place(s, sub):  # ``specs`` may be a prefix of ``tree``
            sharding = NamedSharding(mesh, s)
            return jax.tree.map(lambda a: jax.device_put(np.asarray(a), sharding), sub)

        return jax.tree.map(place, specs, tree, is_leaf=_is_spec)

    def put_carry(carry: engine.Carry):
        params, opt_state = layout.to_device(carry.train.params, carry.train.opt_state)
        train = carry.train._replace(params=params, opt_state=opt_state)
        return put(carry._replace(train=train), carry_specs)

    def get(out):
        host = jax.tree.map(np.asarray, out)
        if isinstance(host, tuple) and len(host) == 2 and isinstance(host[0], engine.Carry):
            return _carry_to_host(host[0]), host[1]
        if isinstance(host, engine.Carry):
            return _carry_to_host(host)
        return host

    def _carry_to_host(carry):
        params, opt_state = layout.to_host(carry.train.params, carry.train.opt_state)
        return carry._replace(train=carry.train._replace(params=params, opt_state=opt_state))

    def put_data(data):
        return put(layout.prepare_data(data), layout.data_specs)

    def put_args(tree):
        return jax.tree.map(lambda a: jax.device_put(a, NamedSharding(mesh, P())), tree)

    return Program("shard_map", mesh, run, put_carry, get, put_data, put_args, parts.grad_template)
