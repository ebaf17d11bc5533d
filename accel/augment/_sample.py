"""One sample's parameters on the host: the per-sample path of ``gen_augmentation_params``.

DPA's on-demand pattern (a PyTorch ``Dataset.__getitem__`` asking for one id at a time)
would pay one device dispatch per sample through the batch kernel (about 1 ms). This path
computes the same values bit for bit without JAX (except for the rare configs named below),
so it also works in forked data-loader workers:

* counter-based algorithms: the sample key and the five words come from
  ``accel._keys.fold_in_host`` on Python ints (the three word hashes of one id share one
  hash call, as three 32-bit lanes of one integer), then the affine step of
  ``affine_exact`` is replayed in float64 with a float32 rounding after every operation.
  For float32 operands a float64 result rounded to float32 is the correctly rounded
  float32 result (53 >= 2 * 24 + 2 bits), so every step equals the kernel's:

  .. code-block:: text

      u = (w >> 9) * 2**-23 = uh + ul        (uh: top 12 significant bits of w >> 9)
      s1 = f32(wh*ul + wl*uh); s2 = f32(wh*uh + s1); s3 = f32(s2 + wl*ul)
      p = min(c, max(a, f32(a + s3)))        (a, wh + wl = width, c: see bounds_array)

* block cache: ids are grouped in aligned blocks of ``BLOCK`` ids. When a block has been
  asked for ``BLOCK_AFTER`` times, the whole block is computed at once with NumPy (the
  same ``_keys`` hash and ``_params_from_words`` on ``uint32`` arrays) and later ids of it
  are read from the cache. ``BLOCK_AFTER`` is the cost of a block in single-id
  computations (ski rental: rent until the rent paid equals the price), so an access pattern
  without reuse (random 64-bit ids) never pays for a block it does not use, and any pattern
  costs at most about twice what the better of the two ways would. Sequential ids and
  shuffled ids of a data set up to ``MAX_BLOCKS * BLOCK`` ids are served from the cache
  after the first touches; beyond that the oldest blocks are dropped first. Cached values
  are the values: nothing depends on the cache state, the access order or the thread.
* ``'dpa'``: DPA v0.2's algorithm with ``hashlib`` and a per-thread ``random.Random``
  (``accel.augment._dpa_kernels._host``: Fibonacci suffixes computed once per depth, not
  once per step as DPA does).

Configs whose bounds include a negative zero or a subnormal float32 (``hi == 0``) use the
batch kernel instead (devices may flush subnormals, so only the kernel defines them).

Example:
    >>> from accel.augment import gen_augmentation_batch
    >>> from accel.augment._config import resolve_config
    >>> from accel.augment._sample import sample_params
    >>> p = sample_params(2**63 + 5, resolve_config(None), seed=1, epoch=2, algorithm="threefry2x32")
    >>> b = gen_augmentation_batch([2**63 + 5], seed=1, epoch=2)
    >>> p == {k: float(v[0]) for k, v in b.to_numpy().items()}
    True
"""

from __future__ import annotations

import math
import struct
import threading

import numpy as np

from .. import _keys
from ._config import PARAM_NAMES, AugmentationConfig, resolve_config
from ._dpa_kernels import dpa_params_one
from ._generate import (
    _MAX_EPOCH,
    _MAX_ID,
    DEFAULT_ALGORITHM,
    _params_from_words,
    bounds_array,
    check_algorithm,
    check_epoch,
    check_sample_id,
    dpa_prefix,
    generate,
)

__all__ = ["BLOCK", "BLOCK_AFTER", "MAX_BLOCKS", "clear_cache", "gen_augmentation_params", "sample_params"]

