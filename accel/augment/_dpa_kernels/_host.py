"""DPA v0.2's parameters of one id on the host: ``hashlib`` and ``random.Random``.

The per-sample path of ``accel.augment.gen_augmentation_params(i, algorithm='dpa')``: one id
costs a few SHA-256 calls, so the device kernel (``_draws``, about 1 ms per dispatch) is not
worth calling for it. The same arithmetic as DPA, bit for bit:

.. code-block:: text

    h = sha256((prefix + str(id)).encode()).hexdigest()
    for s in fibonacci_suffixes(depth):  h = sha256((h + s).encode()).hexdigest()
    r = random.Random(int(h[-8:], 16))            # = int(h, 16) % 2**32
    value = lo + (hi - lo) * r.random()            # DPA's random.uniform(lo, hi)

The Fibonacci suffixes and the ``(lo, hi - lo)`` pairs are computed once per config, and
each thread reseeds its own generator (the global ``random`` module is never touched).

Example:
    >>> import hashlib, random
    >>> from accel.augment._dpa_kernels import dpa_uniforms_one, fibonacci_suffixes
    >>> h = hashlib.sha256(b"7").hexdigest()
    >>> h = hashlib.sha256((h + "0").encode()).hexdigest()
    >>> r = random.Random(int(h, 16) % 2**32)
    >>> dpa_uniforms_one(7, tuple(fibonacci_suffixes(1))) == [r.random() for _ in range(5)]
    True
"""

from __future__ import annotations

import hashlib
import random
import threading
from typing import Any

from ._draws import DRAWS, fibonacci_suffixes

__all__ = ["dpa_params_one", "dpa_uniforms_one"]

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
        entry = (config, tuple(fibonacci_suffixes(config.augmentation_depth)), ranges)
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


def dpa_uniforms_one(sample_id: int, suffixes: tuple[str, ...], prefix: str = "") -> list[float]:
    """DPA's five ``random()`` draws for ``prefix + str(sample_id)`` (hashlib, random.Random).

    ``suffixes`` are ``fibonacci_suffixes(depth)``; ``int(h, 16) % 2**32`` is the value of
    the digest's last eight hex digits.
    """
    sha256 = hashlib.sha256
    h = sha256(f"{prefix}{sample_id}".encode()).hexdigest()
    for suffix in suffixes:
        h = sha256((h + suffix).encode()).hexdigest()
    _thread_seeder()(int(h[-8:], 16))
    r = _LOCAL.random
    return [r(), r(), r(), r(), r()]


def dpa_params_one(sample_id: int, config: Any) -> dict[str, float]:
    """DPA's five parameters of one (validated) id for a config with ``ranges`` and
    ``augmentation_depth`` (``accel.augment.AugmentationConfig``), as Python floats."""
    suffixes, ranges = _constants(config)
    u = dpa_uniforms_one(sample_id, suffixes)
    return {name: lo + width * v for (name, (lo, width)), v in zip(ranges, u, strict=True)}
