"""DPA v0.2's chain for one id on the host: ``hashlib`` and ``random.Random``.

The per-sample paths (``accel.augment.gen_augmentation_params(i, algorithm='dpa')`` and
``accel.dpa``'s ``gen_augmentation_params(i)``, through :func:`dpa_draw`): one id costs eleven SHA-256 calls (about 15 us), so the device kernel (``_draws``: about 1 ms
per dispatch, seconds to compile) is not worth calling for it. The same arithmetic as DPA,
bit for bit:

.. code-block:: text

    h = sha256((prefix + str(id)).encode()).hexdigest()
    for s in fibonacci_suffixes(depth):  h = sha256((h + s).encode()).hexdigest()
    r = random.Random(int(h[-8:], 16))            # = int(h, 16) % 2**32
    value = lo + (hi - lo) * r.random()            # DPA's random.uniform(lo, hi)

The Fibonacci suffixes are computed once per depth (DPA computes ``fib(i)`` from scratch at
every step), the ``(lo, hi - lo)`` pairs once per config, and each thread reseeds its own
generator (the global ``random`` module is never touched).

Example:
    >>> import hashlib, random
    >>> from accel.augment import dpa_draw
    >>> h = hashlib.sha256(b"7").hexdigest()
    >>> h = hashlib.sha256((h + "0").encode()).hexdigest()
    >>> r = random.Random(int(h, 16) % 2**32)
    >>> dpa_draw(7, depth=1) == (h, [r.random() for _ in range(5)])
    True
"""

from __future__ import annotations

import functools
import hashlib
import random
import threading
from typing import Any

from accel._checks import check_seed

from ._draws import DRAWS, check_depth, fibonacci_suffixes

__all__ = ["dpa_chain_one", "dpa_draw", "dpa_params_one", "suffixes"]

_LOCAL = threading.local()
_CONSTANTS: dict[int, tuple] = {}
_CONSTANTS_LOCK = threading.Lock()


def _constants(config: Any) -> tuple:
    """``(suffixes, ((name, (lo, hi - lo)), ...))`` of a config (``ranges`` and
    ``augmentation_depth``), cached by identity (the entry keeps the config alive, so its id
    is not reused)."""
    entry = _CONSTANTS.get(id(config))
    if entry is None or entry[0] is not config:
        # (lo, hi - lo): DPA's uniform(lo, hi) is lo + (hi - lo) * random(), the same doubles
        ranges = tuple(zip(DRAWS, [(lo, hi - lo) for lo, hi in config.ranges], strict=True))
        entry = (config, suffixes(config.augmentation_depth), ranges)
        with _CONSTANTS_LOCK:
            if len(_CONSTANTS) >= 16:
                _CONSTANTS.clear()
            _CONSTANTS[id(config)] = entry
    return entry[1], entry[2]


def _thread_seeder():
    """``random.Random(...).seed`` of this thread's generator (the C method: same bits)."""
    seed = getattr(_LOCAL, "seed", None)
    if seed is None:
        rng = random.Random()
        seed = _LOCAL.seed = super(random.Random, rng).seed
        _LOCAL.random = rng.random
    return seed


def dpa_chain_one(sample_id: int, suffixes: tuple[str, ...], prefix: str = "") -> tuple[str, list[float]]:
    """DPA's hash string and five ``random()`` draws for ``prefix + str(sample_id)``.

    ``suffixes`` are ``fibonacci_suffixes(depth)``; ``int(h, 16) % 2**32`` is the value of
    the digest's last eight hex digits.
    """
    sha256 = hashlib.sha256
    h = sha256(f"{prefix}{sample_id}".encode()).hexdigest()
    for suffix in suffixes:
        h = sha256((h + suffix).encode()).hexdigest()
    _thread_seeder()(int(h[-8:], 16))
    r = _LOCAL.random
    return h, [r(), r(), r(), r(), r()]


@functools.lru_cache(maxsize=64)
def suffixes(depth: int) -> tuple[str, ...]:
    """``fibonacci_suffixes(depth)`` as a tuple, computed once per depth."""
    return tuple(fibonacci_suffixes(depth))


def dpa_draw(sample_id: int, *, depth: int = 10, prefix: str = "") -> tuple[str, list[float]]:
    """DPA's ``hash`` string and five uniforms of one id, on the host (no device, no compile).

    The one-id twin of :func:`accel.augment.dpa_draws`, with the same values: ``sample_id``
    an integer in ``[0, 2**64)``, ``depth`` the Fibonacci re-hashing steps (``[1, MAX_DEPTH]``),
    ``prefix`` the text hashed before the id's decimal digits. The uniforms are in
    :data:`DRAWS` order (rotation, brightness, noise, scale, contrast).

    Example:
        >>> from accel.augment import dpa_draw, dpa_draws
        >>> h, u = dpa_draw(42)
        >>> batch_u, batch_h = dpa_draws([42])
        >>> h == batch_h[0] and u == batch_u[0].tolist()
        True
    """
    sample_id = check_seed(sample_id, "sample_id")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    return dpa_chain_one(sample_id, suffixes(check_depth(depth)), prefix)


def dpa_params_one(sample_id: int, config: Any) -> dict[str, float]:
    """DPA's five parameters of one (validated) id for a config with ``ranges`` and
    ``augmentation_depth`` (``accel.augment.AugmentationConfig``), as Python floats."""
    steps, ranges = _constants(config)
    u = dpa_chain_one(sample_id, steps)[1]
    return {name: lo + width * v for (name, (lo, width)), v in zip(ranges, u, strict=True)}
