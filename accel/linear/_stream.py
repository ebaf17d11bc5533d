"""Training on streamed data: the one training program fed a block of steps at a time.

When the data live in a source (a memory-mapped file, shards, any random-access object:
``accel.data``) rather than on the devices, the input pipeline (``accel.data.StepLoader``)
reads the rows of the coming steps while the devices compute, and the host drives the epochs:

.. code-block:: text

    for each epoch e (from the run's step):
        for each block of T steps [g, g + T) of e:
            carry = program(carry, block)           the same steps as on resident data
        sums = Σ over chunks of every device's rows   (the evaluation, streamed the same way)
        L_e, g_e = sums / N
        the stopping rules of _stopping (tol, divergence: back to the epoch's start state)

The steps, the update, the mini-batch order, the objective and the stopping rules are the
resident program's (``_program``, ``_step``, ``_stopping``), so a streamed fit gives the
parameters of the same fit on arrays (up to float32 rounding). The boundary's bookkeeping
(the only part written again, in NumPy) reads the carry at the end of each epoch.

:class:`Programs` is what a backend provides; :func:`run` is the host loop (a generator: it
yields after every call, so the caller can checkpoint, update a progress bar, or stop).

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

import time
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
from jax.flatten_util import ravel_pytree

from accel.linear import _model, _stopping

__all__ = ["Call", "Programs", "check_linear_source", "run"]

_LABEL_ROWS = 1 << 16  # labels read at a time by check_linear_source


class Programs(NamedTuple):
    """A backend's compiled pieces for streamed training (host <-> device included)."""

    steps: Callable[..., Any]  # (carry_dev, block_dev, key, hyper, stop) -> (carry_dev, history)
    evaluate: Callable[[Any, Any], Any]  # (params_dev, chunk_dev) -> device sums [loss, grad...]
    put_block: Callable[[Any], Any]  # accel.data.Block -> program input
    put_chunk: Callable[[Any], Any]  # accel.data._pipeline.Chunk -> program input
    put_carry: Callable[[Any], Any]  # host carry -> program input
    get: Callable[[Any], Any]  # program output -> host NumPy
    params: Callable[[Any], Any]  # carry_dev -> the parameters as the evaluation takes them


class Call(NamedTuple):
    """What :func:`run` reports after each program call: the device carry, the global steps
    the call ran ``[g0, g1)``, the seconds the host waited for data and the call's wall time,
    and the history entry when the call ended an epoch (else ``None``). The first report of a
    run that starts from scratch is the initial evaluation (``g0 == g1 == 0``)."""

    carry: Any
    g0: int
    g1: int
    wait_s: float
    wall_s: float
    epoch_end: tuple[float, float, int] | None  # (loss, grad norm, skipped steps so far)


def check_linear_source(source: Any, loss: str) -> tuple[int, int]:
    """``(n, d)`` of a source for the linear model: columns ``'X'`` (rows of ``d``
    features) and ``'y'`` (scalars); with ``loss='logistic'`` the labels must be 0 and 1
    (checked by reading ``y`` once)."""
    spec = source.spec()
    if set(spec) != {"X", "y"}:
        raise ValueError(f"a source for fit needs the columns 'X' and 'y', got {sorted(spec)}")
    if len(spec["X"][0]) != 1 or spec["X"][0][0] == 0:
        raise ValueError(f"column 'X' must hold rows of features (1-D each), got rows of shape {spec['X'][0]}")
    if spec["y"][0] != ():
        raise ValueError(f"column 'y' must hold one number per row, got rows of shape {spec['y'][0]}")
    n = len(source)
    if n == 0:
        raise ValueError("the source has no rows")
    if loss == "logistic":
        for start in range(0, n, _LABEL_ROWS):
            y = source.read(np.arange(start, min(n, start + _LABEL_ROWS)))["y"]
            if not np.all((y == 0) | (y == 1)):
                raise ValueError("a streamed fit with loss='logistic' needs labels 0 and 1 in column 'y'")
    return n, spec["X"][0][0]


def _evaluate(programs: Programs, carry_dev: Any, loader: Any, n_global: int,
              template: Any, linear: bool) -> tuple[float, Any, float, float]:  # fmt: skip
    """The full-data loss (and gradient) at the carry's parameters, streamed by chunks,
    and the seconds spent waiting for the chunks."""
    params = programs.params(carry_dev)
    total = None
    wait = 0.0
    parts = loader.chunks()
    while True:
        t0 = time.perf_counter()
        part = next(parts, None)
        wait += time.perf_counter() - t0
        if part is None:
            break
        sums = np.asarray(programs.get(programs.evaluate(params, programs.put_chunk(part))), np.float64)
        total = sums if total is None else total + sums
    total = np.atleast_1d(total) / n_global
    if not linear:
        return float(total[0]), (), float("nan"), wait
    _, unravel = ravel_pytree(template)
    grad = {k: np.asarray(v) for k, v in unravel(total[1:].astype(np.asarray(template["w"]).dtype)).items()}
    return float(total[0]), grad, float(_model.grad_norm(total[2:], total[1], np)), wait


