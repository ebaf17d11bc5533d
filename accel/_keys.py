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
augmentation kernel uses through ``threefry_fold_in_data``. Its rounds are
``threefry2x32_rounds``, which also runs on host values (Python ints, several 32-bit lanes
packed in one int, NumPy arrays); with ``philox4x32_rounds``, ``fold_in_host`` and
``epoch_key_host`` it derives the same keys without JAX, for one sample at a time
(``accel.augment``'s per-sample path).

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
    "epoch_key_host",
    "fold_in_host",
    "permutation",
    "philox4x32_rounds",
    "philox_fold_in_data",
    "sample_keys",
    "seed_key",
    "seed_key_data",
    "split_ids",
    "threefry2x32_hash",
    "threefry2x32_rounds",
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


def seed_key_data(seed: int) -> np.ndarray:
    """The raw data of ``K(seed)`` on the host: ``[seed >> 32, seed & 0xFFFFFFFF]`` (uint32),
    for programs that take the key as a plain array (``jax.random.wrap_key_data`` inside)."""
    seed = check_seed(seed)
    return np.array([seed >> 32, seed & _U32], dtype=np.uint32)


def seed_key(seed: int, *, impl: str = DEFAULT_IMPL) -> jax.Array:
    """``K(seed)``: a typed PRNG key holding all 64 bits of ``seed``."""
    return jax.random.wrap_key_data(jnp.asarray(seed_key_data(seed)), impl=_check_impl(impl))


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


# Threefry-2x32 key-schedule parity (Salmon et al. 2011; as in jax.random). The rotation
# constants (13, 15, 26, 6) and (17, 29, 16, 24) are written out in threefry2x32_rounds.
_THREEFRY_PARITY = 0x1BD11BDA


def threefry2x32_hash(
    k0: jax.Array, k1: jax.Array, x0: jax.Array, x1: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """The Threefry-2x32 block function, 20 rounds, unrolled; traceable, broadcasting.

    Bit-identical to the hash behind ``jax.random`` with ``impl='threefry2x32'``:
    ``ks = (k0, k1, k0 ^ k1 ^ 0x1BD11BDA)``; ``x += (ks0, ks1)``; five groups of four
    rounds ``x0 += x1; x1 = rotl(x1, r) ^ x0`` with rotations (13, 15, 26, 6) and
    (17, 29, 16, 24) alternating, each group followed by the key injection
    ``x0 += ks[(g+1) % 3]; x1 += ks[(g+2) % 3] + g + 1``. All arguments are uint32 arrays.
    The rounds are :func:`threefry2x32_rounds` (its 32-bit masks are no-ops on uint32,
    which XLA removes).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> k = jax.random.key_data(jax.random.key(7))
        >>> y = threefry2x32_hash(k[0], k[1], jnp.uint32(0), jnp.uint32(5))
        >>> bool((jnp.stack(y) == jax.random.key_data(jax.random.fold_in(jax.random.key(7), 5))).all())
        True
    """
    return threefry2x32_rounds(k0, k1, x0, x1, mask=np.uint32(_U32))


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


def threefry2x32_rounds(k0, k1, x0, x1, mask=_U32, lane=1):
    """The Threefry-2x32 hash of ``threefry2x32_hash`` written out round by round, on host values.

    The same 20 rounds and key injections, for three kinds of operands (all four arguments
    of one kind):

    * Python ``int`` words (``mask=0xFFFFFFFF``, ``lane=1``): one hash, about 6 us in
      CPython 3.11, with no device dispatch (the per-sample path).
    * Python ``int`` "SIMD within a register": ``L`` independent 32-bit lanes in 64-bit slots,
      ``x = sum(x_i << 64*i)``, with ``mask = sum(0xFFFFFFFF << 64*i)`` and
      ``lane = sum(1 << 64*i)``. Sums carry into the unused upper half of a slot and are
      masked off; ``x >> (32 - r)`` moves the next lane's bits only into that upper half.
      Three lanes cost about 1.2x one.
    * NumPy ``uint32`` arrays (wrap-around arithmetic, the masks are no-ops).

    Example:
        >>> import jax
        >>> key = jax.random.key(7)
        >>> k0, k1 = (int(v) for v in jax.random.key_data(key))
        >>> threefry2x32_rounds(k0, k1, 0, 5) == tuple(int(v) for v in jax.random.key_data(jax.random.fold_in(key, 5)))
        True
    """
    ks2 = k0 ^ k1 ^ (_THREEFRY_PARITY * lane)
    x0 = (x0 + k0) & mask
    x1 = (x1 + k1) & mask
    # group 0: rotations (13, 15, 26, 6), then key injection 1
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 13) | (x1 >> 19)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 15) | (x1 >> 17)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 26) | (x1 >> 6)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 6) | (x1 >> 26)) & mask) ^ x0
    x0 = (x0 + k1) & mask
    x1 = (x1 + ks2 + 1 * lane) & mask
    # group 1: rotations (17, 29, 16, 24), then key injection 2
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 17) | (x1 >> 15)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 29) | (x1 >> 3)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 16) | (x1 >> 16)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 24) | (x1 >> 8)) & mask) ^ x0
    x0 = (x0 + ks2) & mask
    x1 = (x1 + k0 + 2 * lane) & mask
    # group 2: rotations (13, 15, 26, 6), then key injection 3
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 13) | (x1 >> 19)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 15) | (x1 >> 17)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 26) | (x1 >> 6)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 6) | (x1 >> 26)) & mask) ^ x0
    x0 = (x0 + k0) & mask
    x1 = (x1 + k1 + 3 * lane) & mask
    # group 3: rotations (17, 29, 16, 24), then key injection 4
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 17) | (x1 >> 15)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 29) | (x1 >> 3)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 16) | (x1 >> 16)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 24) | (x1 >> 8)) & mask) ^ x0
    x0 = (x0 + k1) & mask
    x1 = (x1 + ks2 + 4 * lane) & mask
    # group 4: rotations (13, 15, 26, 6), then key injection 5
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 13) | (x1 >> 19)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 15) | (x1 >> 17)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 26) | (x1 >> 6)) & mask) ^ x0
    x0 = (x0 + x1) & mask
    x1 = (((x1 << 6) | (x1 >> 26)) & mask) ^ x0
    x0 = (x0 + ks2) & mask
    x1 = (x1 + k0 + 5 * lane) & mask
    return x0, x1


