"""Profilers: where the time and the memory of a training run go.

- ``OptimizerProfiler``: wall time, per-epoch time (compile time apart), host and device
  memory of a region, as a ``with`` block or ``start()``/``record_epoch()``/``stop()``;
- ``PerformanceProfiler``: nested named sections of a JAX step (``with p.profile('step')``),
  synchronised, with percent of the enclosing section, device memory per step,
  ``print_summary()`` and ``jax.profiler`` traces for TensorBoard/Perfetto;
- ``MemoryTracker``: sizes of tracked arrays; bytes an optimizer needs (``estimate_optimizer_memory``);
- ``GPUMonitor``: NVIDIA GPU utilisation, memory and power, sampled in the background (NVML)
  or read with ``record()``;
- ``Unavailable``: what a reading that this machine cannot make reports (formats as
  ``'unavailable'``; ``is_unavailable`` tests for it);
- ``block_fitted`` / ``fitted_epochs``: wait for an estimator's fitted arrays (JAX dispatches
  asynchronously) and read how many epochs its last ``fit`` ran; every timer here uses them.
"""

# Layout: private modules _optimizer_profiler, _sections, _memory, _gpu_monitor, _readings,
# _sampler (the background sampling thread), _sync.

from accel.profile._gpu_monitor import GPUMonitor
from accel.profile._memory import MemoryTracker
from accel.profile._optimizer_profiler import OptimizerProfiler
from accel.profile._readings import FieldMapping, Unavailable, cpu_percent, is_unavailable
from accel.profile._sections import PerformanceProfiler, Section, device_sync
from accel.profile._sync import block_fitted, fitted_epochs

__all__ = [
    "FieldMapping",
    "GPUMonitor",
    "MemoryTracker",
    "OptimizerProfiler",
    "PerformanceProfiler",
    "Section",
    "Unavailable",
    "block_fitted",
    "cpu_percent",
    "device_sync",
    "fitted_epochs",
    "is_unavailable",
]
