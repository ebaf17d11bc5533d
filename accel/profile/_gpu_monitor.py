"""``GPUMonitor``: NVIDIA GPU memory, utilisation, temperature and power over a region.

Samples NVML (nvidia-ml-py, ``requirements-cuda.txt``) in a background thread. Energy is
the trapezoidal integral of the sampled power over the actual sample times (not the
nominal interval); where the GPU has a cumulative energy counter
(``nvmlDeviceGetTotalEnergyConsumption``, Volta and newer) its difference is reported too,
as a check. Without nvidia-ml-py, a driver or the device, the monitor reports
``available=False`` with the reason and never raises.

``record()`` takes one reading now, without a background thread (the 002 document's
per-epoch call). ``get_stats()`` has flat keys (``None`` where unavailable) and the 002
document's groups ``memory``, ``utilization``, ``temperature`` and ``power``, whose readings
are :class:`~accel.profile.Unavailable` when they cannot be made (no GPU, or not supported).

Example:
    >>> from accel import GPUMonitor
    >>> with GPUMonitor(interval=0.05) as mon:
    ...     pass
    >>> stats = mon.get_stats()
    >>> stats["available"] or bool(stats["reason"])
    True
    >>> m = GPUMonitor()
    >>> _ = m.record()
    >>> f"{m.get_stats()['memory']['peak_mb']:.1f}" in ("unavailable",) or m.available
    True
"""

from __future__ import annotations

import dataclasses
import importlib
import numbers
import time
from types import TracebackType
from typing import Any

import numpy as np

from accel._info import nvidia_gpu_status
from accel.profile._readings import Unavailable
from accel.profile._sampler import PeriodicSampler, check_interval

__all__ = ["GPUMonitor", "GPUSample"]

JOULES_PER_KWH = 3.6e6
_MB = float(1 << 20)


@dataclasses.dataclass(frozen=True)
class GPUSample:
    """One NVML reading; a field is ``None`` where the GPU does not support it."""

    memory_used_bytes: int | None
    utilization_pct: float | None
    temperature_c: float | None
    power_w: float | None


