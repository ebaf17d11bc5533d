"""``JAXOptimizer.fit`` on a data source: the one-device programs of streamed training.

The data stay in the source (``accel.data``: a memory-mapped file, shards, any
random-access object); the input pipeline reads each step's batch while the device computes,
and the engine's one host driver runs the program with its streamed feed
(``accel.train.drive``, ``accel.train.Streamed``), as for ``ParallelTrainer``. The steps are
the engine's data-parallel step on one device (``fed=True``), with the same loop, order,
objective and stopping rules, so a fit of a source equals the fit of the same rows as
arrays (up to float32 rounding).

Example:
    >>> import numpy as np, os, tempfile
    >>> from accel import JAXOptimizer
    >>> d = tempfile.mkdtemp()
    >>> X = np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32)
    >>> np.save(os.path.join(d, "X.npy"), X); np.save(os.path.join(d, "y.npy"), X @ np.ones(3, np.float32))
    >>> m = JAXOptimizer(epochs=30, batch_size=25, learning_rate=0.1).fit(
    ...     os.path.join(d, "X.npy"), os.path.join(d, "y.npy"))   # memory-mapped, streamed
    >>> np.round(m.coef_, 1).tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from accel import _cache, _keys, _plan
from accel import train as engine
from accel._fingerprint import fingerprint
from accel._progress import progress_bar
from accel.data import StepLoader, as_source
from accel.linear import _model
from accel.linear._objective import LinearObjective
from accel.train import (
    HIST_CAP,
    EarlyStopping,
    LoopSpec,
    Tracker,
    TrainState,
    Validation,
    build_loop,
    data_parallel_parts,
    init_carry,
    one_device,
)

__all__ = ["fit", "prepare"]


def _programs(*args: Any) -> tuple[Any, Any, Any]:
    """The layout, step parts and jitted ``(steps, evaluate)`` of a streamed fit, from the
    library's one program cache (``accel._cache``)."""
    optimizer, schedule, *rest = args  # by what they compute (accel._fingerprint)
    key = ("JAXOptimizer.stream", fingerprint(optimizer), fingerprint(schedule), *rest)
    return _cache.cached(key, lambda: _build(*args))[0]


def _build(optimizer: Any, schedule: Any, loss: str, fit_intercept: bool, alpha: float, n: int,
           d: int, batch_size: int, param_dtype: Any, device: Any) -> tuple[Any, Any, Any]:  # fmt: skip
    lay = _plan.Layout(n_rows=n, n_shards=1, group_devices=1, batch_size=batch_size, accum=1)
    loop = LoopSpec(n_rows=n, steps_per_epoch=lay.steps_per_epoch, order_block=0,
                    hist_cap=HIST_CAP, has_tol=False, partial_epochs=True, evaluate=False)  # fmt: skip
    params = {"w": jnp.zeros(d, param_dtype), "b": jnp.zeros((), param_dtype)}
    parts = data_parallel_parts(
        lay, LinearObjective(loss, fit_intercept, alpha),
        make_tx=engine.transformation_factory(optimizer, schedule, fit_intercept),
        compute_dtype=param_dtype, loss_scale=1.0, nan_policy=None, params_template=params,
        fed=True, **one_device(),
    )  # fmt: skip
    steps = jax.jit(build_loop(loop, parts), donate_argnums=0)
    evaluate = jax.jit(lambda p, chunk: parts.evaluate(chunk, TrainState.fresh(p, ())))
    return lay, parts, (steps, evaluate)


def prepare(est: Any, X: Any, y: Any) -> tuple[Any, int, int]:
    """The source of ``fit(X, y)`` and its ``(n, d)``; sets ``n_features_in_`` and
    ``classes_`` (before the validation data are checked against them)."""
    source = as_source(X, y)
    if est.batch_size is None:
        raise ValueError("a streamed fit needs batch_size (the full batch would hold the whole data set)")
    n, d = est._source_fit_inputs(source)
    return source, n, d


