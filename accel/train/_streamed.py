"""The streamed feed: the one training program fed a block of steps at a time.

When the data live in a source (a memory-mapped file, shards, any random-access object:
``accel.data``) rather than on the devices, the input pipeline (``accel.data.StepLoader``)
reads the rows of the coming steps while the devices compute, and the host evaluates at the
epoch ends. :class:`Streamed` is the driver's feed for such data (``accel.train.drive``, which
ends a segment at every epoch end for it):

.. code-block:: text

    advance(carry, g, g1):                            [g, g1) inside one epoch
        for each block of T steps of [g, g1):
            carry = program(carry, block)             the same steps as on resident data
        if g1 ends the epoch:
            sums = Σ over chunks of every device's rows   (the evaluation, streamed the same way)
            L, grad = sums / N
            the stopping rules (tol; divergence: back to the epoch's start state)

At most two blocks (and two evaluation chunks) are on the devices at a time: the host waits
for call ``i - 1`` after dispatching call ``i``, so the device computes while the next block
is put, and the blocks read ahead wait on the host, in the input pipeline's bounded
read-ahead, not on the devices. The evaluation's chunk sums stay on the devices until the
last chunk (one transfer, added up in float64 in order).

The steps, the update, the mini-batch order, the objective and the stopping rules are the
resident program's, so a streamed fit gives the parameters of the same fit on arrays (up to
float32 rounding). The boundary's bookkeeping (the only part written again, in NumPy) reads
the carry at the end of each epoch. :class:`Programs` is what a backend provides.

Example (one device, the linear model; see JAXOptimizer for the whole set-up):
    >>> import numpy as np
    >>> from accel import JAXOptimizer
    >>> from accel.data import ArraySource
    >>> X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    >>> y = X @ np.array([1.0, -2.0, 0.5], np.float32)
    >>> streamed = JAXOptimizer("adam", learning_rate=0.05, epochs=20, batch_size=16).fit(
    ...     ArraySource({"X": X, "y": y}))
    >>> resident = JAXOptimizer("adam", learning_rate=0.05, epochs=20, batch_size=16).fit(X, y)
    >>> bool(np.allclose(streamed.coef_, resident.coef_, rtol=1e-5))
    True
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from accel.train import _stopping
from accel.train._driver import Report
from accel.train._history import Boundaries

__all__ = ["Programs", "Streamed"]


class Programs(NamedTuple):
    """A backend's compiled pieces for streamed training (host <-> device included)."""

    steps: Callable[..., Any]  # (carry_dev, block_dev, key, hyper, stop) -> (carry_dev, history)
    evaluate: Callable[[Any, Any], Any]  # (params_dev, chunk_dev) -> device sums [loss, grad...]
    put_block: Callable[[Any], Any]  # accel.data.Block -> program input
    put_chunk: Callable[[Any], Any]  # a chunk of rows (accel.data.StepLoader.chunks) -> program input
    put_carry: Callable[[Any], Any]  # host carry -> program input
    get: Callable[[Any], Any]  # program output -> host NumPy
    params: Callable[[Any], Any]  # carry_dev -> the parameters as the evaluation takes them


def _unflatten(template: Any, flat: np.ndarray) -> Any:
    """``flat`` (the order of ``ravel_pytree(template)``) as a pytree of NumPy arrays shaped
    like ``template``'s leaves, in ``flat``'s dtype."""
    leaves, treedef = jax.tree.flatten(template)
    sizes = np.cumsum([np.size(a) for a in leaves])[:-1]
    parts = np.split(flat, sizes)
    return jax.tree.unflatten(treedef, [x.reshape(np.shape(a)) for x, a in zip(parts, leaves, strict=True)])


