"""ParallelTrainer on a data source: the data-parallel program fed by the input pipeline.

When ``fit``/``train`` receive a data source (``accel.data``: paths or memory maps of
``.npy`` files, shards, a random-access object) instead of arrays, no device holds the
data: each process's input pipeline (``accel.data.StepLoader``) reads the rows its own
devices need for the coming steps, a block of steps per program call, while the
devices compute, and the host evaluates at the epoch ends (``accel.train.Streamed``, the
one driver's feed of streamed data). The program is
the resident one with ``ProgramSpec.fed``: the same steps, batch order, objective and
stopping rules, so the parameters equal those of the same run on arrays (float32
rounding); a checkpoint keeps the data position (the global step) like a resident run's.

Only ``strategy='data_parallel'`` streams; every process opens the same source
(``data_is_local`` does not apply) and reads its devices' rows only.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from accel import _plan
from accel import train as engine
from accel.data import ArraySource, StepLoader, as_source, streams
from accel.linear import LinearObjective

__all__ = ["check_run", "feed", "loader", "source_for_fit", "source_for_train", "zero_block"]

def source_for_fit(X: Any, y: Any, batch_size: int | None) -> Any | None:
    """The source ``fit(X, y)`` streams from (``accel.data.streams``), or ``None`` for
    arrays held in memory."""
    return as_source(X, y) if streams(X, batch_size) else None


def source_for_train(data: Any, batch_size: int | None) -> Any | None:
    """The source ``train(..., data)`` streams from: a source, a random-access object, or
    (with mini-batches) a mapping of columns one of which is memory-mapped; ``None`` for
    arrays in memory."""
    if isinstance(data, str | os.PathLike):
        raise TypeError(
            f"data must be a pytree of arrays, a mapping of columns (memory-mapped .npy files "
            f"among them: {{'x': np.load(path, mmap_mode='r'), ...}}) or a data source "
            f"(accel.data), got the path {os.fspath(data)!r}"
        )
    if not streams(data, batch_size):
        return None
    return ArraySource(data) if isinstance(data, Mapping) else as_source(data)


def check_run(strategy: str, data_is_local: bool, batch_size: int | None) -> None:
    """Refuse what a streamed run cannot do, naming the parameter."""
    if strategy != "data_parallel":
        raise ValueError(
            f"training on a data source needs strategy='data_parallel', got {strategy!r} "
            "(model and pipeline parallelism read every row on every device: pass arrays)"
        )
    if data_is_local:
        raise ValueError(
            "data_is_local=True does not apply to a data source: every process opens the "
            "same source and reads only the rows of its own devices"
        )
    if batch_size is None:
        raise ValueError(
            "training on a data source needs batch_size (the full batch would hold the whole "
            "data set)"
        )


def cast(columns: dict[str, np.ndarray], fit: bool) -> dict[str, np.ndarray]:
    """What the program takes: float64 becomes float32 (and, for ``fit``, every column)."""
    return {k: v.astype(np.float32, copy=False) if fit or v.dtype == np.float64 else v
            for k, v in columns.items()}  # fmt: skip


def template(source: Any, fit: bool) -> dict[str, np.ndarray]:
    """One row of the source, as the program will see it (for checks and the cache key)."""
    return cast(source.read(np.zeros(1, np.int64)), fit)


def loader(source: Any, lay: _plan.Layout, seed: int, devices: list[jax.Device], **kw: Any) -> StepLoader:
    """The input pipeline of this process: the global indices of its devices' rows."""
    mine = [i for i, d in enumerate(devices) if d.process_index == jax.process_index()]
    return StepLoader(source, lay, seed, mine, **kw)


def zero_block(loader: StepLoader, fit: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A block of the program's input shape (to compile it before any data are read): its
    columns and row ids, all padding."""
    cols, ids = loader.read_step(0)
    cols = cast(cols, fit)
    T = loader.block
    return ({k: np.zeros((T, *v.shape), v.dtype) for k, v in cols.items()},
            np.full((T, *ids.shape), -1, np.int32))  # fmt: skip


def feed(program: Any, compiled: Any, args: tuple, loader: StepLoader, *, fit: bool, total: int,
         n_global: int, template: Any, tol: float | None, nonfinite_diverges: bool,
         eval_every: int = 1, pass_loss: bool = False) -> engine.Streamed:  # fmt: skip
    """The driver's feed of a streamed run: ``program`` (a strategy's, ``ProgramSpec.fed``)
    and its ``compiled`` executable, fed by ``loader``; ``args`` the placed first call's
    arguments (key and hyperparameters are reused)."""
    _, _, key_dev, hyper_dev, _ = args

    def steps(carry_dev, block, key, hyper, stop):
        return compiled(carry_dev, block, key, hyper, program.put_args(np.int32(stop)))

    programs = engine.StreamPrograms(
        steps=steps,
        evaluate=program.evaluate,
        put_block=lambda b: program.put_fed(cast(b.columns, fit), b.valid, 1, b.ids),
        put_chunk=lambda c: program.put_fed(cast(c.columns, fit), c.valid, 0),
        put_carry=program.put_carry,
        get=program.get,
        params=program.params,
    )  # fmt: skip
    grad_norm = functools.partial(LinearObjective.grad_norm, xp=np) if fit else None
    return engine.Streamed(programs, loader, key_dev, hyper_dev, total=total, n_global=n_global,
                           template=template, grad_norm=grad_norm, tol=tol,
                           nonfinite_diverges=nonfinite_diverges, eval_every=eval_every,
                           pass_loss=pass_loss)  # fmt: skip
