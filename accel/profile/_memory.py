"""``MemoryTracker``: sizes of NumPy/JAX/CuPy arrays and optimizer-memory estimates.

``estimate_optimizer_memory`` counts what training a model of ``n_params`` parameters keeps
in memory: the parameters, one gradient, and the optimizer's state vectors (each the size of
the parameters), plus optax's scalar step counter where the update rule has one:

===========================================  =============  ======================
optimizer_type (optax transformation)        state vectors  scalar state
===========================================  =============  ======================
``sgd`` (``optax.sgd``)                      0              -
``momentum``, ``nesterov`` (``sgd(momentum=0.9[, nesterov=True])``)  1  -
``adagrad``, ``rmsprop``                     1              -
``adam``, ``adamw``                          2 (mu, nu)     int32 step count
===========================================  =============  ======================

Example:
    >>> import numpy as np
    >>> from accel import MemoryTracker
    >>> MemoryTracker.estimate_optimizer_memory(1000, "adam", "float32")["total_bytes"]
    16004
    >>> t = MemoryTracker()
    >>> t.track_array("X", np.zeros((10, 10)))
    >>> t.get_summary()["total_bytes"], t.get_summary()["tracked_arrays"]
    (800, 1)
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from accel import _checks
from accel._report import format_table

__all__ = ["OPTIMIZER_STATE", "MemoryTracker"]

_MB = float(1 << 20)

# optimizer_type -> (state vectors the size of the parameters, bytes of scalar state)
OPTIMIZER_STATE: dict[str, tuple[int, int]] = {
    "sgd": (0, 0),
    "momentum": (1, 0),
    "nesterov": (1, 0),
    "adagrad": (1, 0),
    "rmsprop": (1, 0),
    "adam": (2, 4),  # mu, nu; count is an int32 scalar
    "adamw": (2, 4),
}


def _describe(array: Any) -> dict[str, Any]:
    """backend, shape, dtype, nbytes and device of a NumPy, JAX or CuPy array."""
    if isinstance(array, np.ndarray):
        return {"backend": "numpy", "shape": array.shape, "dtype": array.dtype.name,
                "nbytes": int(array.nbytes), "device": "cpu (host)"}
    module = type(array).__module__.split(".")[0]
    if module in ("jax", "jaxlib"):
        import jax

        if isinstance(array, jax.Array):
            # Bytes actually held: a replicated array occupies its size on every device.
            held = sum(int(s.data.nbytes) for s in array.addressable_shards)
            devices = sorted(f"{d.platform}:{d.id}" for d in array.devices())
            return {"backend": "jax", "shape": tuple(array.shape), "dtype": array.dtype.name,
                    "nbytes": held, "device": ",".join(devices)}
    if module == "cupy":
        return {"backend": "cupy", "shape": tuple(array.shape), "dtype": array.dtype.name,
                "nbytes": int(array.nbytes), "device": f"cuda:{array.device.id}"}
    raise TypeError(
        f"array must be a NumPy, JAX or CuPy array, got {type(array).__module__}.{type(array).__qualname__}"
    )


class MemoryTracker:
    """Records the size of named arrays; tracking a name again replaces its entry.

    Only metadata is kept (no reference to the array), so tracking never keeps memory alive.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, dict[str, Any]] = {}

    def track_array(self, name: str, array: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"name must be a non-empty string, got {name!r}")
        self._arrays[name] = {"name": name, **_describe(array)}

    def get_summary(self) -> dict[str, Any]:
        """``total_bytes`` (and ``total_mb``), totals ``by_backend`` and ``by_device``, every
        ``arrays`` entry, and ``tracked_arrays``: the number of arrays (002's key)."""
        by_backend: dict[str, int] = {}
        by_device: dict[str, int] = {}
        for a in self._arrays.values():
            by_backend[a["backend"]] = by_backend.get(a["backend"], 0) + a["nbytes"]
            by_device[a["device"]] = by_device.get(a["device"], 0) + a["nbytes"]
        return {
            "n_arrays": len(self._arrays),
            "tracked_arrays": len(self._arrays),
            "total_bytes": sum(by_backend.values()),
            "total_mb": sum(by_backend.values()) / _MB,
            "by_backend": by_backend,
            "by_device": by_device,
            "arrays": [dict(a) for a in self._arrays.values()],
        }

    def __str__(self) -> str:
        rows = [[a["name"], a["backend"], a["device"], a["dtype"], str(a["shape"]), a["nbytes"]]
                for a in self._arrays.values()]
        return format_table(("name", "backend", "device", "dtype", "shape", "bytes"), rows)

    @staticmethod
    def estimate_optimizer_memory(n_params: int, optimizer_type: str, dtype: Any = "float32") -> dict[str, Any]:
        """Bytes for parameters, gradient and optimizer state (see the module table); the
        ``*_mb`` keys (``total_memory_mb``: 002's key) are the same in MiB."""
        if isinstance(n_params, bool) or not isinstance(n_params, numbers.Integral) or n_params < 1:
            raise ValueError(f"n_params must be a positive integer, got {n_params!r}")
        if optimizer_type not in OPTIMIZER_STATE:
            raise ValueError(
                f"optimizer_type must be one of {', '.join(OPTIMIZER_STATE)}, got {optimizer_type!r}"
            )
        dt = _checks.parse_dtype(dtype)
        if dt is None or dt.kind != "f":
            raise ValueError(f"dtype must be a floating NumPy dtype, got {dtype!r}")
        vectors, scalar_bytes = OPTIMIZER_STATE[optimizer_type]
        vector_bytes = int(n_params) * dt.itemsize
        state_bytes = vectors * vector_bytes
        return {
            "optimizer_type": optimizer_type,
            "dtype": dt.name,
            "n_params": int(n_params),
            "n_state_vectors": vectors,
            "params_bytes": vector_bytes,
            "gradient_bytes": vector_bytes,
            "state_bytes": state_bytes,
            "scalar_state_bytes": scalar_bytes,
            "total_bytes": 2 * vector_bytes + state_bytes + scalar_bytes,
            "params_memory_mb": vector_bytes / _MB,
            "state_memory_mb": (state_bytes + scalar_bytes) / _MB,
            "total_memory_mb": (2 * vector_bytes + state_bytes + scalar_bytes) / _MB,
        }
