"""``JAXOptimizer``'s compiled program: one per static specification, cached; a fit is one call.

The program is the one training loop (``_program.build_loop``) on the single-device parts
of ``_flat_step``, wrapped so that a fit costs one dispatch and nothing eager around it:

.. code-block:: text

    program(carry, data, key, hyper, stop) -> (carry, history, (w, b))
        a fresh carry (started = False): the optimizer state is built here, tx.init(params),
        from the traced hyperparameters (the host sends zeros of its shapes)
        run the loop up to global step `stop`
        history: the loop's (the loss and gradient norm at init and at each epoch end)
        (w, b): the parameters as the estimator's pytree (views of the vector)

The host side is the one training driver (``accel.train.drive``), as for every trainer.

Everything a user may change between fits without new shapes is an argument (learning
rate, hyperparameter values, ``tol``, the seed, the number of epochs), so the compiled
program is reused; :class:`Spec` is exactly what is static (the cache key). The host side
sends NumPy arrays (the carry's zeros, the scalars) straight to the executable, which places
them on its device in one go.

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> from accel.linear._program import Spec, get_program
    >>> spec = Spec("sgd", 0.0, "mse", True, n=4, d=1, batch_size=None, has_tol=False,
    ...             data_dtype=jnp.float32, param_dtype=jnp.float32, device=None)
    >>> prog, compile_s = get_program(spec)
    >>> data = {"X": np.array([[1.0], [2.0], [3.0], [4.0]], np.float32), "y": np.ones(4, np.float32)}
    >>> carry, history, (w, b) = prog.call(
    ...     prog.fresh_carry(), data, None, prog.hyper({"learning_rate": 0.1, "tol": 0.0}), np.int32(2))
    >>> [round(float(v), 4) for v in history.curve[0, :3]], int(carry.step)
    ([0.5, 0.0769, 0.0635], 2)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from accel import _cache, _orders, _plan
from accel import train as engine
from accel._fingerprint import fingerprint
from accel.linear import _inplace
from accel.linear._flat_step import ParamLayout, single_device_parts
from accel.train import HIST_CAP, LoopSpec, TrainState, build_loop, init_carry

__all__ = ["Program", "Spec", "get_program"]


@dataclasses.dataclass(frozen=True, eq=False)
class Spec:
    """Everything static about one compiled program (its cache key: the optimizer and the
    schedule count by what they compute, ``accel._fingerprint``, so an equal optax
    expression written again reuses the program)."""

    optimizer: Any  # a name, or a user's optax.GradientTransformation
    schedule: Any  # a callable learning rate, or 0.0 (then the rate is a traced scalar)
    loss: str
    fit_intercept: bool
    n: int
    d: int
    batch_size: int | None  # None: full batch
    has_tol: bool
    data_dtype: Any
    param_dtype: Any
    device: Any  # the jax.Device the program runs on (None: JAX's default)
    row_blocks: int = 1  # of the full-data gradient, see _model.rmatvec
    in_place: bool = False  # X arrives as _inplace.InPlaceRows (full batch, NumPy X, CPU)
    outputs: int = 0  # 0: one output (w (d,)); k: w (k, d), y (n, k)
    alpha: float = 0.0  # the L2 penalty
    weighted: bool = False  # the data hold sample weights 'sw'

    def __post_init__(self) -> None:  # the key, once (a fit looks it up several times)
        optimizer, schedule, *rest = (getattr(self, f.name) for f in dataclasses.fields(self))
        object.__setattr__(self, "_key", (fingerprint(optimizer), fingerprint(schedule), *rest))

    def __hash__(self) -> int:
        return hash(self._key)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key == other._key  # type: ignore[attr-defined]

    @property
    def layout(self) -> ParamLayout:
        # the table's rules are element-wise: one vector; a user's transformation: its pytree
        return ParamLayout(self.d, flat=isinstance(self.optimizer, str), k=self.outputs)

    @property
    def line_search(self) -> bool:
        return self.optimizer in engine.LINESEARCH_OPTIMIZERS


class Program(NamedTuple):
    """A compiled (or, with ``use_jit=False``, eager) program and what a fit needs around it."""

    call: Callable[..., Any]  # (carry, data, key_data, hyper, stop) -> (carry, history, (w, b))
    loop: LoopSpec
    carry0: Any  # the carry at step 0, NumPy (optimizer state: zeros the program replaces)
    param_dtype: Any
    layout: ParamLayout  # how the carry holds the parameters

    def fresh_carry(self) -> Any:
        """A new copy of the carry at step 0 (NumPy; the program builds the optimizer state)."""
        return jax.tree.map(np.copy, self.carry0)

    def hyper(self, values: dict[str, Any]) -> dict[str, np.ndarray]:
        """The traced scalars (learning rate, hyperparameters, tol) as NumPy scalars."""
        return {k: np.asarray(v, self.param_dtype) for k, v in values.items()}


def _parts(spec: Spec):
    lay = _plan.Layout(n_rows=spec.n, n_shards=1, group_devices=1,
                       batch_size=spec.batch_size or spec.n, accum=1)  # fmt: skip
    loop = LoopSpec(
        n_rows=spec.n,
        steps_per_epoch=lay.steps_per_epoch,
        order_block=0 if spec.batch_size is None else _orders.order_block(spec.n),
        hist_cap=HIST_CAP,
        has_tol=spec.has_tol,
        partial_epochs=False,
        # a diverged fit runs again up to the epoch before (the estimator); L-BFGS undoes an
        # epoch that raised its loss in the program (its stopping rules, LoopSpec.quasi_newton)
        keep_last_good=spec.line_search,
        quasi_newton=spec.line_search,
        record_skipped=False,  # no step is ever skipped here
    )
    layout = spec.layout
    size = int(np.prod(layout.shapes[0])) + int(np.prod(layout.shapes[1]))
    make_tx = engine.transformation_factory(
        spec.optimizer, spec.schedule, spec.fit_intercept, size if layout.flat else None,
        max(1, spec.outputs),
    )  # fmt: skip
    parts = single_device_parts(
        layout, spec.loss, spec.fit_intercept, spec.param_dtype, n=spec.n,
        batch_size=spec.batch_size, make_tx=make_tx, line_search=spec.line_search,
        row_blocks=spec.row_blocks, alpha=spec.alpha,
    )  # fmt: skip
    return loop, parts


def _wrap(loop: LoopSpec, parts, layout: ParamLayout) -> Callable[..., Any]:
    run = build_loop(loop, parts)

    def program(carry, data, key_data, hyper, stop):
        tx = parts.make_tx(hyper)
        train = carry.train
        opt = jax.lax.cond(carry.started, lambda: train.opt_state, lambda: tx.init(train.params))
        carry, hist = run(carry._replace(train=train._replace(opt_state=opt)), data, key_data, hyper, stop)
        tree = layout.tree(carry.train.params)
        return carry, hist, (tree["w"], tree["b"])

    return program


def _carry0(spec: Spec, loop: LoopSpec, parts) -> Any:
    """The NumPy carry at step 0; the optimizer state is zeros of ``tx.init``'s shapes."""
    params = spec.layout.zeros(spec.param_dtype, np)
    tx = parts.make_tx({"learning_rate": 1.0, **dict.fromkeys(engine.ALL_HYPERPARAMETERS, 0.5)})
    opt = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), jax.eval_shape(tx.init, params))
    train = TrainState(params, opt, (), np.int32(-1), np.int32(0))
    grad = jax.tree.map(np.zeros_like, params)
    return init_carry(loop, train, grad, spec.param_dtype)


