"""Which rows each device reads at each optimizer step (the batch plan).

The epoch order is the shared one, ``_keys.permutation(_keys.epoch_key(K(seed), epoch), n)``,
so a ParallelTrainer visits rows in the same order as JAXOptimizer and the NumPy reference.
Optimizer step ``s`` of an epoch consumes positions ``[s*k*B, (s+1)*k*B)`` of that order
(``B`` = batch_size, ``k`` = grad_accum_steps); the last step of the epoch keeps the remaining
rows (a partial batch is not dropped). The step's rows are laid out as ``(D, k, m)`` slots,
``m = ceil(B / D)`` per device and micro-batch; slots past the step's rows hold ``-1`` and are
masked out, so every device always sees the same shapes.

With ``n_shards > 1`` (``data_is_local=True``: process ``p`` holds only rows
``[p*n_rows, (p+1)*n_rows)`` of the global data set) each group of devices reads its own
shard, in the order in which the global permutation visits that shard's rows, and every
optimizer step takes ``k*B/n_shards`` rows from each shard.

Example:
    >>> from accel.parallel._plan import Layout
    >>> lay = Layout(n_rows=10, n_shards=1, group_devices=4, batch_size=4, accum=1)
    >>> lay.steps_per_epoch, lay.micro
    (3, 1)
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from accel import _keys

__all__ = [
    "Layout",
    "chunk_orders",
    "epoch_order",
    "epoch_perms",
    "eval_rows",
    "perms_per_chunk",
    "step_count",
    "step_rows",
]


class Layout(NamedTuple):
    """Static shape of the plan (hashable: part of the compiled program's identity)."""

    n_rows: int  # rows per shard (the whole data set when n_shards == 1)
    n_shards: int  # shard groups (processes holding distinct rows); 1 by default
    group_devices: int  # devices per shard group
    batch_size: int  # global micro-batch B
    accum: int  # grad_accum_steps k

    @property
    def n_devices(self) -> int:
        return self.n_shards * self.group_devices

    @property
    def n_global(self) -> int:
        return self.n_shards * self.n_rows

    @property
    def rows_per_step(self) -> int:
        """Rows one shard group contributes to one optimizer step: ``k * B / n_shards``."""
        return self.accum * self.batch_size // self.n_shards

    @property
    def micro(self) -> int:
        """Slots per device and micro-batch: ``m = ceil(B / D)``."""
        return math.ceil(self.batch_size // self.n_shards / self.group_devices)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_rows / self.rows_per_step)

    @property
    def eval_chunk(self) -> int:
        return self.accum * self.micro

    @property
    def eval_rows_per_device(self) -> int:
        per = math.ceil(self.n_rows / self.group_devices)
        return math.ceil(per / self.eval_chunk) * self.eval_chunk


@functools.partial(jax.jit, static_argnames=("count", "n"))
def epoch_perms(key: jax.Array, first_epoch: jax.Array, count: int, n: int) -> jax.Array:
    """``(count, n)`` int32: the shared orders of epochs ``first_epoch, ..., + count - 1``.

    ``_keys.permutation(_keys.epoch_key(key, e), n)`` for each epoch, in one program (the
    keys are counter-based, so the vmap over epochs gives the same bits as one at a time).
    Compiled once per ``(count, n)`` and shared by every trainer.
    """
    epochs = first_epoch + jnp.arange(count, dtype=jnp.uint32)
    return jax.vmap(lambda e: _keys.permutation(_keys.epoch_key(key, e), n))(epochs).astype(
        jnp.int32
    )


_ORDER_BLOCKS = (8, 1)


def perms_per_chunk(n: int) -> int:
    """Epoch orders per dispatch: 256, at most ``2**22`` row ids (16 MiB).

    Independent of the number of epochs, so runs of any length (and a resume to more
    epochs) share one compiled program.
    """
    return max(1, min(256, (1 << 22) // n))


def chunk_orders(key: jax.Array, first_epoch: int, count: int, n: int, cap: int) -> np.ndarray:
    """``(cap, n)`` int32 host array: the orders of epochs ``first_epoch ... + count - 1``
    in its first ``count`` rows (the rest zeros).

    Exactly ``count`` permutations are computed (they dominate the cost of an epoch of a
    linear model on CPU), in blocks of 8 epochs and then single epochs, so ``epoch_perms``
    compiles two programs per ``n``, shared by every run.
    """
    if not 1 <= count <= cap:
        raise ValueError(f"count must be in [1, cap={cap}], got {count}")
    out = np.zeros((cap, n), np.int32)
    done = 0
    for size in _ORDER_BLOCKS:
        while count - done >= size:
            block = epoch_perms(key, np.uint32(first_epoch + done), size, n)
            out[done : done + size] = np.asarray(block)
            done += size
    return out


def epoch_order(perm: jax.Array, shard: jax.Array, lay: Layout) -> jax.Array:
    """Row order within ``shard`` (shard-local ids) from the global order ``perm``; traceable."""
    if lay.n_shards == 1:
        return perm
    start = shard * lay.n_rows
    inside = (perm >= start) & (perm < start + lay.n_rows)
    (pos,) = jnp.nonzero(inside, size=lay.n_rows)
    return perm[pos] - start


def step_rows(
    order: jax.Array, step: jax.Array, rank: jax.Array, lay: Layout, xp: Any = jnp
) -> jax.Array:
    """``(k, m)`` row ids (``-1`` = padding) read by device ``rank`` of its shard group.

    Traceable; ``xp=numpy`` evaluates it on the host (tests).
    """
    q = lay.rows_per_step
    t = rank * (lay.accum * lay.micro) + xp.arange(lay.accum * lay.micro, dtype=xp.int32)
    pos = step * q + t
    valid = (t < q) & (pos < lay.n_rows)
    rows = xp.where(valid, order[xp.clip(pos, 0, lay.n_rows - 1)], -1)
    return rows.reshape(lay.accum, lay.micro)


def step_count(step: jax.Array, lay: Layout, xp: Any = jnp) -> jax.Array:
    """Real (unpadded) rows in optimizer step ``step`` over all devices, as float32."""
    q = lay.rows_per_step
    return xp.asarray(lay.n_shards * xp.minimum(q, lay.n_rows - step * q)).astype(xp.float32)


def eval_rows(rank: jax.Array, lay: Layout) -> jax.Array:
    """``(chunks, eval_chunk)`` shard-local row ids (``-1`` = padding) evaluated by ``rank``."""
    e = lay.eval_rows_per_device
    per = math.ceil(lay.n_rows / lay.group_devices)
    t = jnp.arange(e, dtype=jnp.int32)
    pos = rank * per + t
    rows = jnp.where((t < per) & (pos < lay.n_rows), pos, -1)
    return rows.reshape(e // lay.eval_chunk, lay.eval_chunk)