class GPUMonitor:
    """Background NVML sampling of one GPU; use as a context manager or start()/stop().

    Args:
        device_id: NVML index of the GPU (>= 0).
        interval: seconds between samples.
    """

    def __init__(self, device_id: int = 0, interval: float = 0.1) -> None:
        if isinstance(device_id, bool) or not isinstance(device_id, numbers.Integral) or device_id < 0:
            raise ValueError(f"device_id must be a non-negative integer, got {device_id!r}")
        self.device_id = int(device_id)
        self.interval = check_interval(interval)
        self.name: str | None = None
        self._nvml: Any = None
        self._handle: Any = None
        self._sampler: PeriodicSampler | None = None
        self._energy_counter: list[float | None] = [None, None]
        self._finished = False
        self._records: list[tuple[float, GPUSample]] = []
        probe = nvidia_gpu_status()
        self.available, self.reason = probe.usable, probe.detail

    # ---------------------------------------------------------------- NVML access

    def _optional(self, fn: str, *args: Any) -> Any:
        """An NVML query, or ``None`` where this GPU does not support it."""
        nvml = self._nvml
        try:
            return getattr(nvml, fn)(*args)
        except nvml.NVMLError_NotSupported:
            return None

    def _read(self) -> GPUSample:
        nvml, h = self._nvml, self._handle
        mem = nvml.nvmlDeviceGetMemoryInfo(h)
        util = self._optional("nvmlDeviceGetUtilizationRates", h)
        temp = self._optional("nvmlDeviceGetTemperature", h, nvml.NVML_TEMPERATURE_GPU)
        power_mw = self._optional("nvmlDeviceGetPowerUsage", h)
        return GPUSample(
            memory_used_bytes=int(mem.used),
            utilization_pct=None if util is None else float(util.gpu),
            temperature_c=None if temp is None else float(temp),
            power_w=None if power_mw is None else power_mw / 1000.0,
        )

    def _energy_mj(self) -> float | None:
        return self._optional("nvmlDeviceGetTotalEnergyConsumption", self._handle)

    # ---------------------------------------------------------------- lifecycle

    def _open(self) -> bool:
        """Initialise NVML and the device handle once; False (with ``reason``) on failure."""
        if self._handle is not None:
            return True
        if not self.available:
            return False
        nvml = importlib.import_module("pynvml")
        nvml.nvmlInit()
        self._nvml = nvml
        try:
            count = nvml.nvmlDeviceGetCount()
            if self.device_id >= count:
                raise LookupError(f"device_id {self.device_id} is out of range: NVML sees {count} GPU(s)")
            self._handle = nvml.nvmlDeviceGetHandleByIndex(self.device_id)
            name = nvml.nvmlDeviceGetName(self._handle)
            self.name = name.decode() if isinstance(name, bytes) else name
            self._energy_counter[0] = self._energy_mj()
        except (LookupError, nvml.NVMLError) as exc:  # reported through available/reason
            nvml.nvmlShutdown()
            self._nvml = None
            self.available, self.reason = False, f"{type(exc).__name__}: {exc}"
            return False
        return True

    def start(self) -> GPUMonitor:
        """Start sampling; does nothing (and never raises) when no GPU is available."""
        if self._sampler is not None or self._finished:
            raise RuntimeError("a GPUMonitor can be started once; make a new one")
        if not self._open():
            return self
        self._sampler = PeriodicSampler(self._read, self.interval)
        self._sampler.start()
        return self

    def record(self) -> GPUSample | None:
        """Take one reading now (works without ``start()``); ``None`` when no GPU is
        available (``reason`` says why). Never raises for a missing GPU."""
        if self._finished or not self._open():
            return None
        sample = self._read()
        self._records.append((time.perf_counter(), sample))
        return sample

    def stop(self) -> None:
        """Stop sampling and release NVML."""
        self._finished = True
        if self._handle is None:
            return
        try:
            if self._sampler is not None:
                self._sampler.stop()
            self._energy_counter[1] = self._energy_mj()
        finally:
            self._nvml.nvmlShutdown()
            self._handle = None

    def __enter__(self) -> GPUMonitor:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---------------------------------------------------------------- results

    @property
    def samples(self) -> list[tuple[float, GPUSample]]:
        """``(time.perf_counter(), GPUSample)`` pairs taken so far (background and ``record()``)."""
        background = [] if self._sampler is None else list(self._sampler.samples)
        return sorted(background + self._records, key=lambda pair: pair[0])

    def get_stats(self) -> dict[str, Any]:
        """Summary of the samples; numbers are ``None`` when unavailable or unsupported."""
        samples = self.samples
        stats: dict[str, Any] = {
            "available": self.available, "reason": self.reason, "device_id": self.device_id,
            "name": self.name, "n_samples": len(samples), "duration_s": None,
            "peak_memory_used_bytes": None, "mean_memory_used_bytes": None, "mean_utilization_pct": None,
            "max_utilization_pct": None, "max_temperature_c": None, "mean_power_w": None,
            "max_power_w": None, "energy_j": None, "energy_kwh": None, "energy_counter_j": None,
        }
        if samples:
            self._summarise(samples, stats)
        stats.update(self._groups(stats))
        return stats

    def _summarise(self, samples: list[tuple[float, GPUSample]], stats: dict[str, Any]) -> None:
        t = np.array([s[0] for s in samples])
        stats["duration_s"] = float(t[-1] - t[0])

        def column(field: str) -> tuple[np.ndarray, np.ndarray]:
            pairs = [(ti, getattr(s, field)) for ti, s in samples if getattr(s, field) is not None]
            return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=float)

        _, mem = column("memory_used_bytes")
        stats["peak_memory_used_bytes"] = int(mem.max())
        stats["mean_memory_used_bytes"] = float(mem.mean())
        _, util = column("utilization_pct")
        if util.size:
            stats["mean_utilization_pct"] = float(util.mean())
            stats["max_utilization_pct"] = float(util.max())
        _, temp = column("temperature_c")
        if temp.size:
            stats["max_temperature_c"] = float(temp.max())
        tp, power = column("power_w")
        if power.size:
            stats["mean_power_w"] = float(power.mean())
            stats["max_power_w"] = float(power.max())
            if power.size >= 2:
                energy = float(np.trapezoid(power, tp))
                stats["energy_j"] = energy
                stats["energy_kwh"] = energy / JOULES_PER_KWH
        start_mj, end_mj = self._energy_counter
        if start_mj is not None and end_mj is not None:
            stats["energy_counter_j"] = (end_mj - start_mj) / 1000.0

    def _groups(self, stats: dict[str, Any]) -> dict[str, Any]:
        """The 002 document's nested readings; what cannot be read is ``Unavailable``."""
        why = self.reason if not self.available else "no readings yet: call record() or start()"

        def reading(key: str, scale: float = 1.0) -> Any:
            value = stats.get(key)
            if value is None:
                return Unavailable(why if not stats["n_samples"] else f"{key}: not supported by this GPU")
            return value / scale

        return {
            "memory": {"peak_mb": reading("peak_memory_used_bytes", _MB),
                       "mean_mb": reading("mean_memory_used_bytes", _MB)},
            "utilization": {"gpu_avg_percent": reading("mean_utilization_pct"),
                            "gpu_max_percent": reading("max_utilization_pct")},
            "temperature": {"max_c": reading("max_temperature_c")},
            "power": {"mean_w": reading("mean_power_w"), "max_w": reading("max_power_w"),
                      "energy_j": reading("energy_j")},
        }
