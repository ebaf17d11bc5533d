"""Profilers: where the time and the memory of a training run go.

- ``OptimizerProfiler``: wall time, per-epoch time, host and device memory of a region;
- ``MemoryTracker``: sizes of tracked arrays; bytes an optimizer needs (``estimate_optimizer_memory``);
- ``GPUMonitor``: NVIDIA GPU utilisation, memory and power sampled in the background (NVML);
- ``block_fitted`` / ``fitted_epochs``: wait for an estimator's fitted arrays (JAX dispatches
  asynchronously) and read how many epochs its last ``fit`` ran; every timer here uses them.

Private modules: ``_optimizer_profiler``, ``_memory``, ``_gpu_monitor``, ``_sampler`` (the
background sampling thread), ``_sync``.
"""

from accel.profile._gpu_monitor import GPUMonitor
from accel.profile._memory import MemoryTracker
from accel.profile._optimizer_profiler import OptimizerProfiler
from accel.profile._sync import block_fitted, fitted_epochs

__all__ = ["GPUMonitor", "MemoryTracker", "OptimizerProfiler", "block_fitted", "fitted_epochs"]
