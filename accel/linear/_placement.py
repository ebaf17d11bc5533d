"""Where ``JAXOptimizer``'s data live: the ``device`` parameter resolved to a JAX device, and
the training data placed for the program on it (on a CPU device, read in place when
possible, else copied once, on several threads, into a 64-byte aligned buffer; a large
full-batch ``X`` is read in place whatever its alignment: ``_inplace``).

>>> import numpy as np
>>> cpu = resolve_device("cpu")
>>> x = on_device(np.arange(6.0).reshape(3, 2), np.float32, cpu)
>>> x.dtype, x.ctypes.data % _CPU_ALIGN
(dtype('float32'), 0)
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import jax
import numpy as np

__all__ = ["aligned_empty", "on_device", "resolve_device"]


def resolve_device(device: Any) -> jax.Device | None:
    if device is None or isinstance(device, jax.Device):
        return device
    if isinstance(device, str):
        kind, _, index = device.partition(":")
        try:
            devices = jax.devices(kind)
        except RuntimeError as err:
            raise ValueError(f"device {device!r} is not available: {err}") from None
        i = int(index) if index.isdigit() else 0 if not index else -1
        if not 0 <= i < len(devices):
            raise ValueError(f"device {device!r}: there are {len(devices)} {kind} devices")
        return devices[i]
    raise TypeError(f"device must be None, a jax.Device or a string like 'cpu' or 'gpu:0', got {type(device).__name__}")


# XLA:CPU reads host memory in place (no copy) when it is aligned to this many bytes
_CPU_ALIGN = 64
_PARALLEL_COPY_BYTES = 16 << 20  # copies at least this large use several threads


def on_device(a: Any, dtype: Any, device: jax.Device) -> Any:
    """``a`` in ``dtype``, ready for the program on ``device``. A JAX array is converted and
    moved there if needed. A NumPy array stays NumPy (the compiled program's call places it):
    on a CPU device the program reads it in place when it is C-contiguous, of ``dtype`` and
    64-byte aligned; otherwise it is copied (and converted) ONCE into an aligned buffer.
    (NumPy aligns large arrays to 16 bytes only, and JAX's own copy of an unaligned array
    takes several times longer than this one: ``benchmarks/bench_linear_profile.py``.)"""
    if isinstance(a, jax.Array):
        a = a if a.dtype == dtype else a.astype(dtype)
        return a if a.devices() == {device} else jax.device_put(a, device)
    a = np.asarray(a)
    if device.platform != "cpu":
        return np.asarray(a, dtype)
    if a.dtype == dtype and a.flags.c_contiguous and a.ctypes.data % _CPU_ALIGN == 0:
        return a
    buf = aligned_empty(a.shape, dtype)
    _copy(buf, a)
    return buf


def aligned_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised C-contiguous array starting on a ``_CPU_ALIGN``-byte boundary."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + _CPU_ALIGN, np.uint8)
    start = -raw.ctypes.data % _CPU_ALIGN
    return raw[start : start + size].view(dtype).reshape(shape)


def _copy(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src`` (cast), a large array in row chunks on up to 4 threads: NumPy
    releases the GIL while copying, and the first touch of the new pages (the kernel's
    zeroing) then runs on every core (``bench_linear_profile`` times one thread and these)."""
    parts = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    if dst.nbytes < _PARALLEL_COPY_BYTES or parts < 2 or dst.ndim == 0 or dst.shape[0] < parts:
        np.copyto(dst, src, casting="unsafe")
        return
    edges = np.linspace(0, dst.shape[0], parts + 1).astype(int)
    threads = [
        threading.Thread(target=np.copyto, args=(dst[lo:hi], src[lo:hi]), kwargs={"casting": "unsafe"})
        for lo, hi in itertools.pairwise(edges[1:])
    ]
    for t in threads:
        t.start()
    np.copyto(dst[: edges[1]], src[: edges[1]], casting="unsafe")
    for t in threads:
        t.join()
