"""Deterministic key derivation: the one place where random keys come from.

Every random stream in the project (mini-batch order, augmentation parameters, data
generators that use JAX) is derived here from integers only, with a counter-based
generator, so the result never depends on batch composition, chunking, device, rank,
world size or call order:

.. code-block:: text

    K(seed)                 = wrap_key_data([seed >> 32, seed & 0xFFFFFFFF], impl)
    K(seed, epoch)          = fold_in(K(seed), epoch)
    K(seed, epoch, id)      = fold_in(fold_in(K(seed, epoch), id >> 32), id & 0xFFFFFFFF)
    permutation(K(seed, epoch), n) = jax.random.permutation(K(seed, epoch), n)   (the row order)

Seeds and sample ids are full 64-bit integers (no 32-bit truncation, so distinct ids get
distinct keys). ``impl`` is a counter-based PRNG (``threefry2x32`` by default, or
``philox4x32``, both from ``jax.random``); ``rbg`` and ``unsafe_rbg`` are refused because
their bits change under ``vmap``.

``threefry2x32_hash`` is the Threefry-2x32 block function (20 rounds) written out as fused
``jnp`` integer ops. On CPU, ``jax.random`` lowers the same hash to a rolled ``while`` loop
that XLA cannot fuse across rounds (about 10x slower per sample); the unrolled form gives
bit-identical results (tested against ``jax.random.fold_in``) and is what the hot
augmentation kernel uses through ``threefry_fold_in_data``.

Row orders of epochs built on ``permutation`` are in ``accel._orders``.

Example:
    >>> from accel._keys import epoch_key, permutation, seed_key
    >>> sorted(permutation(epoch_key(seed_key(0), 3), 5).tolist())
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from accel._checks import check_seed

__all__ = [
    "COUNTER_BASED_IMPLS",
    "DEFAULT_IMPL",
    "IMAGE_NOISE_STREAM",
    "RANK_STREAM",
    "check_ids",
    "epoch_key",
    "permutation",
    "sample_keys",
    "seed_key",
    "split_ids",
    "threefry2x32_hash",
    "threefry_fold_in_data",
]

DEFAULT_IMPL = "threefry2x32"
COUNTER_BASED_IMPLS = ("threefry2x32", "philox4x32")
# Sub-streams of one sample's key K(seed, epoch, id): fold_in(K, STREAM) gives an independent
# key for a second use of the same sample (e.g. the pixel noise of an image), so it never
# reuses the bits that drew the sample's augmentation parameters.
IMAGE_NOISE_STREAM = 0x6E6F6973  # b"nois"
# Rank-aware parameters (DPA's ``gen_distributed_augmentation_params``, which gives each rank
# different parameters for the same id): fold_in(fold_in(K(seed, epoch, id), RANK_STREAM), rank).
RANK_STREAM = 0x72616E6B  # b"rank"
_U32 = 0xFFFFFFFF


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


def check_ids(sample_ids: object, name: str = "sample_ids") -> np.ndarray:
    """Validate non-negative 64-bit integer ids and return them as a ``np.uint64`` array.

    Raises ``TypeError`` for non-integer input and ``ValueError`` for negative ids or ids
    beyond ``2**64 - 1``. No copy is made when the input already is a ``uint64`` array.
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
    return ids.astype(np.uint64, copy=False)


def split_ids(sample_ids: object, name: str = "sample_ids") -> tuple[np.ndarray, np.ndarray]:
    """Split non-negative 64-bit integer ids into ``(hi, lo)`` uint32 arrays (host side).

    Raises ``TypeError`` for non-integer input and ``ValueError`` for negative ids.
    """
    ids = check_ids(sample_ids, name)
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


# Threefry-2x32 rotation constants and key-schedule parity (Salmon et al. 2011; as in jax.random).
_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_THREEFRY_PARITY = 0x1BD11BDA


def _rotl(x: jax.Array, r: int) -> jax.Array:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def threefry2x32_hash(
    k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 block function, 20 rounds, unrolled; traceable, broadcasting.

    Bit-identical to the hash behind ``jax.random`` with ``impl='threefry2x32'``:
    ``ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)``; ``x += (ks0, ks1)``; five groups of four
    rounds ``x0 += x1; x1 = rotl(x1, r) ^ x0`` with rotations (13, 15, 26, 6) and
    (17, 29, 16, 24) alternating, each group followed by the key injection
    ``x0 += ks[(g+1) % 3]; x1 += ks[(g+2) % 3] + g + 1``. All arguments are uint32 arrays.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> k = jax.random.key_data(jax.random.key(7))
        >>> y = threefry2x32_hash(k[0], k[1], jnp.uint32(0), jnp.uint32(5))
        >>> bool((jnp.stack(y) == jax.random.key_data(jax.random.fold_in(jax.random.key(7), 5))).all())
        True
    """
    u32 = jnp.uint32
    ks = (k0, k1, k0 ^ k1 ^ u32(_THREEFRY_PARITY))
    x0 = x0 + ks[0]
    x1 = x1 + ks[1]
    for group in range(5):
        for r in _THREEFRY_ROTATIONS[group % 2]:
            x0 = x0 + x1
            x1 = _rotl(x1, r) ^ x0
        x0 = x0 + ks[(group + 1) % 3]
        x1 = x1 + ks[(group + 2) % 3] + u32(group + 1)
    return x0, x1


def threefry_fold_in_data(
    k0: jax.Array, k1: jax.Array, data: jax.Array | int
) -> tuple[jax.Array, jax.Array]:
    """Key data of ``jax.random.fold_in(key, data)`` for threefry2x32 keys given as uint32 halves.

    ``fold_in(K, d) = threefry2x32_hash(K, (0, d))``; traceable and broadcasting, so a batch
    of keys (``k0``, ``k1`` arrays) and a batch of ``data`` fold in one fused computation.
    ``sample_keys`` for threefry keys equals
    ``threefry_fold_in_data(*threefry_fold_in_data(K[0], K[1], hi), lo)``.
    """
    data = jnp.asarray(data, dtype=jnp.uint32)
    return threefry2x32_hash(k0, k1, jnp.zeros_like(data), data)