BLOCK = 1024  # ids per cached block (aligned: block b holds ids b*BLOCK .. b*BLOCK + BLOCK-1)
# A NumPy block costs about as much as this many single-id computations (measured with
# min of repeats on the 2-core Xeon of BENCHMARKS.md: ~0.42 ms per block vs ~17 us per id).
BLOCK_AFTER = 24
MAX_BLOCKS = 2048  # per (config, seed, epoch, algorithm): 2M ids, 40 MiB of float32
_MAX_PLANS = 2  # the current epoch and the one before stay cached
_MAX_PENDING = 1 << 14  # blocks being counted towards BLOCK_AFTER
_MAX_HI = 1 << 10  # cached fold_in(K(seed, epoch), id >> 32)
_U32 = 0xFFFFFFFF
_LANES = 3  # the word hashes fold_in(K, j), j = 0, 1, 2, as three 64-bit slots
_SLOT_ONES = sum(1 << (64 * i) for i in range(_LANES))
_SLOT_MASK = _U32 * _SLOT_ONES
_SLOT_J = sum(j << (64 * j) for j in range(_LANES))
_F32X5 = struct.Struct("<5f")  # pack rounds a float64 to float32 (to nearest, ties to even)
_SMALLEST_NORMAL_F32 = 2.0**-126
# _TOP12[m.bit_length()] keeps the top 12 significant bits of a 23-bit m
_TOP12 = tuple(~((1 << max(n - 12, 0)) - 1) & 0x7FFFFF for n in range(24))


