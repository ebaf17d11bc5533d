"""DPA v0.2's algorithm in pure Python, written from its description: the tests' oracle.

``h = sha256(prefix + str(id))``, then ``depth`` steps ``h = sha256(h + str(fib(i)))``
(fib 0, 1, 1, 2, ...), then ``random.Random(int(h, 16) % 2**32)`` and five ``random()``
draws in the order rotation, brightness, noise, scale, contrast.
"""

from __future__ import annotations

import hashlib
import random


def oracle_hash(sample_id: int, depth: int, prefix: str = "") -> str:
    """DPA's hash string (hex digest after the last Fibonacci step) of ``prefix + str(sample_id)``."""
    h = hashlib.sha256((prefix + str(sample_id)).encode()).hexdigest()
    a, b = 0, 1
    for _ in range(depth):
        h = hashlib.sha256((h + str(a)).encode()).hexdigest()
        a, b = b, a + b
    return h


def oracle(sample_id: int, depth: int, prefix: str = "") -> list[float]:
    """The five uniforms in [0, 1) that DPA draws for ``prefix + str(sample_id)``."""
    r = random.Random(int(oracle_hash(sample_id, depth, prefix), 16) % 2**32)
    return [r.random() for _ in range(5)]


def oracle_params(sample_id: int, ranges, depth: int = 10, prefix: str = "") -> dict:
    """DPA's parameter dict: ``random.uniform(low, high)`` per range, and the hash."""
    h = oracle_hash(sample_id, depth, prefix)
    r = random.Random(int(h, 16) % 2**32)
    names = ("rotation", "brightness", "noise", "scale", "contrast")
    return {**{n: r.uniform(*lim) for n, lim in zip(names, ranges, strict=True)}, "hash": h}
