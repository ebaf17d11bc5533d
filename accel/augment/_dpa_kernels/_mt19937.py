"""CPython's ``random.Random(seed)`` for a 32-bit seed, first outputs only, on uint32 lanes.

``random.Random(s)`` with ``0 <= s < 2**32`` seeds MT19937 with ``init_by_array([s])``
(Matsumoto & Nishimura, 2002-01-26 version, the one CPython ships):

.. code-block:: text

    mt = init_genrand(19650218)
    loop 1, N times:   mt[i] = (mt[i] ^ ((mt[i-1] ^ (mt[i-1] >> 30)) * 1664525)) + s      (j is always 0)
    loop 2, N-1 times: mt[i] = (mt[i] ^ ((mt[i-1] ^ (mt[i-1] >> 30)) * 1566083941)) - i
    (i starts at 1 and runs through 1..N-1 cyclically; on wrap mt[0] = mt[N-1])
    mt[0] = 0x80000000

The first ``k <= N - M = 227`` outputs of the following twist only need ``mt[0..k]`` and
``mt[M..M+k-1]``:  ``y = (mt[t] & 0x80000000) | (mt[t+1] & 0x7fffffff)``,
``x = mt[t+M] ^ (y >> 1) ^ (0x9908b0df if y & 1 else 0)``, then tempering. The first loop is
run twice (once to reach the wrap-around value, once in lock-step with loop 2) so that the
carried state is two words per lane instead of 624.

Example:
    >>> import random
    >>> import jax.numpy as jnp
    >>> from accel.augment._dpa_kernels import _mt19937
    >>> words = _mt19937.first_outputs(jnp.uint32(12345), 2)
    >>> a, b = (int(w) for w in words)
    >>> ((a >> 5) * 67108864 + (b >> 6)) / 2**53 == random.Random(12345).random()
    True
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["M", "N", "first_outputs", "init_genrand_host"]

N = 624
M = 397
_MATRIX_A = 0x9908B0DF
_UPPER = 0x80000000
_LOWER = 0x7FFFFFFF


@functools.cache
def init_genrand_host(seed: int = 19650218) -> np.ndarray:
    """``init_genrand(seed)``: the 624-word state before ``init_by_array`` (NumPy uint32)."""
    mt = [seed & 0xFFFFFFFF]
    for i in range(1, N):
        mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & 0xFFFFFFFF)
    out = np.array(mt, dtype=np.uint32)
    out.flags.writeable = False
    return out


def _mix(prev: jnp.ndarray, mult: int) -> jnp.ndarray:
    return (prev ^ (prev >> 30)) * jnp.uint32(mult)


def _loop1(prev, cur, key):
    return (cur ^ _mix(prev, 1664525)) + key


def _loop2(prev, cur, i):
    return (cur ^ _mix(prev, 1566083941)) - i


def _temper(y):
    y = y ^ (y >> 11)
    y = y ^ ((y << 7) & jnp.uint32(0x9D2C5680))
    y = y ^ ((y << 15) & jnp.uint32(0xEFC60000))
    return y ^ (y >> 18)


def first_outputs(key: jnp.ndarray, count: int, *, unroll: int = 1) -> list[jnp.ndarray]:
    """The first ``count`` 32-bit outputs of ``random.Random(key)`` (``key`` uint32, traced).

    ``unroll``: steps per loop iteration. 1 measured fastest on XLA:CPU (1.5-2x faster than
    8 on 16384 lanes): unrolled, each loop-1 value in the lock-step loop has two consumers,
    which XLA fuses separately, recomputing the loop-1 chain in the loop-2 fusion.

    ``count`` must be in ``[1, 227]``; the result is a list of uint32 values shaped like ``key``.
    """
    if not 1 <= count <= N - M:
        raise ValueError(f"count must be in [1, {N - M}], got {count}")
    key = jnp.asarray(key, dtype=jnp.uint32)
    mt0 = jnp.asarray(init_genrand_host())
    idx = jnp.arange(N, dtype=jnp.uint32)

    def scan1(carry, cur):
        nxt = _loop1(carry, cur, key)
        return nxt, None

    # Loop 1, first pass: a[i] for i = 1..N-1; the wrap then updates mt[1] once more.
    a1 = _loop1(mt0[0], mt0[1], key)
    a_last, _ = jax.lax.scan(scan1, a1, mt0[2:], unroll=unroll)
    a1_wrapped = _loop1(a_last, a1, key)

    # Loop 1 again (a[i]) in lock-step with loop 2 (c[i]) for i = 2..N-1.
    def scan2(carry, xs):
        a_prev, c_prev = carry
        cur, i = xs
        a_i = _loop1(a_prev, cur, key)
        c_i = _loop2(c_prev, a_i, i)
        return (a_i, c_i), None

    def step(carry, i):
        (a_i, c_i), _ = scan2(carry, (mt0[i], idx[i]))
        return (a_i, c_i)

    def run(carry, lo, hi):
        if hi > lo:
            carry, _ = jax.lax.scan(scan2, carry, (mt0[lo:hi], idx[lo:hi]), unroll=unroll)
        return carry

    carry = (a1, a1_wrapped)
    low = {}
    for i in range(2, count + 1):  # mt[2..count]
        carry = step(carry, i)
        low[i] = carry[1]
    carry = run(carry, max(count + 1, 2), M)
    high = {}
    for i in range(M, M + count):  # mt[M..M+count-1]
        carry = step(carry, i)
        high[i] = carry[1]
    carry = run(carry, M + count, N)
    c_last = carry[1]
    low[1] = _loop2(c_last, a1_wrapped, jnp.uint32(1))
    low[0] = jnp.full_like(key, _UPPER)

    out = []
    for t in range(count):
        y = (low[t] & jnp.uint32(_UPPER)) | (low[t + 1] & jnp.uint32(_LOWER))
        mag = jnp.where((y & 1) == 1, jnp.uint32(_MATRIX_A), jnp.uint32(0))
        out.append(_temper(high[t + M] ^ (y >> 1) ^ mag))
    return out