class _Plan:
    """Everything about one ``(config, seed, epoch, algorithm)`` that does not depend on the id."""

    __slots__ = (
        "a",
        "algorithm",
        "blocks",
        "bounds",
        "c",
        "config",
        "epoch",
        "exact",
        "hi_keys",
        "key",
        "lock",
        "pending",
        "seed",
        "wh23",
        "wl23",
    )

    def __init__(self, config: AugmentationConfig, seed: int, epoch: int, algorithm: str) -> None:

        self.config, self.seed, self.epoch, self.algorithm = config, seed, epoch, algorithm
        self.bounds = bounds_array(config)
        a, width, c = (self.bounds[:, k].astype(np.float64).tolist() for k in range(3))
        wh = (self.bounds[:, 1].view(np.uint32) & np.uint32(0xFFFFF000)).view(np.float32).astype(np.float64).tolist()
        self.a, self.c = tuple(a), tuple(c)
        wl = [w - h for w, h in zip(width, wh, strict=True)]  # exact: the low 12 bits
        self.wh23 = tuple(h * 2.0**-23 for h in wh)  # exact (powers of two, far from underflow)
        self.wl23 = tuple(low * 2.0**-23 for low in wl)
        self.exact = all(
            math.copysign(1.0, x) > 0 or x != 0 for x in a + c
        ) and all(x == 0 or abs(x) >= _SMALLEST_NORMAL_F32 for x in a + c)
        self.key = _keys.epoch_key_host(seed, epoch, impl=algorithm) if algorithm != "dpa" else None
        self.hi_keys: dict[int, tuple[int, int]] = {}
        self.blocks: dict[int, np.ndarray] = {}
        self.pending: dict[int, int] = {}
        self.lock = threading.Lock()

    # -- one id ---------------------------------------------------------------------------
    def _hi_key(self, hi: int) -> tuple[int, int]:
        key = self.hi_keys.get(hi)
        if key is None:
            key = _keys.fold_in_host(self.key, hi, impl=self.algorithm)
            with self.lock:
                if len(self.hi_keys) >= _MAX_HI:
                    self.hi_keys.clear()
                self.hi_keys[hi] = key
        return key

    def one(self, sample_id: int) -> list[float]:
        """The five parameters of one id (see the module formula)."""
        impl = self.algorithm
        k0, k1 = _keys.fold_in_host(self._hi_key(sample_id >> 32), sample_id & _U32, impl=impl)
        x0, x1 = _keys.fold_in_host((k0 * _SLOT_ONES, k1 * _SLOT_ONES), _SLOT_J, impl=impl,
                                    mask=_SLOT_MASK, lane=_SLOT_ONES)
        return self._affine(x0, x1)

    def _affine(self, x0: int, x1: int) -> list[float]:
        """``clip(a + width * u, a, c)`` of ``affine_exact`` for the five words in ``x0, x1``.

        Written out for the five parameters (lists and zips cost twice the arithmetic here).
        """
        # m = w >> 9 (u = m * 2**-23), split into its top 12 significant bits t and the
        # rest b, as _split12 splits u (uh = t * 2**-23, ul = b * 2**-23)
        m0, m1 = (x0 & _U32) >> 9, (x1 & _U32) >> 9
        m2, m3, m4 = ((x0 >> 64) & _U32) >> 9, ((x1 >> 64) & _U32) >> 9, ((x0 >> 128) & _U32) >> 9
        t0, t1, t2 = m0 & _TOP12[m0.bit_length()], m1 & _TOP12[m1.bit_length()], m2 & _TOP12[m2.bit_length()]
        t3, t4 = m3 & _TOP12[m3.bit_length()], m4 & _TOP12[m4.bit_length()]
        b0, b1, b2, b3, b4 = m0 - t0, m1 - t1, m2 - t2, m3 - t3, m4 - t4
        h0, h1, h2, h3, h4 = self.wh23  # wh * 2**-23 and wl * 2**-23: every product is exact
        l0, l1, l2, l3, l4 = self.wl23
        pack, unpack = _F32X5.pack, _F32X5.unpack  # one float32 rounding of five values
        s0, s1, s2, s3, s4 = unpack(pack(h0 * b0 + l0 * t0, h1 * b1 + l1 * t1, h2 * b2 + l2 * t2,
                                         h3 * b3 + l3 * t3, h4 * b4 + l4 * t4))
        s0, s1, s2, s3, s4 = unpack(pack(h0 * t0 + s0, h1 * t1 + s1, h2 * t2 + s2, h3 * t3 + s3, h4 * t4 + s4))
        s0, s1, s2, s3, s4 = unpack(pack(s0 + l0 * b0, s1 + l1 * b1, s2 + l2 * b2, s3 + l3 * b3, s4 + l4 * b4))
        a0, a1, a2, a3, a4 = self.a
        r = unpack(pack(a0 + s0, a1 + s1, a2 + s2, a3 + s3, a4 + s4))
        # clip = minimum(c, maximum(a, r)); no zero of either sign ties here (exact plans
        # have a >= +0 or a < 0, r is never -0, c is never 0), so plain comparisons agree
        return [hi if v > hi else (lo if lo > v else v) for lo, v, hi in zip(self.a, r, self.c, strict=False)]

    # -- a block of ids -------------------------------------------------------------------
    def block(self, b: int) -> np.ndarray:
        """``(BLOCK, 5)`` float32 parameters of ids ``b*BLOCK .. b*BLOCK + BLOCK - 1`` (NumPy)."""

        start = b * BLOCK
        lo = np.arange(start & _U32, (start & _U32) + BLOCK, dtype=np.uint64)
        impl = self.algorithm
        kind = np.uint32 if impl == "threefry2x32" else np.uint64  # philox needs 64-bit products
        k0, k1 = _keys.fold_in_host(self._hi_key(start >> 32), lo.astype(kind), impl=impl)
        k0, k1 = (np.broadcast_to(np.asarray(k, kind), (_LANES, BLOCK)) for k in (k0, k1))
        j = np.arange(_LANES, dtype=kind)[:, None]
        x0, x1 = _keys.fold_in_host((k0, k1), np.broadcast_to(j, (_LANES, BLOCK)), impl=impl)
        x0, x1 = x0.astype(np.uint32), x1.astype(np.uint32)
        words = [x0[0], x1[0], x0[1], x1[1], x0[2]]
        return np.stack(_params_from_words(words, self.bounds), axis=1)

    def lookup(self, sample_id: int) -> list[float]:
        b = sample_id // BLOCK
        block = self.blocks.get(b)
        if block is not None:
            return block[sample_id - b * BLOCK].tolist()
        if not self.exact:
            return self._kernel(sample_id)
        count = self.pending.get(b, 0) + 1
        if count < BLOCK_AFTER:
            with self.lock:
                if len(self.pending) >= _MAX_PENDING:
                    self.pending.clear()
                self.pending[b] = count
            return self.one(sample_id)
        block = self.block(b)
        with self.lock:
            self.pending.pop(b, None)
            if len(self.blocks) >= MAX_BLOCKS:
                del self.blocks[next(iter(self.blocks))]  # oldest first
            self.blocks[b] = block
        return block[sample_id - b * BLOCK].tolist()

    def _kernel(self, sample_id: int) -> list[float]:

        ids = np.array([sample_id], dtype=np.uint64)
        batch = generate(ids, self.config, seed=self.seed, epoch=self.epoch, algorithm=self.algorithm)
        return [float(v[0]) for v in batch.to_numpy().values()]


