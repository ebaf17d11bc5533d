"""The data-parallel strategy: one compiled program per backend (pmap, shard_map, jit).

Per optimizer step every device

1. reads its ``(k, m)`` rows of the step (``_plan.step_rows``; ``-1`` = padding, masked),
2. accumulates locally over its ``k`` micro-batches (``_accumulate.local_gradient``) the
   gradient of ``scale * sum_i mask_i * loss_i / N`` (``N`` = real rows of the whole step),
3. takes part in ONE cross-device reduction: a sum of the flat vector
   ``[gradient..., loss]`` (the gradient bucket), so the gradient equals the gradient of the
   mean loss over the step's global batch,
4. applies the optimizer update to its (replicated, float32) copy of the parameters, unless
   the step is skipped (non-finite loss or gradients).

The three backends differ only in how step 3 is expressed and how the program is partitioned:

* ``pmap``: ``jax.pmap`` over the devices, ``lax.psum`` over the device axis;
* ``shard_map``: ``jax.jit(jax.shard_map(...))`` with the same per-device code. The local
  objective is divided by the *global* row count and then *summed* (``psum``), never
  ``pmean``-ed: a ``pmean`` of an already averaged loss over-counts in shard_map, whose
  gradients of replicated inputs are already reduced;
* ``jit``: one global program under ``NamedSharding``; the per-device work is a ``vmap`` over
  a device axis constrained to be sharded, and the reduction is ``sum(axis=0)`` over that
  axis, which the GSPMD partitioner turns into one all-reduce.

Epochs and steps run inside the program (``fori_loop`` with traced bounds), so a chunk of
steps ``[g0, g1)`` is one dispatch and any chunking (checkpoints, progress) reuses the same
executable. Other strategies (model or pipeline parallel) are separate modules with the same
``build_program`` signature; see ``_trainer.STRATEGIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from accel.parallel import _plan
from accel.parallel._accumulate import local_gradient, masked_loss_sum
from accel.parallel._precision import (
    COMPUTE_DTYPES,
    LossScale,
    all_finite,
    update_loss_scale,
)

__all__ = ["AXIS", "BACKENDS", "Program", "Spec", "TrainState", "build_program"]

BACKENDS = ("pmap", "shard_map", "jit")
AXIS = "dev"


class TrainState(NamedTuple):
    """Everything a step changes (all of it is checkpointed)."""

    params: Any
    opt_state: Any
    loss_scale: LossScale
    step: jax.Array  # int32: optimizer steps taken since the start (skipped ones included)
    bad_step: jax.Array  # int32: -1, or the first step with a non-finite loss (nan_policy='raise')
    # Per-chunk outputs, indexed by epoch - e0 (reset at the start of every chunk, so the
    # program does not depend on the number of epochs; the host keeps the history):
    skipped: jax.Array  # int32[chunk_epochs]: skipped steps per epoch of the chunk
    losses: jax.Array  # float32[chunk_epochs + 1]: loss at the epoch boundaries of the chunk


class Spec(NamedTuple):
    """Static configuration of a compiled program."""

    layout: _plan.Layout
    chunk_epochs: int  # epoch orders per dispatch (rows of ``orders``)
    compute_dtype: str
    loss_scale: str | float
    nan_policy: str
    shard_offsets: bool  # device data holds all shards: shard g's rows start at g * n_rows
    evaluate: bool = True  # record the loss at init and after each epoch


class Program(NamedTuple):
    """``run(state, data, orders, e0, g0, g1) -> state`` plus how to feed it."""

    backend: str
    mesh: Mesh
    run: Callable[..., Any]  # jitted/pmapped function (lower/compile with ``lower``)
    put_state: Callable[[TrainState], Any]  # host state -> program input
    get_state: Callable[[Any], TrainState]  # program output -> host state (NumPy)
    put_data: Callable[[Any], Any]  # host data (this process's rows) -> device data
    put_orders: Callable[[Any], Any]  # (count, n) epoch orders -> program input


def _device_roles(d: jax.Array, lay: _plan.Layout, spec: Spec):
    group = d // lay.group_devices
    rank = d % lay.group_devices
    offset = group * lay.n_rows if spec.shard_offsets else jnp.int32(0)
    return group, rank, offset


def _shift(rows: jax.Array, offset: jax.Array) -> jax.Array:
    return jnp.where(rows >= 0, rows + offset, -1)


def _apply(state: TrainState, vec: jax.Array, slot, unravel, optimizer, spec: Spec) -> TrainState:
    """Step 4: unscale, check finiteness, update or skip, advance counters."""
    scale = state.loss_scale.scale
    loss = vec[-1]
    grads = unravel(vec[:-1] / scale)
    loss_ok = jnp.isfinite(loss)
    grads_ok = all_finite(grads)
    active = state.bad_step < 0
    ok = active & loss_ok & grads_ok
    updates, new_opt = optimizer.update(grads, state.opt_state, state.params)
    new_params = optax.apply_updates(state.params, updates)
    keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
    if spec.nan_policy == "raise":
        bad_step = jnp.where(active & ~loss_ok, state.step, state.bad_step)
        skip = active & loss_ok & ~grads_ok  # gradient overflow under loss scaling
    else:
        bad_step = state.bad_step
        skip = active & ~ok
    new_scale = update_loss_scale(state.loss_scale, loss_ok & grads_ok, spec.loss_scale)
    return TrainState(
        params=keep(new_params, state.params),
        opt_state=keep(new_opt, state.opt_state),
        loss_scale=jax.tree.map(lambda a, b: jnp.where(active, a, b), new_scale, state.loss_scale),
        step=state.step + 1,
        bad_step=bad_step,
        skipped=state.skipped.at[slot].add(skip.astype(jnp.int32)),
        losses=state.losses,
    )


def _loop(state, orders, e0, g0, g1, spec: Spec, steps, evaluate):
    """Epoch and step loops over global steps ``[g0, g1)`` (traced bounds).

    Iteration ``e`` first records the loss at the epoch boundary ``e*S`` when the chunk owns
    it (``g0 < e*S <= g1``, or ``e*S == g0 == 0``) in ``losses[e - e0]``, then runs the
    steps of epoch ``e`` inside the chunk with the order ``orders[e - e0]``. One evaluation
    site keeps the program small. Requires ``g0 // S == e0`` and ``g1 <= (e0 + cap) * S``.
    """
    S = spec.layout.steps_per_epoch
    state = state._replace(
        losses=jnp.full_like(state.losses, jnp.nan), skipped=jnp.zeros_like(state.skipped)
    )

    def epoch_body(e, st):
        boundary = e * S
        if spec.evaluate:
            owns = ((boundary > g0) | (g0 == 0)) & (boundary <= g1)
            st = st._replace(
                losses=jax.lax.cond(
                    owns,
                    lambda s: s.losses.at[e - e0].set(evaluate(s.params)),
                    lambda s: s.losses,
                    st,
                )
            )
        lo = jnp.maximum(g0 - boundary, 0)
        hi = jnp.clip(g1 - boundary, 0, S)
        perm = orders[jnp.clip(e - e0, 0, orders.shape[0] - 1)]
        return steps(e, perm, lo, hi, st)

    return jax.lax.fori_loop(g0 // S, g1 // S + 1, epoch_body, state)


def build_program(
    backend: str,
    devices: list[jax.Device],
    spec: Spec,
    loss_fn: Callable[[Any, Any], jax.Array],
    optimizer: optax.GradientTransformation,
    params_template: Any,
) -> Program:
    """Build the data-parallel ``run(state, data, orders, e0, g0, g1)`` for ``backend``.

    ``orders[e - e0]`` is the shared order of epoch ``e`` (``_plan.epoch_perms``).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    lay = spec.layout
    cdt = COMPUTE_DTYPES[spec.compute_dtype]
    _, unravel = ravel_pytree(params_template)
    mesh = Mesh(np.array(devices), (AXIS,))
    n_global = jnp.float32(lay.n_global)
    repl = NamedSharding(mesh, P())
    dev_sharded = NamedSharding(mesh, P(AXIS))

    if backend == "shard_map":
        # Under shard_map's type system the gradient of a device-varying loss with respect
        # to replicated (invariant) params is reduced over devices implicitly; mark the
        # params varying so the gradient stays local and the one explicit psum below is
        # the only reduction (a pmap-style psum on top of the implicit one would count
        # every gradient n_devices times).
        def vary(x):
            return jax.tree.map(lambda a: jax.lax.pcast(a, AXIS, to="varying"), x)
    else:

        def vary(x):
            return x

    def local_vec(params, data_d, rows, count, scale):
        return local_gradient(loss_fn, vary(params), data_d, rows, count, scale, cdt, vary)

    def local_eval(params, data_d, rank, offset):
        rows = _shift(_plan.eval_rows(rank, lay), offset)
        return masked_loss_sum(loss_fn, vary(params), data_d, rows, cdt, vary)

    if backend in ("pmap", "shard_map"):

        def run_local(state, data_d, orders, e0, g0, g1):
            d = jax.lax.axis_index(AXIS)
            group, rank, offset = _device_roles(d, lay, spec)

            def evaluate(params):
                return jax.lax.psum(local_eval(params, data_d, rank, offset), AXIS) / n_global

            def steps(e, perm, lo, hi, st):
                order = _plan.epoch_order(perm, group, lay)

                def step_body(s, st):
                    rows = _shift(_plan.step_rows(order, s, rank, lay), offset)
                    vec = local_vec(st.params, data_d, rows, _plan.step_count(s, lay),
                                    st.loss_scale.scale)
                    vec = jax.lax.psum(vec, AXIS)  # the one reduction per optimizer step
                    return _apply(st, vec, e - e0, unravel, optimizer, spec)

                return jax.lax.fori_loop(lo, hi, step_body, st)

            return _loop(state, orders, e0, g0, g1, spec, steps, evaluate)

        if backend == "pmap":
            # State carries a leading device axis (one replica per device) so the output of
            # one chunk feeds the next without a trip through the host.
            run = jax.pmap(
                run_local,
                axis_name=AXIS,
                in_axes=(0, 0, None, None, None, None),
                devices=devices,
            )
            put_state = _stacked_put(mesh, devices)

            def get_state(out):
                return jax.tree.map(lambda a: np.asarray(a.addressable_shards[0].data)[0], out)

            def put_orders(orders):
                return np.asarray(orders)

        else:
            sm = jax.shard_map(
                lambda st, dd, *rest: run_local(st, jax.tree.map(lambda a: a[0], dd), *rest),
                mesh=mesh,
                in_specs=(P(), P(AXIS), P(), P(), P(), P()),
                out_specs=P(),
            )
            run = jax.jit(sm)
            put_state, get_state, put_orders = _replicated_io(repl)

    else:  # jit: one global program partitioned by GSPMD
        ranks = jnp.arange(lay.n_devices, dtype=jnp.int32)

        def constrain(x):
            return jax.lax.with_sharding_constraint(x, dev_sharded)

        def run_global(state, data, orders, e0, g0, g1):
            groups, rank, offsets = jax.vmap(lambda d: _device_roles(d, lay, spec))(ranks)

            def evaluate(params):
                part = jax.vmap(local_eval, in_axes=(None, 0, 0, 0))(params, data, rank, offsets)
                return jnp.sum(constrain(part)) / n_global

            def steps(e, perm, lo, hi, st):
                group_orders = jnp.stack(
                    [_plan.epoch_order(perm, jnp.int32(g), lay) for g in range(lay.n_shards)]
                )

                def step_body(s, st):
                    rows = jax.vmap(
                        lambda g, r, o: _shift(_plan.step_rows(group_orders[g], s, r, lay), o)
                    )(groups, rank, offsets)
                    count = _plan.step_count(s, lay)
                    vecs = jax.vmap(local_vec, in_axes=(None, 0, 0, None, None))(
                        st.params, data, constrain(rows), count, st.loss_scale.scale
                    )
                    vec = jnp.sum(constrain(vecs), axis=0)  # the one reduction (all-reduce)
                    return _apply(st, vec, e - e0, unravel, optimizer, spec)

                return jax.lax.fori_loop(lo, hi, step_body, st)

            return _loop(state, orders, e0, g0, g1, spec, steps, evaluate)

        run = jax.jit(
            run_global,
            in_shardings=(repl, dev_sharded, repl, repl, repl, repl),
            out_shardings=repl,
        )
        put_state, get_state, put_orders = _replicated_io(repl)

    return Program(backend, mesh, run, put_state, get_state, _stacked_put(mesh, devices),
                   put_orders)


def _stacked_put(mesh: Mesh, devices: list[jax.Device]):
    """Leaves of shape ``(D, ...)``, one copy of this process's value per local device."""
    sharding = NamedSharding(mesh, P(AXIS))
    local = [d for d in devices if d.process_index == jax.process_index()]

    def put(tree):
        def one(leaf):
            leaf = np.asarray(leaf)
            parts = [jax.device_put(leaf[None], d) for d in local]
            return jax.make_array_from_single_device_arrays(
                (len(devices), *leaf.shape), sharding, parts
            )

        return jax.tree.map(one, tree)

    return put


def _replicated_io(repl: NamedSharding):
    def put(tree):
        return jax.tree.map(
            lambda a: jax.make_array_from_process_local_data(repl, np.asarray(a)), tree
        )

    def get_state(out):
        return jax.tree.map(lambda a: np.asarray(a.addressable_shards[0].data), out)

    return put, get_state, put
