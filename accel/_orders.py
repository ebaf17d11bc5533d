"""Mini-batch row orders for a block of epochs at once (NumPy reference and JAXOptimizer).

The order of epoch ``e`` is ``_keys.permutation(_keys.epoch_key(K(seed), e), n)``, exactly
``_keys.epoch_permutation(seed, e, n)``. Drawing many epochs in one call (``vmap`` of the
same derivation: counter-based keys give the same bits) amortises the fixed cost per call
of the sort behind ``jax.random.permutation``, which on XLA:CPU exceeds the arithmetic of a
small epoch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from accel import _keys

__all__ = ["EpochOrders", "epoch_orders"]


def epoch_orders(key: jax.Array, first: jax.Array, n: int, count: int) -> jax.Array:
    """Row orders of epochs ``first .. first + count - 1`` as a ``(count, n)`` int32 array; traceable."""
    epochs = first + jnp.arange(count, dtype=first.dtype)
    perms = jax.vmap(lambda e: _keys.permutation(_keys.epoch_key(key, e), n))(epochs)
    return perms.astype(jnp.int32)


_epoch_orders = jax.jit(epoch_orders, static_argnames=("n", "count"))


class EpochOrders:
    """Host-side row orders of successive epochs, one device call per block of epochs."""

    def __init__(self, seed: int, n: int, block: int = 64) -> None:
        self._key = _keys.seed_key(seed)
        self._n = n
        self._count = max(1, min(block, (1 << 20) // n))  # at most ~4 MiB of int32 per block
        self._first = -1
        self._block = np.empty((0, n), np.int64)

    def get(self, epoch: int) -> np.ndarray:
        """``_keys.epoch_permutation(seed, epoch, n)`` (int64 NumPy array)."""
        if not self._first <= epoch < self._first + len(self._block):
            self._first = epoch
            block = _epoch_orders(self._key, jnp.uint32(epoch), n=self._n, count=self._count)
            self._block = np.asarray(block).astype(np.int64)
        return self._block[epoch - self._first]


