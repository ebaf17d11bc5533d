"""A NumPy ``X`` read where it lies: the full-batch data of ``JAXOptimizer`` on a CPU device
without the copy into a 64-byte aligned buffer.

XLA:CPU reads a host array in place only when it starts on a 64-byte boundary; NumPy
aligns large arrays to 16 bytes. Copying ``X`` once costs a read and a write of all of it
(30-80 ms for 60000 x 784 float32 on the 2-core CPU of ``BENCHMARKS.md``, and 179 MiB), as
much as four of the fit's passes over ``X``. Instead ``X`` is described by views of its own
memory that all start on aligned addresses, plus two small copies:

.. code-block:: text

    X: (n, d), C-contiguous, dtype itemsize p;  s = elements from X's start to the first
    64-byte aligned address (0 <= s < W = 64 / p);  m = (n - 1) // k * k rows (k: row blocks)

    body = X.ravel()[s : s + m d].reshape(m, d)     in place: row j = X[j, s:] ++ X[j + 1, :s]
    head = X[:m, :s], padded with zeros to W columns  (copied, aligned: m W values)
    rest = X[m:]                                      (copied: n - m <= k rows)

    X @ w  = concat(body @ v + head @ w[:W] (first s), rest @ w),  v = [w[s:], 0 (s zeros)]
    r @ X  = shift_s(r[:m] @ body) (columns >= s) + r[:m] @ head (columns < s) + r[m:] @ rest

The zeros in ``v`` drop each body row's borrowed ``X[j + 1, :s]``; ``shift_s`` moves the
body's column ``c - s`` to column ``c``. Both products cost one pass over ``X`` as before,
with ``k`` row blocks for ``r @ body`` (``_model.rmatvec``). ``s`` is a traced scalar, so
one compiled program serves every alignment (``s = 0``: ``body`` is ``X[:m]``). A NaN or an
infinity anywhere in ``X`` still makes ``X @ 0`` NaN (the fit's first evaluation tests
that): every element of ``X`` is multiplied by a zero somewhere.

Example:
    >>> import jax, numpy as np
    >>> raw = np.zeros(40 * 16 + 8)
    >>> start = (-raw.ctypes.data % 64) // 8 + 2    # X starts 16 bytes past a 64-byte boundary
    >>> X = raw[start : start + 39 * 16].reshape(39, 16)
    >>> X[...] = np.arange(39 * 16).reshape(39, 16) % 7
    >>> rows = from_host(X, np.float64, row_blocks=2, device=jax.devices("cpu")[0])
    >>> int(rows.shift), rows.body.shape, bool(np.shares_memory(rows.body, X))   # 48 bytes on
    (6, (38, 16), True)
    >>> w, r = np.linspace(-1, 1, 16), np.linspace(0, 2, 39)
    >>> bool(np.allclose(rows.matvec(w), X @ w)), bool(np.allclose(rows.rmatvec(r, 2), r @ X))
    (True, True)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from accel.linear import _model
from accel.linear._placement import _CPU_ALIGN, aligned_empty, on_device

__all__ = ["MIN_BYTES", "InPlaceRows", "from_host", "shapes", "use_in_place"]

# Smaller X are copied when unaligned (a few milliseconds at most below this size).
MIN_BYTES = 16 << 20


def _width(dtype: Any) -> int:
    return _CPU_ALIGN // np.dtype(dtype).itemsize


def _body_rows(n: int, row_blocks: int) -> int:
    """``m``: the most rows below ``n`` that ``row_blocks`` blocks divide."""
    return (n - 1) // row_blocks * row_blocks


class InPlaceRows(NamedTuple):
    """``X`` as aligned in-place views (module doc); a pytree of arrays, a linear operator
    for ``_model`` (``matvec``, ``rmatvec``, ``shape``, ``dtype``)."""

    body: Any  # (m, d)
    head: Any  # (m, W)
    rest: Any  # (n - m, d)
    shift: Any  # int32 scalar s

    @property
    def shape(self) -> tuple[int, int]:
        return (self.body.shape[0] + self.rest.shape[0], self.body.shape[1])

    @property
    def dtype(self) -> Any:
        return self.body.dtype

    def astype(self, dtype: Any) -> InPlaceRows:
        if dtype == self.dtype:
            return self
        return self._replace(body=self.body.astype(dtype), head=self.head.astype(dtype),
                             rest=self.rest.astype(dtype))  # fmt: skip

    def matvec(self, w: Any) -> Any:
        """``X @ w``, shape ``(n,)``."""
        xp = _namespace(self.body, w)
        d, width = self.body.shape[1], self.head.shape[1]
        v = xp.where(xp.arange(d) < d - self.shift, _roll(w, -self.shift, xp), 0)
        top = self.body @ v + self.head @ w[:width]  # head is zero past column s
        return xp.concatenate([top, self.rest @ w])

    def rmatvec(self, r: Any, row_blocks: int = 1) -> Any:
        """``r @ X`` (``Xᵀ r``), shape ``(d,)``; ``row_blocks`` split ``r[:m] @ body``."""
        xp = _namespace(self.body, r)
        m, d = self.body.shape
        width = self.head.shape[1]
        top = r[:m]
        main = _model.rmatvec(top, self.body, row_blocks, xp)
        main = xp.where(xp.arange(d) >= self.shift, _roll(main, self.shift, xp), 0)
        head = xp.concatenate([top @ self.head, xp.zeros(d - width, main.dtype)])
        return main + head + r[m:] @ self.rest


def _namespace(*arrays: Any) -> Any:
    return np if all(isinstance(a, np.ndarray) for a in arrays) else jnp


def _roll(a: Any, shift: Any, xp: Any) -> Any:
    return xp.roll(a, shift) if xp is jnp else np.roll(a, int(shift))


def use_in_place(X: Any, data_dtype: Any, param_dtype: Any, device: jax.Device, full_batch: bool) -> bool:
    """Whether a fit passes ``X`` as :class:`InPlaceRows`: a NumPy (not JAX) ``X`` of at least
    :data:`MIN_BYTES` in the data dtype, at least ``W`` columns and 2 rows, a full-batch fit
    on a CPU device without mixed precision. Decided from these alone, never from ``X``'s
    address or layout: one compiled program whatever the alignment (an ``X`` that needs a
    conversion or is not contiguous is copied once into an aligned buffer first, ``s = 0``)."""
    if isinstance(X, jax.Array) or not full_batch or device.platform != "cpu":
        return False
    n, d = np.shape(X)
    itemsize = np.dtype(data_dtype).itemsize
    return data_dtype == param_dtype and n >= 2 and d >= _width(data_dtype) and n * d * itemsize >= MIN_BYTES


def from_host(X: np.ndarray, dtype: Any, row_blocks: int, device: jax.Device) -> InPlaceRows:
    """``X`` (2-D) as :class:`InPlaceRows` of NumPy arrays for the CPU ``device``: ``body`` a
    view of ``X``'s memory, or of one aligned copy when ``X`` is not C-contiguous ``dtype``
    starting on an element boundary."""
    X = np.asarray(X)
    dtype = np.dtype(dtype)
    if not (X.dtype == dtype and X.flags.c_contiguous and X.ctypes.data % dtype.itemsize == 0):
        X = on_device(X, dtype, device)  # one aligned copy
    n, d = X.shape
    width, m = _width(dtype), _body_rows(n, row_blocks)
    s = (-X.ctypes.data % _CPU_ALIGN) // dtype.itemsize
    body = X.reshape(-1)[s : s + m * d].reshape(m, d)
    head = aligned_empty((m, width), dtype)  # aligned: the program reads it in place too
    head[:, :s] = X[:m, :s]
    head[:, s:] = 0
    return InPlaceRows(body, head, on_device(X[m:], dtype, device), np.int32(s))


def shapes(n: int, d: int, dtype: Any, row_blocks: int, sharding: Any = None) -> InPlaceRows:
    """The :class:`InPlaceRows` of an ``(n, d)`` ``X`` as ``jax.ShapeDtypeStruct`` (lowering)."""

    def struct(*shape: int, dt: Any = dtype) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(shape, dt, sharding=sharding)

    m = _body_rows(n, row_blocks)
    return InPlaceRows(struct(m, d), struct(m, _width(dtype)), struct(n - m, d), struct(dt=np.int32))
