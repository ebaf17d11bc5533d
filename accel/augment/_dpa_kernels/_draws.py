"""DPA v0.2's parameter algorithm, bit-exact, as one vectorised JAX kernel on uint32 lanes.

For a sample id and a string ``prefix`` (``""``, or ``f"{base_seed}:{rank}:"`` for DPA's
distributed variant), DPA computes:

.. code-block:: text

    h = sha256((prefix + str(sample_id)).encode()).hexdigest()
    for i in range(depth):  h = sha256((h + str(fib(i))).encode()).hexdigest()   # fib: 0, 1, 1, 2, 3, 5, ...
    r = random.Random(int(h, 16) % 2**32)
    u = [r.random() for _ in range(5)]      # rotation, brightness, noise, scale, contrast
    r.random() = ((a >> 5) * 67108864 + (b >> 6)) / 2**53   (a, b: successive MT19937 outputs)

:func:`dpa_uniforms` returns ``u`` for a batch of ids. Everything up to the two shifted
32-bit words of each draw runs on the device in one jit-compiled, ``vmap``-ped kernel using
only uint32 arithmetic: the decimal encoding of the 64-bit id (variable length, built in the
kernel), SHA-256 with padding for the variable message length, the hex re-encoding of each
digest, the Fibonacci suffixes (the same for every lane, so their message block is expanded
once on the host), ``int(h, 16) % 2**32`` (the last digest word), and MT19937's
``init_by_array`` with the first ten tempered outputs. Only the final float64 combination
``(a * 67108864 + b) / 2**53`` runs on the host, in NumPy.

Compilation: depth, the prefix bytes and the prefix length are runtime arguments of the one
kernel (the per-step SHA-256 schedules come from a table of 128 rows, or the next power of
two above ``depth``; the message holds up to ``ceil((len(prefix) + 29) / 64)`` blocks, one for
prefixes up to 35 bytes). So a process compiles once per batch bucket (:data:`_BUCKETS`:
64 lanes for single ids and small batches, 16384 for everything else; longer inputs are cut
into 16384-lane chunks), and again only for depth > 128 or prefixes longer than 35 bytes.
Chunks run two at a time from two Python threads: XLA:CPU splits each large fusion of a
chunk over the cores (``outer_dimension_partitions``) and synchronises after every one, and
a second execution fills those waits (1.3x samples/s, 1.4x samples per CPU-second on the
shared 2-core machine; ``benchmarks/bench_augment_dpa.py``).
A compilation takes 10-25 s on the shared 2-core CPU (measured by
``benchmarks/bench_augment_dpa.py``). Ids are 64-bit; the rolled SHA-256 loops (8 or 16 rounds
per iteration) trade a little speed for compile time: XLA:CPU did not finish compiling a fully
unrolled SHA-256 compression within minutes (unroll=4 measured slower than 8, 16 no faster). The
MT19937 loops run one step per iteration (fastest measured).
On the CPU the kernel is compiled for 512-bit vectors (``xla_cpu_prefer_vector_width``;
XLA's default is 256, and LLVM uses narrower vectors where the CPU has no 512-bit ones):
1.1-1.3x faster end to end on the AVX-512 Xeon of ``BENCHMARKS.md``. The kernel is integer
arithmetic only, so its results do not depend on the vector width.

Example:
    >>> import random, hashlib
    >>> import numpy as np
    >>> from accel.augment._dpa_kernels import dpa_uniforms
    >>> u = dpa_uniforms(np.array([7], dtype=np.uint64), depth=3)
    >>> h = hashlib.sha256(b"7").hexdigest()
    >>> for suffix in ("0", "1", "1"):
    ...     h = hashlib.sha256((h + suffix).encode()).hexdigest()
    >>> r = random.Random(int(h, 16) % 2**32)
    >>> u[0].tolist() == [r.random() for _ in range(5)]
    True
"""

from __future__ import annotations

import concurrent.futures
import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from accel._keys import split_ids

from . import _mt19937, _sha256

__all__ = [
    "DRAWS",
    "MAX_DEPTH",
    "check_depth",
    "dpa_draws",
    "dpa_shifted_words",
    "dpa_uniforms",
    "dpa_values",
    "fibonacci_suffixes",
]

