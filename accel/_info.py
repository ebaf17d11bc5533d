"""Environment report behind ``accel info``: versions, JAX devices, CuPy and NVIDIA GPU status."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import platform
import shutil


@dataclasses.dataclass(frozen=True)
class Probe:
    """Whether a component is usable, and why not when it is not."""

    usable: bool
    detail: str


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    """Installed versions of accel and its numerical stack (``None`` when absent)."""
    names = ["accel", "jax", "jaxlib", "optax", "numpy"]
    versions = {name: _version(name) for name in names}
    cupy = next((d for d in ("cupy", "cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x") if _version(d)), None)
    versions["cupy"] = _version(cupy) if cupy else None
    return versions


def jax_devices() -> tuple[str, list[str]]:
    """JAX's default backend name and the string form of its devices."""
    import jax

    return jax.default_backend(), [f"{d.platform}:{d.id} ({d.device_kind})" for d in jax.devices()]


def cupy_status() -> Probe:
    """Can CuPy allocate on a GPU here?"""
    try:
        cupy = importlib.import_module("cupy")
    except ImportError as exc:
        return Probe(False, f"cupy is not installed ({exc}); see requirements-cuda.txt")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
        if n < 1:
            return Probe(False, "cupy is installed but sees no CUDA device")
        cupy.zeros(1).sum().item()
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else name
        return Probe(True, f"cupy {cupy.__version__} on {n} device(s), device 0: {name}")
    except Exception as exc:  # CUDA runtime errors have many types; report, do not crash.
        return Probe(False, f"cupy is installed but unusable: {type(exc).__name__}: {exc}")


def nvidia_gpu_status() -> Probe:
    """Is an NVIDIA GPU visible through NVML (nvidia-ml-py)?"""
    try:
        pynvml = importlib.import_module("pynvml")
    except ImportError:
        where = shutil.which("nvidia-smi")
        hint = f"nvidia-smi is at {where}" if where else "no nvidia-smi on PATH"
        return Probe(False, f"nvidia-ml-py is not installed ({hint}); see requirements-cuda.txt")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # pynvml.NVMLError subclasses: no driver, no device.
        return Probe(False, f"NVML cannot initialise (no NVIDIA driver?): {exc}")
    try:
        n = pynvml.nvmlDeviceGetCount()
        if n < 1:
            return Probe(False, "NVML reports no NVIDIA GPU")
        names = []
        for i in range(n):
            name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(i))
            names.append(name.decode() if isinstance(name, bytes) else name)
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
        return Probe(True, f"{n} NVIDIA GPU(s): {', '.join(names)}; driver {driver}")
    finally:
        pynvml.nvmlShutdown()


def jax_gpu_status(backend: str) -> Probe:
    if backend in ("gpu", "cuda", "rocm"):
        return Probe(True, f"JAX runs on the {backend} backend")
    return Probe(
        False,
        f"JAX's backend is {backend!r}: install the CUDA plugin (requirements-cuda.txt) to use a GPU",
    )


def render() -> str:
    """The full text report printed by ``accel info``."""
    lines = [f"python {platform.python_version()} on {platform.platform()}"]
    for name, ver in package_versions().items():
        lines.append(f"{name:<8} {ver if ver else 'not installed'}")
    backend, devices = jax_devices()
    lines.append(f"jax backend: {backend}")
    lines.append(f"jax devices ({len(devices)}): {', '.join(devices)}")
    for label, probe in (
        ("jax gpu", jax_gpu_status(backend)),
        ("cupy", cupy_status()),
        ("nvidia gpu", nvidia_gpu_status()),
    ):
        lines.append(f"{label}: {'usable' if probe.usable else 'not usable'} - {probe.detail}")
    return "\n".join(lines)
