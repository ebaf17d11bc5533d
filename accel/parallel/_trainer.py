"""ParallelTrainer: data-parallel training over several devices and processes."""

from __future__ import annotations

import functools
import math
import numbers
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from accel import _checks, _keys
from accel import distributed as _dist
from accel.linear import _data, _model, _optax
from accel.parallel import _checkpoint, _model_parallel, _pipeline_parallel, _plan
from accel.parallel._data_parallel import BACKENDS, Program, Spec, TrainState, build_program
from accel.parallel._precision import (
    LossScale,
    check_compute_dtype,
    check_loss_scale,
    init_loss_scale,
)

__all__ = ["NAN_POLICIES", "STRATEGIES", "ParallelTrainer"]

# strategy name -> program builder (same signature).
STRATEGIES: dict[str, Callable[..., Program]] = {
    "data_parallel": build_program,
    "model_parallel": _model_parallel.build_program,
    "pipeline_parallel": _pipeline_parallel.build_program,
}
# backends each strategy is written for (the sharded strategies are shard_map programs)
STRATEGY_BACKENDS: dict[str, tuple[str, ...]] = {
    "data_parallel": BACKENDS,
    "model_parallel": ("shard_map",),
    "pipeline_parallel": ("shard_map",),
}
NAN_POLICIES = ("raise", "skip")
_PROGRESS_CHUNKS = 20
# Compiled programs shared by all trainers (a second fit on data of the same shapes does not
# recompile); least recently used entries are dropped beyond _MAX_PROGRAMS.
_PROGRAMS: OrderedDict[Any, tuple[Program, Any]] = OrderedDict()
_MAX_PROGRAMS = 32


class _KeyedTransformation(NamedTuple):
    """An optax transformation built from a name and numbers, with a hashable identity."""

    init: Callable
    update: Callable
    accel_key: tuple


def _avals(tree: Any) -> tuple:
    return tuple((np.shape(a), np.asarray(a).dtype.str) for a in jax.tree.leaves(tree))


@functools.cache
def _linear_loss(loss: str, fit_intercept: bool) -> Callable[[Any, Any], jax.Array]:
    """``loss_fn(params, batch)`` of the built-in linear model, from ``accel.linear._model``."""

    def loss_fn(params, batch):
        b = params["b"] if fit_intercept else jax.lax.stop_gradient(params["b"])
        return _model.loss_value(batch["X"], batch["y"], params["w"], b, loss=loss, xp=jnp)

    loss_fn.linear_model = (loss, fit_intercept)  # lets model_parallel split the features
    return loss_fn


