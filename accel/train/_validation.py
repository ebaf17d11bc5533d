"""Validation data: the loss on held-out rows after every epoch, and early stopping.

``fit(..., validation_data=(X_val, y_val))`` (``train(..., eval_data=...)``) evaluates, after
every epoch ``e`` (and at the initial parameters, ``e = 0``),

.. code-block:: text

    val_loss[e] = (1 / N_val) Σ_i loss(params_e, row_i)       over the validation rows

with the training objective's loss (for ``fit``: the built-in model's, without any
regularisation). It is recorded as ``history_['val_loss']`` (the same length as
``history_['loss']``). The best epoch is the first with the lowest ``val_loss``; its
parameters are kept (``best_params_``, ``best_epoch_``, ``best_val_loss_``). With
``patience = p``, training stops after ``p`` epochs in a row without a lower ``val_loss``
(``stopped_early_``); ``restore_best=True`` ends with the best parameters rather than the
last ones.

The validation rows are evaluated in chunks of ``CHUNK_ROWS`` on one device (a data source,
``accel.data``, is read a chunk at a time), outside the training program: a run with
validation data calls the program once per epoch.

Example:
    >>> import numpy as np
    >>> from accel import JAXOptimizer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)).astype(np.float32)
    >>> y = X @ np.array([1.0, -2.0, 0.5], np.float32) + rng.normal(size=200).astype(np.float32)
    >>> m = JAXOptimizer("adam", learning_rate=0.1, epochs=200, batch_size=50, patience=5,
    ...                  restore_best=True).fit(X[:150], y[:150], validation_data=(X[150:], y[150:]))
    >>> m.stopped_early_, len(m.history_["val_loss"]) == m.n_epochs_ + 1
    (True, True)
    >>> bool(m.best_val_loss_ == m.history_["val_loss"].min())
    True
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from accel._checks import array_is_finite

__all__ = ["CHUNK_ROWS", "EarlyStopping", "Tracker", "Validation", "check_eval_data", "check_source_rows"]

CHUNK_ROWS = 1 << 14


@functools.lru_cache(maxsize=32)
def _chunk_loss(loss_fn: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    return jax.jit(lambda params, batch: loss_fn(params, batch))


class Validation:
    """``val_loss(params)``: the mean of ``loss_fn`` over the rows of ``data`` (a pytree of
    arrays sharing the row axis, or a source with ``read(rows)``), ``CHUNK_ROWS`` at a time
    on ``device``. ``loss_fn(params, batch)`` is the batch's mean loss."""

    def __init__(self, loss_fn: Callable[[Any, Any], Any], data: Any, n_rows: int, device: Any,
                 name: str = "the validation data") -> None:  # fmt: skip
        self.loss = _chunk_loss(loss_fn)
        self.data = data
        self.n_rows = n_rows
        self.device = device
        self.name = name

    def _chunk(self, start: int, stop: int) -> Any:
        if hasattr(self.data, "read"):  # a source: its rows get the checks of arrays
            from accel.data import read_checked

            rows = read_checked(self.data, np.arange(start, stop, dtype=np.int64), finite=True, what=self.name)
            rows = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in rows.items()}
        else:
            rows = jax.tree.map(lambda a: a[start:stop], self.data)
        return jax.device_put(rows, self.device)

    def __call__(self, params: Any) -> float:
        params = jax.device_put(params, self.device)
        total = 0.0
        for start in range(0, self.n_rows, CHUNK_ROWS):
            stop = min(self.n_rows, start + CHUNK_ROWS)
            total += float(self.loss(params, self._chunk(start, stop))) * (stop - start)
        return total / self.n_rows


def check_source_rows(source: Any, name: str) -> None:
    """Every row of a validation source, ``CHUNK_ROWS`` at a time, gets the checks arrays
    get (``accel.data.read_checked``: shapes, dtypes, no NaN or infinity in any column),
    before training starts; the message names ``name`` and the file."""
    from accel.data import read_checked

    n = len(source)
    for start in range(0, n, CHUNK_ROWS):
        read_checked(source, np.arange(start, min(n, start + CHUNK_ROWS), dtype=np.int64), finite=True, what=name)


def _named(err: Exception, name: str) -> Exception:
    return type(err)(f"{name}: {err}")


