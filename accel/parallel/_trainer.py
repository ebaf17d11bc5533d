"""ParallelTrainer: the one training program over several devices and processes.

Length: the class docstring documents every constructor parameter, the strategies and the
history (about 80 lines); the code is the constructor, ``fit``/``train`` and the one run
method that wires a strategy's program, the checkpoints, the input pipeline and validation
to the training engine's one host driver (``accel.train.drive``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax

from accel import _checks, _keys, _orders
from accel import distributed as _dist
from accel import train as engine
from accel._progress import progress_bar
from accel._sklearn import keeps_state_on_error
from accel.linear import LinearEstimator, decision_function, linear_loss
from accel.parallel import (
    _checkpoint,
    _inputs,
    _model_parallel,
    _pipeline_parallel,
    _programs,
    _resume,
    _source,
)
from accel.parallel._data_parallel import Program, ProgramSpec, build_program

__all__ = ["STRATEGIES", "ParallelTrainer"]

# strategy name -> program builder (same signature).
STRATEGIES: dict[str, Callable[..., Program]] = {
    "data_parallel": build_program,
    "model_parallel": _model_parallel.build_program,
    "pipeline_parallel": _pipeline_parallel.build_program,
}
_PROGRESS_CHUNKS = 20


class ParallelTrainer(LinearEstimator):
    """Parallel training of a pytree model over devices (and hosts): data, model or pipeline.

    The global batch of every optimizer step (``batch_size * grad_accum_steps`` rows of the
    shared epoch order, as in ``JAXOptimizer``; the last partial batch is kept) is split over
    the devices; each device accumulates its gradient of ``sum_i loss_i / N`` locally over
    ``grad_accum_steps`` micro-batches and the devices then sum once (one all-reduce per
    optimizer step), so every step computes

    .. code-block:: text

        g = (1/N) Σ_{i in step} ∇ loss(params, x_i),    params, opt_state = optimizer(g, ...)

    exactly as one device would (to float32 rounding): the step, the training loop and the
    host driver are ``JAXOptimizer``'s (the training engine, ``accel.train``), run sharded.
    Parameters and optimizer state are float32; the loss and its gradient are computed in
    ``compute_dtype``.

    With ``strategy='model_parallel'`` or ``'pipeline_parallel'`` every device reads all
    rows of the step and holds a part of the parameters (and of the optimizer state)
    instead; the step computes the same ``g`` and update (the same training program, with
    the parameters sharded).

    Args:
        n_devices: devices to use (the first ``n_devices`` of ``jax.devices()``); ``None`` =
            all of them, over all processes.
        strategy: ``'data_parallel'`` (the batch is split over devices), ``'model_parallel'``
            (the parameters are split: feature sharding in ``fit``, Megatron tensor
            parallelism of a layer-list MLP in ``train``) or
            ``'pipeline_parallel'`` (a layer-list MLP cut into stages on consecutive
            devices, GPipe schedule; ``train`` only). The last two
            run in one process with an element-wise optimizer; their ``train`` takes
            ``loss_fn = accel.parallel.mlp_loss(head, activation)`` and
            ``params = [{'w': (in, out), 'b': (out,)}, ...]``.
        backend: ``None`` (the strategy's default: ``'pmap'`` for data_parallel,
            ``'shard_map'`` for the others), ``'pmap'``, ``'shard_map'`` or ``'jit'``
            (NamedSharding/GSPMD); for data_parallel all three run the same step arithmetic
            (equal results to float32 rounding); on 4 CPU host devices pmap is the fastest.
        optimizer_type, learning_rate: as in ``JAXOptimizer``
            (``accel.linear.HYPERPARAMETERS``: 'sgd', 'momentum', 'nesterov', 'adagrad',
            'rmsprop', 'adam', 'adamw' or an ``optax.GradientTransformation``). The learning
            rate and hyperparameter values are arguments of the compiled program: changing
            them does not recompile.
        **hyperparameters: as in ``JAXOptimizer``.
        epochs: passes over the data. batch_size: rows per micro-batch over all devices
            (``None`` = the whole data set).
        grad_accum_steps: micro-batches accumulated per optimizer step (``k``): equals a
            ``k``-times larger batch.
        compute_dtype: 'float32', 'bfloat16' or 'float16'.
        loss_scale: ``None`` (dynamic for float16, none otherwise), ``'dynamic'`` or a fixed
            positive number. Steps with non-finite gradients are skipped (and the dynamic
            scale halved); they are counted in ``history_['skipped_steps']``.
        nan_policy: ``'raise'``: ``FloatingPointError`` naming the step of the first non-finite
            loss, with the last finite parameters as its ``params`` attribute and the run's
            history as ``history`` (the trainer keeps its state from before the call, as
            after any failed fit); ``'skip'``: skip such steps (counted in
            ``history_['skipped_steps']``).
        loss, fit_intercept, alpha: the built-in linear model used by :meth:`fit` ('mse', a
            regressor of one output or several, or 'logistic', a classifier: binary, or
            multinomial for more classes; ``alpha`` the L2 penalty), as in ``JAXOptimizer``.
        tol: stop after an epoch whose relative loss decrease is ``<= tol`` (``converged_``;
            a ``ConvergenceWarning`` when ``epochs`` run out first).
        checkpoint_dir, checkpoint_every, keep_checkpoints: write an atomic checkpoint every
            ``checkpoint_every`` optimizer steps (and at the end), keep the last
            ``keep_checkpoints``; ``fit(..., resume=True)`` / ``train(..., resume=True)``
            continue from the latest one.
        progress: a tqdm bar over epochs (process 0 only), updated per chunk of epochs.
        random_state: seeds the batch order (64-bit integer).
        n_microbatches: pipeline_parallel only: pieces each micro-batch is cut into for the
            GPipe schedule (must divide ``batch_size``); ``None`` = ``n_devices``.
        patience, restore_best: with validation data (``fit(validation_data=...)``,
            ``train(eval_data=...)``): stop after ``patience`` epochs without a lower
            validation loss; end with the best epoch's parameters (the first epoch with the
            lowest validation loss).
        eval_every: what ``history_['loss']`` holds, and what it costs. ``None`` (default):
            ``fit`` evaluates the full-data loss at the initial parameters and after every
            epoch; ``train`` records the loss of its training pass instead (Keras'
            ``loss``): at each epoch's end, the mean over the epoch's rows of each row's loss
            at the parameters of the step that trained it, added up by the steps themselves
            (no pass over the data; ``history_['loss'][0]`` is NaN: nothing was trained
            yet). ``1``: the full-data loss at the initial parameters and after every epoch;
            ``k > 1``: at the initial parameters, every ``k``-th epoch and the last; ``0``:
            never. A full-data evaluation is a forward pass over every row (for an MLP
            about a third of an epoch's training time, BENCHMARKS.md; on a streamed
            source, another read of it); the parameters trained are the same whatever the
            choice. The history holds NaN at unevaluated epochs; ``tol`` and the divergence
            rule act at the recorded losses (``tol`` compares consecutive ones, so it needs
            ``eval_every != 0``; with the training pass's loss the divergence rule's
            reference is the first epoch's); a non-finite batch loss is caught at its step
            by ``nan_policy`` whatever the setting.

    Stopping: besides ``tol``, the divergence rule shared by every estimator (a non-finite
    loss, or one above ``1e8`` times the initial loss, at an epoch boundary:
    ``accel.linear.DIVERGENCE_FACTOR``) stops training with the last good parameters,
    ``diverged_=True`` and a ``DivergenceWarning``. A run (``fit`` or ``train``) that ends
    much worse than its best epoch (the shared end-of-fit rule, as in ``JAXOptimizer``, by
    differences: any sign of loss) sets ``diverged_`` too and warns
    with a ``WorseThanBestWarning`` naming the best epoch.

    Example:
        >>> import numpy as np
        >>> from accel import ParallelTrainer
        >>> X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
        >>> y = X @ np.array([1.0, -2.0, 0.5], np.float32)
        >>> pt = ParallelTrainer(n_devices=1, epochs=200, batch_size=16, learning_rate=0.05)
        >>> np.round(pt.fit(X, y).coef_, 1).tolist()
        [1.0, -2.0, 0.5]
    """

    def __init__(
        self,
        n_devices: int | None = None,
        strategy: str = "data_parallel",
        backend: str | None = None,
        optimizer_type: str | optax.GradientTransformation = "adam",
        learning_rate: Any = None,
        epochs: int = 1000,
        batch_size: int | None = None,
        grad_accum_steps: int = 1,
        compute_dtype: str = "float32",
        loss_scale: str | float | None = None,
        nan_policy: str = "raise",
        loss: str = "mse",
        fit_intercept: bool = True,
        tol: float | None = None,
        checkpoint_dir: str | None = None,
        checkpoint_every: int | None = None,
        keep_checkpoints: int = 3,
        progress: bool = False,
        random_state: int = 0,
        n_microbatches: int | None = None,
        patience: int | None = None,
        restore_best: bool = False,
        eval_every: int | None = None,
        alpha: float = 0.0,
        **hyperparameters: Any,
    ) -> None:
        self.n_devices = n_devices
        self.strategy = strategy
        self.backend = backend
        self.optimizer_type = optimizer_type
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.grad_accum_steps = grad_accum_steps
        self.compute_dtype = compute_dtype
        self.loss_scale = loss_scale
        self.nan_policy = nan_policy
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.keep_checkpoints = keep_checkpoints
        self.progress = progress
        self.random_state = random_state
        self.n_microbatches = n_microbatches
        self.patience = patience
        self.restore_best = restore_best
        self.eval_every = eval_every
        self.alpha = alpha
        self._optimizer_hyperparameters = dict(hyperparameters)

    # -- parameters ----------------------------------------------------------------------
    def _check_params(self, params: dict[str, Any]) -> dict[str, float]:
        """Validate a parameter set; return the optimizer's full hyperparameters."""
        full = _inputs.check_trainer_params(params, set(self._get_param_names()))
        self._check_model_params(params)
        return full

    def _backend(self) -> str:
        return self.backend if self.backend is not None else _inputs.STRATEGY_BACKENDS[self.strategy][0]

    # -- public entry points -----------------------------------------------------------
    @keeps_state_on_error
    def fit(
        self, X: Any, y: Any = None, sample_weight: Any = None, *, validation_data: Any = None,
        resume: bool = False, data_is_local: bool = False, allow_new_hyperparameters: bool = False,
    ) -> ParallelTrainer:  # fmt: skip
        """Train the built-in linear model (``loss``, ``fit_intercept``, ``alpha``) on
        ``(X, y)``, with optional per-row ``sample_weight`` (arrays only; as in
        ``JAXOptimizer.fit``).

        Sets ``coef_``, ``intercept_``, ``params_``, ``history_``, ``n_epochs_``,
        ``converged_``, ``diverged_``, ``n_features_in_``, ``classes_`` (logistic), ``step_``
        and ``compile_time_``. ``history_`` holds NumPy arrays: ``loss`` and ``grad_norm``
        (at init and after every epoch, over the whole data set), ``skipped_steps``,
        ``step_time`` and ``samples_per_s`` per epoch (host wall time of the program calls,
        spread over their steps), ``data_wait_time`` and ``compute_time`` per epoch, as
        mean seconds per step adding up to ``step_time`` (the host's wait for the input
        pipeline, and the rest; the devices may be
        still computing the steps already dispatched while it waits), and the final
        ``loss_scale``.

        ``X`` may also be a data source (``accel.data``: paths or memory maps of ``.npy``
        files, shards, a random-access object; ``y`` then ``None`` or the targets' path):
        the rows are streamed through the input pipeline and never held whole, by any
        process or device (``accel.data.StepLoader``). ``validation_data=(X_val, y_val)``
        (or a source) adds
        ``history_['val_loss']`` per epoch, ``best_params_``, ``best_epoch_``,
        ``best_val_loss_`` and the ``patience`` rule.

        ``resume=True`` continues from the latest checkpoint in ``checkpoint_dir`` (from
        scratch if there is none); a checkpoint of another run or of other data is refused,
        one with other hyperparameters too unless ``allow_new_hyperparameters=True``. In a
        multi-process run every process passes the full data set by default and reads its
        own rows; with ``data_is_local=True`` each process passes only its own rows (the same
        number in every process, ``batch_size`` a multiple of the number of processes): each
        optimizer step then takes ``batch_size / P`` rows from every process's shard, in the
        order in which the shared epoch permutation of the concatenated data visits that
        shard.
        """
        hyper = self._check_params(self.get_params())
        source = _source.source_for_fit(X, y, self.batch_size)
        shapes = None
        if source is None:
            X, y, sw = self._fit_inputs(X, y, sample_weight=sample_weight)
            data = {"X": np.asarray(X, dtype=np.float32), "y": np.asarray(y, dtype=np.float32)}
            if sw is not None:
                data["sw"] = sw.astype(np.float32)
            d = data["X"].shape[1]
            shapes = self._param_shapes(y, d)
        else:
            if sample_weight is not None:
                raise ValueError(
                    "sample_weight is supported for arrays only; a streamed fit (a data "
                    "source) weighs every row the same"
                )
            data, (_, d) = None, self._source_fit_inputs(source)
            shapes = ((d,), ())
        outputs = shapes[0][0] if len(shapes[0]) == 2 else 0
        validation_data = self._validation_data(validation_data, d, outputs)
        params = {"w": np.zeros(shapes[0], np.float32), "b": np.zeros(shapes[1], np.float32)}
        self._run(
            linear_loss(self.loss, self.fit_intercept, float(self.alpha)), params, data,
            self._make_tx(self.fit_intercept, None), hyper, self.epochs, self.batch_size,
            resume, data_is_local, allow_new_hyperparameters, fit=True, source=source,
            validation=validation_data,
        )  # fmt: skip
        return self

    @keeps_state_on_error
    def train(
        self,
        loss_fn: Callable[[Any, Any], jax.Array],
        params: Any,
        data: Any,
        *,
        optimizer: optax.GradientTransformation | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        eval_data: Any = None,
        resume: bool = False,
        data_is_local: bool = False,
        allow_new_hyperparameters: bool = False,
        augment: Any = None,
    ) -> tuple[Any, dict[str, Any]]:
        """Train any model given as ``loss_fn(params, batch) -> scalar mean loss of the batch``.

        ``params`` is a pytree of floating arrays (trained in float32); ``data`` a pytree of
        arrays sharing the leading (row) axis; ``batch`` has the structure of ``data``.
        ``optimizer`` defaults to the one named by ``optimizer_type``; ``epochs`` and
        ``batch_size`` default to the constructor's. Returns ``(params, history)`` (the
        history as in :meth:`fit`, without ``grad_norm``'s values: NaN).

        ``loss_fn`` is called on whole micro-batches, and per example (a vmap over batches
        of one row) where the padded rows of a partial last batch must be masked: it must
        be a mean of per-row terms (no batch statistics). ``history['loss']`` is by default
        the training pass's loss of each epoch (free); ``eval_every`` asks for full-data
        evaluations instead (see the class doc). ``data`` given as JAX arrays already on a
        device is used where it is (NumPy data are checked and placed by every call).
        ``data`` may also be a data source (``accel.data``) or a mapping with memory-mapped
        columns: it is then streamed (see :meth:`fit`).
        ``eval_data`` (arrays like ``data``, or a source) is evaluated with ``loss_fn``
        after every epoch (``history['val_loss']``, ``patience``, ``best_params_``).
        ``resume``, ``data_is_local`` and ``allow_new_hyperparameters`` as in :meth:`fit`.

        ``augment`` (``strategy='data_parallel'``, any backend, resident or streamed data,
        any number of processes): a preset name, an ``accel.augment.AugmentationConfig`` or
        an ``accel.augment.TrainingAugmentation`` (which also names the image leaf, default
        ``'image'``, and the algorithm). ``data`` is then a mapping whose image leaf holds
        ``(rows, H, W, C)`` images, float32 in ``[0, 1]`` or integers in ``[0, 255]``
        (uint8). Every step augments its rows on the device, inside the compiled step: the
        images of sample ``i`` (its row, counted over all processes) in epoch ``e`` (from
        0) are exactly
        ``apply_augmentations(images[[i]], gen_augmentation_batch([i], config, seed=s,
        epoch=e), seed=s)`` with ``s = random_state`` (to float rounding), whatever the
        devices, processes, input pipeline or resumption; ``algorithm='dpa'`` uses DPA's
        values, the same in every epoch (``accel.augment.TrainingAugmentation``). Evaluations
        (``history['loss']``, ``eval_data``) see the images as they are.
        """
        hyper = self._check_params(self.get_params())
        if augment is not None:  # accel.augment is imported only by augmented runs
            from accel.augment import TrainingAugmentation

            augment = TrainingAugmentation.of(augment)
        if augment is not None and self.strategy != "data_parallel":
            raise ValueError(
                f"augment needs strategy='data_parallel' (the data-parallel step augments its "
                f"rows), got strategy={self.strategy!r}"
            )
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                f"optimizer must be an optax.GradientTransformation or None, got "
                f"{type(optimizer).__name__}"
            )
        if optimizer is not None:
            hyper = {}
        epochs = self.epochs if epochs is None else _checks.check_int(epochs, "epochs", minimum=1)
        batch_size = self.batch_size if batch_size is None else _checks.check_int(
            batch_size, "batch_size", minimum=1
        )  # fmt: skip
        source = _source.source_for_train(data, batch_size)
        if eval_data is not None:
            template = _source.template(source, False) if source is not None else data
            eval_data = engine.check_eval_data(eval_data, template)
        return self._run(
            loss_fn, params, data, self._make_tx(False, optimizer), hyper, epochs, batch_size,
            resume, data_is_local, allow_new_hyperparameters, fit=False, source=source,
            validation=eval_data, augment=augment,
        )  # fmt: skip

    def _decision(self, X: Any) -> np.ndarray:
        """``X @ coef_ᵀ + intercept_``, accumulated in float64 (a float32 BLAS product rounds
        a row differently by its position in ``X``: a prediction would depend on the other
        rows), returned in the parameters' float32."""
        z = decision_function(np.asarray(X, dtype=np.float64), self.coef_.astype(np.float64),
                              np.asarray(self.intercept_, np.float64), xp=np)  # fmt: skip
        return z.astype(np.float32)

    def _make_tx(self, fit_intercept: bool, optimizer: Any) -> Any:
        if optimizer is not None:
            return engine.transformation_factory(optimizer, 0.0, fit_intercept)
        schedule, _ = engine.program_settings(self.optimizer_type, self.learning_rate, None, {})
        return engine.transformation_factory(self.optimizer_type, schedule, fit_intercept)

    # -- the training run ----------------------------------------------------------------
    def _run(self, loss_fn, params, data, make_tx, hyper, epochs, batch_size, resume,
             data_is_local, allow_new_hyperparameters, *, fit: bool, source=None, validation=None,
             augment=None):  # fmt: skip
        _checkpoint.check_directory(self.checkpoint_dir)  # a file or unwritable: fail now
        _checks.check_bool(resume, "resume")
        _checks.check_bool(data_is_local, "data_is_local")
        _checks.check_bool(allow_new_hyperparameters, "allow_new_hyperparameters")
        if resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir (where to find the checkpoints)")
        self._check_validation_use(validation)
        devices = _inputs.devices(self.n_devices)
        params = _inputs.check_params(params)
        if source is not None:  # streamed through the input pipeline (_source)
            _source.check_run(self.strategy, data_is_local, batch_size)
            data, n_rows = _source.template(source, fit), len(source)
        else:
            data, n_rows = _inputs.check_data(data, finite=self.nan_policy != "skip")
        if augment is not None:  # checked and extended on the host
            data = augment.check_data(jax.tree.map(np.asarray, data), values=source is None)
        _inputs.check_loss_fn(loss_fn, params, data)
        lay = _inputs.layout(n_rows, len(devices), batch_size, self.grad_accum_steps, data_is_local)
        if augment is not None:  # what the augmented step reads (range checks, DPA's values)
            if source is not None:
                source = augment.wrap_source(source)
                data = _source.template(source, fit)
            else:  # the rows' global ids start there
                data = augment.with_hidden_columns(data, jax.process_index() * n_rows if data_is_local else 0)
        S = lay.steps_per_epoch
        compute = engine.check_compute_dtype(self.compute_dtype)
        # eval_every=None: fit evaluates every epoch; train records its training pass's loss
        eval_every = (1 if fit else 0) if self.eval_every is None else self.eval_every
        pass_loss = self.eval_every is None and not fit
        pspec = ProgramSpec(
            layout=lay,
            loop=engine.LoopSpec(
                n_rows=lay.n_global, steps_per_epoch=S,
                order_block=0 if source is not None else _orders.order_block(lay.n_global),
                hist_cap=engine.HIST_CAP, has_tol=self.tol is not None, partial_epochs=True,
                evaluate=source is None, eval_every=eval_every, pass_loss=pass_loss and source is None,
            ),
            compute_dtype=compute,
            loss_scale=engine.check_loss_scale(self.loss_scale, compute),
            nan_policy=self.nan_policy,
            n_microbatches=self.n_microbatches,
            fed=source is not None,
            augment=augment,
        )  # fmt: skip
        _, values = engine.program_settings(self.optimizer_type, self.learning_rate, self.tol, hyper)
        values = {k: np.float32(v) for k, v in values.items()}
        if eval_every != 1:  # the schedule's last epoch (a traced value: no recompile)
            values["eval_until"] = np.int32(epochs)
        tx = make_tx(values)
        train = engine.TrainState(
            params=params, opt_state=jax.tree.map(np.asarray, tx.init(params)),
            loss_scale=jax.tree.map(np.asarray, engine.init_loss_scale(pspec.loss_scale)),
            bad_step=np.int32(-1), skipped=np.int32(0),
            pass_loss=np.zeros(2, np.float32) if pass_loss else (),
        )  # fmt: skip
        total = epochs * S
        fingerprint = {
            "n_rows": lay.n_global, "batch_size": lay.batch_size,
            "grad_accum_steps": self.grad_accum_steps, "steps_per_epoch": S,
            "random_state": int(self.random_state), "n_shards": lay.n_shards,
        }  # fmt: skip
        if augment is not None:  # a run with other augmentation is another run
            fingerprint["augment"] = repr(augment)
        if self.checkpoint_dir is not None:  # one pass over every row: only when it is used
            fingerprint["data"] = _resume.any_digest(data if source is None else source)
            fingerprint["validation"] = None if validation is None else _resume.any_digest(validation[0])
        hyper_print = _resume.hyperparameter_fingerprint(self.get_params(), hyper, loss_fn)
        hist = engine.RunHistory.empty(epochs)
        early = None if validation is None else engine.EarlyStopping(self.patience)
        key_data = np.asarray(jax.random.key_data(_keys.seed_key(self.random_state)))
        loader = None
        if source is not None:
            loader = _source.loader(source, lay, self.random_state, devices,
                                    check_finite=self.nan_policy != "skip")  # fmt: skip
        placed: dict[str, Any] = {}

        def place(program, shapes_only=False):
            """The arguments of the first call, on the program's devices (with
            ``shapes_only``: the data as shapes, to compile before placing them)."""
            if "carry" not in placed:
                fresh = engine.init_carry(pspec.loop, train, program.grad_template(params), np.float32)
                carry = fresh
                if resume:
                    carry = _resume.restore(self.checkpoint_dir, fresh, hist, fingerprint,
                                            hyper_print, allow_new_hyperparameters, early)  # fmt: skip
                placed.update(step=int(carry.step), carry=carry)
            carry = placed["carry"]
            if loader is not None:
                columns, ids = _source.zero_block(loader, fit)
                inputs = program.put_fed(columns, ids >= 0, 1, ids)
            else:
                inputs = program.data_spec(data) if shapes_only else program.put_data(data)
            args = (program.put_carry(carry), inputs, program.put_args(key_data),
                    program.put_args(values), program.put_args(np.int32(max(1, int(carry.step)))))  # fmt: skip
            if not shapes_only:
                placed["args"] = args
            return args

        def shapes(program):  # resident data: compiled from their shapes first
            if loader is not None or program.data_spec is None:
                return None
            return place(program, shapes_only=True)

        build = functools.partial(
            STRATEGIES[self.strategy], self._backend(), devices, pspec, loss_fn, make_tx, tx, params
        )
        key = _programs.cache_key(self.strategy, self._backend(), tuple(devices), pspec, loss_fn,
                                  make_tx.key, params=params, data=data)  # fmt: skip
        program, compiled, self.compile_time_ = _programs.compiled(key, build, place, shapes)
        g = placed["step"]
        if g > total:
            raise ValueError(
                f"the checkpoint is at step {g}, beyond this run's {total} steps "
                f"({epochs} epochs); ask for more epochs"
            )
        validate = None
        if validation is not None:
            mine = next(d for d in devices if d.process_index == jax.process_index())
            validate = engine.Tracker(engine.Validation(loss_fn, *validation, mine), early, hist.val_losses)
            if g == 0:
                validate(0, placed["carry"].train.params)
        every = (max(1, epochs // _PROGRESS_CHUNKS) * S,) if self.progress else ()
        run = engine.Run(
            hist=hist, total=total, S=S, every=every, checkpoint_every=self.checkpoint_every,
            save=None if self.checkpoint_dir is None else functools.partial(
                _resume.save, self.checkpoint_dir, S=S, seed=self.random_state,
                fingerprint=fingerprint, hyperparameters=hyper_print, keep=self.keep_checkpoints,
                early=early),
            bar=self._progress_bar(epochs, g // S), validate=validate,
            halt=lambda carry, bad: self._finish(carry, hist, lay, epochs, fit=fit, raise_at=bad),
        )  # fmt: skip
        # a lost peer process becomes a PeerLostError naming it (accel.distributed.guard)
        with _dist.guard():
            try:
                if loader is None:
                    _, data_dev, key_dev, hyper_dev, _ = placed["args"]
                    feed = engine.Resident(compiled, data_dev, key_dev, hyper_dev, put_stop=program.put_args,
                                           get=program.get,
                                           params=lambda carry, extra: program.get(carry.train.params))  # fmt: skip
                else:
                    feed = _source.feed(program, compiled, placed["args"], loader, fit=fit, total=total,
                                        n_global=lay.n_global, template=params, tol=self.tol,
                                        nonfinite_diverges=self.nan_policy != "skip",
                                        eval_every=eval_every, pass_loss=pass_loss)  # fmt: skip
                carry = feed.host(engine.drive(feed, placed["args"][0], run, g))
            finally:
                if run.bar is not None:
                    run.bar.close()
                if loader is not None:
                    loader.close()
        return self._finish(carry, hist, lay, epochs, fit=fit, early=early)

    def _finish(self, carry: engine.Carry, hist: engine.RunHistory, lay, epochs: int, *,
                fit: bool, raise_at: int | None = None, early=None):  # fmt: skip
        """Set the fitted attributes from the final carry; returns ``(params, history)``."""
        S = lay.steps_per_epoch
        done = min(epochs, int(carry.step) // S)
        scale = carry.train.loss_scale.scale
        history = hist.as_dict(done, lay.n_global, S, scale, validation=early is not None)
        params = self._store_validation(early, done, carry.train.params)
        self.params_ = params
        self.step_ = int(carry.step)
        report = raise_at is None  # else the FloatingPointError below is the report
        tol = self.tol if report and not self.stopped_early_ else None
        if fit:
            self._store_result(
                np.asarray(params["w"]), np.asarray(params["b"]), history,
                converged=bool(carry.converged), diverged=bool(carry.diverged), tol=tol,
                report=report,
            )  # fmt: skip
        else:
            self.history_ = history
            self.n_epochs_ = done
            self.converged_ = bool(carry.converged)
            self.diverged_ = bool(carry.diverged)
            if report:
                self._settle_stopping(tol)
        self.diverged_ = self.diverged_ or not report
        if raise_at is not None:
            err = FloatingPointError(
                f"non-finite loss at optimizer step {raise_at} (epoch {raise_at // S}, step "
                f"{raise_at % S} of the epoch); nan_policy='raise'. The last finite "
                "parameters are the error's .params (its .history: the run up to there); "
                "use nan_policy='skip' to skip such steps"
            )
            err.params, err.history = params, history
            raise err
        return params, history

    def _progress_bar(self, epochs: int, done: int):
        if not self.progress or not _dist.is_main_process():
            return None
        return progress_bar(total=epochs, initial=done, desc="ParallelTrainer", unit="epoch")

