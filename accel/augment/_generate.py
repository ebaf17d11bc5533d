"""The vectorized kernel: augmentation parameters from ``(seed, epoch, sample_id)``.

For the counter-based algorithms (``'threefry2x32'``, ``'philox4x32'``) a sample's five
parameters are drawn from its own key ``K = K(seed, epoch, id)`` of ``accel._keys``:

.. code-block:: text

    (w0, w1) = key_data(fold_in(K, 0)); (w2, w3) = key_data(fold_in(K, 1));
    (w4, _)  = key_data(fold_in(K, 2))            # = jax.random.split(K, 3) for threefry
    u_j      = bitcast_f32((w_j >> 9) | 0x3F800000) - 1          in [0, 1), 23 bits
    p_j      = clip(a_j + (hi_j - lo_j) * u_j, a_j, c_j)          (float32, see affine_exact)

where ``a_j`` is the smallest float32 >= ``lo_j`` and ``c_j`` the largest float32 < ``hi_j``, so
every value lies in ``[lo_j, hi_j)`` even after float32 rounding. Rank-aware parameters
(``gen_distributed_augmentation_params``) first replace ``K`` by
``fold_in(fold_in(K, RANK_STREAM), rank)``. Nothing else enters: parameters do not depend on
batch composition, order, chunking, padding, device or process.

Both counter-based algorithms run the same two compiled steps (sample keys, then the five
words and the affine step) with the hash written out as integer ops (``accel._keys``:
``threefry_fold_in_data``, ``philox_fold_in_data``), bit-identical to ``jax.random``'s
``fold_in`` and fused by XLA, where ``jax.random`` calls one unfused hash per ``fold_in``.
One id at a time (``gen_augmentation_params``) runs the same hash on the host without a
device dispatch (``accel.augment._sample``).

``'dpa'`` reproduces DPA v0.2 bit for bit (float64 values, see ``accel.augment._dpa_kernels``).

Example:
    >>> from accel.augment import gen_augmentation_batch, gen_augmentation_params
    >>> b = gen_augmentation_batch([0, 1, 2**63], seed=1, epoch=2)
    >>> p = gen_augmentation_params(2**63, seed=1, epoch=2)
    >>> float(b["rotation"][2]) == p["rotation"]
    True
"""

from __future__ import annotations

import functools
import numbers
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _keys
from ._batch import AugmentationBatch
from ._config import (
    ALGORITHMS,
    COUNTER_ALGORITHMS,
    PARAM_NAMES,
    AugmentationConfig,
    _f32_at_or_above,
    _f32_below,
    resolve_config,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "augmentation_params",
    "gen_augmentation_batch",
]

# Chosen by measurement (benchmarks/bench_augment.py, BENCHMARKS.md "## Augmentation
# parameters"): the fused threefry kernel is the fastest on CPU.
DEFAULT_ALGORITHM = "threefry2x32"
_MAX_EPOCH = 2**32 - 1
_MAX_ID = 2**64 - 1


# -- argument checks ----------------------------------------------------------------------
def check_algorithm(algorithm: str | None) -> str:
    if algorithm is None:
        return DEFAULT_ALGORITHM
    if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; accepted: {ALGORITHMS}")
    return algorithm


def check_epoch(epoch: object) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral):
        raise TypeError(f"epoch must be an integer in [0, 2**32), got {type(epoch).__name__}")
    if not 0 <= int(epoch) <= _MAX_EPOCH:
        raise ValueError(f"epoch must be an integer in [0, 2**32), got {epoch}")
    return int(epoch)


