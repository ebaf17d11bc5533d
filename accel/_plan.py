"""Where the rows live and which rows each device computes at each step (the batch plan).

Rows. The data set has ``N`` rows in ``G`` groups of ``n`` rows (``G = 1``, or one group per
process when every process holds only its own rows: ``data_is_local``). Each group's rows
are split over the group's ``L`` devices in contiguous blocks of ``R = ceil(n / L)`` rows
(the last block padded), so device ``l`` of group ``g`` (global device ``g * L + l``)
holds rows ``g * n + l * R ... g * n + (l + 1) * R - 1``:

.. code-block:: text

    owner(i) = (i // n) * L + (i % n) // R        local(i) = (i % n) % R

Each device holds ``R ≈ N / D`` rows: the memory per device does not grow with the number
of devices.

Steps. The epoch order is the shared one (``accel._orders``) over all ``N`` rows, so every
trainer (the NumPy reference, JAXOptimizer, ParallelTrainer on any number of devices and
processes) visits rows in the same order. Optimizer step ``s`` of an epoch consumes
positions ``[s*q, (s+1)*q)`` of that order (``q = k*B``: ``B`` = batch_size, ``k`` =
grad_accum_steps); the last step of the epoch keeps the remaining rows (a partial batch is
not dropped). The step's rows are laid out as ``(D, k, m)`` slots, ``m = ceil(B / D)``:
device ``r`` computes the rows of positions ``[r*k*m, (r+1)*k*m)`` of the step, ``k``
micro-batches of ``m``; slots past the step's rows hold ``-1`` and are masked out, so every
device always sees the same shapes. A device's slots are filled by the devices that own
those rows (``_step``: each gathers its own, one ``psum_scatter`` delivers them).

Example:
    >>> import numpy as np
    >>> from accel._plan import Layout, owner, step_ids
    >>> lay = Layout(n_rows=10, n_shards=1, group_devices=4, batch_size=4, accum=1)
    >>> lay.steps_per_epoch, lay.micro, lay.rows_per_device
    (3, 1, 3)
    >>> step_ids(np.arange(10), 2, lay, xp=np).ravel().tolist()   # the last, partial step
    [8, 9, -1, -1]
    >>> owner(np.array([0, 3, 9]), lay, xp=np).tolist()
    [0, 1, 3]
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Layout", "device_rows", "local_row", "owner", "step_count", "step_ids", "step_rows"]


class Layout(NamedTuple):
    """Static shape of the plan (hashable: part of the compiled program's identity)."""

    n_rows: int  # rows per group n (the whole data set when n_shards == 1)
    n_shards: int  # row groups G: processes holding their own rows (data_is_local), else 1
    group_devices: int  # devices per group L
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
        """Rows of one optimizer step, all devices: ``q = k * B``."""
        return self.accum * self.batch_size

    @property
    def micro(self) -> int:
        """Slots per device and micro-batch: ``m = ceil(B / D)``."""
        return math.ceil(self.batch_size / self.n_devices)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_global / self.rows_per_step)

    @property
    def rows_per_device(self) -> int:
        """Rows each device holds: ``R = ceil(n / L)`` (the last block padded)."""
        return math.ceil(self.n_rows / self.group_devices)


def owner(ids: Any, lay: Layout, xp: Any = jnp) -> Any:
    """Global device index holding global rows ``ids`` (any shape; ``-1`` maps to device 0)."""
    i = xp.maximum(ids, 0)
    return (i // lay.n_rows) * lay.group_devices + (i % lay.n_rows) // lay.rows_per_device


def local_row(ids: Any, lay: Layout, xp: Any = jnp) -> Any:
    """Row of global rows ``ids`` within their owner's block (``-1`` maps to row 0)."""
    i = xp.maximum(ids, 0)
    return (i % lay.n_rows) % lay.rows_per_device


def step_ids(order: Any, step: Any, lay: Layout, xp: Any = jnp) -> Any:
    """``(D, k, m)`` global row ids (``-1`` = padding) of optimizer step ``step``: slot
    ``(r, j, i)`` is position ``r*k*m + j*m + i`` of the step. Traceable; ``xp=numpy``
    evaluates it on the host (the input pipeline, tests)."""
    q, n = lay.rows_per_step, lay.n_global
    t = xp.arange(lay.n_devices * lay.accum * lay.micro, dtype=xp.int32)
    pos = step * q + t
    valid = (t < q) & (pos < n)
    ids = xp.where(valid, order[xp.clip(pos, 0, n - 1)], -1)
    return ids.reshape(lay.n_devices, lay.accum, lay.micro)


def step_rows(order: Any, step: Any, rank: Any, lay: Layout, xp: Any = jnp) -> Any:
    """``(k, m)`` global row ids (``-1`` = padding) computed by device ``rank`` at ``step``."""
    return step_ids(order, step, lay, xp)[rank]


def step_count(step: jax.Array, lay: Layout, xp: Any = jnp) -> jax.Array:
    """Real (unpadded) rows in optimizer step ``step`` over all devices, as float32."""
    q = lay.rows_per_step
    return xp.asarray(xp.minimum(q, lay.n_global - step * q)).astype(xp.float32)


def device_rows(d: Any, lay: Layout, xp: Any = jnp) -> Any:
    """``(R,)`` global ids of the rows device ``d`` holds (``-1`` for its padding rows)."""
    group, local = d // lay.group_devices, d % lay.group_devices
    r = local * lay.rows_per_device + xp.arange(lay.rows_per_device, dtype=xp.int32)
    return xp.where(r < lay.n_rows, group * lay.n_rows + r, -1)