class Streamed:
    """The driver's feed of data streamed by ``loader`` (an ``accel.data.StepLoader``) to
    ``programs``, for a run of ``total`` steps over ``n_global`` rows. ``template``: the
    parameters (the gradient's structure); ``grad_norm(grad)``: the norm of the evaluation's
    gradient on the host, or ``None`` when the evaluation gives the loss only (any
    ``loss_fn``); ``tol`` and ``nonfinite_diverges``: the stopping rules' settings;
    ``eval_every``: the evaluation's schedule (``LoopSpec.eval_every``; the run's last epoch is
    ``total // S``): an epoch end off it reads no chunk and records NaN. ``pass_loss``: the
    history's loss is the training pass's instead (``LoopSpec.pass_loss``: the steps add it
    up in ``TrainState.pass_loss``; no chunk is read)."""

    evaluates_on_host = True

    def __init__(self, programs: Programs, loader: Any, key: Any, hyper: Any, *, total: int,
                 n_global: int, template: Any, grad_norm: Callable[[Any], float] | None,
                 tol: float | None, nonfinite_diverges: bool, eval_every: int = 1,
                 pass_loss: bool = False) -> None:  # fmt: skip
        self.programs, self.loader, self.key, self.hyper = programs, loader, key, hyper
        self.total, self.n_global, self.template = total, n_global, template
        self.grad_norm, self.tol, self.nonfinite_diverges = grad_norm, tol, nonfinite_diverges
        self.eval_every, self.pass_loss = eval_every, pass_loss
        self.snapshot: Any = None  # host carry at the current epoch's start (divergence goes back)

    def _evaluate(self, carry_dev: Any) -> tuple[float, Any, float, float]:
        """The full-data loss (and gradient) at the carry's parameters, streamed by chunks,
        and the seconds spent waiting for the chunks."""
        p = self.programs
        params = p.params(carry_dev)
        pending = []  # each chunk's sums, on the devices: one wait for all (the devices sum
        wait = 0.0  # a chunk while the next is read)
        parts = self.loader.chunks()
        while True:
            t0 = time.perf_counter()
            part = next(parts, None)
            wait += time.perf_counter() - t0
            if part is None:
                break
            pending.append(p.evaluate(params, p.put_chunk(part)))
            if len(pending) > 1:  # at most two chunks on the devices
                jax.block_until_ready(pending[-2])
        # added up in float64, in order
        total = functools.reduce(np.add, (np.asarray(sums, np.float64) for sums in p.get(pending)))
        total = np.atleast_1d(total) / self.n_global
        if self.grad_norm is None:
            return float(total[0]), (), float("nan"), wait
        exact = _unflatten(self.template, total[1:])  # float64, for the norm
        grad = jax.tree.map(lambda g, p: g.astype(np.asarray(p).dtype), exact, self.template)
        return float(total[0]), grad, float(self.grad_norm(exact)), wait

    def start(self, carry_dev: Any) -> tuple[Any, Report | None]:
        """Evaluate the initial parameters when the run starts from scratch."""
        carry = self.programs.get(carry_dev)
        self.snapshot = carry
        if bool(carry.started):
            return carry_dev, None
        if self.eval_every == 0 or self.pass_loss:  # no full-data evaluation, ever
            carry = self.snapshot = carry._replace(started=np.bool_(True))
            return self.programs.put_carry(carry), None
        t0 = time.perf_counter()
        loss, grad, gnorm, wait = self._evaluate(carry_dev)
        value = np.asarray(carry.loss).dtype.type(loss)
        bad = bool(_stopping.diverged(value, value, np, nonfinite=self.nonfinite_diverges))
        carry = carry._replace(
            loss=value, loss0=value, grad=grad if self.grad_norm else carry.grad,
            started=np.bool_(True), diverged=np.bool_(bad),
        )  # fmt: skip
        self.snapshot = carry
        report = Report(0, -1, False, bad, loss, Boundaries.one(0, loss, gnorm, 0), time.perf_counter() - t0, wait)
        return self.programs.put_carry(carry), report

    def advance(self, carry_dev: Any, g: int, g1: int, S: int) -> tuple[Any, Report]:
        """Steps ``[g, g1)`` (inside one epoch), then, at the epoch's end, the evaluation and
        the stopping rules."""
        p = self.programs
        t0 = time.perf_counter()
        wait = 0.0
        running = None  # the call before this one: at most two blocks are on the devices
        for block in self.loader.blocks(g, g1, until=self.total):
            carry_dev, out = p.steps(carry_dev, p.put_block(block), self.key, self.hyper, block.first + block.count)
            wait += block.wait_s
            if running is not None:
                jax.block_until_ready(running)
            running = out  # not donated to the next call, unlike the carry
        if g1 % S:  # inside the epoch: nothing to decide yet
            carry = p.get((carry_dev.step, carry_dev.train.bad_step, carry_dev.loss))
            return carry_dev, Report(int(carry[0]), int(carry[1]), False, False, float(carry[2]), None,
                                     time.perf_counter() - t0, wait)  # fmt: skip
        carry = p.get(carry_dev)
        dtype = np.asarray(carry.loss).dtype
        if self.pass_loss:  # the training pass's loss: the steps' sums, reset for the next epoch
            total, rows = (float(v) for v in carry.train.pass_loss)
            value, grad, gnorm = dtype.type(total / rows if rows else np.nan), carry.grad, float("nan")
            loss = float(value)
            loss0 = value if np.isnan(carry.loss0) else carry.loss0  # the first epoch's
            carry = carry._replace(train=carry.train._replace(pass_loss=np.zeros_like(carry.train.pass_loss)),
                                   loss0=loss0)  # fmt: skip
        elif not _stopping.evaluation_due(g1 // S, self.eval_every, self.total // S):
            self.snapshot = carry
            ends = Boundaries.one(g1 // S, float("nan"), float("nan"), int(carry.train.skipped))
            report = Report(int(carry.step), int(carry.train.bad_step), False, False, float("nan"),
                            ends, time.perf_counter() - t0, wait)  # fmt: skip
            return carry_dev, report
        else:
            loss, grad, gnorm, chunks_wait = self._evaluate(carry_dev)
            wait += chunks_wait
            value = dtype.type(loss)
        halted = int(carry.train.bad_step) >= 0
        bad = bool(_stopping.diverged(value, carry.loss0, np, nonfinite=self.nonfinite_diverges)) and not halted
        if bad:  # back to the epoch's start
            carry = self.snapshot._replace(converged=np.bool_(False), diverged=np.bool_(True))
            ends = None
        else:
            conv = self.tol is not None and bool(_stopping.converged(carry.loss, value, self.tol, np))
            carry = carry._replace(loss=value, grad=grad if self.grad_norm else carry.grad,
                                   converged=np.bool_(conv), diverged=np.bool_(False))  # fmt: skip
            ends = Boundaries.one(g1 // S, loss, gnorm, int(carry.train.skipped))
        self.snapshot = carry
        report = Report(int(carry.step), int(carry.train.bad_step), bool(carry.converged), bad,
                        float(carry.loss), ends, time.perf_counter() - t0, wait)  # fmt: skip
        return p.put_carry(carry), report

    def host(self, carry_dev: Any) -> Any:
        return self.programs.get(carry_dev)

    def params(self, carry_dev: Any) -> Any:
        return self.programs.get(self.programs.params(carry_dev))