_PLANS: dict[tuple, _Plan] = {}
_PLANS_LOCK = threading.Lock()


def _plan(config: AugmentationConfig, seed: int, epoch: int, algorithm: str) -> _Plan:
    # Keyed by id(config): the plan holds a reference to the config, so the id stays unique.
    key = (id(config), seed, epoch, algorithm)
    plan = _PLANS.get(key)
    if plan is None:
        plan = _Plan(config, seed, epoch, algorithm)
        with _PLANS_LOCK:
            while len(_PLANS) >= _MAX_PLANS:
                del _PLANS[next(iter(_PLANS))]
            _PLANS[key] = plan
    return plan


def clear_cache() -> None:
    """Drop every cached plan and block (the values never depend on the cache)."""
    with _PLANS_LOCK:
        _PLANS.clear()


def sample_params(sample_id: int, config: AugmentationConfig, *, seed: int, epoch: int, algorithm: str) -> dict[str, float]:
    """Parameters of one (validated) id as Python floats, equal to its entry in any batch."""
    if algorithm == "dpa":
        if seed or epoch:

            dpa_prefix(seed, epoch, None)  # raises: DPA has no seed or epoch here
        return dpa_params_one(sample_id, config)
    values = _plan(config, seed, epoch, algorithm).lookup(sample_id)
    return dict(zip(PARAM_NAMES, values, strict=True))


def gen_augmentation_params(
    sample_id: int,
    config: AugmentationConfig | None = None,
    *,
    seed: int = 0,
    epoch: int = 0,
    algorithm: str | None = None,
) -> dict[str, float]:
    """Parameters of one sample as Python floats, equal to its entry in any batch.

    Computed on the host without a device dispatch: the same hash on Python ints and the
    kernel's float32 affine step replayed exactly, with a block cache for ids that come in
    runs or are revisited (sequential or shuffled data-set ids).

    Example:
        >>> p = gen_augmentation_params(42)
        >>> sorted(p) == sorted(["rotation", "brightness", "noise", "scale", "contrast"])
        True
        >>> -30 <= p["rotation"] < 30
        True
        >>> from accel.augment import gen_augmentation_batch
        >>> p["rotation"] == float(gen_augmentation_batch([7, 42])["rotation"][1])
        True
    """
    # plain ints skip the generic checks (this function's own cost matters: ~15 us per call)
    if not (type(seed) is int and 0 <= seed <= _MAX_ID):
        seed = _keys.check_seed(seed)
    if not (type(epoch) is int and 0 <= epoch <= _MAX_EPOCH):
        epoch = check_epoch(epoch)
    return sample_params(
        check_sample_id(sample_id),
        resolve_config(config),
        seed=seed,
        epoch=epoch,
        algorithm=DEFAULT_ALGORITHM if algorithm is None else check_algorithm(algorithm),
    )