def check_int(value: object, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_rank(rank: object, world_size: object) -> tuple[int, int]:
    world_size = check_int(world_size, "world_size", minimum=1)
    rank = check_int(rank, "rank", minimum=0)
    if rank >= world_size:
        raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
    return rank, world_size


def as_id_array(sample_ids: object) -> np.ndarray:
    """1-D ``uint64`` ids; ``TypeError`` for non-integers, ``ValueError`` for negatives."""
    ids = _keys.check_ids(sample_ids)
    if ids.ndim != 1:
        raise ValueError(f"sample_ids must be 1-D, got shape {ids.shape}")
    return ids


# -- the traceable math -------------------------------------------------------------------
def bounds_array(config: AugmentationConfig) -> np.ndarray:
    """``(5, 3)`` float32 rows ``(a, width, c)``: a = first f32 >= lo, width = f32(hi - lo),
    c = last f32 < hi."""
    rows = [(_f32_at_or_above(lo), np.float32(hi - lo), _f32_below(hi)) for lo, hi in config.ranges]
    return np.array(rows, dtype=np.float32)


def _bitcast(x, dtype):
    """Reinterpret the bits of ``x`` (a NumPy or a JAX array) as ``dtype``."""
    if isinstance(x, np.ndarray | np.generic):
        return x.view(dtype)
    return jax.lax.bitcast_convert_type(x, dtype)


def _unit_float(words):
    """``bitcast_f32((w >> 9) | 0x3F800000) - 1``: ``(w >> 9) / 2**23`` exactly (NumPy or JAX)."""
    return _bitcast((words >> np.uint32(9)) | np.uint32(0x3F800000), np.float32) - np.float32(1.0)


_FOLDS = {"threefry2x32": _keys.threefry_fold_in_data, "philox4x32": _keys.philox_fold_in_data}
# the same folds for code inside shard_map/pmap (philox without lax.mulhi: _keys)
PORTABLE_FOLDS = {**_FOLDS, "philox4x32": functools.partial(_keys.philox_fold_in_data, portable=True)}


def _param_words(
    key_data: jax.Array, hi: jax.Array, lo: jax.Array, rank: jax.Array | None, algorithm: str,
    folds: dict = _FOLDS,
) -> list[jax.Array]:
    """The five uint32 words of each sample (see the module docstring); ``folds``:
    :data:`PORTABLE_FOLDS` inside ``shard_map``/``pmap``."""
    return _words(algorithm, *_sample_key(algorithm, key_data, hi, lo, rank, high_ids=True, folds=folds), folds=folds)


def _sample_key(
    algorithm: str, base: jax.Array, hi: jax.Array, lo: jax.Array, rank: jax.Array | None, *, high_ids: bool,
    folds: dict = _FOLDS,
) -> tuple[jax.Array, jax.Array]:
    """Key data of ``K(seed, epoch, id)`` (= ``_keys.sample_keys``), rank-folded if given.

    ``base`` is ``K(seed, epoch)``; with ``high_ids=False`` (every id < 2**32) it must be
    ``fold_in(K(seed, epoch), 0)`` instead, the same first step precomputed once.
    """
    fold = folds[algorithm]
    k0, k1 = fold(*fold(base[0], base[1], hi), lo) if high_ids else fold(base[0], base[1], lo)
    if rank is not None:
        k0, k1 = fold(*fold(k0, k1, jnp.full_like(lo, _keys.RANK_STREAM)), jnp.broadcast_to(rank, lo.shape))
    return k0, k1


def _words(algorithm: str, k0: jax.Array, k1: jax.Array, folds: dict = _FOLDS) -> list[jax.Array]:
    """Words 0..4 of ``key_data(fold_in(K, j))`` for j = 0, 1, 2."""
    fold = folds[algorithm]
    zero = jnp.zeros_like(k0)
    w0, w1 = fold(k0, k1, zero)
    w2, w3 = fold(k0, k1, zero + np.uint32(1))
    w4, _ = fold(k0, k1, zero + np.uint32(2))
    return [w0, w1, w2, w3, w4]


def _split12(x):
    """``x = hi + lo`` exactly, ``hi`` keeping the top 12 of 24 significand bits."""
    hi = _bitcast(_bitcast(x, np.uint32) & np.uint32(0xFFFFF000), np.float32)
    return hi, x - hi


def _params_from_words(words, bounds) -> tuple:
    """``clip(a + width * u, a, c)`` with every product exact (see ``affine_exact``).

    ``words`` are JAX arrays (traced kernels) or NumPy ``uint32`` arrays (the host blocks of
    the per-sample path); NumPy's float32 arithmetic gives the same bits (no FMA
    contraction, and ``affine_exact`` leaves none to contract).
    """
    out = []
    host = isinstance(words[0], np.ndarray)
    for j, w in enumerate(words):
        a, width, c = bounds[j, 0], bounds[j, 1], bounds[j, 2]
        v = affine_exact(a, width, _unit_float(w))
        out.append(np.minimum(c, np.maximum(a, v)) if host else jnp.clip(v, a, c))  # jnp.clip's order
    return tuple(out)


def affine_exact(a: jax.Array, width: jax.Array, u: jax.Array) -> jax.Array:
    """``a + width * u`` in float32, identical on every IEEE backend.

    ``width`` and ``u`` are split into 12-bit halves (``wh + wl``, ``uh + ul``), so the four
    partial products are exact and the sum ``a + (((wh*uh) + (wh*ul + wl*uh)) + wl*ul)`` has a
    fixed rounding: whether a compiler contracts multiply-adds into FMAs (XLA:CPU and GPUs
    do) cannot change a bit. NumPy with the same expression gives the same values.
    """
    wh, wl = _split12(width)
    uh, ul = _split12(u)
    return a + (((wh * uh) + (wh * ul + wl * uh)) + wl * ul)


# The kernel runs in two compiled steps so the sample keys are materialised once: XLA:CPU
# would otherwise recompute the key chain inside each of the five output fusions.
@functools.partial(jax.jit, static_argnames=("algorithm", "high_ids", "ranked"))
def _keys_kernel(base, id_words, rank, *, algorithm, high_ids, ranked):
    lo, hi = id_words[:, 0], id_words[:, 1]
    return _sample_key(algorithm, base, hi, lo, rank if ranked else None, high_ids=high_ids)


@functools.partial(jax.jit, static_argnames=("algorithm",))
def _params_kernel(k0, k1, bounds, *, algorithm):
    return _params_from_words(_words(algorithm, k0, k1), bounds)


def augmentation_params(
    key: jax.Array, ids_hi: jax.Array, ids_lo: jax.Array, config: AugmentationConfig | None = None
) -> dict[str, jax.Array]:
    """Traceable form of the kernel, for use inside your own ``jax.jit`` step.

    ``key`` is the library's key of a seed and an epoch (the one every ``accel.augment``
    entry point derives),
    ``K(seed, epoch) = jax.random.fold_in(jax.random.wrap_key_data([seed >> 32, seed & 0xFFFFFFFF], impl=...), epoch)``
    (uint32 key data; its impl selects the algorithm, ``threefry2x32`` or ``philox4x32``);
    ``ids_hi``/``ids_lo`` are the uint32 halves of the 64-bit ids (``ids >> 32`` and
    ``ids & 0xFFFFFFFF``). Returns float32 arrays equal to
    ``gen_augmentation_batch(ids, config, seed=seed, epoch=epoch, algorithm=impl)``.

    Example:
        >>> import jax, numpy as np
        >>> from accel.augment import augmentation_params, gen_augmentation_batch
        >>> seed, epoch = 5, 1
        >>> K = jax.random.wrap_key_data(np.array([seed >> 32, seed & 0xFFFFFFFF], np.uint32))
        >>> key = jax.random.fold_in(K, epoch)
        >>> ids = np.array([7, 8], np.uint64)
        >>> hi, lo = (ids >> np.uint64(32)).astype(np.uint32), (ids & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        >>> p = jax.jit(augmentation_params)(key, hi, lo)
        >>> bool((p["scale"] == gen_augmentation_batch([7, 8], seed=5, epoch=1)["scale"]).all())
        True
    """
    algorithm = str(jax.random.key_impl(key))
    if algorithm not in COUNTER_ALGORITHMS:
        raise ValueError(f"key impl must be one of {COUNTER_ALGORITHMS}, got {algorithm!r}")
    config = resolve_config(config)
    halves = []
    for name, ids in (("ids_hi", ids_hi), ("ids_lo", ids_lo)):
        dtype = getattr(ids, "dtype", None)  # traced arrays too: dtype and shape are static
        if dtype is None or not jnp.issubdtype(dtype, jnp.unsignedinteger) or jnp.dtype(dtype).itemsize != 4:
            raise TypeError(
                f"{name} must be a uint32 array (the high and low 32 bits of the 64-bit sample ids), got "
                f"{'dtype ' + str(dtype) if dtype is not None else type(ids).__name__}"
            )
        halves.append(ids)
    if jnp.shape(ids_hi) != jnp.shape(ids_lo):
        raise ValueError(
            f"ids_hi and ids_lo must have the same shape, got {jnp.shape(ids_hi)} and {jnp.shape(ids_lo)}"
        )
    words = _param_words(jax.random.key_data(key), *halves, None, algorithm)
    return dict(zip(PARAM_NAMES, _params_from_words(words, jnp.asarray(bounds_array(config))), strict=True))


# -- host entry points ----------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _epoch_key_data(seed: int, epoch: int, algorithm: str) -> jax.Array:
    key = _keys.epoch_key(_keys.seed_key(seed, impl=algorithm), np.uint32(epoch))
    return jax.random.key_data(key)


@functools.lru_cache(maxsize=64)
def _low_ids_key_data(seed: int, epoch: int, algorithm: str) -> jax.Array:
    """``fold_in(K(seed, epoch), 0)``: the first step of every id below ``2**32``."""
    kd = _epoch_key_data(seed, epoch, algorithm)
    return jnp.stack(_FOLDS[algorithm](kd[0], kd[1], jnp.uint32(0)))


def _id_words(ids: np.ndarray) -> np.ndarray:
    """``(n, 2)`` uint32 view ``[lo, hi]`` of uint64 ids (no copy on little-endian hosts)."""
    ids = np.ascontiguousarray(ids, dtype=np.uint64)
    if sys.byteorder == "little":
        return ids.view(np.uint32).reshape(-1, 2)
    return np.stack([(ids & np.uint64(0xFFFFFFFF)).astype(np.uint32), (ids >> np.uint64(32)).astype(np.uint32)], axis=1)


_EXACT_FROM = 1 << 20


def bucket_size(n: int) -> int:
    """Compiled length for ``n`` ids: 8, powers of two up to 1024, then multiples of
    ``2**(bit_length(n-1) - 6)`` (at most ~3% padding), so arbitrary batch lengths need
    few compilations; from ``2**20`` ids on, the exact length (padding and slicing such
    batches would cost more than their compilation). Padding ids are computed and dropped;
    they never affect real ids."""
    if n <= 8:
        return 8
    if n <= 1024:
        return 1 << (n - 1).bit_length()
    if n >= _EXACT_FROM:
        return n
    step = 1 << ((n - 1).bit_length() - 6)
    return -(-n // step) * step


def dpa_prefix(seed: int, epoch: int, rank: int | None) -> str:
    """Hash prefix of the bit-exact DPA algorithm (DPA has no seed/epoch outside ranks)."""
    if epoch != 0:
        raise ValueError(f"algorithm='dpa' has no epochs: epoch must be 0, got {epoch}")
    if rank is None:
        if seed != 0:
            raise ValueError(
                f"algorithm='dpa' has no seed outside the distributed functions: seed must be 0, got {seed}"
            )
        return ""
    return f"{seed}:{rank}:"


def generate(
    ids: np.ndarray,
    config: AugmentationConfig,
    *,
    seed: int,
    epoch: int,
    algorithm: str,
    rank: int | None = None,
    pad_to: int | None = None,
) -> AugmentationBatch:
    """Validated-argument core shared by every public generator (ids already uint64 1-D)."""
    n = ids.shape[0]
    if algorithm == "dpa":
        prefix = dpa_prefix(seed, epoch, rank)
        from ._dpa_kernels import dpa_uniforms, dpa_values  # the bit-exact DPA kernel

        u = np.asarray(dpa_uniforms(ids, depth=config.augmentation_depth, prefix=prefix))
        values = dict(zip(PARAM_NAMES, dpa_values(config.ranges, u), strict=True))
    else:
        words = _id_words(ids)
        # large stream chunks compile exactly their size (no slicing of full chunks); other
        # calls pad to a bucket so varying lengths compile rarely
        size = pad_to if pad_to is not None and pad_to >= max(n, 1024) else bucket_size(max(n, pad_to or 0))
        if size > n:
            words = np.concatenate([words, np.zeros((size - n, 2), np.uint32)])
        rank_arg = np.uint32(0 if rank is None else rank)
        high_ids = bool(n) and int(ids.max()) > 0xFFFFFFFF
        base = _epoch_key_data(seed, epoch, algorithm) if high_ids else _low_ids_key_data(seed, epoch, algorithm)
        keys = _keys_kernel(base, words, rank_arg, algorithm=algorithm, high_ids=high_ids, ranked=rank is not None)
        out = _params_kernel(*keys, bounds_array(config), algorithm=algorithm)
        if words.shape[0] != n:
            out = tuple(o[:n] for o in out)
        values = dict(zip(PARAM_NAMES, out, strict=True))
    return AugmentationBatch(values, ids, seed=seed, epoch=epoch, algorithm=algorithm, config=config)


def gen_augmentation_batch(
    sample_ids: Any,
    config: AugmentationConfig | None = None,
    *,
    seed: int = 0,
    epoch: int = 0,
    algorithm: str | None = None,
) -> AugmentationBatch:
    """Parameters of many samples at once (jit-compiled, vectorized); see the module formula.

    Args:
        sample_ids: 1-D integers in ``[0, 2**64)`` (any order, duplicates allowed).
        config: ranges; ``None`` means the defaults (``get_preset('moderate')``).
        seed: integer in ``[0, 2**64)``; epoch: integer in ``[0, 2**32)``.
        algorithm: ``'threefry2x32'`` (default, fastest here), ``'philox4x32'`` or ``'dpa'``
            (bit-exact DPA v0.2; needs ``seed == epoch == 0``).

    Returns:
        ``AugmentationBatch``: value ``i`` of each parameter belongs to ``sample_ids[i]`` and
        lies in ``[lo, hi)`` of its range. Lengths below ``2**20`` are padded to a few
        compiled sizes (``bucket_size``), so varying batch lengths compile rarely.
    """
    config = resolve_config(config)
    seed = _keys.check_seed(seed)
    epoch = check_epoch(epoch)
    algorithm = check_algorithm(algorithm)
    return generate(as_id_array(sample_ids), config, seed=seed, epoch=epoch, algorithm=algorithm)


def scalar_id(sample_id: object) -> np.ndarray:
    return as_id_array([check_sample_id(sample_id)])


def check_sample_id(sample_id: object) -> int:
    """One id as a Python int in ``[0, 2**64)``."""
    if type(sample_id) is int and 0 <= sample_id <= _MAX_ID:  # the common case, fast
        return sample_id
    if isinstance(sample_id, bool) or not isinstance(sample_id, numbers.Integral):
        raise TypeError(f"sample_id must be an integer in [0, 2**64), got {type(sample_id).__name__}")
    return _keys.check_seed(sample_id, "sample_id")
