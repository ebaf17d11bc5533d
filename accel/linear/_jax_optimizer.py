"""``JAXOptimizer``: the whole training loop of the linear model as one XLA program, on optax.

The loop (all epochs, all mini-batches, the per-epoch evaluation, the divergence and ``tol``
checks) is a ``lax.while_loop`` over epochs with a ``lax.scan`` over mini-batches inside,
compiled once per configuration and data shape. Learning rate, hyperparameter values, ``tol``
and ``random_state`` are traced arguments, so changing them does not recompile either.

The numerical contract is the NumPy reference's (``optimizers``; shared DESIGN.md): zero
init, history at init and after each epoch, mini-batch order
``_keys.permutation(_keys.epoch_key(_keys.seed_key(random_state), epoch), n)`` (bit-for-bit
the order of ``_keys.epoch_permutation``; drawn in the program for a block of epochs at a
time under ``vmap``), last partial batch kept (padded to the batch
size with zero-weight rows), a full-batch step reusing the gradient of the previous
evaluation (two matrix-vector products per epoch).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from accel import _checks, _keys, _orders
from accel.linear import _data, _model, _optax
from accel.linear._estimator import LinearEstimatorMixin, warn_diverged

__all__ = ["JAXOptimizer"]

_DTYPES = ("float32", "float64", "bfloat16")
_ALL_HYPERPARAMETERS = frozenset(k for h in _optax.HYPERPARAMETERS.values() for k in h)
# with progress=True the loop is dispatched in at most this many chunks of epochs
_PROGRESS_UPDATES = 100


@dataclass(frozen=True)
class _Spec:
    """Everything static about one compiled program (its cache key)."""

    optimizer: Any  # a name, or a user's optax.GradientTransformation
    schedule: Any  # a callable learning rate, or None (then the rate is a traced scalar)
    loss: str
    fit_intercept: bool
    n: int
    d: int
    batch_size: int | None  # None: full batch
    epochs: int
    has_tol: bool
    data_dtype: Any
    param_dtype: Any
    row_blocks: int = 1  # of the full-data gradient, see _model.rmatvec


class _Carry(NamedTuple):
    epoch: jax.Array  # epochs completed (int32)
    params: dict[str, jax.Array]  # {'w': (d,), 'b': ()}
    opt_state: Any
    loss: jax.Array  # full-data loss at params
    grad: dict[str, jax.Array]  # full-data gradient at params
    loss_hist: jax.Array  # (epochs + 1,)
    gnorm_hist: jax.Array  # (epochs + 1,)
    converged: jax.Array
    diverged: jax.Array
    orders: jax.Array  # row orders of a block of epochs (compiled mini-batch loop), else (0,)


def _transformation(spec: _Spec, lr: jax.Array, hyper: dict[str, jax.Array]) -> optax.GradientTransformation:
    if not isinstance(spec.optimizer, str):
        return spec.optimizer
    rate = spec.schedule if spec.schedule is not None else lr
    return _optax.build_transformation(spec.optimizer, rate, spec.fit_intercept, hyper)


def _functions(spec: _Spec) -> tuple[Any, Any]:
    """``(init, run)`` for ``spec``, not jitted (see ``run``'s ``seed`` for ``use_jit=False``)."""
    full_batch = spec.batch_size is None
    loss, fit_intercept, pdt = spec.loss, spec.fit_intercept, spec.param_dtype
    # Row orders are drawn for a block of epochs at once (vmap of the same derivation: the
    # same bits): XLA:CPU's sort has a large fixed cost per call, which dominates a small
    # epoch. At most 128 epochs and ~1 MiB per block.
    order_block = 0 if full_batch else max(1, min(spec.epochs, 128, (1 << 18) // spec.n))

    def evaluate(X, y, params, weight=None, row_blocks=1):
        value, gw, gb = _model.loss_and_grad(
            X, y, params["w"], params["b"], loss=loss, fit_intercept=fit_intercept,
            weight=weight, row_blocks=row_blocks, xp=jnp,
        )  # fmt: skip
        return value, {"w": gw, "b": gb}

    def init(X, y, lr, hyper):
        # eager: the evaluation is compiled once per loss and shape for every optimizer
        # (it is not part of the per-optimizer program), the rest is a few tiny arrays
        params = {"w": jnp.zeros(spec.d, pdt), "b": jnp.zeros((), pdt)}
        opt_state = _transformation(spec, lr, hyper).init(params)
        value, grad_w, grad_b = _initial_evaluation(
            X, y, params["w"], params["b"], loss, fit_intercept, spec.row_blocks
        )
        hist = jnp.zeros(spec.epochs + 1, pdt)
        return _Carry(
            epoch=jnp.zeros((), jnp.int32),
            params=params,
            opt_state=opt_state,
            loss=value,
            grad={"w": grad_w, "b": grad_b},
            loss_hist=hist.at[0].set(value),
            gnorm_hist=hist.at[0].set(_model.grad_norm(grad_w, grad_b, jnp)),
            converged=jnp.zeros((), bool),
            diverged=~jnp.isfinite(value),
            orders=jnp.zeros((order_block, spec.n) if order_block else (0,), jnp.int32),
        )

    def make_epoch(tx, X, y, tol, order_of):
        """One epoch as a function of the carry; ``order_of(carry)`` gives
        ``(row order of the epoch, new order buffer)``."""

        def step(params, opt_state, grad):
            updates, opt_state = tx.update(grad, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        if not full_batch:
            n, bs = spec.n, spec.batch_size
            n_batches = -(-n // bs)
            pad = n_batches * bs - n
            # 0/1 row weights of the padded last batch (None when n % batch_size == 0)
            mask = None
            if pad:
                mask = (jnp.arange(n_batches * bs) < n).astype(pdt).reshape(n_batches, bs)

            def batch(state, xs):
                params, opt_state = state
                rows, weight = xs
                _, grad = evaluate(X[rows], y[rows], params, weight)
                return step(params, opt_state, grad), None

        def epoch(c: _Carry) -> _Carry:
            orders = c.orders
            if full_batch:
                params, opt_state = step(c.params, c.opt_state, c.grad)
            else:
                order, orders = order_of(c)
                if pad:
                    order = jnp.concatenate([order, jnp.zeros(pad, order.dtype)])
                (params, opt_state), _ = jax.lax.scan(
                    batch, (c.params, c.opt_state), (order.reshape(n_batches, bs), mask)
                )
            value, grad = evaluate(X, y, params, row_blocks=spec.row_blocks)
            finite = jnp.isfinite(value)
            e = c.epoch + 1
            converged = jnp.zeros((), bool)
            if spec.has_tol:
                converged = c.loss - value <= tol * jnp.abs(c.loss)
            # a non-finite loss discards the epoch: keep the last finite state and flag it.
            # The histories need no selection: entry e is beyond the kept epoch count then.
            keep = functools.partial(jax.tree.map, lambda a, b: jnp.where(finite, a, b))
            return _Carry(
                epoch=jnp.where(finite, e, c.epoch),
                params=keep(params, c.params),
                opt_state=keep(opt_state, c.opt_state),
                loss=jnp.where(finite, value, c.loss),
                grad=keep(grad, c.grad),
                loss_hist=c.loss_hist.at[e].set(value),
                gnorm_hist=c.gnorm_hist.at[e].set(_model.grad_norm(grad["w"], grad["b"], jnp)),
                converged=converged & finite,
                diverged=~finite,
                orders=orders,
            )

        return epoch

    def going(c: _Carry, stop_epoch: jax.Array) -> jax.Array:
        return (c.epoch < stop_epoch) & ~c.converged & ~c.diverged

    def run(carry, X, y, key, lr, hyper, tol, stop_epoch, seed=None):
        """Epochs until ``stop_epoch``, ``tol`` or divergence. ``seed=None``: the compiled
        loop (``lax.while_loop``, row order derived from ``key`` in the program); an int
        ``seed``: a Python loop run eagerly, row order from the host's
        ``_keys.epoch_permutation(seed, epoch, n)`` (the same bits)."""
        tx = _transformation(spec, lr, hyper)
        if seed is None:

            def block(first):
                return _orders.epoch_orders(key, first, spec.n, order_block)

            def order_of(c):
                i = c.epoch % order_block
                orders = jax.lax.cond(i == 0, block, lambda _: c.orders, c.epoch)
                return orders[i], orders

            epoch = make_epoch(tx, X, y, tol, order_of)
            return jax.lax.while_loop(lambda c: going(c, stop_epoch), epoch, carry)

        def host_order(c):
            order = _keys.epoch_permutation(seed, int(c.epoch), spec.n)
            return jnp.asarray(order), c.orders

        epoch = make_epoch(tx, X, y, tol, host_order)
        with jax.disable_jit():
            while bool(going(carry, stop_epoch)):
                carry = epoch(carry)
        return carry

    return init, run


@functools.partial(jax.jit, static_argnames=("loss", "fit_intercept", "row_blocks"))
def _initial_evaluation(X, y, w, b, loss, fit_intercept, row_blocks):
    return _model.loss_and_grad(
        X, y, w, b, loss=loss, fit_intercept=fit_intercept, row_blocks=row_blocks, xp=jnp
    )


@functools.lru_cache(maxsize=64)
def _compiled(spec: _Spec) -> tuple[Any, Any]:
    """``(init, jitted run)`` per spec: a second fit with the same spec reuses the executable."""
    init, run = _functions(spec)
    return init, jax.jit(run, donate_argnums=0)


_decide = jax.jit(functools.partial(_model.decision_function, xp=jnp))


def _resolve_device(device: Any) -> jax.Device | None:
    if device is None or isinstance(device, jax.Device):
        return device
    if isinstance(device, str):
        kind, _, index = device.partition(":")
        try:
            devices = jax.devices(kind)
        except RuntimeError as err:
            raise ValueError(f"device {device!r} is not available: {err}") from None
        i = int(index) if index.isdigit() else 0 if not index else -1
        if not 0 <= i < len(devices):
            raise ValueError(f"device {device!r}: there are {len(devices)} {kind} devices")
        return devices[i]
    raise TypeError(f"device must be None, a jax.Device or a string like 'cpu' or 'gpu:0', got {type(device).__name__}")


def _platform(device: jax.Device | None) -> str:
    return (device if device is not None else jax.devices()[0]).platform


def _check_dtype(dtype: object) -> str:
    try:
        name = jnp.dtype(dtype).name  # type: ignore[arg-type]
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    return name


class JAXOptimizer(LinearEstimatorMixin):
    """Linear model (``z = X @ w + b``) trained by an optax optimizer in one compiled XLA loop.

    Args:
        optimizer_type: ``'sgd'``, ``'momentum'``, ``'nesterov'``, ``'adagrad'``, ``'rmsprop'``,
            ``'adam'``, ``'adamw'`` (the NumPy classes' rules, hyperparameters and defaults,
            see ``accel.linear._optax.HYPERPARAMETERS``) or any ``optax.GradientTransformation``
            (it carries its own learning rate; ``learning_rate`` is then not used).
        learning_rate: a number > 0 or an optax schedule (step -> rate).
        epochs: maximum number of epochs, ``>= 1``.
        batch_size: rows per step, ``None`` (or ``>= n``) for full batch. The last partial
            batch is kept: it is padded to ``batch_size`` with rows of weight 0.
        loss: ``'mse'`` (``1/(2n) Σ (z - y)²``) or ``'logistic'`` (labels in {0, 1}).
        fit_intercept: learn the intercept ``b`` (else it stays 0).
        tol: stop after an epoch whose relative loss decrease is ``<= tol`` (``converged_``).
        random_state: seed of the mini-batch order (integer in ``[0, 2**64)``); the order of
            epoch ``e`` is ``accel._keys.epoch_permutation(random_state, e, n)``.
        use_jit: ``True`` compiles the loop; ``False`` runs the same code eagerly (debugging).
        dtype: ``'float32'`` (default), ``'float64'`` (JAX's x64 mode is switched on only
            inside ``fit``/``predict``, never for the caller) or ``'bfloat16'`` (data stored
            in bfloat16, parameters, optimizer state and accumulation in float32).
        progress: show a tqdm bar (notebook-aware), updated per chunk of epochs (the loop is
            dispatched in at most 100 chunks; each chunk is the same compiled program).
        device: ``None`` (JAX's default), a ``jax.Device`` or a string such as ``'cpu'``,
            ``'gpu'`` or ``'gpu:1'``.
        **hyperparameters: the optimizer's own (``momentum``, ``b1``, ``b2``, ``eps``,
            ``initial_accumulator_value``, ``decay``, ``weight_decay``).

    Attributes (after ``fit``, NumPy on the host): ``coef_`` (d,), ``intercept_``,
    ``history_`` (``'loss'``, ``'grad_norm'``: at init and after each epoch), ``n_epochs_``,
    ``converged_``, ``diverged_``; ``params_`` holds the parameters ``{'w', 'b'}`` as JAX
    arrays on the device.

    Compilation: one program per optimizer, loss, data shape, dtype, ``batch_size``, ``epochs``
    and whether ``tol`` is set; a schedule or a ready-made transformation is part of that key
    by identity, so pass the same object again to reuse the program.

    A non-finite loss (too large a learning rate) is detected inside the compiled loop: the
    loop stops, the last finite parameters are kept, ``diverged_`` is set and a
    ``DivergenceWarning`` is emitted.

    Example:
        >>> import numpy as np
        >>> from accel import JAXOptimizer
        >>> X = np.random.default_rng(0).standard_normal((200, 3))
        >>> y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
        >>> model = JAXOptimizer("adam", learning_rate=0.05, epochs=500).fit(X, y)
        >>> np.round(model.coef_, 2).tolist()
        [1.0, -2.0, 0.5]
    """

    def __init__(
        self,
        optimizer_type: Any = "adam",
        learning_rate: Any = 0.01,
        epochs: int = 1000,
        batch_size: int | None = None,
        loss: str = "mse",
        fit_intercept: bool = True,
        tol: float | None = None,
        random_state: int = 0,
        use_jit: bool = True,
        dtype: str = "float32",
        progress: bool = False,
        device: Any = None,
        **hyperparameters: float,
    ) -> None:
        self.optimizer_type = optimizer_type
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.random_state = random_state
        self.use_jit = use_jit
        self.dtype = dtype
        self.progress = progress
        self.device = device
        unknown = sorted(set(hyperparameters) - _ALL_HYPERPARAMETERS)
        if unknown:
            raise TypeError(
                f"unknown hyperparameter {', '.join(map(repr, unknown))}; "
                f"known ones are {sorted(_ALL_HYPERPARAMETERS)}"
            )
        self.hyperparameters = dict(hyperparameters)

    # ----- sklearn parameters ---------------------------------------------------------------

    def _extra_params(self) -> dict[str, Any]:
        return dict(self.hyperparameters)

    def _set_extra_param(self, key: str, value: Any) -> bool:
        if key not in _ALL_HYPERPARAMETERS:
            return False
        self.hyperparameters[key] = value
        return True

    def _check_params(self) -> dict[str, float]:
        """Validate everything; return the optimizer's full hyperparameters (defaults filled)."""
        if isinstance(self.optimizer_type, optax.GradientTransformation):
            _optax.make_optimizer(self.optimizer_type, **self.hyperparameters)  # refuses hyper
            hyper = {}
        else:
            hyper = _optax.check_hyperparameters(self.optimizer_type, **self.hyperparameters)
            _data.check_learning_rate(self.learning_rate)
        _checks.check_int(self.epochs, "epochs", minimum=1)
        _checks.check_int(self.batch_size, "batch_size", minimum=1, allow_none=True)
        _data.check_loss(self.loss)
        _checks.check_bool(self.fit_intercept, "fit_intercept")
        _checks.check_real(self.tol, "tol", minimum=0.0, allow_none=True)
        _keys.check_seed(self.random_state, "random_state")
        _checks.check_bool(self.use_jit, "use_jit")
        _check_dtype(self.dtype)
        _checks.check_bool(self.progress, "progress")
        _resolve_device(self.device)
        return hyper

    # ----- training ---------------------------------------------------------------------------

    def _dtypes(self) -> tuple[Any, Any]:
        name = _check_dtype(self.dtype)
        data = jnp.dtype(name)
        return data, (jnp.dtype(jnp.float32) if name == "bfloat16" else data)

    def fit(self, X: Any, y: Any) -> JAXOptimizer:
        """Train from zero parameters; returns ``self``. Accepts NumPy or JAX arrays."""
        hyper = self._check_params()
        data_dtype, pdt = self._dtypes()
        with jax.enable_x64(pdt == jnp.float64):
            return self._fit(X, y, hyper, data_dtype, pdt)

    def _fit(self, X: Any, y: Any, hyper: dict[str, float], data_dtype: Any, pdt: Any) -> JAXOptimizer:
        X, y = _data.check_X_y(X, y, self.loss)
        device = _resolve_device(self.device)
        n, d = X.shape
        batch_size = self.batch_size if self.batch_size is not None and self.batch_size < n else None
        spec = _Spec(
            optimizer=self.optimizer_type,
            schedule=self.learning_rate if callable(self.learning_rate) else None,
            loss=self.loss,
            fit_intercept=self.fit_intercept,
            n=n,
            d=d,
            batch_size=batch_size,
            epochs=self.epochs,
            has_tol=self.tol is not None,
            data_dtype=data_dtype,
            param_dtype=pdt,
            row_blocks=_model.row_blocks_for(n, d) if _platform(device) == "cpu" else 1,
        )
        put = functools.partial(jax.device_put, device=device)
        X = put(jnp.asarray(X, data_dtype))
        y = put(jnp.asarray(y, data_dtype))
        lr = put(jnp.asarray(0.0 if callable(self.learning_rate) else self.learning_rate, pdt))
        hyper_arrays = {k: put(jnp.asarray(v, pdt)) for k, v in hyper.items()}
        tol = put(jnp.asarray(0.0 if self.tol is None else self.tol, pdt))
        key = put(_keys.seed_key(self.random_state))

        if self.use_jit:
            init, run = _compiled(spec)
        else:
            init, run = _functions(spec)
            run = functools.partial(run, seed=self.random_state)
        carry = init(X, y, lr, hyper_arrays)
        if not self.progress:
            carry = run(carry, X, y, key, lr, hyper_arrays, tol, jnp.int32(self.epochs))
        else:
            carry = self._run_with_progress(run, carry, (X, y, key, lr, hyper_arrays, tol))
        k = int(carry.epoch)
        diverged = bool(carry.diverged)
        if diverged:
            warn_diverged(type(self).__name__, k)
        self.params_ = carry.params
        self._store_result(
            np.asarray(carry.params["w"]),
            np.asarray(carry.params["b"]),
            np.asarray(carry.loss_hist[: k + 1]),
            np.asarray(carry.gnorm_hist[: k + 1]),
            converged=bool(carry.converged),
            diverged=diverged,
        )
        return self

    def _run_with_progress(self, run: Any, carry: _Carry, args: tuple) -> _Carry:
        chunk = max(1, math.ceil(self.epochs / _PROGRESS_UPDATES))
        done = 0
        with tqdm(total=self.epochs, unit="epoch", desc=f"{self._label()}") as bar:
            while done < self.epochs:
                carry = run(carry, *args, jnp.int32(min(done + chunk, self.epochs)))
                now = int(carry.epoch)  # one host sync per chunk, none per step
                bar.update(now - done)
                bar.set_postfix(loss=f"{float(carry.loss):.4g}", refresh=False)
                if now < min(done + chunk, self.epochs):  # stopped early: tol or divergence
                    break
                done = now
        return carry

    def _label(self) -> str:
        name = self.optimizer_type if isinstance(self.optimizer_type, str) else "optax"
        return f"JAXOptimizer({name})"

    # ----- prediction -------------------------------------------------------------------------

    def _decision(self, X: Any) -> Any:
        data_dtype, pdt = self._dtypes()
        as_numpy = not isinstance(X, jax.Array)
        w, b = self.params_["w"], self.params_["b"]
        with jax.enable_x64(pdt == jnp.float64):
            X = jax.device_put(jnp.asarray(X, data_dtype), next(iter(w.devices())))
            z = _decide(X, w, b)
            return np.asarray(z) if as_numpy else z

