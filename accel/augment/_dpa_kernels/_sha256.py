"""SHA-256 (FIPS 180-4) on uint32 lanes, traceable and ``vmap``-friendly.

The compression function works on scalars (or any equal-shaped uint32 arrays) and only uses
uint32 operations, so it runs with JAX's default 32-bit mode:

.. code-block:: text

    Σ0(a) = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)     σ0(x) = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
    Σ1(e) = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)     σ1(x) = rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10)
    W[t]  = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16]            (16 <= t < 64)
    T1 = h + Σ1(e) + Ch(e, f, g) + K[t] + W[t];   T2 = Σ0(a) + Maj(a, b, c)

Blocks whose content is known on the host (the same for every lane, such as a constant
message suffix) are expanded once with NumPy (:func:`expand_block_host`) and passed to
:func:`compress_expanded`, which skips the message schedule.

Example:
    >>> import hashlib
    >>> import numpy as np
    >>> from accel.augment._dpa_kernels import _sha256
    >>> block = _sha256.pad_message_host(b"abc")
    >>> state = _sha256.compress(_sha256.initial_state(), list(block))
    >>> _sha256.digest_hex_host(np.array(state)) == hashlib.sha256(b"abc").hexdigest()
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "IV",
    "K",
    "compress",
    "compress_expanded",
    "digest_hex_host",
    "expand_block_host",
    "hex_words",
    "initial_state",
    "pad_message_host",
]

K = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
        0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
        0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
        0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
        0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
        0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
        0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip
IV = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19],
    dtype=np.uint32,
)

Words = Sequence[jnp.ndarray]


def initial_state() -> list[jnp.ndarray]:
    """The eight SHA-256 initial hash words as uint32 scalars."""
    return [jnp.uint32(v) for v in IV]


def _rotr(x: jnp.ndarray, n: int) -> jnp.ndarray:
    return (x >> n) | (x << (32 - n))


def _big_sigma0(a):
    return _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)


def _big_sigma1(e):
    return _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)


def _small_sigma0(x):
    return _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> 3)


def _small_sigma1(x):
    return _rotr(x, 17) ^ _rotr(x, 19) ^ (x >> 10)


def _round(state: Words, kw_t: jnp.ndarray) -> tuple[jnp.ndarray, ...]:
    """One round; ``kw_t`` is ``K[t] + W[t]``."""
    a, b, c, d, e, f, g, h = state
    e_new = d + (h + _big_sigma1(e) + (g ^ (e & (f ^ g))) + kw_t)
    # a' = T1 + T2 written as (e' - d) + T2: XLA fuses a' and e' separately, and this keeps
    # it from recomputing T1 (the larger half of a round) for a'.
    a_new = (e_new - d) + (_big_sigma0(a) + ((a & b) | (c & (a | b))))
    return (a_new, a, b, c, e_new, e, f, g)


def _feed_forward(state: Words, worked: Words) -> list[jnp.ndarray]:
    return [s + v for s, v in zip(state, worked, strict=True)]


def compress(state: Words, block: Words, *, unroll: int = 1) -> list[jnp.ndarray]:
    """One SHA-256 compression of a 16-word (big-endian) message block into ``state``.

    The 64 rounds are a rolled ``fori_loop`` (``unroll`` rounds per iteration): XLA:CPU
    compiles fully unrolled SHA-256 very slowly. The message schedule is a sliding window
    of 16 words carried through the loop.
    """
    if len(block) != 16 or len(state) != 8:
        raise ValueError(f"need 8 state words and 16 block words, got {len(state)}, {len(block)}")
    k = jnp.asarray(K)

    def body(t, carry):
        work, window = carry
        work = _round(work, k[t] + window[0])
        new = _small_sigma1(window[14]) + window[9] + _small_sigma0(window[1]) + window[0]
        return work, (*window[1:], new)

    words = [jnp.asarray(x, dtype=jnp.uint32) for x in (*state, *block)]
    shape = jnp.broadcast_shapes(*(w.shape for w in words))
    words = [jnp.broadcast_to(w, shape) for w in words]
    start, window = tuple(words[:8]), tuple(words[8:])
    work, _ = jax.lax.fori_loop(0, 64, body, (start, window), unroll=unroll)
    return _feed_forward(start, work)


def compress_expanded(state: Words, kw: jnp.ndarray, *, unroll: int = 1) -> list[jnp.ndarray]:
    """Compression with a pre-expanded schedule ``kw`` (64 uint32 values ``K[t] + W[t]``)."""
    start = tuple(jnp.asarray(x, dtype=jnp.uint32) for x in state)
    shape = jnp.broadcast_shapes(*(w.shape for w in start))
    start = tuple(jnp.broadcast_to(w, shape) for w in start)
    work = jax.lax.fori_loop(0, 64, lambda t, w: _round(w, kw[t]), start, unroll=unroll)
    return _feed_forward(start, work)


def hex_words(state: Words) -> list[jnp.ndarray]:
    """The 64-byte lower-case hex digest of ``state`` as 16 big-endian message words.

    Each 16-bit half of a state word becomes four ASCII characters: the nibbles are spread
    to one per byte, then ``'0' + n`` is corrected by ``'a' - '0' - 10 = 39`` where
    ``n >= 10`` (detected as a carry out of ``n + 6`` into bit 4 of the byte).
    """
    out = []
    for x in state:
        for v in (x >> 16, x & 0xFFFF):
            spread = (
                ((v & 0xF000) << 12) | ((v & 0x0F00) << 8) | ((v & 0x00F0) << 4) | (v & 0x000F)
            )
            letters = ((spread + 0x06060606) >> 4) & 0x01010101
            out.append(spread + 0x30303030 + letters * 39)
    return out


def pad_message_host(message: bytes) -> np.ndarray:
    """Padded message as big-endian uint32 words (host side, for constant blocks and tests)."""
    length = len(message)
    padded = message + b"\x80" + b"\x00" * ((55 - length) % 64) + (8 * length).to_bytes(8, "big")
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def expand_block_host(block: np.ndarray) -> np.ndarray:
    """``K[t] + W[t]`` for t < 64 of one constant 16-word block (NumPy, uint32 wrap-around)."""
    block = np.asarray(block, dtype=np.uint32)
    if block.shape != (16,):
        raise ValueError(f"block must have 16 uint32 words, got shape {block.shape}")

    def rotr(x, n):
        return (x >> np.uint32(n)) | (x << np.uint32(32 - n))

    w = [np.uint32(x) for x in block]
    with np.errstate(over="ignore"):
        for t in range(16, 64):
            s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> np.uint32(3))
            s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> np.uint32(10))
            w.append(np.uint32(s1 + w[t - 7] + s0 + w[t - 16]))
        return (K + np.array(w, dtype=np.uint32)).astype(np.uint32)


def digest_hex_host(state: np.ndarray) -> str:
    """Hex digest of a final state (host side)."""
    return "".join(f"{int(v):08x}" for v in np.asarray(state, dtype=np.uint32))