DRAWS = ("rotation", "brightness", "noise", "scale", "contrast")
_N_DIGITS = 20  # 2**64 - 1 has 20 decimal digits
# The per-step schedule table grows with depth x blocks per suffix (fib(i) has ~0.21 i digits):
# 1024 rows x 4 blocks at depth 1000. DPA's default depth is 10.
MAX_DEPTH = 1000
# Largest batch one kernel call processes; longer inputs are cut into chunks of this size.
_MAX_CHUNK = 1 << 14
# Smaller batches are padded to the next of these sizes. A compilation costs 10-25 s on the
# 2-core CPU and a padded 16384-lane chunk about 0.15 s, so two buckets: one for single ids
# and small batches, one for everything else.
_BUCKETS = (64, _MAX_CHUNK)
_MIN_DEPTH_TABLE = 128
# Chunks computed concurrently (Python threads, each waiting on one XLA execution).
_THREADS = 2


def fibonacci_suffixes(depth: int) -> list[str]:
    """``[str(fib(i)) for i in range(depth)]`` with fib(0) = 0, fib(1) = 1."""
    out, a, b = [], 0, 1
    for _ in range(depth):
        out.append(str(a))
        a, b = b, a + b
    return out


def check_depth(depth: object) -> int:
    """``depth`` as an int in ``[1, MAX_DEPTH]``."""
    if type(depth) is int and 1 <= depth <= MAX_DEPTH:  # the common case, fast
        return depth
    if isinstance(depth, bool) or not isinstance(depth, numbers.Integral):
        raise TypeError(f"depth must be an integer >= 1, got {type(depth).__name__}")
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an integer >= 1 and <= {MAX_DEPTH}, got {depth}")
    return int(depth)


