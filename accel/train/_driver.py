"""The one host driver: a compiled training program run over resident or streamed data.

``JAXOptimizer.fit`` and ``ParallelTrainer.fit``/``train`` (every strategy, every backend,
resident or streamed data) run their compiled program through :func:`drive`. The driver
cuts the run into program calls only where the host must act, and acts there:

.. code-block:: text

    for each call end g1 (multiples of each period in Run.every and of checkpoint_every,
                          the run's end, at most HIST_CAP epochs per call; every epoch end
                          with validation data or when the feed evaluates on the host):
        carry, report = feed.advance(carry, g, g1)    the steps [g, g1) and their epoch ends
        history    <- report's epoch boundaries and wall time   (RunHistory)
        progress   <- epochs done, the loss
        bad step   -> Run.halt (raises: nan_policy='raise')
        epoch end  -> validation loss, early stopping (Tracker)
        checkpoint at multiples of checkpoint_every, on stopping, at the end
        stop at the stopping rules (tol, divergence) or early stopping

A *feed* (:class:`Feed`) is how the steps reach the devices:

* :class:`Resident`: the data are on the devices; one call of the program runs many
  epochs, the full-data evaluation and the stopping rules inside it;
* ``Streamed`` (``accel.train``'s streamed feed): the input pipeline feeds blocks of steps;
  the host evaluates at epoch ends, streaming the data again, and applies the same rules.

Example (the program of the loop's own example, resident data, 3 epochs):
    >>> import jax, jax.numpy as jnp, numpy as np, optax
    >>> from accel.train import LoopSpec, Parts, TrainState, build_loop, init_carry
    >>> from accel.train._driver import Resident, Run, drive
    >>> from accel.train._history import RunHistory
    >>> spec = LoopSpec(n_rows=1, steps_per_epoch=1, order_block=0, hist_cap=8, has_tol=False,
    ...                 partial_epochs=True)
    >>> def step(tx, data, train, ctx, index, boundary):
    ...     updates, opt = tx.update(boundary[1], train.opt_state, train.params)
    ...     return train._replace(params=optax.apply_updates(train.params, updates), opt_state=opt)
    >>> parts = Parts(make_tx=lambda h: optax.sgd(h["learning_rate"]), epoch_context=lambda d, o: None,
    ...               step=step, evaluate=lambda d, t: (0.5 * (t.params - 3) ** 2, t.params - 3, jnp.abs(t.params - 3)),
    ...               grad_template=jnp.zeros_like)
    >>> program = jax.jit(build_loop(spec, parts))
    >>> w = jnp.float32(0.0)
    >>> carry = init_carry(spec, TrainState.fresh(w, optax.sgd(0.5).init(w)), jnp.float32(0), jnp.float32)
    >>> feed = Resident(program, None, None, {"learning_rate": jnp.float32(0.5)}, put_stop=jnp.int32,
    ...                 get=jax.device_get, params=lambda carry, extra: carry.train.params)
    >>> hist = RunHistory.empty(3)
    >>> carry = drive(feed, carry, Run(hist, total=3, S=1), g=0)
    >>> hist.losses.tolist(), float(carry.train.params)
    ([4.5, 1.125, 0.28125, 0.0703125], 2.625)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import numpy as np

from accel.train._history import Boundaries, RunHistory, chunk_ends
from accel.train._loop import HIST_CAP

__all__ = ["Feed", "Report", "Resident", "Run", "drive"]


class Report(NamedTuple):
    """What one program call (or one streamed segment) did, read back on the host."""

    step: int  # the global step the carry is at
    bad_step: int  # -1, or the first step with a non-finite loss (nan_policy='raise')
    converged: bool  # the tol rule stopped the run
    diverged: bool  # the divergence rule stopped the run
    loss: float  # the loss at the last epoch boundary reached (progress bar), or NaN
    ends: Boundaries | None  # the epoch ends reached (with the initial evaluation: epoch 0)
    wall_s: float
    wait_s: float  # of wall_s: the host waiting for the input pipeline

    @property
    def stopped(self) -> bool:
        """A stopping rule ended the run."""
        return self.converged or self.diverged


class Run(NamedTuple):
    """What the driver does around the calls, besides running them."""

    hist: RunHistory
    total: int  # the run's last global step
    S: int  # optimizer steps per epoch
    every: tuple[int, ...] = ()  # periods (in steps) at which a call must end
    checkpoint_every: int | None = None
    save: Callable[[Any, RunHistory], None] | None = None  # (host carry, history); None: none
    bar: Any = None  # a tqdm bar over epochs, or None
    validate: Any = None  # accel.train.Tracker, or None
    halt: Callable[[Any, int], Any] | None = None  # raises: a non-finite loss at step ``bad``


class Feed(Protocol):
    """How the steps reach the devices (:class:`Resident`, ``accel.train.Streamed``). The
    carry is always in the program's form (on the devices)."""

    evaluates_on_host: bool  # the host evaluates at epoch ends: every epoch end ends a call

    def start(self, carry: Any) -> tuple[Any, Report | None]:
        """Before the first call: the initial evaluation, when the feed makes it itself."""

    def advance(self, carry: Any, g: int, g1: int, S: int) -> tuple[Any, Report]:
        """Run steps ``[g, g1)`` (and the epoch ends among them)."""

    def host(self, carry: Any) -> Any:
        """The carry as NumPy arrays on the host (checkpoints, the final result)."""

    def params(self, carry: Any) -> Any:
        """The parameters, as the validation takes them."""