def _lower_args(spec: Spec, loop: LoopSpec, carry0: Any) -> tuple:
    """Shapes of every argument, placed on ``spec.device``."""
    sharding = None if spec.device is None else jax.sharding.SingleDeviceSharding(spec.device)

    def struct(a, dtype=None):
        return jax.ShapeDtypeStruct(np.shape(a), dtype or np.asarray(a).dtype, sharding=sharding)

    if spec.in_place:
        X = _inplace.shapes(spec.n, spec.d, spec.data_dtype, spec.row_blocks, sharding)
    else:
        X = struct(np.empty((spec.n, spec.d), np.int8), spec.data_dtype)
    y_shape = (spec.n,) if spec.outputs == 0 else (spec.n, spec.outputs)
    data = {"X": X, "y": struct(np.empty(y_shape, np.int8), spec.data_dtype)}
    if spec.weighted:
        data["sw"] = struct(np.empty(spec.n, np.int8), spec.param_dtype)
    key = None if loop.order_block == 0 else struct(np.zeros(2, np.uint32))
    names = ("learning_rate", "tol", *_own_names(spec))
    hyper = {k: struct(np.float32(0), spec.param_dtype) for k in names}
    return jax.tree.map(struct, carry0), data, key, hyper, struct(np.int32(0))


def get_program(spec: Spec, use_jit: bool = True) -> tuple[Program, float]:
    """``(program, compile seconds)`` for ``spec`` (0.0 when cached, in the library's one
    cache ``accel._cache``; always 0.0 eagerly)."""
    key = ("JAXOptimizer", spec, use_jit, jax.config.jax_enable_x64)
    timed: list[float] = []
    prog, _ = _cache.cached(key, lambda: _build(spec, use_jit, timed))
    return prog, timed[0] if timed else 0.0


def _build(spec: Spec, use_jit: bool, timed: list[float]) -> Program:
    loop, parts = _parts(spec)
    carry0 = _carry0(spec, loop, parts)
    program = _wrap(loop, parts, spec.layout)
    t0 = time.perf_counter()
    if use_jit:
        args = _lower_args(spec, loop, carry0)
        call = jax.jit(program, donate_argnums=0).lower(*args).compile()
    else:

        def call(*args):
            with jax.disable_jit():
                return program(*args)

    timed.append((time.perf_counter() - t0) if use_jit else 0.0)
    return Program(call, loop, carry0, spec.param_dtype, spec.layout)


def _own_names(spec: Spec) -> tuple[str, ...]:
    if not isinstance(spec.optimizer, str):
        return ()
    return tuple(engine.check_hyperparameters(spec.optimizer))