def _tail_schedules(depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Pre-expanded ``K + W`` of the constant blocks after the 64 hex characters, per step.

    Returns ``kw`` of shape (rows, n_tail, 64) and a (rows, n_tail) mask of the blocks each
    step really has (the suffix grows with the step; one block holds suffixes up to 55
    digits). ``rows`` is ``depth`` rounded up to a table size (at least 128) so that every
    depth in the same table size shares one compiled kernel; rows past ``depth`` are unused.
    """
    rows = max(_MIN_DEPTH_TABLE, 1 << (depth - 1).bit_length())
    return _tail_table(rows)


@functools.cache
def _tail_table(rows: int) -> tuple[np.ndarray, np.ndarray]:
    blocks = []
    for suffix in fibonacci_suffixes(rows):
        words = _sha256.pad_message_host(b"\x00" * 64 + suffix.encode()).reshape(-1, 16)[1:]
        blocks.append([_sha256.expand_block_host(w) for w in words])
    n_tail = max(len(b) for b in blocks)
    kw = np.zeros((rows, n_tail, 64), dtype=np.uint32)
    mask = np.zeros((rows, n_tail), dtype=bool)
    for i, step in enumerate(blocks):
        kw[i, : len(step)] = step
        mask[i, : len(step)] = True
    kw.flags.writeable = False
    mask.flags.writeable = False
    return kw, mask


def _decimal_digits(hi: jnp.ndarray, lo: jnp.ndarray) -> list[jnp.ndarray]:
    """The 20 decimal digits (most significant first, zero-padded) of ``hi * 2**32 + lo``.

    Long division of four 16-bit limbs by 10**4 (every partial dividend is below
    10**4 * 2**16 < 2**32), five times, gives five base-10**4 groups.
    """
    limbs = [hi >> 16, hi & 0xFFFF, lo >> 16, lo & 0xFFFF]
    groups = []
    for _ in range(_N_DIGITS // 4):
        rem = jnp.zeros_like(hi)
        quotients = []
        for limb in limbs:
            cur = (rem << 16) | limb
            q = cur // 10000
            rem = cur - q * 10000
            quotients.append(q)
        limbs = quotients
        groups.append(rem)
    digits = []
    for g in reversed(groups):
        digits += [g // 1000, (g // 100) % 10, (g // 10) % 10, g % 10]
    return digits


def _n_message_blocks(n_prefix: int) -> int:
    """Most SHA-256 blocks ``prefix + str(id)`` can need (id up to 20 digits, 9 padding bytes)."""
    return (n_prefix + _N_DIGITS + 8) // 64 + 1


def _message_words(hi, lo, prefix_padded, n_prefix):
    """Padded SHA-256 message of ``prefix + str(id)`` as 16-word blocks, and the block count.

    ``prefix_padded`` holds the prefix bytes followed by zeros (length ``64 * max_blocks``),
    ``n_prefix`` is its true length (a traced scalar: prefixes of any length up to the
    table share a kernel).
    """
    n_bytes = prefix_padded.shape[0]
    digits = _decimal_digits(hi, lo)
    # Number of significant digits L (>= 1): 20 minus the leading zeros.
    leading = jnp.zeros_like(hi)
    all_zero = jnp.ones_like(hi, dtype=bool)
    for d in digits[:-1]:
        all_zero = all_zero & (d == 0)
        leading = leading + all_zero.astype(jnp.uint32)
    length = _N_DIGITS - leading
    # Left-align the significant digits: shift by 20 - L with a 5-stage barrel shifter.
    zero = jnp.zeros_like(hi)
    for stage in range(5):
        step = 1 << stage
        take = ((leading >> stage) & 1) == 1
        digits = [
            jnp.where(take, digits[j + step] if j + step < _N_DIGITS else zero, digits[j])
            for j in range(_N_DIGITS)
        ]
    # The id's field: L ASCII digits, the 0x80 end marker, zeros (21 bytes).
    field = [
        jnp.where(j < length, (digits[j] if j < _N_DIGITS else zero) + ord("0"), jnp.where(j == length, 0x80, 0))
        for j in range(_N_DIGITS + 1)
    ]
    # Place it after the prefix: bytes [P, P + 21) of the message.
    pad = jnp.zeros((n_bytes,), dtype=jnp.uint32)
    field = jnp.concatenate([pad, jnp.stack(field).astype(jnp.uint32), pad])
    placed = jax.lax.dynamic_slice(field, (n_bytes - n_prefix,), (n_bytes,))
    data = (prefix_padded | placed).reshape(-1, 4)
    words = (data[:, 0] << 24) | (data[:, 1] << 16) | (data[:, 2] << 8) | data[:, 3]
    total = length + n_prefix
    n_blocks = (total + 8) // 64 + 1
    # Bit length in the last word of the last block (messages are far below 2**29 bytes).
    last_words = jnp.arange(15, words.shape[0], 16)
    words = words.at[last_words].add(jnp.where(n_blocks == last_words // 16 + 1, total * 8, 0))
    return words.reshape(-1, 16), n_blocks


def _one_sample(hi, lo, prefix_padded, n_prefix, depth, kw, mask, *, unroll: int):
    """Shifted words ``(a >> 5, b >> 6)`` of the five draws for one id: uint32 (5, 2), and
    the final SHA-256 digest (DPA's ``hash``) as eight big-endian words: uint32 (8,).

    ``unroll``: SHA-256 rounds per loop iteration (speed vs compile time). MT19937 runs one
    step per iteration (:func:`accel.augment._dpa_kernels._mt19937.first_outputs` says why).
    Compressions that extend the message schedule use ``2 * unroll`` (16 by default) rounds
    per iteration, so that the 16-word schedule window is replaced every iteration instead
    of partly carried over (which XLA implements with copies).
    """
    blocks, n_blocks = _message_words(hi, lo, prefix_padded, n_prefix)
    state = _sha256.compress(_sha256.initial_state(), list(blocks[0]), unroll=2 * unroll)
    for b in range(1, blocks.shape[0]):
        new = _sha256.compress(state, list(blocks[b]), unroll=2 * unroll)
        state = [jnp.where(n_blocks > b, x, y) for x, y in zip(new, state, strict=True)]

    def step(i, state):
        state = _sha256.compress(_sha256.initial_state(), _sha256.hex_words(state), unroll=2 * unroll)
        for j in range(kw.shape[1]):
            new = _sha256.compress_expanded(state, kw[i, j], unroll=unroll)
            state = new if j == 0 else [jnp.where(mask[i, j], x, y) for x, y in zip(new, state, strict=True)]
        return state

    state = jax.lax.fori_loop(0, depth, step, state)
    out = _mt19937.first_outputs(state[7], 2 * len(DRAWS))
    words = jnp.stack([jnp.stack([out[2 * k] >> 5, out[2 * k + 1] >> 6]) for k in range(len(DRAWS))])
    return words, jnp.stack(state)


@functools.cache
def _kernel(unroll: int = 8, vector_width: int | None = 512):
    """jit(vmap(one sample)); jit compiles once per (batch bucket, table shapes).

    ``vector_width``: XLA:CPU's preferred vector width in bits (``None``: XLA's default);
    only passed when the default backend is the CPU.
    """
    one = functools.partial(_one_sample, unroll=unroll)
    options = {}
    if vector_width is not None and jax.default_backend() == "cpu":
        options = {"xla_cpu_prefer_vector_width": vector_width}
    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None, None, None, None)), compiler_options=options)


def _bucket(n: int) -> int:
    for size in _BUCKETS:
        if n <= size:
            return size
    return _MAX_CHUNK


def dpa_shifted_words(sample_ids: object, *, depth: int, prefix: str = "") -> np.ndarray:
    """``(a >> 5, b >> 6)`` of the five draws per id, computed on the device: uint32 (n, 5, 2)."""
    return _words_and_digests(sample_ids, depth, prefix)[0]


def _words_and_digests(sample_ids: object, depth: int, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """Shifted words uint32 (n, 5, 2) and final digests uint32 (n, 8) of the kernel."""
    depth = check_depth(depth)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    hi, lo = split_ids(sample_ids)
    hi, lo = hi.ravel(), lo.ravel()
    n = hi.size
    prefix_bytes = np.frombuffer(prefix.encode(), dtype=np.uint8).astype(np.uint32)
    n_prefix = prefix_bytes.size
    prefix_padded = np.zeros(64 * _n_message_blocks(n_prefix), dtype=np.uint32)
    prefix_padded[:n_prefix] = prefix_bytes
    kw, mask = _tail_schedules(depth)
    kernel = _kernel()
    args = (
        jnp.asarray(prefix_padded), jnp.uint32(n_prefix), jnp.int32(depth), jnp.asarray(kw), jnp.asarray(mask)
    )
    chunks = []
    for start in range(0, n, _MAX_CHUNK):
        count = min(_MAX_CHUNK, n - start)
        pad = (0, _bucket(count) - count)
        chunks.append((np.pad(hi[start : start + count], pad), np.pad(lo[start : start + count], pad), count))
    if not chunks:
        return np.zeros((0, len(DRAWS), 2), dtype=np.uint32), np.zeros((0, 8), dtype=np.uint32)

    def run(chunk):
        chunk_hi, chunk_lo, count = chunk
        words, digests = kernel(chunk_hi, chunk_lo, *args)
        return np.asarray(words)[:count], np.asarray(digests)[:count]

    if len(chunks) == 1 or _THREADS == 1:
        results = [run(c) for c in chunks]
    else:
        # Two chunks in flight from two threads: XLA splits each large fusion over the cores
        # and waits for both halves thousands of times per chunk; a second execution fills
        # those waits (measured: benchmarks/bench_augment_dpa.py, BENCHMARKS.md).
        with concurrent.futures.ThreadPoolExecutor(_THREADS) as pool:
            results = list(pool.map(run, chunks))
    return np.concatenate([w for w, _ in results]), np.concatenate([d for _, d in results])


def _combine(words: np.ndarray) -> np.ndarray:
    """``random()``'s float64 from the shifted words: ``(a * 67108864 + b) / 2**53``."""
    words = words.astype(np.float64)
    return (words[..., 0] * 67108864.0 + words[..., 1]) / 9007199254740992.0


def dpa_uniforms(sample_ids: object, *, depth: int, prefix: str = "") -> np.ndarray:
    """The five ``random.Random(seed_int).random()`` draws of DPA per id: float64 (n, 5).

    Columns in order rotation, brightness, noise, scale, contrast (:data:`DRAWS`); the hashed
    string is ``prefix + str(sample_id)``. ``sample_ids`` is anything
    :func:`accel._keys.split_ids` accepts (non-negative integers below 2**64), flattened.
    ``depth`` (int in ``[1, MAX_DEPTH]``) is the number of Fibonacci re-hashing steps.
    """
    return _combine(dpa_shifted_words(sample_ids, depth=depth, prefix=prefix))


def dpa_values(ranges: object, uniforms: np.ndarray) -> list[np.ndarray]:
    """DPA's ``random.uniform(lo, hi) = lo + (hi - lo) * u`` per ``(lo, hi)`` of ``ranges``
    (column ``j`` of ``uniforms``), in float64: the same doubles as DPA's."""
    return [np.float64(lo) + np.float64(hi - lo) * uniforms[..., j] for j, (lo, hi) in enumerate(ranges)]


def dpa_draws(sample_ids: object, *, depth: int = 10, prefix: str = "") -> tuple[np.ndarray, list[str]]:
    """DPA's five uniforms per id (as :func:`dpa_uniforms`) and its ``hash`` string per id.

    The hash is the hex digest after the last Fibonacci step (``gen_augmentation_seed`` in
    DPA), read from the same kernel call as the uniforms.

    Example:
        >>> import hashlib
        >>> from accel.augment import dpa_draws
        >>> u, hashes = dpa_draws([7], depth=1)
        >>> hashes[0] == hashlib.sha256((hashlib.sha256(b"7").hexdigest() + "0").encode()).hexdigest()
        True
        >>> u.shape, u.dtype.name
        ((1, 5), 'float64')
    """
    if np.ndim(sample_ids) != 1:
        raise ValueError(f"sample_ids must be 1-D (one id per sample), got shape {np.shape(sample_ids)}")
    words, digests = _words_and_digests(sample_ids, depth, prefix)
    text = digests.astype(">u4").tobytes().hex()
    return _combine(words), [text[64 * i : 64 * (i + 1)] for i in range(digests.shape[0])]
