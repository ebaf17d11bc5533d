"""Which rows each device reads at each optimizer step (the batch plan).

The epoch order is the shared one (``accel._orders``), so every trainer (the NumPy reference,
JAXOptimizer, ParallelTrainer on any number of devices) visits rows in the same order.
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
    >>> from accel.linear._plan import Layout
    >>> lay = Layout(n_rows=10, n_shards=1, group_devices=4, batch_size=4, accum=1)
    >>> lay.steps_per_epoch, lay.micro
    (3, 1)
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "Layout",
    "epoch_order",
    "eval_rows",
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
