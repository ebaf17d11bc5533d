"""The data-parallel strategy: the one training program (``accel.linear``) on every backend.

The step and the evaluation are ``accel.linear``'s data-parallel :class:`Parts` (the same
functions ``JAXOptimizer`` runs on one device); this module only says how a backend runs
per-device work and combines it (``device_scatter``, ``device_sum``) and how state and data
reach the devices. The data are split by rows (``accel._plan``): each device holds
its block of about ``N / D`` rows, placed by the process that owns the device, so the
memory per device does not grow with the number of devices.

* ``pmap``: ``jax.pmap`` over the devices, ``lax.psum_scatter`` / ``lax.psum`` over the
  device axis; the carry holds one replica per device (leading device axis), so the output
  of one call feeds the next without a trip through the host;
* ``shard_map``: ``jax.jit(jax.shard_map(...))`` with the same per-device code. Parameters
  are marked device-varying inside, so the one explicit ``psum`` is the only gradient
  reduction (shard_map's autodiff would otherwise reduce the gradient of replicated inputs
  too);
* ``jit``: one global program under ``NamedSharding``; the per-device work is a ``vmap``
  over a device axis constrained to be sharded; a sum over that axis is the reduction,
  which the GSPMD partitioner turns into a reduce-scatter (the batch) and an all-reduce
  (the gradient).

Every call runs optimizer steps ``[step, stop)`` (traced), so any chunking (checkpoints,
progress) reuses one executable. Other strategies (model or pipeline parallel) are separate
modules with the same ``build_program`` signature; see ``_trainer.STRATEGIES``.
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
from accel.linear import LinearObjective

__all__ = ["AXIS", "BACKENDS", "Program", "ProgramSpec", "build_program"]

BACKENDS = ("pmap", "shard_map", "jit")  # _inputs.STRATEGY_BACKENDS["data_parallel"]
AXIS = "dev"


class ProgramSpec(NamedTuple):
    """Static configuration of a compiled program (hashable)."""

    layout: _plan.Layout
    loop: engine.LoopSpec
    compute_dtype: str
    loss_scale: str | float
    nan_policy: str
    n_microbatches: int | None = None  # pipeline_parallel: pieces per micro-batch
    fed: bool = False  # data streamed through the input pipeline (accel.data), a block per call
    # data_parallel: the rows' images augmented in the step (accel.augment.TrainingAugmentation)
    augment: Any = None


class Program(NamedTuple):
    """``run(carry, data, key, hyper, stop) -> (carry, history)`` plus how to feed it."""

    backend: str
    mesh: Mesh
    run: Callable[..., Any]  # jitted/pmapped (lower/compile with ``lower``)
    put_carry: Callable[[engine.Carry], Any]  # host carry -> program input
    get: Callable[[Any], Any]  # program output (or a part of it) -> host NumPy
    put_data: Callable[[Any], Any]  # host data (this process's rows) -> device data
    put_args: Callable[[Any], Any]  # key, hyperparameters, stop -> program input
    grad_template: Callable[[Any], Any]  # params -> zeros shaped like the carry's gradient
    # fed programs (ProgramSpec.fed) only: the evaluation of a fed chunk, and how a block of
    # steps or a chunk (accel.data: this process's devices' rows) reaches the devices
    evaluate: Callable[..., Any] | None = None  # (carry params, chunk) -> device sums
    put_fed: Callable[..., Any] | None = None  # (columns, valid, device axis[, ids]) -> program input
    params: Callable[[Any], Any] | None = None  # device carry -> the params evaluate takes
    # host data -> what put_data makes of it, as jax.ShapeDtypeStruct (with its sharding):
    # the program compiles from these before the data are placed (_programs.compiled; one
    # process only, else None)
    data_spec: Callable[[Any], Any] | None = None


def build_program(
    backend: str,
    devices: list[jax.Device],
    spec: ProgramSpec,
    loss_fn: Callable[[Any, Any], jax.Array],
    make_tx: Callable[[dict], Any],
    optimizer: Any,
    params_template: Any,
) -> Program:
    """The data-parallel program for ``backend`` on ``devices``: the linear model's analytic
    gradient when ``loss_fn`` is the built-in one (it carries ``linear_model``), else the
    per-example objective of any ``loss_fn``. (``optimizer``, a concrete transformation, is
    part of the strategies' common signature; data parallelism needs no probe of it.)"""
    del optimizer
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    lay = spec.layout
    model = getattr(loss_fn, "linear_model", None)
    if model is not None:
        objective = LinearObjective(*model, scaled=spec.loss_scale != 1.0)
    else:
        objective = engine.PerExampleObjective(loss_fn)
    mesh = Mesh(np.array(devices), (AXIS,))
    repl = NamedSharding(mesh, P())
    dev_sharded = NamedSharding(mesh, P(AXIS))
    common = {
        "make_tx": make_tx,
        "compute_dtype": engine.COMPUTE_DTYPES[spec.compute_dtype],
        "loss_scale": spec.loss_scale,
        "nan_policy": spec.nan_policy,
        "params_template": params_template,
        "fed": spec.fed,
        "evaluates_every_epoch": spec.loop.eval_every == 1,
        "augment": spec.augment,
    }

    def eval_of(parts):
        return lambda params, chunk: parts.evaluate(chunk, engine.TrainState.fresh(params, ()))

    if backend in ("pmap", "shard_map"):
        if backend == "shard_map":
            # shard_map's type system would reduce the gradient of replicated (invariant)
            # params over devices implicitly; varying params keep it local
            def vary(x):
                return jax.tree.map(lambda a: jax.lax.pcast(a, AXIS, to="varying"), x)
        else:

            def vary(x):
                return x

        def device_sum(f, data_d):
            return jax.lax.psum(f(jax.lax.axis_index(AXIS), data_d), AXIS)

        def device_scatter(f, data_d):  # contributions (D, ...) -> this device's (...)
            return jax.tree.map(
                lambda a: jax.lax.psum_scatter(a, AXIS, scatter_dimension=0),
                f(jax.lax.axis_index(AXIS), data_d),
            )

        if backend == "pmap" and len(devices) == 1:  # pmap keeps even a 1-device psum (6% of a step)
            single = engine.one_device()
            device_sum, device_scatter = single["device_sum"], single["device_scatter"]

        parts = engine.data_parallel_parts(lay, objective, device_sum=device_sum,
                                           device_scatter=device_scatter, vary=vary, **common)  # fmt: skip
        loop = engine.build_loop(spec.loop, parts)
        grad_template = parts.grad_template

        if backend == "pmap":
            run = jax.pmap(
                loop, axis_name=AXIS, in_axes=(0, 0, None, None, None), devices=devices,
                donate_argnums=(0,),
            )  # fmt: skip
            evaluate = jax.pmap(eval_of(parts), axis_name=AXIS, devices=devices)
            put_carry = _stacked_put(mesh, devices)

            def get(out):
                return jax.tree.map(lambda a: np.asarray(a.addressable_shards[0].data)[0], out)

            def put_args(tree):
                return tree

        else:
            sm = jax.shard_map(
                lambda c, dd, *rest: loop(c, jax.tree.map(lambda a: a[0], dd), *rest),
                mesh=mesh,
                in_specs=(P(), P(AXIS), P(), P(), P()),
                out_specs=P(),
            )
            run = jax.jit(sm, donate_argnums=0)
            evaluate = jax.jit(jax.shard_map(
                lambda p, chunk: eval_of(parts)(p, jax.tree.map(lambda a: a[0], chunk)),
                mesh=mesh, in_specs=(P(), P(AXIS)), out_specs=P(),
            ))  # fmt: skip
            put_carry, get, put_args = _replicated_io(repl)

    else:  # jit: one global program partitioned by GSPMD
        ranks = jnp.arange(lay.n_devices, dtype=jnp.int32)

        def constrain(x):
            return jax.lax.with_sharding_constraint(x, dev_sharded)

        def device_sum(f, data):
            parts = jax.vmap(f)(constrain(ranks), data)
            return jax.tree.map(lambda a: jnp.sum(constrain(a), axis=0), parts)

        def device_scatter(f, data):  # (src, dst, ...) summed over src, sharded over dst
            parts = jax.vmap(f)(constrain(ranks), data)  # (the sum keeps uint8 images uint8)
            return jax.tree.map(lambda a: constrain(jnp.sum(constrain(a), axis=0, dtype=a.dtype)), parts)

        parts = engine.data_parallel_parts(lay, objective, device_sum=device_sum,
                                           device_scatter=device_scatter, **common)  # fmt: skip
        grad_template = parts.grad_template
        run = jax.jit(
            engine.build_loop(spec.loop, parts),
            in_shardings=(repl, dev_sharded, repl, repl, repl),
            out_shardings=repl,
            donate_argnums=0,
        )
        evaluate = jax.jit(eval_of(parts), in_shardings=(repl, dev_sharded), out_shardings=repl)
        put_carry, get, put_args = _replicated_io(repl)

    fed = {}
    if spec.fed:
        fed = {"evaluate": evaluate, "put_fed": fed_put(mesh, devices), "params": lambda c: c.train.params}
    # compiling from shapes: one process only (with several, pmap reads a shape as this
    # process's part of the array, not as the global array the program takes)
    spec = sharded_spec(mesh, devices, lay) if jax.process_count() == 1 else None
    return Program(backend, mesh, run, put_carry, get, sharded_put(mesh, devices, lay), put_args,
                   grad_template, **fed, data_spec=spec)  # fmt: skip


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


def sharded_put(mesh: Mesh, devices: list[jax.Device], lay: _plan.Layout):
    """Data leaves ``(rows, ...)`` of this process -> global arrays ``(D, R, ...)`` sharded
    over the devices: each local device gets its block of ``R`` rows (``_plan``; the last
    block of a group zero-padded). ``rows`` is ``N`` (one group: every process passes all
    rows) or the process's own ``n`` (one group per process, ``data_is_local``): either way
    only this process's devices' blocks are copied, one block at a time."""
    sharding = NamedSharding(mesh, P(AXIS))
    R = lay.rows_per_device

    def put(tree):
        def one(leaf):
            # a JAX array is sliced where it is (data already on a device: no trip through the host)
            xp = jnp if isinstance(leaf, jax.Array) else np
            leaf = xp.asarray(leaf)
            local_data = lay.n_shards > 1  # each process passed its own n rows
            parts = []
            for d, dev in enumerate(devices):
                if dev.process_index != jax.process_index():
                    continue
                group, rank = divmod(d, lay.group_devices)
                start = (0 if local_data else group * lay.n_rows) + rank * R
                stop = min(start + R, (0 if local_data else group * lay.n_rows) + lay.n_rows)
                block = leaf[start:stop]
                if block.shape[0] < R:  # the group's last block: zero rows, masked out
                    block = xp.concatenate([block, xp.zeros((R - block.shape[0], *leaf.shape[1:]), leaf.dtype)])
                parts.append(jax.device_put(block[None], dev))
            return jax.make_array_from_single_device_arrays((len(devices), R, *leaf.shape[1:]), sharding, parts)

        return jax.tree.map(one, tree)

    return put


def sharded_spec(mesh: Mesh, devices: list[jax.Device], lay: _plan.Layout):
    """What :func:`sharded_put` makes of the data leaves, as ``jax.ShapeDtypeStruct``:
    ``(D, R, ...)`` sharded over the devices."""
    sharding = NamedSharding(mesh, P(AXIS))

    def spec(tree):
        def one(leaf):
            shape, dtype = np.shape(leaf), getattr(leaf, "dtype", None) or np.asarray(leaf).dtype
            return jax.ShapeDtypeStruct((len(devices), lay.rows_per_device, *shape[1:]),
                                        dtype, sharding=sharding)  # fmt: skip

        return jax.tree.map(one, tree)

    return spec


def fed_put(mesh: Mesh, devices: list[jax.Device]):
    """``(columns, valid[, ids])`` read by this process for its devices (leading axis: the
    steps or nothing, then this process's devices ``L``) -> ``{'block': ..., 'valid': ...[,
    'ids': ...]}`` as global arrays ``(D, ...)`` sharded over the devices, each device its
    own slice (``ids``: a block's global row ids, what per-sample augmentation keys on)."""
    sharding = NamedSharding(mesh, P(AXIS))
    local = [d for d in devices if d.process_index == jax.process_index()]

    def one(a, device_axis):
        a = np.moveaxis(np.asarray(a), device_axis, 0)  # (L, ...)
        parts = [jax.device_put(a[i][None], d) for i, d in enumerate(local)]
        return jax.make_array_from_single_device_arrays((len(devices), *a.shape[1:]), sharding, parts)

    def put(columns, valid, device_axis, ids=None):
        fed = {"block": {k: one(v, device_axis) for k, v in columns.items()}, "valid": one(valid, device_axis)}
        if ids is not None:
            fed["ids"] = one(ids, device_axis)
        return fed

    return put


def _replicated_io(repl: NamedSharding):
    def put(tree):
        return jax.tree.map(
            lambda a: jax.make_array_from_process_local_data(repl, np.asarray(a)), tree
        )

    def get(out):
        return jax.tree.map(lambda a: np.asarray(a.addressable_shards[0].data), out)

    return put, get, put
