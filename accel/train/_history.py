"""A run's history on the host: what every program call reported, merged per epoch.

A run is cut into program calls (:func:`accel.train.drive`); each call reports the epoch
boundaries it reached (the loss, the gradient norm and the count of skipped steps there)
and its wall time. :class:`RunHistory` holds them for the whole run, indexed by epoch
(entry 0: the initial parameters), and the estimators read their ``history_`` from it. A
call's wall time is spread over the epochs of its steps in proportion to their number.

Example:
    >>> from accel.train._history import RunHistory
    >>> import numpy as np
    >>> from accel.train._history import Boundaries
    >>> h = RunHistory.empty(2)
    >>> ends = Boundaries(0, np.array([4.0, 1.0]), np.array([2.0, 1.0]), np.array([0, 0]))
    >>> h.record(ends, 0, 3, 3, wall=0.3, wait=0.0)
    >>> h.losses.tolist()[:2], [round(t, 2) for t in h.epoch_time.tolist()]
    ([4.0, 1.0], [0.3, 0.0])
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Boundaries", "RunHistory", "chunk_ends"]


class Boundaries(NamedTuple):
    """Consecutive epoch ends a call reached: epochs ``first, first + 1, ...`` (epoch 0: the
    initial parameters) with their loss, gradient norm and skipped steps so far."""

    first: int
    loss: np.ndarray
    grad_norm: np.ndarray
    skipped: np.ndarray

    @classmethod
    def one(cls, epoch: int, loss: float, grad_norm: float, skipped: int) -> Boundaries:
        return cls(epoch, np.array([loss]), np.array([grad_norm]), np.array([skipped]))


class RunHistory(NamedTuple):
    """Host-side history of a run (arrays filled as the program calls report)."""

    losses: np.ndarray  # float64[epochs + 1]: loss at init and after each epoch
    grad_norms: np.ndarray  # float64[epochs + 1]
    counter: np.ndarray  # int64[epochs + 1]: skipped steps since the start, at each boundary
    epoch_time: np.ndarray  # float64[epochs]: seconds
    wait_time: np.ndarray  # float64[epochs]: seconds the host waited for data (streamed runs)
    val_losses: np.ndarray  # float64[epochs + 1]: validation loss (NaN without validation data)

    @classmethod
    def empty(cls, epochs: int) -> RunHistory:
        return cls(
            np.full(epochs + 1, np.nan), np.full(epochs + 1, np.nan),
            np.zeros(epochs + 1, np.int64), np.zeros(epochs), np.zeros(epochs),
            np.full(epochs + 1, np.nan),
        )  # fmt: skip

    def record(self, ends: Boundaries | None, g0: int, g1: int, S: int, *, wall: float, wait: float) -> None:
        """Merge a call that moved the run from step ``g0`` to ``g1``: ``ends`` are the epoch
        ends it reached (epoch 0: the initial evaluation); ``wall`` and ``wait`` seconds are
        spread over its epochs."""
        if ends is not None and len(ends.loss):
            stop = min(ends.first + len(ends.loss), len(self.losses))
            k = stop - ends.first
            self.losses[ends.first : stop] = ends.loss[:k]
            self.grad_norms[ends.first : stop] = ends.grad_norm[:k]
            self.counter[ends.first : stop] = ends.skipped[:k]
        e0, e1 = g0 // S, min(math.ceil(g1 / S), len(self.epoch_time))
        if g1 <= g0 or e1 <= e0:
            return
        e = np.arange(e0, e1)
        share = (np.minimum(g1, (e + 1) * S) - np.maximum(g0, e * S)) / (g1 - g0)
        self.epoch_time[e0:e1] += wall * share
        self.wait_time[e0:e1] += wait * share

    def as_dict(self, epochs_done: int, n_rows: int, S: int, loss_scale: float,
                validation: bool = False) -> dict[str, Any]:  # fmt: skip
        """``ParallelTrainer``'s ``history_`` of a run that completed ``epochs_done`` epochs."""
        times = self.epoch_time[:epochs_done]
        wait = self.wait_time[:epochs_done]
        extra = {"val_loss": self.val_losses[: epochs_done + 1].astype(np.float32)} if validation else {}
        return {
            "loss": self.losses[: epochs_done + 1].astype(np.float32),
            "grad_norm": self.grad_norms[: epochs_done + 1].astype(np.float32),
            "skipped_steps": np.diff(self.counter[: epochs_done + 1]),
            "step_time": times / S,
            "samples_per_s": n_rows / np.maximum(times, 1e-12),
            # per step: waiting for the input pipeline vs the rest (computing, dispatching)
            "data_wait_time": wait / S,
            "compute_time": (times - wait) / S,
            "loss_scale": float(loss_scale),
            **extra,
        }


def chunk_ends(g: int, total: int, S: int, every: list[int], cap_epochs: int):
    """Global steps at which calls end: multiples of each period in ``every``, ``total``,
    and at most ``cap_epochs`` epoch boundaries per call."""
    while g < total:
        g = min(min((g // e + 1) * e for e in every), total, (g // S + cap_epochs) * S)
        yield g
