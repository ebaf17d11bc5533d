"""DPA v0.2's bit-exact kernels: the only DPA-specific computation in ``accel``.

DPA (github.com/AdrianParedez/dpa) derives a sample's parameters from a SHA-256 hash chain
seeded by the id's decimal string, re-hashed with the Fibonacci numbers, whose last word
seeds CPython's ``random.Random`` (MT19937). Everything that reproduces that chain bit for
bit lives here, and nowhere else:

* ``_sha256``: SHA-256 on uint32 lanes (traceable, ``vmap``-friendly);
* ``_mt19937``: the first outputs of ``random.Random(seed)`` on uint32 lanes;
* ``_draws``: the vectorised device kernel (id -> hash string and five uniforms), with
  :func:`dpa_draws` (public as ``accel.augment.dpa_draws``), :func:`dpa_uniforms` and
  :func:`dpa_values` (DPA's ``random.uniform``);
* ``_host``: the same chain for one id with ``hashlib`` and ``random.Random``
  (:func:`dpa_chain_one`, :func:`dpa_params_one`: the per-sample paths).

Users: ``accel.augment``'s ``algorithm='dpa'`` (``_generate``: batches and streams;
``_sample``: one id) and, through the public ``accel.augment.dpa_draws``, DPA's API in
``accel.dpa``.

Example:
    >>> import hashlib
    >>> from accel.augment._dpa_kernels import dpa_draws, dpa_params_one
    >>> from accel.augment import AugmentationConfig
    >>> u, hashes = dpa_draws([7], depth=10)
    >>> params = dpa_params_one(7, AugmentationConfig())
    >>> params["rotation"] == -30.0 + 60.0 * float(u[0, 0])
    True
    >>> hashes[0] == dpa_draws([7])[1][0] and len(hashes[0]) == 64
    True
"""

from ._draws import (
    DRAWS,
    MAX_DEPTH,
    dpa_draws,
    dpa_shifted_words,
    dpa_uniforms,
    dpa_values,
    fibonacci_suffixes,
)
from ._host import dpa_chain_one, dpa_draw, dpa_params_one

__all__ = [
    "DRAWS",
    "MAX_DEPTH",
    "dpa_chain_one",
    "dpa_draw",
    "dpa_draws",
    "dpa_params_one",
    "dpa_shifted_words",
    "dpa_uniforms",
    "dpa_values",
    "fibonacci_suffixes",
]
