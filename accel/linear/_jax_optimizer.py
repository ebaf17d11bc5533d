"""``JAXOptimizer``: the linear model trained on one device by the one training program.

The whole loop (all epochs, all mini-batches, the per-epoch evaluation, the divergence and
``tol`` rules, the history) is ONE XLA program: the engine's loop (``accel.train.build_loop``)
with the single-device parts of ``_flat_step`` (``ParallelTrainer`` runs the same loop with
the engine's data-parallel step sharded over its devices), compiled once per optimizer,
loss, data shape, dtype, ``batch_size``, device and whether ``tol`` is set (``_program``):
learning rate, hyperparameter values, ``tol``, ``random_state`` and the number of epochs are
arguments, so changing them does not recompile. A fit is the validation of ``X`` and ``y``
and the engine's one host driver (``accel.train.drive``) running that program: one call
(a few for more than ``HIST_CAP`` epochs, with a progress bar or with validation data) and
one read of its results. A data source goes through the same driver, streamed
(``_source_fit``).

The numerical contract is the NumPy reference's (``optimizers``; shared DESIGN.md): zero
init, history at init and after each epoch, mini-batch order ``accel._orders`` (drawn in the
program for a block of epochs at a time), last partial batch kept (padded to the batch size
with zero-weight rows), a full-batch step reusing the gradient of the previous evaluation
(two matrix-vector products per epoch).

``optimizer_type='lbfgs'`` is optax's L-BFGS (``optax.lbfgs``: memory 10, zoom line search
of at most 20 steps), full batch only. An epoch is one L-BFGS iteration; the history,
``tol`` and divergence rules are the same.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import _checks, _keys
from accel import train as engine
from accel._progress import progress_bar
from accel._sklearn import keeps_state_on_error
from accel.data import streams
from accel.linear import _data, _inplace, _model, _source_fit
from accel.linear._estimator import LinearEstimator
from accel.linear._placement import on_device, resolve_device
from accel.linear._program import Spec, get_program
from accel.linear._separation import note_separation

__all__ = ["JAXOptimizer"]

_DTYPES = ("float32", "float64", "bfloat16")
_NAMES = engine.OPTIMIZER_NAMES + engine.LINESEARCH_OPTIMIZERS
# with progress=True the loop is dispatched in at most this many chunks of epochs
_PROGRESS_UPDATES = 100


def _check_dtype(dtype: object) -> str:
    try:  # jnp.dtype knows bfloat16 (np.dtype does not); None (float64 there) is refused
        name = None if dtype is None else jnp.dtype(dtype).name  # type: ignore[arg-type]
    except (TypeError, ValueError, SyntaxError):  # as in _checks.parse_dtype (',' is a SyntaxError)
        name = None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    return name


class JAXOptimizer(LinearEstimator):
    """Linear model (``z = X @ w + b``) trained by an optax optimizer in one compiled XLA loop.

    Args:
        optimizer_type: ``'sgd'``, ``'momentum'``, ``'nesterov'``, ``'adagrad'``, ``'rmsprop'``,
            ``'adam'``, ``'adamw'`` (the NumPy classes' rules, hyperparameters and defaults,
            see ``accel.linear.HYPERPARAMETERS``), ``'lbfgs'`` (optax's L-BFGS with its zoom
            line search; full batch only) or any ``optax.GradientTransformation`` (it carries
            its own learning rate; ``learning_rate`` must then be left at ``None``).
        learning_rate: a number > 0, an optax schedule (step -> rate), or ``None`` (default):
            the optimizer's default (the same in ``ParallelTrainer``), 0.01 for the
            first-order optimizers. For ``'lbfgs'`` it
            is optax's ``lbfgs(learning_rate)``: the quasi-Newton direction is multiplied by
            it before the line search, so it is the first step the search tries, which the
            search then shrinks or grows until the strong Wolfe conditions hold; ``None``
            means 1.0 (optax's default: the quasi-Newton step itself). A value far below 1
            makes every L-BFGS iteration spend line-search steps growing it.
        epochs: maximum number of epochs, ``>= 1`` (L-BFGS: iterations).
        batch_size: rows per step, ``None`` (or ``>= n``) for full batch. The last partial
            batch is kept: it is padded to ``batch_size`` with rows of weight 0. ``'lbfgs'``
            needs ``None``.
        loss: ``'mse'`` (``1/(2n) Σ (z - y)²``, a regressor; ``y`` of shape ``(n, k)`` fits
            ``k`` outputs) or ``'logistic'`` (a classifier of any labels: two classes
            binary, ``classes_[1]`` the positive class; more classes multinomial, softmax
            over the ``K`` class scores as scikit-learn's ``LogisticRegression``).
        fit_intercept: learn the intercept ``b`` (else it stays 0).
        tol: stop after an epoch whose relative loss decrease is ``<= tol`` (``converged_``);
            a ``ConvergenceWarning`` when ``epochs`` run out first.
        random_state: seed of the mini-batch order (integer in ``[0, 2**64)``); the order of
            epoch ``e`` is ``jax.random.permutation(jax.random.fold_in(K, e), n)`` with
            ``K = jax.random.wrap_key_data([random_state >> 32, random_state & 0xFFFFFFFF])``
            (uint32 key data, threefry2x32): the shared order of every estimator.
        use_jit: ``True`` compiles the loop; ``False`` runs the same code eagerly (debugging).
        dtype: ``'float32'`` (default), ``'float64'`` (JAX's x64 mode is switched on only
            inside ``fit``/``predict``, never for the caller) or ``'bfloat16'`` (data stored
            in bfloat16, parameters, optimizer state and accumulation in float32). NumPy's
            other spellings of these dtypes (``'f8'``, ``'d'``, ``np.float64``) name them too.
        progress: show a tqdm bar (notebook-aware), updated per chunk of epochs (the loop is
            dispatched in at most 100 chunks; each chunk is the same compiled program).
        device: ``None`` (JAX's default), a ``jax.Device`` or a string such as ``'cpu'``,
            ``'gpu'`` or ``'gpu:1'``.
        patience, restore_best: with ``fit(..., validation_data=...)``: stop after
            ``patience`` epochs without a lower validation loss; end with the best epoch's
            parameters (the first epoch with the lowest validation loss).
        alpha: the L2 penalty ``>= 0``: the objective is ``mean loss + alpha/2 ||coef||²``
            (the intercept is not penalized; the mean is weighted with ``sample_weight``).
            scikit-learn's ``LogisticRegression(C=C)`` is ``alpha = 1 / (C n)`` and
            ``Ridge(alpha=a)`` is ``alpha = a / n`` (``n``: the rows, or the sum of the
            sample weights). A new value compiles a new program (it is part of the model).
        **hyperparameters: the optimizer's own (``momentum``, ``b1``, ``b2``, ``eps``,
            ``initial_accumulator_value``, ``decay``, ``weight_decay``; for ``'lbfgs'`` its
            stopping rules ``gtol`` and ``ftol``, scipy's: it stops when
            ``max|gradient| <= gtol`` (default ``1e-5``) or when
            ``(L_prev - L) / max(|L_prev|, |L|, 1) <= ftol`` (default ``2.2e-9``), and an
            iteration that would raise the loss is undone, so it ends at its lowest loss).

    Attributes (after ``fit``, NumPy on the host): ``coef_`` (d,), or ``(k, d)`` for ``k``
    outputs or ``K > 2`` classes (scikit-learn's layout), ``intercept_`` (a scalar, or ``(k,)``),
    ``history_`` (``'loss'``, ``'grad_norm'``: at init and after each epoch), ``n_epochs_``,
    ``converged_``, ``diverged_``, ``n_features_in_``, ``classes_`` (logistic),
    ``compile_time_`` (seconds this fit spent compiling, or reading the program from the
    persistent compilation cache; 0.0 when the program was in memory);
    ``params_`` holds the parameters ``{'w', 'b'}`` as JAX arrays on the device. With
    validation data also ``history_['val_loss']``, ``best_params_``, ``best_epoch_``,
    ``best_val_loss_`` and ``stopped_early_``.

    Stopping: training stops early at the ``tol`` rule or the divergence rule shared by every
    estimator (a non-finite loss, or one above ``1e8`` times the initial loss:
    ``accel.linear.DIVERGENCE_FACTOR``): the last good parameters are kept, ``diverged_`` is
    set and a ``DivergenceWarning`` is emitted. A fit that ends much worse than its best
    epoch (more than twice the best loss and more than a tenth of the progress given back;
    the shared end-of-fit rule) sets ``diverged_`` too and warns with a
    ``WorseThanBestWarning`` naming the best epoch.

    Example:
        >>> import numpy as np
        >>> from accel import JAXOptimizer
        >>> X = np.random.default_rng(0).standard_normal((200, 3))
        >>> y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
        >>> model = JAXOptimizer("adam", learning_rate=0.05, epochs=500).fit(X, y)
        >>> np.round(model.coef_, 2).tolist()
        [1.0, -2.0, 0.5]
        >>> quasi_newton = JAXOptimizer("lbfgs", epochs=20, tol=1e-9).fit(X, y)
        >>> np.round(quasi_newton.coef_, 4).tolist(), quasi_newton.converged_
        ([1.0, -2.0, 0.5], True)
    """

    def __init__(
        self,
        optimizer_type: Any = "adam",
        learning_rate: Any = None,
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
        patience: int | None = None,
        restore_best: bool = False,
        alpha: float = 0.0,
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
        self.patience = patience
        self.restore_best = restore_best
        self.alpha = alpha
        self._optimizer_hyperparameters = dict(hyperparameters)

    # ----- parameters -------------------------------------------------------------------------

    def _check_params(self, params: dict[str, Any]) -> dict[str, float]:
        """Validate a parameter set; return the optimizer's full hyperparameters."""
        names = set(self._get_param_names())
        hyper = {k: v for k, v in params.items() if k not in names}
        unknown = sorted(set(hyper) - engine.ALL_HYPERPARAMETERS)
        if unknown:
            raise TypeError(
                f"unknown hyperparameter {', '.join(map(repr, unknown))}; "
                f"known ones are {sorted(engine.ALL_HYPERPARAMETERS)}"
            )
        optimizer = params["optimizer_type"]
        if isinstance(optimizer, optax.GradientTransformation):
            engine.make_optimizer(optimizer, **hyper)  # refuses hyperparameters
            full = {}
        else:
            engine.check_optimizer_name(optimizer, "optimizer_type", _NAMES)
            full = engine.check_hyperparameters(optimizer, **hyper)
        engine.check_rate_for(optimizer, params["learning_rate"])
        _checks.check_int(params["epochs"], "epochs", minimum=1)
        _checks.check_int(params["batch_size"], "batch_size", minimum=1, allow_none=True)
        if optimizer in engine.LINESEARCH_OPTIMIZERS and params["batch_size"] is not None:
            raise ValueError(
                f"batch_size={params['batch_size']!r}: optimizer_type={optimizer!r} trains on "
                "the full batch (its line search evaluates the whole objective); use batch_size=None"
            )
        self._check_model_params(params)
        _checks.check_real(params["tol"], "tol", minimum=0.0, allow_none=True)
        _checks.check_seed(params["random_state"], "random_state")
        _checks.check_bool(params["use_jit"], "use_jit")
        _check_dtype(params["dtype"])
        _checks.check_bool(params["progress"], "progress")
        resolve_device(params["device"])
        _checks.check_int(params["patience"], "patience", minimum=1, allow_none=True)
        _checks.check_bool(params["restore_best"], "restore_best")
        return full

    def _dtypes(self) -> tuple[Any, Any]:
        name = _check_dtype(self.dtype)
        data = jnp.dtype(name)
        return data, (jnp.dtype(jnp.float32) if name == "bfloat16" else data)

    # ----- training ---------------------------------------------------------------------------

    @keeps_state_on_error
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None, *,
            validation_data: Any = None) -> JAXOptimizer:  # fmt: skip
        """Train from zero parameters; returns ``self``. Accepts NumPy or JAX arrays, or a
        data source (``accel.data``; paths of ``.npy`` files, memory maps): the data are
        then streamed through the input pipeline (``accel.data.StepLoader``), never loaded
        whole. ``sample_weight`` (``(n,)``, finite, ``>= 0``, not all 0): the loss is the
        weighted mean ``Σ s_i ℓ_i / Σ s_i`` (integer weights fit as repeated rows; arrays
        only). ``validation_data=(X_val, y_val)`` (or a source): ``history_['val_loss']`` per
        epoch, the best epoch's parameters and the ``patience`` rule (see ``patience``,
        ``restore_best``)."""
        hyper = self._check_params(self.get_params())
        self._check_validation_use(validation_data)
        data_dtype, pdt = self._dtypes()
        device = resolve_device(self.device)
        device = device if device is not None else jax.devices()[0]
        with jax.enable_x64(pdt == jnp.float64):
            if streams(X, self.batch_size):
                if sample_weight is not None:
                    raise ValueError(
                        "sample_weight is supported for arrays only; a streamed fit (a data "
                        "source) weighs every row the same"
                    )
                if self.optimizer_type in engine.LINESEARCH_OPTIMIZERS:
                    raise ValueError(
                        f"optimizer_type={self.optimizer_type!r} cannot train on a data source: "
                        "its line search evaluates the whole objective at every trial step"
                    )
                source, n, d = _source_fit.prepare(self, X, y)
                val = self._validation_data(validation_data, d)
                return _source_fit.fit(self, source, n, d, hyper, data_dtype, pdt, device, val)
            return self._fit(X, y, sample_weight, hyper, data_dtype, pdt, device, validation_data)

    def _fit(self, X: Any, y: Any, sample_weight: Any, hyper: dict[str, float], data_dtype: Any,
             pdt: Any, device: Any, validation_data: Any) -> JAXOptimizer:  # fmt: skip
        # X's NaN/infinity test is the program's initial evaluation at w = 0: X @ 0 is NaN in
        # exactly the rows holding a NaN or an infinity (0 * inf = NaN), so the initial loss
        # is finite when X is (and y, tested here); otherwise the exact test below decides
        X, y, sw = self._fit_inputs(X, y, finite_X=False, sample_weight=sample_weight)
        outputs = 0 if y.ndim == 1 else int(y.shape[1])
        val = self._validation_data(validation_data, X.shape[1], outputs)
        n, d = X.shape
        batch_size = self.batch_size if self.batch_size is not None and self.batch_size < n else None
        schedule, values = engine.program_settings(
            self.optimizer_type, self.learning_rate, self.tol, hyper
        )
        spec = Spec(
            optimizer=self.optimizer_type,
            schedule=schedule,
            loss=self.loss,
            fit_intercept=self.fit_intercept,
            n=n,
            d=d,
            batch_size=batch_size,
            has_tol=self.tol is not None,
            data_dtype=data_dtype,
            param_dtype=pdt,
            device=device,
            row_blocks=_model.row_blocks_for(n, d) if device.platform == "cpu" and not outputs else 1,
            in_place=not outputs and _inplace.use_in_place(X, data_dtype, pdt, device, batch_size is None),
            outputs=outputs,
            alpha=float(self.alpha),
            weighted=sw is not None,
        )
        prog, self.compile_time_ = get_program(spec, self.use_jit)
        if spec.in_place:  # X read where it lies, not copied (_inplace)
            placed = _inplace.from_host(X, data_dtype, spec.row_blocks, device)
        else:
            placed = on_device(X, data_dtype, device)
        data = {"X": placed, "y": on_device(y, data_dtype, device)}
        if sw is not None:
            data["sw"] = on_device(sw, pdt, device)
        args = (data, None if batch_size is None else _keys.seed_key_data(self.random_state),
                prog.hyper(values))  # fmt: skip
        if not self.use_jit:
            args = jax.device_put(args, device)
        bar = (
            progress_bar(total=self.epochs, unit="epoch", desc=self._label()) if self.progress else None
        )
        validate = early = None
        if val is not None:
            early = engine.EarlyStopping(self.patience)
            validate = engine.Tracker(
                engine.Validation(_model.linear_loss(self.loss, self.fit_intercept, float(self.alpha)),
                                  *val, device),
                early, np.full(self.epochs + 1, np.nan),
            )  # fmt: skip
            validate(0, prog.layout.tree(prog.carry0.train.params))
        try:
            run = self._run(prog, args, self.epochs, bar, validate)
        finally:
            if bar is not None:
                bar.close()
        if not np.isfinite(run["loss"][0]):
            _data.check_X(X)  # NaN or infinity in X: the clear error (else a genuine divergence)
        diverged = run["diverged"]
        undone = prog.loop.keep_last_good  # the program undid a diverged epoch itself
        if run["diverged"] and run["epochs"] == 1 and not undone:  # in the first epoch: the initial state
            zeros = prog.layout.tree(prog.carry0.train.params)
            run.update(epochs=0, w=zeros["w"], b=zeros["b"], loss=run["loss"][:1],
                       grad_norm=run["grad_norm"][:1], params=jax.device_put(zeros, device))  # fmt: skip
        elif run["diverged"] and run["epochs"] > 1 and not undone:  # (0: the initial evaluation diverged)
            # the program stops AT a diverged epoch (no per-epoch copy of the state to undo
            # it); the same program run again up to the epoch before gives that state
            run = self._run(prog, args, run["epochs"] - 1, None)
        history = {"loss": run["loss"], "grad_norm": run["grad_norm"]}
        if validate is not None:
            history["val_loss"] = np.asarray(validate.losses[: run["epochs"] + 1], history["loss"].dtype)
        kept = self._store_validation(early, run["epochs"], run["params"])
        self.params_ = kept if kept is run["params"] else jax.device_put(kept, device)
        self._store_result(
            np.asarray(kept["w"]) if kept is not run["params"] else run["w"],
            np.asarray(kept["b"]) if kept is not run["params"] else run["b"], history,
            converged=run["converged"], diverged=diverged,
            tol=None if self.stopped_early_ else self.tol,
        )  # fmt: skip
        if self.loss == "logistic" and not self.alpha and spec.line_search:
            note_separation(self, X, y)
        return self

    def _run(self, prog: Any, args: tuple, epochs: int, bar: Any, validate: Any = None) -> dict[str, Any]:
        """Run ``epochs`` epochs from the start through the training driver
        (``accel.train.drive``: one call of the program for up to ``HIST_CAP`` epochs; calls
        end at progress updates and, with validation data, at every epoch, where
        ``validate`` may stop the run) and read the results back (``epochs >= 1``)."""
        S = prog.loop.steps_per_epoch
        every = (max(1, math.ceil(epochs / _PROGRESS_UPDATES)) * S,) if bar is not None else ()
        hist = engine.RunHistory.empty(epochs)
        feed = engine.Resident(prog.call, *args, put_stop=np.int32, get=jax.device_get, host_extra=True,
                               params=lambda carry, extra: {"w": extra[0][0], "b": extra[0][1]})  # fmt: skip
        engine.drive(feed, prog.fresh_carry(), engine.Run(hist, epochs * S, S, every, bar=bar, validate=validate))
        (w, b), last = feed.extra_host[0], feed.last
        k = last.step // S  # epochs whose state the carry holds
        return {
            "epochs": k, "converged": last.converged, "diverged": last.diverged,
            "w": w, "b": b, "params": {"w": feed.extra[0][0], "b": feed.extra[0][1]},
            "loss": hist.losses[: k + 1].astype(prog.param_dtype),
            "grad_norm": hist.grad_norms[: k + 1].astype(prog.param_dtype),
        }  # fmt: skip

    def _label(self) -> str:
        name = self.optimizer_type if isinstance(self.optimizer_type, str) else "optax"
        return f"JAXOptimizer({name})"

    # ----- pickling ---------------------------------------------------------------------------

    _DEVICE_ATTRIBUTES = ("params_", "best_params_")

    def __getstate__(self) -> dict[str, Any]:
        """The parameters on the device travel as NumPy arrays: a JAX array unpickled while
        JAX's x64 mode is off would come back in float32 (``dtype='float64'`` models)."""
        state = dict(self.__dict__)
        for key in self._DEVICE_ATTRIBUTES:
            if key in state:
                state[key] = jax.tree.map(np.asarray, state[key])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        _, pdt = self._dtypes()
        with jax.enable_x64(pdt == jnp.float64):
            for key in self._DEVICE_ATTRIBUTES:
                if key in state:
                    self.__dict__[key] = jax.tree.map(jnp.asarray, state[key])

    # ----- prediction -------------------------------------------------------------------------

    def _decision(self, X: Any) -> Any:
        data_dtype, pdt = self._dtypes()
        as_numpy = not isinstance(X, jax.Array)
        w, b = self.params_["w"], self.params_["b"]
        with jax.enable_x64(pdt == jnp.float64):
            X = jax.device_put(jnp.asarray(X, data_dtype), next(iter(w.devices())))
            z = _decide(X, w, b)
            return np.asarray(z) if as_numpy else z


_decide = jax.jit(lambda X, w, b: _model.decision_function(X, w, b, jnp))
