"""Deterministic key derivation: the one place where random keys come from.

Every random stream in the project (mini-batch order, augmentation parameters, data
generators that use JAX) is derived here from integers only, with a counter-based
generator, so the result never depends on batch composition, chunking, device, rank,
world size or call order:

.. code-block:: text

    K(seed)                 = wrap_key_data([seed >> 32, seed & 0xFFFFFFFF], impl)
    K(seed, epoch)          = fold_in(K(seed), epoch)
    K(seed, epoch, id)      = fold_in(fold_in(K(seed, epoch), id >> 32), id & 0xFFFFFFFF)
    permutation(seed, epoch, n) = jax.random.permutation(K(seed, epoch), n)

Seeds and sample ids are full 64-bit integers (no 32-bit truncation, so distinct ids get
distinct keys). ``impl`` is a counter-based PRNG (``threefry2x32`` by default); ``rbg`` and
``unsafe_rbg`` are refused because their bits change under ``vmap``.

Example:
    >>> from accel._keys import epoch_permutation
    >>> sorted(epoch_permutation(seed=0, epoch=3, n=5).tolist())
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "COUNTER_BASED_IMPLS",
    "DEFAULT_IMPL",
    "IMAGE_NOISE_STREAM",
    "check_seed",
    "epoch_key",
    "epoch_permutation",
    "permutation",
    "sample_keys",
    "seed_key",
    "split_ids",
]

DEFAULT_IMPL = "threefry2x32"
COUNTER_BASED_IMPLS = ("threefry2x32",)
# Sub-streams of one sample's key K(seed, epoch, id): fold_in(K, STREAM) gives an independent
# key for a second use of the same sample (e.g. the pixel noise of an image), so it never
# reuses the bits that drew the sample's augmentation parameters.
IMAGE_NOISE_STREAM = 0x6E6F6973  # b"nois"
_U32 = 0xFFFFFFFF
_MAX_U64 = 2**64 - 1


def check_seed(seed: object, name: str = "seed") -> int:
    """Return ``seed`` as a Python int in ``[0, 2**64)`` or raise a clear error."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed <= _MAX_U64:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {seed}")
    return seed


def _check_impl(impl: str) -> str:
    if impl not in COUNTER_BASED_IMPLS:
        raise ValueError(
            f"impl must be one of {COUNTER_BASED_IMPLS} (counter-based, vmap-invariant), got {impl!r}"
        )
    return impl


def seed_key(seed: int, *, impl: str = DEFAULT_IMPL) -> jax.Array:
    """``K(seed)``: a typed PRNG key holding all 64 bits of ``seed``."""
    seed = check_seed(seed)
    data = np.array([seed >> 32, seed & _U32], dtype=np.uint32)
    return jax.random.wrap_key_data(jnp.asarray(data), impl=_check_impl(impl))


def epoch_key(key: jax.Array, epoch: int | jax.Array) -> jax.Array:
    """``K(seed, epoch)`` from ``K(seed)``; traceable (``epoch`` may be a traced integer)."""
    return jax.random.fold_in(key, epoch)


def split_ids(sample_ids: object, name: str = "sample_ids") -> tuple[np.ndarray, np.ndarray]:
    """Split non-negative 64-bit integer ids into ``(hi, lo)`` uint32 arrays (host side).

    Raises ``TypeError`` for non-integer input and ``ValueError`` for negative ids.
    """
    ids = np.asarray(sample_ids)
    if ids.dtype == object or (
        not isinstance(sample_ids, np.ndarray | jax.Array) and ids.dtype.kind == "f"
    ):
        # NumPy turns Python ints beyond int64 (up to 2**64 - 1) into float64 or object:
        # check every element is an integer rather than accept a rounded float.
        flat = [check_seed(v, name) for v in np.asarray(sample_ids, dtype=object).ravel().tolist()]
        ids = np.array(flat, dtype=np.uint64).reshape(ids.shape)
    if ids.dtype == bool or not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must be integers in [0, 2**64), got dtype {ids.dtype}")
    if np.issubdtype(ids.dtype, np.signedinteger) and ids.size and ids.min() < 0:
        raise ValueError(f"{name} must be non-negative, got min {int(ids.min())}")
    ids = ids.astype(np.uint64)
    return (ids >> np.uint64(32)).astype(np.uint32), (ids & np.uint64(_U32)).astype(np.uint32)


def sample_keys(key: jax.Array, ids_hi: jax.Array, ids_lo: jax.Array) -> jax.Array:
    """``K(seed, epoch, id)`` for a batch of ids given as uint32 halves; traceable.

    The key of one id is computed from that id alone (``vmap`` of ``fold_in``), so it does
    not depend on which other ids share the batch.
    """

    def one(hi, lo):
        return jax.random.fold_in(jax.random.fold_in(key, hi), lo)

    return jax.vmap(one)(ids_hi, ids_lo)


def permutation(key: jax.Array, n: int) -> jax.Array:
    """The row order of one epoch: ``jax.random.permutation(K(seed, epoch), n)``; traceable."""
    return jax.random.permutation(key, n)


@functools.partial(jax.jit, static_argnames=("n",))
def _epoch_permutation(key: jax.Array, epoch: jax.Array, n: int) -> jax.Array:
    return permutation(epoch_key(key, epoch), n)


def epoch_permutation(seed: int, epoch: int, n: int, *, impl: str = DEFAULT_IMPL) -> np.ndarray:
    """Host-side row order of ``epoch`` (int64 NumPy array), identical to the traced one."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= epoch <= _U32:
        raise ValueError(f"epoch must be an integer in [0, 2**32), got {epoch}")
    perm = _epoch_permutation(seed_key(seed, impl=impl), jnp.uint32(epoch), n)
    return np.asarray(perm).astype(np.int64)
