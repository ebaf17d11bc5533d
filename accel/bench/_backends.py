"""Array backends for the comparison harness: availability, placement, compilation, sync.

A backend turns host NumPy arrays into its own arrays on its device (timed, synchronised),
prepares the operation (JAX: ahead-of-time ``jax.jit(f).lower(*args).compile()``, timed
apart), synchronises a result (``block_until_ready``, CuPy stream synchronisation) and
copies it back to NumPy for the cross-backend agreement check. The timing loop itself lives
in :mod:`accel.bench._compare` and is the same for every backend.

Example:
    >>> import numpy as np
    >>> from accel.bench._backends import get_backend
    >>> jb = get_backend("jax")
    >>> jb.probe().usable
    True
    >>> (x,), _ = jb.place((np.ones((2, 2), np.float32),))
    >>> f, compile_time = jb.prepare(lambda a: a @ a, (x,))
    >>> jb.to_numpy(jb.sync(f(x))).tolist()
    [[2.0, 2.0], [2.0, 2.0]]
"""

from __future__ import annotations

import contextlib
import importlib
import statistics
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import jax
import numpy as np

from accel._info import Probe, cupy_status
from accel.bench import _clock

__all__ = ["BACKEND_NAMES", "Backend", "get_backend"]

BACKEND_NAMES: tuple[str, ...] = ("numpy", "jax", "cupy")

# How many times host-to-device placement is repeated; the median is reported so that a
# one-off cost (CUDA context creation, first allocation) does not pose as transfer time.
_TRANSFER_REPEATS = 3


class Backend(Protocol):
    """What the harness needs from an array backend."""

    name: str

    def probe(self) -> Probe: ...

    def device(self) -> str: ...

    def namespace(self, args: tuple[Any, ...]) -> Any: ...

    def context(self, arrays: tuple[np.ndarray, ...]) -> contextlib.AbstractContextManager[None]: ...

    def place(self, arrays: tuple[np.ndarray, ...]) -> tuple[tuple[Any, ...], float]: ...

    def prepare(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Callable[..., Any], float | None]: ...

    def sync(self, out: Any) -> Any: ...

    def to_numpy(self, out: Any) -> Any: ...


def _median_time(action: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``action`` a few times; return its last result and the median duration."""
    durations = []
    result = None
    for _ in range(_TRANSFER_REPEATS):
        t0 = _clock.now()
        result = action()
        durations.append(_clock.now() - t0)
    return result, statistics.median(durations)


class _NumPy:
    name = "numpy"

    def probe(self) -> Probe:
        return Probe(True, f"numpy {np.__version__} on the host CPU")

    def device(self) -> str:
        return "cpu (host)"

    def namespace(self, args: tuple[Any, ...]) -> Any:
        import array_api_compat

        return array_api_compat.array_namespace(*args)

    def context(self, arrays: tuple[np.ndarray, ...]) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def place(self, arrays: tuple[np.ndarray, ...]) -> tuple[tuple[Any, ...], float]:
        # Already in host memory: nothing moves, so the transfer time is zero by definition.
        return tuple(arrays), 0.0

    def prepare(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Callable[..., Any], float | None]:
        return fn, 0.0

    def sync(self, out: Any) -> Any:
        return out  # NumPy is synchronous.

    def to_numpy(self, out: Any) -> Any:
        return jax.tree.map(np.asarray, out)


class _JAX:
    name = "jax"

    def probe(self) -> Probe:
        d = jax.devices()[0]
        return Probe(True, f"jax {jax.__version__} on {d.platform}:{d.id} ({d.device_kind})")

    def _device(self) -> jax.Device:
        return jax.devices()[0]

    def device(self) -> str:
        d = self._device()
        return f"{d.platform}:{d.id} ({d.device_kind})"

    def namespace(self, args: tuple[Any, ...]) -> Any:
        import array_api_compat

        return array_api_compat.array_namespace(*args)

    @contextlib.contextmanager
    def context(self, arrays: tuple[np.ndarray, ...]) -> Iterator[None]:
        # 64-bit inputs keep their dtype: without x64, device_put would silently halve them.
        if any(a.dtype.itemsize == 8 and a.dtype.kind in "fiuc" for a in arrays):
            with jax.enable_x64(True):
                yield
        else:
            yield

    def place(self, arrays: tuple[np.ndarray, ...]) -> tuple[tuple[Any, ...], float]:
        device = self._device()

        def put() -> tuple[Any, ...]:
            return jax.block_until_ready(tuple(jax.device_put(a, device) for a in arrays))

        placed, transfer = _median_time(put)
        for a, p in zip(arrays, placed, strict=True):
            if p.dtype != a.dtype:  # pragma: no cover - guarded by context()
                raise TypeError(f"jax placed a {a.dtype} input as {p.dtype}")
        return placed, transfer

    def prepare(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Callable[..., Any], float | None]:
        t0 = _clock.now()
        compiled = jax.jit(fn).lower(*args).compile()
        return compiled, _clock.now() - t0

    def sync(self, out: Any) -> Any:
        return jax.block_until_ready(out)

    def to_numpy(self, out: Any) -> Any:
        return jax.tree.map(np.asarray, jax.device_get(out))


class _CuPy:
    name = "cupy"

    def _cupy(self) -> Any:
        return importlib.import_module("cupy")

    def probe(self) -> Probe:
        return cupy_status()

    def device(self) -> str:
        cp = self._cupy()
        dev = cp.cuda.Device()
        name = cp.cuda.runtime.getDeviceProperties(dev.id)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        return f"cuda:{dev.id} ({name})"

    def namespace(self, args: tuple[Any, ...]) -> Any:
        import array_api_compat

        return array_api_compat.array_namespace(*args)

    def context(self, arrays: tuple[np.ndarray, ...]) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def _synchronize(self) -> None:
        # Waits for every stream on the current device, not only the null stream.
        self._cupy().cuda.Device().synchronize()

    def place(self, arrays: tuple[np.ndarray, ...]) -> tuple[tuple[Any, ...], float]:
        cp = self._cupy()

        def put() -> tuple[Any, ...]:
            placed = tuple(cp.asarray(a) for a in arrays)
            self._synchronize()
            return placed

        return _median_time(put)

    def prepare(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Callable[..., Any], float | None]:
        # CuPy compiles its kernels lazily on first use (cached on disk afterwards): there is
        # no ahead-of-time step to time, so compile time is unknown and first_call_time holds it.
        return fn, None

    def sync(self, out: Any) -> Any:
        self._synchronize()
        return out

    def to_numpy(self, out: Any) -> Any:
        cp = self._cupy()
        return jax.tree.map(cp.asnumpy, out)


_BACKENDS: dict[str, Backend] = {"numpy": _NumPy(), "jax": _JAX(), "cupy": _CuPy()}


def get_backend(name: str) -> Backend:
    """The backend called ``name`` (one of :data:`BACKEND_NAMES`)."""
    try:
        return _BACKENDS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"backends: unknown backend {name!r}; accepted: {', '.join(BACKEND_NAMES)}"
        ) from None