# Philox-4x32-10 multipliers and Weyl key increments (Random123; as in jax.random).
_PHILOX_M0, _PHILOX_M1 = 0xD2511F53, 0xCD9E8D57
_PHILOX_W0, _PHILOX_W1 = 0x9E3779B9, 0xBB67AE85


def _mulhilo_int(x, m: int, mask):
    p = x * m
    return (p >> 32) & mask, p & mask


def _mulhilo_u32(x: jax.Array, m: int, mask) -> tuple[jax.Array, jax.Array]:
    m = np.uint32(m)
    return jax.lax.mulhi(x, m), x * m


def _mulhilo_u32_halves(x: jax.Array, m: int, mask) -> tuple[jax.Array, jax.Array]:
    """:func:`_mulhilo_u32` in uint32 arithmetic on 16-bit halves: ``lax.mulhi`` does not
    lower inside ``shard_map``/``pmap`` on XLA:CPU ("failed to legalize"), where a training
    step draws augmentation keys (``philox_fold_in_data(..., portable=True)``). Slower
    than ``lax.mulhi`` elsewhere, so only used there."""
    m = int(m)
    mh, ml = np.uint32(m >> 16), np.uint32(m & 0xFFFF)
    xh, xl = x >> np.uint32(16), x & np.uint32(0xFFFF)
    t = xl * ml
    u = xh * ml + (t >> np.uint32(16))
    v = xl * mh + (u & np.uint32(0xFFFF))
    return xh * mh + (u >> np.uint32(16)) + (v >> np.uint32(16)), x * np.uint32(m)