def _settle(carry: Any, snapshot: Any, loss: float, grad: Any, *, tol: float | None,
            nonfinite_diverges: bool, halted: bool) -> Any:  # fmt: skip
    """The epoch boundary of ``_program`` on the host: the stopping rules of ``_stopping``;
    a diverged epoch goes back to ``snapshot`` (the carry at the epoch's start)."""
    dtype = np.asarray(carry.loss).dtype
    loss = dtype.type(loss)
    bad = bool(_stopping.diverged(loss, carry.loss0, np, nonfinite=nonfinite_diverges)) and not halted
    conv = tol is not None and bool(_stopping.converged(carry.loss, loss, tol, np)) and not bad
    if bad:
        return snapshot._replace(converged=np.bool_(False), diverged=np.bool_(True))
    return carry._replace(loss=loss, grad=grad, converged=np.bool_(conv), diverged=np.bool_(False))


def run(programs: Programs, carry: Any, loader: Any, key: Any, hyper: Any, *, total: int,
        steps_per_epoch: int, n_global: int, template: Any, linear: bool,
        tol: float | None, nonfinite_diverges: bool, ends: Iterator[int]) -> Iterator[Call]:  # fmt: skip
    """Train from the host carry ``carry`` to global step ``total`` (or a stopping rule):
    yields a :class:`Call` after every program call; ``ends`` gives (ascending) global steps
    where calls must end besides block and epoch ends (checkpoints, progress).

    The host waits for the devices only at epoch ends (the evaluation) and where the caller
    reads the carry: meanwhile the next blocks are read by the input pipeline's threads."""
    S = steps_per_epoch
    if not bool(carry.started):  # the evaluation at the initial parameters
        t0 = time.perf_counter()
        loss, grad, gnorm, _ = _evaluate(programs, programs.put_carry(carry), loader, n_global, template, linear)
        value = np.asarray(carry.loss).dtype.type(loss)
        carry = carry._replace(
            loss=value, loss0=value, grad=grad if linear else carry.grad, started=np.bool_(True),
            diverged=np.bool_(_stopping.diverged(value, value, np, nonfinite=nonfinite_diverges)),
        )  # fmt: skip
        yield Call(programs.put_carry(carry), 0, 0, 0.0, time.perf_counter() - t0, (loss, gnorm, 0))
    snapshot = carry  # the carry at the current epoch's start: where a diverged epoch returns
    carry_dev = programs.put_carry(carry)
    g = int(carry.step)
    extra = next(ends, None)
    while g < total and not (bool(carry.converged) or bool(carry.diverged)):
        while extra is not None and extra <= g:
            extra = next(ends, None)
        epoch_end = (g // S + 1) * S
        g1 = min(epoch_end, total, total if extra is None else extra)
        for block in loader.blocks(g, g1, until=total):
            t0 = time.perf_counter()
            stop = block.first + block.count
            carry_dev, _ = programs.steps(carry_dev, programs.put_block(block), key, hyper, stop)
            entry = None
            wait = block.wait_s
            if stop == epoch_end:  # the boundary: evaluate, then the stopping rules
                carry = programs.get(carry_dev)
                loss, grad, gnorm, chunks_wait = _evaluate(programs, carry_dev, loader, n_global,
                                                           template, linear)  # fmt: skip
                wait += chunks_wait
                carry = _settle(carry, snapshot, loss, grad if linear else carry.grad, tol=tol,
                                nonfinite_diverges=nonfinite_diverges,
                                halted=int(carry.train.bad_step) >= 0)  # fmt: skip
                if not bool(carry.diverged):
                    entry = (loss, gnorm, int(carry.train.skipped))
                snapshot = carry
                carry_dev = programs.put_carry(carry)
            yield Call(carry_dev, block.first, stop if entry is not None or stop != epoch_end else int(carry.step),
                       wait, time.perf_counter() - t0 + block.wait_s, entry)  # fmt: skip
            g = stop
        if g == epoch_end or g >= total:
            g = int(carry.step) if bool(carry.diverged) else g
        if g % S == 0 and (bool(carry.converged) or bool(carry.diverged) or int(carry.train.bad_step) >= 0):
            return
