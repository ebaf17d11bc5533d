"""JAX's persistent compilation cache, on by default in the user's cache folder.

A fresh process compiles every program again: about 0.4-0.8 s for a small ``JAXOptimizer``
fit on a 2-core CPU, seconds for a ``ParallelTrainer`` model or the DPA kernel. With JAX's
persistent cache, a program compiled once on this machine is read back from disk instead
(BENCHMARKS.md, "The first result"). :func:`install` turns it on, once, when ``accel`` first
compiles (the program cache of ``accel._cache`` and ``accel.augment`` call it on import):

* folder: ``$ACCEL_COMPILATION_CACHE`` when it names one, else the user's cache folder
  (``platformdirs.user_cache_dir('accel')``: ``~/.cache/accel`` on Linux), in a subfolder
  per CPU (the machine, its instruction-set flags and the jaxlib version hashed), because
  XLA:CPU compiles for the host's instruction set and a home folder can be shared by
  machines with different CPUs;
* every program is written (``jax_persistent_cache_min_compile_time_secs = 0``; JAX's
  default of 1 s would skip the small programs whose compile time notebook users feel);
* off with ``ACCEL_COMPILATION_CACHE=0`` (or ``off``, ``false``, ``no``) set before
  ``accel`` is imported, or ``jax.config.update("jax_enable_compilation_cache", False)``;
* a JAX cache the user configured (``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config.update("jax_compilation_cache_dir", ...)``) is left as it is, with all of
  JAX's cache settings;
* a folder that cannot be created leaves the cache off, with one ``RuntimeWarning`` saying
  why.

The cache is trusted code: as JAX warns, whoever can write to the folder can run code in
processes that read it. The default folder is the user's own.

Example:
    >>> from accel._compilation_cache import OFF_VALUES, cache_folder
    >>> cache_folder({"ACCEL_COMPILATION_CACHE": "off"}) is None
    True
    >>> cache_folder({"ACCEL_COMPILATION_CACHE": "/tmp/xla"}).parent.as_posix()
    '/tmp/xla'
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ENV", "OFF_VALUES", "cache_folder", "cpu_fingerprint", "install"]

ENV = "ACCEL_COMPILATION_CACHE"
OFF_VALUES = frozenset({"0", "off", "false", "no"})
_lock = threading.Lock()
_installed = False


@functools.cache
def cpu_fingerprint() -> str:
    """A short hash of what an XLA:CPU executable depends on: the machine, the CPU's
    instruction-set flags (``/proc/cpuinfo`` on Linux, the processor name elsewhere) and
    the jaxlib version."""
    flags = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    flags = " ".join(sorted(line.split(":", 1)[1].split()))
                    break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        jaxlib = version("jaxlib")
    except Exception:
        jaxlib = "unknown"
    text = "\n".join((platform.system(), platform.machine(), flags, jaxlib))
    return f"{platform.machine()}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def cache_folder(environ: Mapping[str, str] = os.environ) -> Path | None:
    """The folder the cache uses for this environment, or ``None`` when it is turned off."""
    value = environ.get(ENV)
    if value is not None and value.strip().lower() in OFF_VALUES | {""}:
        return None
    if value:
        root = Path(value).expanduser()
    else:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("accel", appauthor=False)) / "xla"
    return root / cpu_fingerprint()


def install() -> None:
    """Turn JAX's persistent compilation cache on in :func:`cache_folder` (once per process;
    see the module docstring for what is left alone)."""
    global _installed
    if _installed:
        return
    with _lock:
        if _installed:
            return
        _installed = True
        import jax

        if jax.config.jax_compilation_cache_dir is not None:  # the user's own cache
            return
        folder = cache_folder()
        if folder is None:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            warnings.warn(
                f"accel's compilation cache is off: cannot create {folder} ({exc}); set {ENV} to a "
                f"writable folder, or {ENV}=0 to silence this",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:  # JAX's default
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_compilation_cache_dir", str(folder))