def fit(est: Any, source: Any, n: int, d: int, hyper: dict[str, float], data_dtype: Any, pdt: Any,
        device: Any, validation: tuple[Any, int] | None = None) -> Any:  # fmt: skip
    """``JAXOptimizer.fit`` on a source prepared by :func:`prepare` (see the module doc);
    ``validation``: ``(data, n_rows)`` checked by ``_validation``. Sets the fitted
    attributes."""
    put = functools.partial(jax.device_put, device=device)
    batch = min(est.batch_size, n)
    schedule, values = engine.program_settings(est.optimizer_type, est.learning_rate, est.tol, hyper)
    alpha = float(est.alpha)
    lay, parts, (steps, evaluate) = _programs(est.optimizer_type, schedule, est.loss, est.fit_intercept,
                                              alpha, n, d, batch, pdt, device)  # fmt: skip
    hyper_arrays = {k: put(jnp.asarray(v, pdt)) for k, v in values.items()}
    params = {"w": jnp.zeros(d, pdt), "b": jnp.zeros((), pdt)}
    train = TrainState.fresh(params, parts.make_tx(hyper_arrays).init(params))
    carry = jax.tree.map(np.asarray, init_carry(
        LoopSpec(n, lay.steps_per_epoch, 0, HIST_CAP, False, True, False), train,
        parts.grad_template(params), pdt))  # fmt: skip

    def put_block(block):
        cols = {k: put(jnp.asarray(v[:, 0], data_dtype if k == "X" else pdt)) for k, v in block.columns.items()}
        return {"block": cols, "valid": put(block.valid[:, 0])}

    def put_chunk(chunk):
        cols = {k: put(jnp.asarray(v[0], data_dtype if k == "X" else pdt)) for k, v in chunk.columns.items()}
        return {"block": cols, "valid": put(chunk.valid[0])}

    programs = engine.StreamPrograms(
        steps=steps, evaluate=evaluate, put_block=put_block, put_chunk=put_chunk,
        put_carry=lambda c: jax.device_put(c, device), get=lambda x: jax.tree.map(np.asarray, x),
        params=lambda c: c.train.params,
    )  # fmt: skip
    loader = StepLoader(source, lay, est.random_state, [0], check_finite=True)
    S = lay.steps_per_epoch
    total = est.epochs * S
    key = put(jax.random.key_data(_keys.seed_key(est.random_state)))
    hist = engine.RunHistory.empty(est.epochs)
    early = validate = None
    if validation is not None:
        early = EarlyStopping(est.patience)
        validate = Tracker(Validation(_model.linear_loss(est.loss, est.fit_intercept, alpha), *validation, device),
                           early, hist.val_losses)  # fmt: skip
        validate(0, carry.train.params)
    feed = engine.Streamed(programs, loader, key, hyper_arrays, total=total, n_global=n, template=params,
                           grad_norm=functools.partial(LinearObjective.grad_norm, xp=np), tol=est.tol,
                           nonfinite_diverges=True)  # fmt: skip
    bar = progress_bar(total=est.epochs, unit="epoch", desc=est._label()) if est.progress else None
    try:
        final = feed.host(engine.drive(feed, programs.put_carry(carry), engine.Run(hist, total, S, bar=bar,
                                                                                   validate=validate)))  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
        loader.close()
    k = int(final.step) // S
    est.compile_time_ = 0.0
    history = {"loss": hist.losses[: k + 1].astype(pdt), "grad_norm": hist.grad_norms[: k + 1].astype(pdt)}
    if validate is not None:
        history["val_loss"] = hist.val_losses[: k + 1].astype(pdt)
    kept = est._store_validation(early, k, final.train.params)
    est.params_ = jax.tree.map(put, kept)
    est._store_result(kept["w"], kept["b"], history, converged=bool(final.converged),
                      diverged=bool(final.diverged),
                      tol=None if est.stopped_early_ else est.tol)  # fmt: skip
    return est