def check_eval_data(eval_data: Any, template: Any) -> tuple[Any, int]:
    """``train``'s ``eval_data``: a pytree with the structure of the training data (its
    leaves' rows shaped like the training rows), or a source with the same columns.
    Returns ``(data, n_rows)``."""
    from accel.data import as_source, is_source_like

    name = "eval_data"
    if hasattr(eval_data, "read") or (is_source_like(eval_data) and not isinstance(eval_data, dict)):
        try:
            source = as_source(eval_data)
        except (TypeError, ValueError) as err:
            raise _named(err, name) from None
        spec = source.spec()
        want = {k: np.shape(v)[1:] for k, v in template.items()} if isinstance(template, dict) else None
        got = {k: v[0] for k, v in spec.items()}
        if want is not None and got != want:
            raise ValueError(f"{name} has columns {got}, the training data {want}")
        if len(source) == 0:
            raise ValueError(f"{name}: the source has no rows")
        check_source_rows(source, name)
        return source, len(source)
    if jax.tree.structure(eval_data) != jax.tree.structure(template):
        raise ValueError(
            f"{name} must have the structure of the training data "
            f"{jax.tree.structure(template)}, got {jax.tree.structure(eval_data)}"
        )
    leaves = [np.asarray(a) for a in jax.tree.leaves(eval_data)]
    for a, t in zip(leaves, jax.tree.leaves(template), strict=True):
        if a.ndim == 0 or a.shape[1:] != np.shape(t)[1:]:
            raise ValueError(
                f"{name}: a leaf of shape {a.shape} where the training data's rows are "
                f"{np.shape(t)[1:]}"
            )
        if a.dtype.kind == "f" and not array_is_finite(a):
            raise ValueError(f"{name} contains NaN or infinity")
    n = leaves[0].shape[0]
    if n == 0 or any(a.shape[0] != n for a in leaves):
        raise ValueError(f"{name} needs rows, the same number in every leaf, got {[a.shape[0] for a in leaves]}")
    leaves = [a.astype(np.float32) if a.dtype == np.float64 else a for a in leaves]
    return jax.tree.unflatten(jax.tree.structure(eval_data), leaves), n


class EarlyStopping:
    """The best epoch so far and the patience rule (module doc); serialisable for
    checkpoints (:meth:`state`, :meth:`load`)."""

    def __init__(self, patience: int | None) -> None:
        self.patience = patience
        self.best_epoch = -1
        self.best_loss = math.inf
        self.best_params: Any = None

    def record(self, epoch: int, loss: float, params: Any) -> None:
        """The validation loss after ``epoch`` epochs; keeps ``params`` (host copies) when
        it is the lowest so far."""
        if loss < self.best_loss or self.best_epoch < 0:
            self.best_epoch, self.best_loss = epoch, loss
            self.best_params = jax.tree.map(np.array, params)

    def should_stop(self, epoch: int) -> bool:
        """Whether ``patience`` epochs in a row (up to ``epoch``) brought no lower loss."""
        return self.patience is not None and epoch - self.best_epoch >= self.patience

    def state(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_loss": self.best_loss}

    def load(self, state: dict[str, Any], best_params: Any) -> None:
        self.best_epoch = int(state["best_epoch"])
        self.best_loss = float(state["best_loss"])
        self.best_params = best_params


class Tracker:
    """The validation after every epoch of a run: ``losses[e]`` (an array over the run's
    epochs, NaN where not evaluated; the run's history owns it) and the early stopping."""

    def __init__(self, validation: Validation, early: EarlyStopping, losses: np.ndarray) -> None:
        self.validation, self.early, self.losses = validation, early, losses

    def __call__(self, epoch: int, params: Any) -> bool:
        """Evaluate the parameters after ``epoch`` epochs; True: stop training (patience)."""
        if epoch < len(self.losses):
            loss = self.validation(params)
            self.losses[epoch] = loss
            self.early.record(epoch, loss, params)
        return self.early.should_stop(epoch)

    def stopped(self, epoch: int) -> bool:
        """Whether the patience rule had stopped the run after ``epoch`` epochs (resume)."""
        return epoch > 0 and self.early.should_stop(epoch)
