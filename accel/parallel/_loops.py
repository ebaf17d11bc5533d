"""The host loops of a ParallelTrainer run: resident data, or data fed by the input pipeline.

Both call the compiled program (``_data_parallel``/other strategies) until the run's last
step or a stopping rule, merge each call's history (``_runner.RunHistory``), write
checkpoints (at multiples of ``checkpoint_every``, on stopping, and at the end), update the
progress bar and, with validation data, evaluate after every epoch (``_validation.Tracker``,
which may stop the run early).

* :func:`resident`: the data are on the devices; one call runs many epochs and ends only
  where the host must act (``_runner.chunk_ends``: checkpoints, progress, the history's
  capacity, and every epoch with validation data);
* :func:`fed`: the data stream through the input pipeline, ``_fed.BLOCK_STEPS`` steps per
  call, the epochs driven by ``accel.linear._stream``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from accel.linear import engine
from accel.parallel import _fed, _runner

__all__ = ["Run", "fed", "resident"]


class Run(NamedTuple):
    """What the loops need of the run besides the program."""

    hist: _runner.RunHistory
    total: int  # the run's last global step
    S: int  # optimizer steps per epoch
    n_global: int  # rows
    every: list[int]  # periods (in steps) at which a resident call must end
    checkpoint_every: int | None
    save: Callable[[engine.Carry, _runner.RunHistory], None] | None  # None: no checkpoints
    bar: Any  # a tqdm bar over epochs, or None
    validate: engine.Tracker | None
    halt: Callable[[engine.Carry, int], Any]  # raises: a non-finite loss at step ``bad``


def _due(run: Run, g: int, stopped: bool) -> bool:
    """Whether a checkpoint is written at step ``g``."""
    if run.save is None:
        return False
    return g == run.total or stopped or bool(run.checkpoint_every and g % run.checkpoint_every == 0)


def resident(program: Any, compiled: Any, args: tuple, g: int, run: Run) -> engine.Carry:
    """Resident data: calls of the program from step ``g``; returns the final host carry."""
    carry_dev, data_dev, key_dev, hyper_dev, _ = args
    S = run.S
    if run.validate is not None and g % S == 0 and run.validate.stopped(g // S):
        return program.get(carry_dev)
    every = run.every + ([S] if run.validate is not None else [])
    for g1 in _runner.chunk_ends(g, run.total, S, every, engine.HIST_CAP):
        t0 = time.perf_counter()
        carry_dev, h = compiled(carry_dev, data_dev, key_dev, hyper_dev, program.put_args(np.int32(g1)))
        h, step, bad, stopped = program.get(
            (h, carry_dev.step, carry_dev.train.bad_step, carry_dev.converged | carry_dev.diverged)
        )  # fmt: skip
        step, bad, stopped = int(step), int(bad), bool(stopped)
        run.hist.record(h, g, step, S, time.perf_counter() - t0)
        if run.bar is not None:
            run.bar.update(step // S - g // S)
        epoch_ended = step % S == 0 and step > g
        g = step
        if bad >= 0:
            run.halt(program.get(carry_dev), bad)
        if run.validate is not None and epoch_ended:
            stopped = run.validate(g // S, program.get(carry_dev.train.params)) or stopped
        if _due(run, g, stopped):
            run.save(program.get(carry_dev), run.hist)
        if stopped:
            break
    return program.get(carry_dev)


def fed(program: Any, compiled: Any, fed_run: _fed.FedRun, carry: engine.Carry, args: tuple,
        params_template: Any, run: Run) -> engine.Carry:  # fmt: skip
    """Streamed data (``_fed``) from the host ``carry``: blocks of steps from the input
    pipeline; returns the final host carry."""
    S = run.S
    saved = [-1]
    if run.validate is not None and int(carry.step) % S == 0 and run.validate.stopped(int(carry.step) // S):
        return carry

    def on_call(call) -> bool:  # True: stop (early stopping)
        run.hist.record_fed(call, S)
        stop = False
        if call.epoch_end is not None and call.g1 > call.g0:
            if run.bar is not None:
                run.bar.update(1)
            if run.validate is not None:
                stop = run.validate(call.g1 // S, program.get(program.params(call.carry)))
        at_checkpoint = bool(run.checkpoint_every) and call.g1 % run.checkpoint_every == 0
        if call.g1 > call.g0 and (stop or at_checkpoint) and _due(run, call.g1, stop):
            host = program.get(call.carry)
            if int(host.train.bad_step) < 0:
                run.save(host, run.hist)
                saved[0] = call.g1
        return stop

    ends = list(range(run.checkpoint_every, run.total, run.checkpoint_every)) if run.checkpoint_every else []
    carry = _fed.drive(program, compiled, fed_run, carry, args, total=run.total, S=S,
                       n_global=run.n_global, params_template=params_template, ends=ends,
                       on_call=on_call)  # fmt: skip
    bad = int(carry.train.bad_step)
    if bad >= 0:
        run.halt(carry, bad)
    if run.save is not None and int(carry.step) != saved[0]:
        run.save(carry, run.hist)
    return carry
