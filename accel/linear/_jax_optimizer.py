"""``JAXOptimizer``: the linear model trained on one device by the one training program.

The whole loop (all epochs, all mini-batches, the per-epoch evaluation, the divergence and
``tol`` rules, the history) is ONE XLA program: ``accel.linear._program.build_loop`` with
the data-parallel step of ``_step`` on one device (``ParallelTrainer`` runs the same step
sharded over its devices). The program is compiled once per optimizer, loss, data shape,
dtype, ``batch_size``, device and whether ``tol`` is set: learning rate, hyperparameter
values, ``tol``, ``random_state`` and the number of epochs are arguments, so changing them
does not recompile.

The numerical contract is the NumPy reference's (``optimizers``; shared DESIGN.md): zero
init, history at init and after each epoch, mini-batch order ``accel._orders`` (drawn in the
program for a block of epochs at a time), last partial batch kept (padded to the batch size
with zero-weight rows), a full-batch step reusing the gradient of the previous evaluation
(two matrix-vector products per epoch).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from accel import _checks, _keys, _orders, _plan
from accel.data import is_source_like
from accel.linear import _data, _jax_stream, _model, _optax
from accel.linear._estimator import LinearEstimator
from accel.linear._objective import LinearObjective
from accel.linear._program import HIST_CAP, LoopSpec, TrainState, build_loop, init_carry
from accel.linear._step import data_parallel_parts, one_device

__all__ = ["JAXOptimizer"]

_DTYPES = ("float32", "float64", "bfloat16")
# with progress=True the loop is dispatched in at most this many chunks of epochs
_PROGRESS_UPDATES = 100


@dataclass(frozen=True)
class _Spec:
    """Everything static about one compiled program (its cache key)."""

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
    device: Any  # the jax.Device the program runs on
    row_blocks: int = 1  # of the full-data gradient, see _model.rmatvec


def _parts(spec: _Spec):
    """The loop specification and the one-device data-parallel parts for ``spec``."""
    lay = _plan.Layout(
        n_rows=spec.n, n_shards=1, group_devices=1,
        batch_size=spec.n if spec.batch_size is None else spec.batch_size, accum=1,
    )  # fmt: skip
    loop = LoopSpec(
        n_rows=spec.n,
        steps_per_epoch=lay.steps_per_epoch,
        order_block=0 if spec.batch_size is None else _orders.order_block(spec.n),
        hist_cap=HIST_CAP,
        has_tol=spec.has_tol,
        partial_epochs=False,
    )
    params = {"w": jnp.zeros(spec.d, spec.param_dtype), "b": jnp.zeros((), spec.param_dtype)}
    parts = data_parallel_parts(
        lay,
        LinearObjective(spec.loss, spec.fit_intercept),
        make_tx=_optax.transformation_factory(spec.optimizer, spec.schedule, spec.fit_intercept),
        compute_dtype=spec.param_dtype,
        loss_scale=1.0,
        nan_policy=None,
        **one_device(),
        params_template=params,
        row_blocks=spec.row_blocks,
    )
    return loop, parts


# compiled programs, keyed by (spec, x64): a second fit with the same spec reuses them
_COMPILED: dict[tuple, Any] = {}
_MAX_COMPILED = 64


def _compiled(spec: _Spec, args: tuple) -> tuple[Any, float]:
    """``(executable, compile seconds)`` of the loop for ``spec`` (0.0 when cached)."""
    key = (spec, jax.config.jax_enable_x64)
    if key in _COMPILED:
        return _COMPILED[key], 0.0
    loop, parts = _parts(spec)
    t0 = time.perf_counter()
    exe = jax.jit(build_loop(loop, parts), donate_argnums=0).lower(*args).compile()
    if len(_COMPILED) >= _MAX_COMPILED:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[key] = exe
    return exe, time.perf_counter() - t0


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


def _check_dtype(dtype: object) -> str:
    try:  # (jnp.dtype(None) is float64: refused like any other non-name)
        name = None if dtype is None else jnp.dtype(dtype).name  # type: ignore[arg-type]
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    return name


class JAXOptimizer(LinearEstimator):
    """Linear model (``z = X @ w + b``) trained by an optax optimizer in one compiled XLA loop.

    Args:
        optimizer_type: ``'sgd'``, ``'momentum'``, ``'nesterov'``, ``'adagrad'``, ``'rmsprop'``,
            ``'adam'``, ``'adamw'`` (the NumPy classes' rules, hyperparameters and defaults,
            see ``accel.linear.HYPERPARAMETERS``) or any ``optax.GradientTransformation``
            (it carries its own learning rate; ``learning_rate`` is then not used).
        learning_rate: a number > 0 or an optax schedule (step -> rate).
        epochs: maximum number of epochs, ``>= 1``.
        batch_size: rows per step, ``None`` (or ``>= n``) for full batch. The last partial
            batch is kept: it is padded to ``batch_size`` with rows of weight 0.
        loss: ``'mse'`` (``1/(2n) Σ (z - y)²``, a regressor) or ``'logistic'`` (a binary
            classifier: any two labels, ``classes_[1]`` is the positive class).
        fit_intercept: learn the intercept ``b`` (else it stays 0).
        tol: stop after an epoch whose relative loss decrease is ``<= tol`` (``converged_``);
            a ``ConvergenceWarning`` when ``epochs`` run out first.
        random_state: seed of the mini-batch order (integer in ``[0, 2**64)``); the order of
            epoch ``e`` is ``accel._orders.epoch_permutation(random_state, e, n)``.
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
    ``converged_``, ``diverged_``, ``n_features_in_``, ``classes_`` (logistic),
    ``compile_time_`` (seconds this fit spent compiling; 0.0 when the program was cached);
    ``params_`` holds the parameters ``{'w', 'b'}`` as JAX arrays on the device.

    Stopping: training stops early at the ``tol`` rule or the divergence rule of
    ``accel.linear._stopping`` (a non-finite loss, or one above ``1e8`` times the initial
    loss): the last good parameters are kept, ``diverged_`` is set and a
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
        unknown = sorted(set(hyperparameters) - _optax.ALL_HYPERPARAMETERS)
        if unknown:
            raise TypeError(
                f"unknown hyperparameter {', '.join(map(repr, unknown))}; "
                f"known ones are {sorted(_optax.ALL_HYPERPARAMETERS)}"
            )
        self._optimizer_hyperparameters = dict(hyperparameters)

    # ----- parameters -------------------------------------------------------------------------

    def _check_params(self, params: dict[str, Any]) -> dict[str, float]:
        """Validate a parameter set; return the optimizer's full hyperparameters."""
        names = set(self._get_param_names())
        hyper = {k: v for k, v in params.items() if k not in names}
        optimizer = params["optimizer_type"]
        if isinstance(optimizer, optax.GradientTransformation):
            _optax.make_optimizer(optimizer, **hyper)  # refuses hyperparameters
            full = {}
        else:
            _optax.check_optimizer_name(optimizer, "optimizer_type")
            full = _optax.check_hyperparameters(optimizer, **hyper)
            _data.check_learning_rate(params["learning_rate"])
        _checks.check_int(params["epochs"], "epochs", minimum=1)
        _checks.check_int(params["batch_size"], "batch_size", minimum=1, allow_none=True)
        _data.check_loss(params["loss"])
        _checks.check_bool(params["fit_intercept"], "fit_intercept")
        _checks.check_real(params["tol"], "tol", minimum=0.0, allow_none=True)
        _checks.check_seed(params["random_state"], "random_state")
        _checks.check_bool(params["use_jit"], "use_jit")
        _check_dtype(params["dtype"])
        _checks.check_bool(params["progress"], "progress")
        _resolve_device(params["device"])
        return full

    def _dtypes(self) -> tuple[Any, Any]:
        name = _check_dtype(self.dtype)
        data = jnp.dtype(name)
        return data, (jnp.dtype(jnp.float32) if name == "bfloat16" else data)

    # ----- training ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> JAXOptimizer:
        """Train from zero parameters; returns ``self``. Accepts NumPy or JAX arrays, or a
        data source (``accel.data``; paths of ``.npy`` files, memory maps): the data are then
        streamed through the input pipeline (``_jax_stream``), never loaded whole."""
        hyper = self._check_params(self.get_params())
        data_dtype, pdt = self._dtypes()
        with jax.enable_x64(pdt == jnp.float64):
            if is_source_like(X):
                device = _resolve_device(self.device) or jax.devices()[0]
                return _jax_stream.fit(self, X, y, hyper, data_dtype, pdt, device)
            return self._fit(X, y, hyper, data_dtype, pdt)

    def _fit(self, X: Any, y: Any, hyper: dict[str, float], data_dtype: Any, pdt: Any) -> JAXOptimizer:
        X, y = self._fit_inputs(X, y)
        device = _resolve_device(self.device)
        device = device if device is not None else jax.devices()[0]
        n, d = X.shape
        batch_size = self.batch_size if self.batch_size is not None and self.batch_size < n else None
        row_blocks = _model.row_blocks_for(n, d) if device.platform == "cpu" else 1
        spec = _Spec(
            optimizer=self.optimizer_type,
            schedule=self.learning_rate if callable(self.learning_rate) else 0.0,
            loss=self.loss,
            fit_intercept=self.fit_intercept,
            n=n,
            d=d,
            batch_size=batch_size,
            has_tol=self.tol is not None,
            data_dtype=data_dtype,
            param_dtype=pdt,
            device=device,
            row_blocks=row_blocks,
        )
        put = functools.partial(jax.device_put, device=device)
        data = {"X": put(jnp.asarray(X, data_dtype)), "y": put(jnp.asarray(y, data_dtype))}
        rate = 0.0 if callable(self.learning_rate) else self.learning_rate
        values = {"learning_rate": rate, "tol": 0.0 if self.tol is None else self.tol, **hyper}
        hyper_arrays = {k: put(jnp.asarray(v, pdt)) for k, v in values.items()}
        key = put(jax.random.key_data(_keys.seed_key(self.random_state)))

        loop, parts = _parts(spec)
        params = {"w": put(jnp.zeros(d, pdt)), "b": put(jnp.zeros((), pdt))}
        train = TrainState.fresh(params, parts.make_tx(hyper_arrays).init(params))
        carry = jax.device_put(init_carry(loop, train, parts.grad_template(params), pdt), device)
        args = (data, key, hyper_arrays)

        self.compile_time_ = 0.0
        if self.use_jit:
            run, self.compile_time_ = _compiled(spec, (carry, *args, np.int32(0)))
        else:
            eager = build_loop(loop, parts)

            def run(*a):
                with jax.disable_jit():
                    return eager(*a)

        S = loop.steps_per_epoch
        chunk = HIST_CAP
        if self.progress:
            chunk = min(chunk, max(1, math.ceil(self.epochs / _PROGRESS_UPDATES)))
        bar = tqdm(total=self.epochs, unit="epoch", desc=self._label()) if self.progress else None
        histories, done = [], 0
        try:
            while done < self.epochs:
                stop = min(done + chunk, self.epochs)
                carry, hist = run(carry, *args, np.int32(stop * S))
                histories.append((hist, stop - done))
                if bar is not None:  # one host sync per chunk, none per step
                    now = int(carry.step) // S
                    bar.update(now - done)
                    bar.set_postfix(loss=f"{float(carry.loss):.4g}", refresh=False)
                    if now < stop:
                        break  # stopped early: tol or divergence
                done = stop
        finally:
            if bar is not None:
                bar.close()
        k = int(carry.step) // S
        first = histories[0][0]
        losses = np.concatenate([[np.asarray(first.loss_init)]] + [np.asarray(h.loss)[:m] for h, m in histories])
        norms = np.concatenate([[np.asarray(first.grad_norm_init)]] + [np.asarray(h.grad_norm)[:m] for h, m in histories])
        self.params_ = carry.train.params
        self._store_result(
            np.asarray(carry.train.params["w"]),
            np.asarray(carry.train.params["b"]),
            {"loss": losses[: k + 1], "grad_norm": norms[: k + 1]},
            converged=bool(carry.converged),
            diverged=bool(carry.diverged),
            tol=self.tol,
        )
        return self

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


_decide = jax.jit(functools.partial(_model.decision_function, xp=jnp))
