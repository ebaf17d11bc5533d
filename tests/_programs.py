"""Test helper: build a ParallelTrainer strategy's program directly, with its arguments.

Tests that look inside the compiled program (collectives in the jaxpr/HLO, shard shapes)
need the program without the trainer around it; this builds it the way the trainer does, and
``jaxpr_primitives`` lists the primitives of its jaxpr.
"""

from __future__ import annotations

import jax
import jax.extend.core
import numpy as np

from accel import _keys, _orders
from accel import train as engine
from accel.parallel._data_parallel import ProgramSpec
from accel.train import _optax


def build(builder, backend, n_dev, lay, loss_fn, optimizer, params, data, *, stop=1):
    """``(program, args)`` of strategy ``builder`` (a ``build_program``) with the named
    optimizer ``optimizer`` (default hyperparameters, learning rate 0.01) or a ready optax
    transformation; ``args`` are ``run``'s arguments for a call stopping at step ``stop``."""
    loop = engine.LoopSpec(
        n_rows=lay.n_global,
        steps_per_epoch=lay.steps_per_epoch,
        order_block=_orders.order_block(lay.n_global),
        hist_cap=engine.HIST_CAP,
        has_tol=False,
        partial_epochs=True,
    )
    spec = ProgramSpec(lay, loop, "float32", 1.0, "raise")
    make_tx = _optax.transformation_factory(optimizer, 0.0, True)
    names = _optax.HYPERPARAMETERS[optimizer] if isinstance(optimizer, str) else {}
    values = {
        "learning_rate": np.float32(0.01),
        "tol": np.float32(0.0),
        **{k: np.float32(v) for k, v in names.items()},
    }
    tx = make_tx(values)
    prog = builder(backend, jax.devices()[:n_dev], spec, loss_fn, make_tx, tx, params)
    train = engine.TrainState(
        params,
        jax.tree.map(np.asarray, tx.init(params)),
        jax.tree.map(np.asarray, engine.init_loss_scale(1.0)),
        np.int32(-1),
        np.int32(0),
    )
    carry = engine.init_carry(loop, train, prog.grad_template(params), np.float32)
    key = np.asarray(jax.random.key_data(_keys.seed_key(0)))
    args = (
        prog.put_carry(carry),
        prog.put_data(data),
        prog.put_args(key),
        prog.put_args(values),
        prog.put_args(np.int32(stop)),
    )
    return prog, args


def jaxpr_primitives(jaxpr, inside_scan=False):
    """Yield ``(primitive name, inside a scan?)`` for every equation of ``jaxpr``, recursively
    through the jaxprs in its equations' parameters (a scan's body, a cond's branches, ...)."""
    for eqn in jaxpr.eqns:
        yield eqn.primitive.name, inside_scan
        for sub in _params_jaxprs(eqn.params.values()):
            yield from jaxpr_primitives(sub, inside_scan or eqn.primitive.name == "scan")


def _params_jaxprs(values):
    for v in values:
        if isinstance(v, jax.extend.core.ClosedJaxpr):
            yield v.jaxpr
        elif isinstance(v, jax.extend.core.Jaxpr):
            yield v
        elif isinstance(v, tuple | list):
            yield from _params_jaxprs(v)