def _check_int(value: object, name: str, minimum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        accepted = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


class ParallelTrainer:
    """Parallel training of a pytree model over devices (and hosts): data, model or pipeline.

    The global batch of every optimizer step (``batch_size * grad_accum_steps`` rows of the
    shared epoch order, ``_keys.permutation(_keys.epoch_key(K(random_state), epoch), n)``;
    the last partial batch is kept) is split over the devices; each device accumulates its
    gradient of ``sum_i loss_i / N`` locally over ``grad_accum_steps`` micro-batches and the
    devices then sum once (one all-reduce per optimizer step), so every step computes

    .. code-block:: text

        g = (1/N) Σ_{i in step} ∇ loss(params, x_i),    params, opt_state = optimizer(g, ...)

    exactly as one device would (to float32 rounding). Parameters and optimizer state are
    float32; the loss and its gradient are computed in ``compute_dtype``.

    With ``strategy='model_parallel'`` or ``'pipeline_parallel'`` every device reads all
    rows of the step and holds a part of the parameters (and of the optimizer state)
    instead; the step computes the same ``g`` and update (``_sharded``).

    Args:
        n_devices: devices to use (the first ``n_devices`` of ``jax.devices()``); ``None`` =
            all of them, over all processes.
        strategy: ``'data_parallel'`` (the batch is split over devices), ``'model_parallel'``
            (the parameters are split: feature sharding in ``fit``, Megatron tensor
            parallelism of a layer-list MLP in ``train``; ``_model_parallel``) or
            ``'pipeline_parallel'`` (a layer-list MLP cut into stages on consecutive
            devices, GPipe schedule; ``train`` only; ``_pipeline_parallel``). The last two
            need ``backend='shard_map'``, one process, and an element-wise optimizer; their
            ``train`` takes ``loss_fn = accel.parallel.mlp_loss(head, activation)`` and
            ``params = [{'w': (in, out), 'b': (out,)}, ...]``.
        backend: ``'pmap'`` (default), ``'shard_map'`` or ``'jit'`` (NamedSharding/GSPMD);
            all three give the same results for data_parallel.
        optimizer_type, learning_rate, **hyperparameters: as in ``JAXOptimizer``
            (``accel.linear._optax``: 'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam',
            'adamw' or an ``optax.GradientTransformation``).
        epochs: passes over the data. batch_size: rows per micro-batch over all devices
            (``None`` = the whole data set).
        grad_accum_steps: micro-batches accumulated per optimizer step (``k``): equals a
            ``k``-times larger batch.
        compute_dtype: 'float32', 'bfloat16' or 'float16'.
        loss_scale: ``None`` (dynamic for float16, none otherwise), ``'dynamic'`` or a fixed
            positive number. Steps with non-finite gradients are skipped (and the dynamic
            scale halved); they are counted in ``history['skipped_steps']``.
        nan_policy: ``'raise'``: ``FloatingPointError`` naming the step of the first non-finite
            loss; ``'skip'``: skip such steps (counted in ``history['skipped_steps']``).
        loss, fit_intercept: the built-in linear model used by :meth:`fit` ('mse' or
            'logistic'), as in ``JAXOptimizer``.
        checkpoint_dir, checkpoint_every, keep_checkpoints: write an atomic checkpoint every
            ``checkpoint_every`` optimizer steps (and at the end), keep the last
            ``keep_checkpoints``; ``fit(..., resume=True)`` / ``train(..., resume=True)``
            continue from the latest one.
        progress: a tqdm bar over epochs (process 0 only), updated per chunk of epochs.
        random_state: seeds the batch order (64-bit integer).
        n_microbatches: pipeline_parallel only: pieces each micro-batch is cut into for the
            GPipe schedule (must divide ``batch_size``); ``None`` = ``n_devices``.

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
        backend: str = "pmap",
        optimizer_type: str | optax.GradientTransformation = "adam",
        learning_rate: Any = 0.01,
        epochs: int = 1000,
        batch_size: int | None = None,
        grad_accum_steps: int = 1,
        compute_dtype: str = "float32",
        loss_scale: str | float | None = None,
        nan_policy: str = "raise",
        loss: str = "mse",
        fit_intercept: bool = True,
        checkpoint_dir: str | None = None,
        checkpoint_every: int | None = None,
        keep_checkpoints: int = 3,
        progress: bool = False,
        random_state: int = 0,
        n_microbatches: int | None = None,
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
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.keep_checkpoints = keep_checkpoints
        self.progress = progress
        self.random_state = random_state
        self.n_microbatches = n_microbatches
        self.hyperparameters = dict(hyperparameters)
        self._validate()
        self._emulate_shards = 1  # tests: emulate data_is_local's order in one process

    # -- sklearn-style parameters ------------------------------------------------------
    _PARAM_NAMES = (
        "n_devices", "strategy", "backend", "optimizer_type", "learning_rate", "epochs",
        "batch_size", "grad_accum_steps", "compute_dtype", "loss_scale", "nan_policy", "loss",
        "fit_intercept", "checkpoint_dir", "checkpoint_every", "keep_checkpoints", "progress",
        "random_state", "n_microbatches",
    )  # fmt: skip

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments (hyperparameters included), sklearn convention."""
        return {**{k: getattr(self, k) for k in self._PARAM_NAMES}, **self.hyperparameters}

    def set_params(self, **params: Any) -> ParallelTrainer:
        """Set constructor arguments; validated first, so bad values leave ``self`` unchanged."""
        ParallelTrainer(**{**self.get_params(), **params})
        for key, value in params.items():
            if key in self._PARAM_NAMES:
                setattr(self, key, value)
            else:
                self.hyperparameters[key] = value
        return self

    def _validate(self) -> None:
        _check_int(self.n_devices, "n_devices", 1, allow_none=True)
        _choice(self.strategy, "strategy", tuple(STRATEGIES))
        _choice(self.backend, "backend", BACKENDS)
        if self.backend not in STRATEGY_BACKENDS[self.strategy]:
            raise ValueError(
                f"strategy={self.strategy!r} supports backend="
                f"{' or '.join(map(repr, STRATEGY_BACKENDS[self.strategy]))} only, got "
                f"backend={self.backend!r}"
            )
        _check_int(self.n_microbatches, "n_microbatches", 1, allow_none=True)
        if self.n_microbatches is not None and self.strategy != "pipeline_parallel":
            raise ValueError(
                f"n_microbatches applies to strategy='pipeline_parallel' only, got "
                f"strategy={self.strategy!r}"
            )
        _checks.check_int(self.epochs, "epochs", minimum=1)
        _checks.check_int(self.batch_size, "batch_size", minimum=1, allow_none=True)
        _check_int(self.grad_accum_steps, "grad_accum_steps", 1)
        check_compute_dtype(self.compute_dtype)
        check_loss_scale(self.loss_scale, self.compute_dtype)
        _choice(self.nan_policy, "nan_policy", NAN_POLICIES)
        _data.check_loss(self.loss)
        _checks.check_bool(self.fit_intercept, "fit_intercept")
        _checks.check_bool(self.progress, "progress")
        _check_int(self.checkpoint_every, "checkpoint_every", 1, allow_none=True)
        _check_int(self.keep_checkpoints, "keep_checkpoints", 1)
        if self.checkpoint_every is not None and self.checkpoint_dir is None:
            raise ValueError("checkpoint_every needs checkpoint_dir (where to write them)")
        _keys.check_seed(self.random_state, "random_state")
        if isinstance(self.optimizer_type, optax.GradientTransformation):
            _optax.make_optimizer(self.optimizer_type, **self.hyperparameters)
        else:
            _optax.check_hyperparameters(self.optimizer_type, **self.hyperparameters)
            _data.check_learning_rate(self.learning_rate)

    # -- public entry points -----------------------------------------------------------
    def fit(
        self, X: Any, y: Any, *, resume: bool = False, data_is_local: bool = False
    ) -> ParallelTrainer:
        """Train the built-in linear model (``loss``, ``fit_intercept``) on ``(X, y)``.

        Sets ``coef_``, ``intercept_``, ``params_``, ``history_``, ``n_epochs_``,
        ``converged_`` (always ``False``: no ``tol``), ``diverged_``, ``step_`` and
        ``compile_time_``. ``history_`` holds ``loss`` (at init and after every epoch, over
        the whole data set), ``skipped_steps``, ``step_time`` and ``samples_per_s`` per
        epoch (host wall time of the dispatch chunks, spread over their steps) and the
        final ``loss_scale``.

        ``resume=True`` continues from the latest checkpoint in ``checkpoint_dir`` (from
        scratch if there is none). In a multi-process run every process passes the full
        data set by default and reads its own rows; with ``data_is_local=True`` each process
        passes only its own rows (the same number in every process, ``batch_size`` a multiple
        of the number of processes): each optimizer step then takes ``batch_size / P`` rows
        from every process's shard, in the order in which the shared epoch permutation of
        the concatenated data visits that shard.
        """
        X, y = _data.check_X_y(X, y, self.loss)
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32)
        d = X.shape[1]
        params = {"w": np.zeros(d, np.float32), "b": np.zeros((), np.float32)}
        optimizer = self._optimizer(self.fit_intercept)
        params, _ = self._run(
            _linear_loss(self.loss, self.fit_intercept),
            params,
            {"X": X, "y": y},
            optimizer,
            self.epochs,
            self.batch_size,
            resume,
            data_is_local,
        )
        self.coef_ = np.asarray(params["w"])
        self.intercept_ = float(params["b"]) if self.fit_intercept else 0.0
        self.n_features_in_ = d
        return self

    def train(
        self,
        loss_fn: Callable[[Any, Any], jax.Array],
        params: Any,
        data: Any,
        *,
        optimizer: optax.GradientTransformation | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        resume: bool = False,
        data_is_local: bool = False,
    ) -> tuple[Any, dict[str, list]]:
        """Train any model given as ``loss_fn(params, batch) -> scalar mean loss of the batch``.

        ``params`` is a pytree of floating arrays (trained in float32); ``data`` a pytree of
        arrays sharing the leading (row) axis; ``batch`` has the structure of ``data``.
        ``optimizer`` defaults to the one named by ``optimizer_type``; ``epochs`` and
        ``batch_size`` default to the constructor's. Returns ``(params, history)``.

        ``loss_fn`` is evaluated per example (a vmap over batches of one row) so that the
        padded rows of a partial last batch can be masked: it must be a mean of per-row terms
        (no batch statistics). ``resume`` and ``data_is_local`` as in :meth:`fit`.
        """
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        if optimizer is None:
            optimizer = self._optimizer(False)
        elif not isinstance(optimizer, optax.GradientTransformation):
            raise TypeError(
                f"optimizer must be an optax.GradientTransformation or None, got "
                f"{type(optimizer).__name__}"
            )
        epochs = self.epochs if epochs is None else _checks.check_int(epochs, "epochs", minimum=1)
        batch_size = self.batch_size if batch_size is None else _checks.check_int(batch_size, "batch_size", minimum=1, allow_none=True)
        return self._run(loss_fn, params, data, optimizer, epochs, batch_size, resume, data_is_local)

    def predict(self, X: Any) -> np.ndarray:
        """``X @ coef_ + intercept_`` (mse) or 0/1 labels (logistic)."""
        self._check_fitted()
        X = np.asarray(_data.check_X(X, self.n_features_in_), dtype=np.float32)
        z = _model.decision_function(X, self.coef_, np.float32(self.intercept_), xp=np)
        return _model.predict_from_decision(z, self.loss, xp=np)

    def score(self, X: Any, y: Any) -> float:
        """R² for mse, accuracy for logistic."""
        X, y = _data.check_X_y(X, y, self.loss)
        return _model.score_from_predictions(
            np.asarray(y, np.float32), self.predict(X), self.loss, xp=np
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("this ParallelTrainer is not fitted yet; call fit(X, y) first")

    def _optimizer(self, fit_intercept: bool) -> optax.GradientTransformation:
        tx = _optax.make_optimizer(
            self.optimizer_type, self.learning_rate, fit_intercept, **self.hyperparameters
        )
        if isinstance(self.optimizer_type, str) and isinstance(self.learning_rate, numbers.Real):
            # Same name and numbers -> same update rule: lets a new fit reuse the program.
            key = (self.optimizer_type, float(self.learning_rate), fit_intercept,
                   tuple(sorted(self.hyperparameters.items())))  # fmt: skip
            tx = _KeyedTransformation(tx.init, tx.update, key)
        return tx

    # -- the training loop ---------------------------------------------------------------
    def _devices(self) -> list[jax.Device]:
        devices = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
        if self.n_devices is None:
            return devices
        if jax.process_count() > 1 and self.n_devices != len(devices):
            raise ValueError(
                f"n_devices must be None or {len(devices)} (all devices of all processes) in a "
                f"multi-process run, got {self.n_devices}"
            )
        if self.n_devices > len(devices):
            raise ValueError(
                f"n_devices={self.n_devices} but only {len(devices)} devices are available"
            )
        return devices[: self.n_devices]

    def _run(self, loss_fn, params, data, optimizer, epochs, batch_size, resume, data_is_local):
        _checkpoint.check_directory(self.checkpoint_dir)  # a file or unwritable: fail now
        _checks.check_bool(resume, "resume")
        _checks.check_bool(data_is_local, "data_is_local")
        if resume and self.checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir (where to find the checkpoints)")
        devices = self._devices()
        params = _check_params(params)
        data, n_rows = _check_data(data)
        _check_loss_fn(loss_fn, params, data)

        n_shards = jax.process_count() if data_is_local else self._emulate_shards
        if data_is_local and n_shards > 1:
            from jax.experimental import multihost_utils

            counts = np.asarray(multihost_utils.process_allgather(np.int64(n_rows)))
            if np.any(counts != n_rows):
                raise ValueError(
                    f"data_is_local=True needs the same number of rows in every process, got "
                    f"{counts.tolist()}"
                )
        n_rows_shard = n_rows if data_is_local or n_shards == 1 else n_rows // n_shards
        if not data_is_local and n_rows % n_shards:
            raise ValueError(f"{n_rows} rows cannot be split into {n_shards} equal shards")
        if len(devices) % n_shards:
            raise ValueError(f"{len(devices)} devices cannot be split over {n_shards} shards")
        n_global = n_rows_shard * n_shards
        batch = n_global if batch_size is None else min(batch_size, n_global)
        if batch % n_shards:
            raise ValueError(
                f"batch_size must be a multiple of the number of processes ({n_shards}) with "
                f"data_is_local=True, got {batch}"
            )
        layout = _plan.Layout(
            n_rows=n_rows_shard,
            n_shards=n_shards,
            group_devices=len(devices) // n_shards,
            batch_size=batch,
            accum=self.grad_accum_steps,
        )
        compute = check_compute_dtype(self.compute_dtype)
        cap = _plan.perms_per_chunk(n_global)
        spec = Spec(
            layout=layout,
            chunk_epochs=cap,
            compute_dtype=compute,
            loss_scale=check_loss_scale(self.loss_scale, compute),
            nan_policy=self.nan_policy,
            shard_offsets=not data_is_local and n_shards > 1,
            n_microbatches=self.n_microbatches,
        )
        fresh = TrainState(
            params=params,
            opt_state=jax.tree.map(np.asarray, optimizer.init(params)),
            loss_scale=jax.tree.map(np.asarray, init_loss_scale(spec.loss_scale)),
            step=np.int32(0),
            bad_step=np.int32(-1),
            skipped=np.zeros(cap, np.int32),
            losses=np.full(cap + 1, np.nan, np.float32),
        )
        S = layout.steps_per_epoch
        total = epochs * S
        fingerprint = {
            "n_rows": n_global,
            "batch_size": batch,
            "grad_accum_steps": self.grad_accum_steps,
            "steps_per_epoch": S,
            "random_state": self.random_state,
            "n_shards": n_shards,
        }
        hist = _History(
            losses=np.full(epochs + 1, np.nan), skipped=np.zeros(epochs, np.int64),
            epoch_time=np.zeros(epochs),
        )  # fmt: skip
        state = fresh
        if resume:
            state = self._restore(fresh, fingerprint, hist)
        if int(state.step) > total:
            raise ValueError(
                f"the checkpoint is at step {int(state.step)}, beyond this run's {total} steps "
                f"({epochs} epochs); ask for more epochs"
            )

        program, compiled, data_dev = self._program(
            devices, spec, loss_fn, optimizer, params, data, fresh
        )
        key = _keys.seed_key(self.random_state)
        g = int(state.step)
        bar = self._progress_bar(epochs, g // S)
        state_dev = program.put_state(state)
        try:
            for g1 in self._chunk_ends(g, total, S, epochs, cap):
                t0 = time.perf_counter()
                e0 = g // S
                count = (g1 - 1) // S - e0 + 1
                orders = program.put_orders(_plan.chunk_orders(key, e0, count, n_global, cap))
                state_dev = compiled(state_dev, data_dev, orders, np.int32(e0), np.int32(g),
                                     np.int32(g1))  # fmt: skip
                bad, chunk_losses, chunk_skipped = program.get_state(
                    (state_dev.bad_step, state_dev.losses, state_dev.skipped)
                )
                bad = int(bad)
                dt = time.perf_counter() - t0
                hist.record(chunk_losses, chunk_skipped, e0, g, g1, S, dt)
                if bad >= 0:
                    self._set_result(program.get_state(state_dev), hist, layout, g1 // S)
                    raise FloatingPointError(
                        f"non-finite loss at optimizer step {bad} (epoch {bad // S}, step "
                        f"{bad % S} of the epoch); nan_policy='raise'. The last finite "
                        "parameters are in params_; use nan_policy='skip' to skip such steps"
                    )
                if bar is not None:
                    bar.update(g1 // S - g // S)
                g = g1
                if self.checkpoint_dir is not None and (
                    g == total or (self.checkpoint_every and g % self.checkpoint_every == 0)
                ):
                    self._save(program.get_state(state_dev), hist, layout, fingerprint)
        finally:
            if bar is not None:
                bar.close()
        return self._set_result(program.get_state(state_dev), hist, layout, epochs)

    def _chunk_ends(self, g: int, total: int, S: int, epochs: int, cap: int):
        """Chunk boundaries: checkpoints, progress updates, ``cap`` epochs of orders each."""
        every = [total]
        if self.checkpoint_every is not None:
            every.append(self.checkpoint_every)
        if self.progress:
            every.append(max(1, epochs // _PROGRESS_CHUNKS) * S)
        while g < total:
            g = min(min((g // e + 1) * e for e in every), total, (g // S + cap) * S)
            yield g

    def _program(self, devices, spec, loss_fn, optimizer, params, data, fresh):
        """The compiled program, from a process-wide cache keyed by everything it depends on."""
        opt_key = getattr(optimizer, "accel_key", optimizer)
        key = (
            self.strategy, self.backend, tuple(devices), spec, loss_fn, opt_key,
            jax.tree.structure(params), _avals(params), jax.tree.structure(data), _avals(data),
        )  # fmt: skip
        data_dev = None
        entry = _PROGRAMS.get(key)
        if entry is None:
            build = STRATEGIES[self.strategy]
            program = build(self.backend, devices, spec, loss_fn, optimizer, params)
            t0 = time.perf_counter()
            data_dev = program.put_data(data)
            orders = program.put_orders(
                np.zeros((spec.chunk_epochs, spec.layout.n_global), np.int32)
            )
            compiled = program.run.lower(
                program.put_state(fresh), data_dev, orders, np.int32(0), np.int32(0),
                np.int32(1),
            ).compile()  # fmt: skip
            self.compile_time_ = time.perf_counter() - t0
            entry = _PROGRAMS[key] = (program, compiled)
            while len(_PROGRAMS) > _MAX_PROGRAMS:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
        else:
            _PROGRAMS.move_to_end(key)
            self.compile_time_ = 0.0
        program, compiled = entry
        if data_dev is None:
            data_dev = program.put_data(data)
        return program, compiled, data_dev

    def _progress_bar(self, epochs: int, done: int):
        if not self.progress or not _dist.is_main_process():
            return None
        from tqdm.auto import tqdm

        return tqdm(total=epochs, initial=done, desc="ParallelTrainer", unit="epoch")

    def _set_result(self, state: TrainState, hist: _History, layout, epochs_done: int):
        n_done = min(epochs_done, int(state.step) // layout.steps_per_epoch)
        times = hist.epoch_time[:n_done]
        history = {
            "loss": hist.losses[: n_done + 1].tolist(),
            "skipped_steps": hist.skipped[:n_done].astype(int).tolist(),
            "step_time": (times / layout.steps_per_epoch).tolist(),
            "samples_per_s": (layout.n_global / np.maximum(times, 1e-12)).tolist(),
            "loss_scale": float(state.loss_scale.scale),
        }
        self.params_ = state.params
        self.history_ = history
        self.n_epochs_ = n_done
        self.converged_ = False
        self.diverged_ = int(state.bad_step) >= 0
        self.step_ = int(state.step)
        return state.params, history

    # -- checkpoints ---------------------------------------------------------------------
    def _save(self, state: TrainState, hist: _History, layout, fingerprint) -> None:
        step = int(state.step)
        S = layout.steps_per_epoch
        if _dist.is_main_process():
            done = step // S
            meta = {
                "epoch": done,
                "position": step % S,
                "seed": int(self.random_state),
                "key_impl": _keys.DEFAULT_IMPL,
                "key_data": np.asarray(
                    jax.random.key_data(_keys.seed_key(self.random_state))
                ).tolist(),
                "fingerprint": fingerprint,
                "losses": hist.losses[: done + 1].tolist(),
                "skipped": hist.skipped[: math.ceil(step / S)].astype(int).tolist(),
                "epoch_time": hist.epoch_time[: math.ceil(step / S)].tolist(),
            }
            _checkpoint.save(
                self.checkpoint_dir, step, _ckpt_tree(state), meta, keep=self.keep_checkpoints
            )
        _dist.barrier(f"accel-checkpoint-{step}")

    def _restore(self, fresh: TrainState, fingerprint: dict, hist: _History) -> TrainState:
        """The latest checkpoint's state (``fresh`` if none); fills ``hist`` from it."""
        step = _checkpoint.latest_step(self.checkpoint_dir)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            step = int(multihost_utils.broadcast_one_to_all(np.int64(-1 if step is None else step)))
            step = None if step < 0 else step
        if step is None:
            return fresh
        tree, meta = _checkpoint.restore(self.checkpoint_dir, _ckpt_tree(fresh), step)
        if meta["fingerprint"] != fingerprint:
            raise ValueError(
                f"checkpoint in {self.checkpoint_dir!r} was written by a different run: "
                f"{meta['fingerprint']} != {fingerprint}"
            )
        params, opt_state, scale, good, step_arr, bad = tree
        for name in ("losses", "skipped", "epoch_time"):
            dst = getattr(hist, name)
            src = np.asarray(meta[name], dtype=dst.dtype)[: len(dst)]
            dst[: len(src)] = src
        return fresh._replace(
            params=params,
            opt_state=opt_state,
            loss_scale=LossScale(scale, good),
            step=step_arr,
            bad_step=bad,
        )


def _ckpt_tree(state: TrainState):
    return (
        state.params,
        state.opt_state,
        state.loss_scale.scale,
        state.loss_scale.good_steps,
        state.step,
        state.bad_step,
    )


class _History(NamedTuple):
    """Host-side history of a run (the program only reports per chunk)."""

    losses: np.ndarray  # float64[epochs + 1]
    skipped: np.ndarray  # int64[epochs]
    epoch_time: np.ndarray  # float64[epochs], seconds

    def record(self, chunk_losses, chunk_skipped, e0: int, g0: int, g1: int, S: int,
               dt: float) -> None:  # fmt: skip
        """Merge the outputs of the chunk of steps ``[g0, g1)`` (epochs from ``e0``)."""
        epochs = len(self.skipped)
        for e in range(g0 // S, g1 // S + 1):
            boundary = e * S
            if (boundary > g0 or boundary == g0 == 0) and boundary <= g1 and e <= epochs:
                self.losses[e] = chunk_losses[e - e0]
        per_step = dt / (g1 - g0)
        for e in range(e0, min(math.ceil(g1 / S), epochs)):
            self.skipped[e] += int(chunk_skipped[e - e0])
            self.epoch_time[e] += per_step * (min(g1, (e + 1) * S) - max(g0, e * S))


def _check_params(params: Any) -> Any:
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("params must be a non-empty pytree of floating-point arrays")
    out = []
    for leaf in leaves:
        a = np.asarray(leaf)
        if not np.issubdtype(a.dtype, np.floating):
            raise TypeError(
                f"params must hold floating-point arrays only (they are trained in float32), "
                f"got a leaf of dtype {a.dtype}"
            )
        out.append(a.astype(np.float32))
    return jax.tree.unflatten(jax.tree.structure(params), out)


def _check_data(data: Any) -> tuple[Any, int]:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data must be a non-empty pytree of arrays sharing the leading axis")
    arrays = [np.asarray(a) for a in leaves]
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("every leaf of data needs a leading (row) axis; got a scalar")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(
            f"every leaf of data must have the same number of rows, got "
            f"{[a.shape[0] for a in arrays]}"
        )
    if n == 0:
        raise ValueError("data has no rows")
    arrays = [a.astype(np.float32) if a.dtype == np.float64 else a for a in arrays]
    return jax.tree.unflatten(jax.tree.structure(data), arrays), n


def _check_loss_fn(loss_fn, params, data) -> None:
    one = jax.tree.map(lambda a: a[:1], data)
    try:
        out = jax.eval_shape(loss_fn, params, one)
    except Exception as err:  # report what was called and with what, then the cause
        raise TypeError(
            f"loss_fn(params, batch) failed on a batch of one row: {type(err).__name__}: {err}"
        ) from err
    if not hasattr(out, "shape") or out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(
            f"loss_fn(params, batch) must return a floating scalar (the batch's mean loss), "
            f"got {out}"
        )