class Resident:
    """The feed of data held on the devices: ``call(carry, data, key, hyper, stop)`` returns
    ``(carry, history, *extra)`` and runs steps up to ``stop`` with the evaluation at every
    epoch end in the program (``accel.train.build_loop``; its first call also evaluates the
    initial parameters). ``put_stop`` places the step bound, ``get`` brings program outputs
    to the host (NumPy), ``params(carry, extra)`` gives the parameters the validation takes.
    After each call ``extra`` holds the call's further outputs and ``last`` its report; with
    ``host_extra`` they come to the host with the report, in the same transfer
    (``extra_host``)."""

    evaluates_on_host = False

    def __init__(self, call: Callable[..., Any], data: Any, key: Any, hyper: Any, *,
                 put_stop: Callable[[Any], Any], get: Callable[[Any], Any],
                 params: Callable[[Any, tuple], Any], host_extra: bool = False) -> None:  # fmt: skip
        self.call, self.data, self.key, self.hyper = call, data, key, hyper
        self.put_stop, self.get, self._params, self.host_extra = put_stop, get, params, host_extra
        self.extra: tuple = ()  # the last call's outputs beyond (carry, history)
        self.extra_host: tuple = ()  # the same on the host (with host_extra)
        self.last: Report | None = None  # the last call's report

    def start(self, carry: Any) -> tuple[Any, Report | None]:
        return carry, None  # the first call evaluates the initial parameters

    def advance(self, carry: Any, g: int, g1: int, S: int) -> tuple[Any, Report]:
        t0 = time.perf_counter()
        carry, hist, *extra = self.call(carry, self.data, self.key, self.hyper, self.put_stop(np.int32(g1)))
        self.extra = tuple(extra)
        (curve, counts), self.extra_host = self.get((hist, self.extra if self.host_extra else ()))
        step, bad, converged, diverged = (int(v) for v in counts[:4])
        # column 1 + i of the curve: the end of epoch g // S + i (partial epochs: the run may
        # have started inside that epoch); column 0: the initial evaluation, when made
        k = step // S - g // S
        first = 0 if g == 0 and np.isfinite(curve[0, 0]) else 1
        skipped = counts[4 : 4 + k] if first else np.concatenate([[0], counts[4 : 4 + k]])
        ends = Boundaries(g // S + first, curve[0, first : 1 + k], curve[1, first : 1 + k], skipped)
        loss = float(curve[0, k]) if k else float("nan")
        self.last = Report(step, bad, bool(converged), bool(diverged), loss, ends,
                           time.perf_counter() - t0, 0.0)  # fmt: skip
        return carry, self.last

    def host(self, carry: Any) -> Any:
        return self.get(carry)

    def params(self, carry: Any) -> Any:
        return self._params(carry, self.extra)


def _due(run: Run, g: int, stopped: bool) -> bool:
    """Whether a checkpoint is written at step ``g``."""
    if run.save is None:
        return False
    return g == run.total or stopped or bool(run.checkpoint_every and g % run.checkpoint_every == 0)


def drive(feed: Feed, carry: Any, run: Run, g: int = 0) -> Any:
    """Run ``feed`` from ``carry`` (as the program takes it: on the devices) at global step
    ``g`` to step ``run.total`` or a stopping rule (module doc); returns the last carry, as
    the program gave it (``feed.host(carry)``: its host copy)."""
    S = run.S
    if run.validate is not None and g % S == 0 and run.validate.stopped(g // S):
        return carry  # a resumed run that early stopping had ended
    carry, first = feed.start(carry)
    if first is not None:  # the feed evaluated the initial parameters itself
        run.hist.record(first.ends, 0, 0, S, wall=first.wall_s, wait=first.wait_s)
        if first.stopped:  # diverged there: as a resident program's first call would end
            if _due(run, g, True):
                run.save(feed.host(carry), run.hist)
            return carry
    every = [run.total, *run.every]
    if run.checkpoint_every:
        every.append(run.checkpoint_every)
    if run.validate is not None or feed.evaluates_on_host:
        every.append(S)  # the host acts at every epoch end
    for g1 in chunk_ends(g, run.total, S, every, HIST_CAP):
        carry, report = feed.advance(carry, g, g1, S)
        run.hist.record(report.ends, g, report.step, S, wall=report.wall_s, wait=report.wait_s)
        if run.bar is not None:
            run.bar.update(report.step // S - g // S)
            if np.isfinite(report.loss):
                run.bar.set_postfix(loss=f"{report.loss:.4g}", refresh=False)
        epoch_ended = report.step % S == 0 and report.step > g and not report.diverged
        g, stopped = report.step, report.stopped
        if report.bad_step >= 0 and run.halt is not None:
            run.halt(feed.host(carry), report.bad_step)
        if run.validate is not None and epoch_ended:
            stopped = run.validate(g // S, feed.params(carry)) or stopped
        if _due(run, g, stopped):
            run.save(feed.host(carry), run.hist)
        if stopped:
            break
    return carry
