"""Which NVIDIA GPU this is, and its memory bandwidth: the denominator of every HBM floor.

Detection (:func:`detect_gpu`) never creates a CUDA context: it asks NVML (nvidia-ml-py),
else ``nvidia-smi -L``. So the test subprocess that the kit runs first gets the whole GPU
(JAX reserves 75% of the GPU's memory in the first process that uses it).

The spec bandwidth ``B`` of the device, from the first source that answers:

1. NVML: ``B = 2 * f_mem * w / 8`` bytes/s, ``f_mem`` the maximum memory clock in Hz
   (``nvmlDeviceGetMaxClockInfo(NVML_CLOCK_MEM)``), ``w`` the memory bus width in bits
   (``nvmlDeviceGetMemoryBusWidth``), 2 for the double data rate. H100 SXM:
   2 x 2619 MHz x 5120 / 8 = 3.35 TB/s; H200: 2 x 3201 MHz x 6144 / 8 = 4.92 TB/s (the
   datasheet says 4.8).
2. :data:`DATASHEET_BANDWIDTH`, the vendor's figure for the device name (H100, H200).

The measured ceiling (:func:`measure_copy_bandwidth`) is a device-to-device copy
``y = x + 1`` of a float32 array: bytes read plus bytes written over the median time.

Example:
    >>> spec_bandwidth("NVIDIA H200", bus_width_bits=6144, max_memory_clock_mhz=3201)
    (4916736000000.0, 'nvml')
    >>> spec_bandwidth("NVIDIA H100 80GB HBM3")
    (3350000000000.0, 'datasheet table')
    >>> spec_bandwidth("NVIDIA GeForce GTX 1080")
    (None, None)
"""

from __future__ import annotations

import dataclasses
import importlib
import shutil
import subprocess
from typing import Any

import numpy as np

from accel.internals import nvidia_gpu_status

__all__ = [
    "DATASHEET_BANDWIDTH",
    "GpuProbe",
    "detect_gpu",
    "gpu_info",
    "measure_copy_bandwidth",
    "spec_bandwidth",
]

# (substring of the NVML device name, bytes/s), first match wins: the more specific names
# come first. Sources: NVIDIA's H100 and H200 datasheets (HBM bandwidth of each form factor).
DATASHEET_BANDWIDTH: tuple[tuple[str, float], ...] = (
    ("H200", 4.8e12),  # H200 SXM and H200 NVL: 141 GB HBM3e, 4.8 TB/s
    ("H100 NVL", 3.9e12),  # 94 GB HBM3
    ("H100 PCIe", 2.0e12),  # 80 GB HBM2e
    ("H100", 3.35e12),  # H100 SXM5 80 GB HBM3 ("NVIDIA H100 80GB HBM3")
)


@dataclasses.dataclass(frozen=True)
class GpuProbe:
    """Whether an NVIDIA GPU is present, how that was found out, and what was seen."""

    present: bool
    detail: str
    source: str | None  # 'nvml', 'nvidia-smi' or None


def detect_gpu() -> GpuProbe:
    """Is there an NVIDIA GPU? NVML first, then ``nvidia-smi -L``; no CUDA context is made."""
    nvml = nvidia_gpu_status()
    if nvml.usable:
        return GpuProbe(True, nvml.detail, "nvml")
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            proc = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return GpuProbe(False, f"{nvml.detail}; nvidia-smi -L failed: {exc}", None)
        listed = [line for line in proc.stdout.splitlines() if line.startswith("GPU ")]
        if proc.returncode == 0 and listed:
            return GpuProbe(True, "; ".join(listed), "nvidia-smi")
        return GpuProbe(False, f"{nvml.detail}; nvidia-smi -L lists no GPU (exit {proc.returncode})", None)
    return GpuProbe(False, nvml.detail, None)


def spec_bandwidth(
    name: str | None, *, bus_width_bits: int | None = None, max_memory_clock_mhz: float | None = None
) -> tuple[float | None, str | None]:
    """``(bytes/s, source)`` from the NVML fields if both are known, else from the table."""
    if bus_width_bits and max_memory_clock_mhz:
        return 2.0 * max_memory_clock_mhz * 1e6 * bus_width_bits / 8.0, "nvml"
    for key, bandwidth in DATASHEET_BANDWIDTH:
        if name and key in name:
            return bandwidth, "datasheet table"
    return None, None


def gpu_info(index: int = 0) -> dict[str, Any]:
    """NVML's view of GPU ``index``: name, memory, driver, CUDA, bus width, clocks, spec
    bandwidth. Fields NVML cannot read are ``None``; ``{'available': False, ...}`` without NVML."""
    probe = nvidia_gpu_status()
    if not probe.usable:
        return {"available": False, "reason": probe.detail}
    nvml = importlib.import_module("pynvml")
    nvml.nvmlInit()
    try:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)

        def read(fn: str, *args: Any) -> Any:
            try:
                value = getattr(nvml, fn)(*args)
            except (nvml.NVMLError, AttributeError):  # not supported here, or an older binding
                return None
            return value.decode() if isinstance(value, bytes) else value

        memory = read("nvmlDeviceGetMemoryInfo", handle)
        cuda = read("nvmlSystemGetCudaDriverVersion")
        capability = read("nvmlDeviceGetCudaComputeCapability", handle)
        info = {
            "available": True,
            "count": read("nvmlDeviceGetCount"),
            "index": index,
            "name": read("nvmlDeviceGetName", handle),
            "memory_total_bytes": None if memory is None else int(memory.total),
            "driver_version": read("nvmlSystemGetDriverVersion"),
            "cuda_driver_version": None if cuda is None else f"{cuda // 1000}.{cuda % 1000 // 10}",
            "compute_capability": None if capability is None else ".".join(map(str, capability)),
            "memory_bus_width_bits": read("nvmlDeviceGetMemoryBusWidth", handle),
            "max_memory_clock_mhz": read("nvmlDeviceGetMaxClockInfo", handle, nvml.NVML_CLOCK_MEM),
            "max_sm_clock_mhz": read("nvmlDeviceGetMaxClockInfo", handle, nvml.NVML_CLOCK_SM),
        }
    finally:
        nvml.nvmlShutdown()
    bandwidth, source = spec_bandwidth(
        info["name"],
        bus_width_bits=info["memory_bus_width_bits"],
        max_memory_clock_mhz=info["max_memory_clock_mhz"],
    )
    info["spec_bandwidth_bytes_per_s"] = bandwidth
    info["spec_bandwidth_source"] = source
    return info


def measure_copy_bandwidth(n_floats: int, repeats: int, budget_s: float) -> dict[str, Any]:
    """Median device-to-device bandwidth of ``y = x + 1`` over ``n_floats`` float32 values
    on JAX's default device (bytes read + written per second); compiled apart, timed calls
    synchronised with ``block_until_ready``."""
    import jax

    from benchmarks.gpu._timing import time_calls

    x = jax.device_put(np.random.default_rng(0).random(n_floats, dtype=np.float32))
    copy = jax.jit(lambda a: a + np.float32(1.0)).lower(x).compile()
    timing = time_calls(lambda: copy(x), repeats=repeats, budget_s=budget_s)
    moved = 2 * 4 * n_floats
    return {
        "device": str(x.devices().pop()),
        "bytes_per_call": moved,
        **timing.to_dict(),
        "bandwidth_bytes_per_s": moved / timing.median_s,
    }
