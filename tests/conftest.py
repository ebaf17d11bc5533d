"""Test configuration shared by the whole suite (see shared DESIGN.md, "Testing setup").

* Four XLA host CPU devices, so multi-device code runs on any machine. This must happen
  before JAX initialises its backends, hence at import time of this conftest. The variable
  is also exported so subprocesses launched by tests see the same configuration.
* accel's persistent compilation cache is off (``ACCEL_COMPILATION_CACHE=0``, exported to
  subprocesses too): tests count compilations, and a cache shared across runs would make
  them depend on what ran before (the AVX2 pass of ``.ci/run`` included). The cache's own
  tests turn it on in subprocesses with a temporary folder.
* Strict dtype promotion is NOT enabled globally: optax's own bias correction
  (``decay ** count`` with an int32 count, optax 0.2.8) fails under
  ``jax_numpy_dtype_promotion='strict'``. Tests assert output dtypes explicitly instead.
* Warnings are errors (pyproject ``filterwarnings``); targeted ignores live there, each
  with the reason.
* Markers: ``gpu`` tests are skipped unless JAX or CuPy can use an NVIDIA GPU; ``slow`` is
  deselected by default; ``multiprocess`` tests run ``jax.distributed`` in subprocesses with
  a timeout.
"""

from __future__ import annotations

import os

N_CPU_DEVICES = 4
os.environ["JAX_NUM_CPU_DEVICES"] = str(N_CPU_DEVICES)
os.environ["ACCEL_COMPILATION_CACHE"] = "0"

import jax  # noqa: E402  (must follow the environment set-up above)
import pytest  # noqa: E402

jax.config.update("jax_num_cpu_devices", N_CPU_DEVICES)


def _gpu_usable() -> bool:
    try:
        if jax.devices("gpu"):
            return True
    except RuntimeError:  # no GPU backend in this JAX build
        pass
    from accel._info import cupy_status

    return cupy_status().usable


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    if _gpu_usable():
        return
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU usable by JAX or CuPy")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cpu_devices() -> list[jax.Device]:
    """The 4 host CPU devices of the test configuration."""
    return jax.devices("cpu")