def philox4x32_rounds(k0, k1, x0, x1, x2, x3, mask=_U32, lane=1, mulhilo=_mulhilo_int):
    """The Philox-4x32-10 block function of ``jax.random``'s ``philox4x32``.

    Ten rounds of ``(hi0, lo0) = M0 * x0; (hi1, lo1) = M1 * x2;
    x = (hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0)`` (64-bit products split in 32-bit halves),
    the key bumped by ``(0x9E3779B9, 0xBB67AE85)`` before every round but the first.
    Operands as in :func:`threefry2x32_rounds`: Python ints (one hash, or several lanes in
    64-bit slots: a lane's product is below ``2**64`` and stays in its slot), or NumPy
    ``uint64`` arrays holding 32-bit values. ``philox_fold_in_data`` passes JAX uint32
    arrays with ``mulhilo`` = (``lax.mulhi``, wrapping product).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> key = jax.random.wrap_key_data(jnp.array([3, 4], jnp.uint32), impl="philox4x32")
        >>> philox4x32_rounds(3, 4, 0, 0, 0, 9)[:2] == tuple(int(v) for v in jax.random.key_data(jax.random.fold_in(key, 9)))
        True
    """
    w0, w1 = _PHILOX_W0 * lane, _PHILOX_W1 * lane
    for r in range(10):
        if r:
            k0 = (k0 + w0) & mask
            k1 = (k1 + w1) & mask
        hi0, lo0 = mulhilo(x0, _PHILOX_M0, mask)
        hi1, lo1 = mulhilo(x2, _PHILOX_M1, mask)
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
    return x0, x1, x2, x3


def philox_fold_in_data(
    k0: jax.Array, k1: jax.Array, data: jax.Array | int, *, portable: bool = False
) -> tuple[jax.Array, jax.Array]:
    """Key data of ``jax.random.fold_in(key, data)`` for philox4x32 keys given as uint32 halves.

    ``fold_in(K, d)`` = the first two words of ``philox4x32(K, (0, 0, 0, d))``; traceable and
    broadcasting like :func:`threefry_fold_in_data`, and fused into the caller's kernel
    (``jax.random`` calls its philox primitive per ``fold_in``). ``portable``: without
    ``lax.mulhi``, for code inside ``shard_map``/``pmap`` (:func:`_mulhilo_u32_halves`).
    """
    data = jnp.asarray(data, dtype=jnp.uint32)
    zero = jnp.zeros_like(data)
    mulhilo = _mulhilo_u32_halves if portable else _mulhilo_u32
    out = philox4x32_rounds(k0, k1, zero, zero, zero, data, mask=np.uint32(_U32), lane=np.uint32(1), mulhilo=mulhilo)
    return out[0], out[1]


def fold_in_host(key, data, *, impl: str = DEFAULT_IMPL, mask=_U32, lane=1):
    """``key_data(fold_in(K, data))`` as a pair of host words (see :func:`threefry2x32_rounds`).

    ``key`` is the pair ``(k0, k1)``; threefry: ``hash(K, (0, data))``; philox:
    the first two words of ``hash(K, (0, 0, 0, data))``.

    Example:
        >>> import jax
        >>> k = jax.random.key(11)
        >>> kd = tuple(int(v) for v in jax.random.key_data(k))
        >>> fold_in_host(kd, 2**32 - 1) == tuple(int(v) for v in jax.random.key_data(jax.random.fold_in(k, 2**32 - 1)))
        True
    """
    k0, k1 = key
    if impl == "threefry2x32":
        return threefry2x32_rounds(k0, k1, 0, data, mask, lane)
    if impl == "philox4x32":
        return philox4x32_rounds(k0, k1, 0, 0, 0, data, mask, lane)[:2]
    return fold_in_host(key, data, impl=_check_impl(impl), mask=mask, lane=lane)


def epoch_key_host(seed: int, epoch: int, *, impl: str = DEFAULT_IMPL) -> tuple[int, int]:
    """``key_data(K(seed, epoch))`` as two Python ints, without JAX (equal to :func:`epoch_key`).

    Example:
        >>> import jax
        >>> kd = jax.random.key_data(epoch_key(seed_key(2**40 + 1, impl="philox4x32"), 3))
        >>> epoch_key_host(2**40 + 1, 3, impl="philox4x32") == tuple(int(v) for v in kd)
        True
    """
    seed = check_seed(seed)
    return fold_in_host((seed >> 32, seed & _U32), epoch, impl=_check_impl(impl))
