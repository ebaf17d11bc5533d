"""accel: JAX/XLA accelerated optimizers, data-parallel training, deterministic augmentation
and honest backend benchmarks.

Public API (explicit re-exports; everything else is private):
    accel.augment        deterministic augmentation parameters (subpackage)
    accel.JAXOptimizer   linear model trained by optax in one compiled XLA loop
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("accel")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

from accel._jax_optimizer import JAXOptimizer

__all__ = ["JAXOptimizer", "__version__"]
