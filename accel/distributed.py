"""Multi-process (multi-host) set-up: a thin wrapper over ``jax.distributed.initialize``.

Call :func:`initialize` once per process, before any other JAX call; then
``ParallelTrainer`` uses the devices of all processes. Arguments left as ``None`` are read
from the environment:

=====================  =============================================================
argument               environment variables (first one set wins)
=====================  =============================================================
coordinator_address    ``ACCEL_COORDINATOR_ADDRESS``, ``JAX_COORDINATOR_ADDRESS``,
                       else ``MASTER_ADDR:MASTER_PORT`` (torchrun style)
num_processes          ``ACCEL_NUM_PROCESSES``, ``JAX_NUM_PROCESSES``, ``WORLD_SIZE``
process_id             ``ACCEL_PROCESS_ID``, ``JAX_PROCESS_ID``, ``RANK``
local_device_ids       ``ACCEL_LOCAL_DEVICE_IDS`` (comma separated)
=====================  =============================================================

Whatever is still ``None`` is left to JAX's own cluster detection (Slurm, Open MPI, TPU).
On CPU, cross-process collectives use gloo (``jax_cpu_collectives_implementation``).

Example (two processes on one machine, each with 2 CPU devices)::

    # process 0                                  # process 1
    accel.distributed.initialize(                accel.distributed.initialize(
        "127.0.0.1:12355", 2, 0)                     "127.0.0.1:12355", 2, 1)
"""

from __future__ import annotations

import os

import jax

__all__ = ["barrier", "barrier_count", "initialize", "is_main_process"]

_ENV = {
    "coordinator_address": ("ACCEL_COORDINATOR_ADDRESS", "JAX_COORDINATOR_ADDRESS"),
    "num_processes": ("ACCEL_NUM_PROCESSES", "JAX_NUM_PROCESSES", "WORLD_SIZE"),
    "process_id": ("ACCEL_PROCESS_ID", "JAX_PROCESS_ID", "RANK"),
    "local_device_ids": ("ACCEL_LOCAL_DEVICE_IDS",),
}
_barriers = 0


def _from_env(name: str) -> str | None:
    for var in _ENV[name]:
        value = os.environ.get(var)
        if value not in (None, ""):
            return value
    if name == "coordinator_address" and os.environ.get("MASTER_ADDR"):
        return f"{os.environ['MASTER_ADDR']}:{os.environ.get('MASTER_PORT', '12355')}"
    return None


def _as_int(value: object, name: str) -> int | None:
    if value is None:
        return None
    try:
        out = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if isinstance(value, bool) or out < 0 or str(out) != str(value).strip():
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return out


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: list[int] | None = None,
    *,
    cpu_collectives: str = "gloo",
    initialization_timeout: int = 300,
) -> None:
    """Join the process group (see the module doc for the environment variables)."""
    coordinator_address = coordinator_address or _from_env("coordinator_address")
    num_processes = _as_int(
        num_processes if num_processes is not None else _from_env("num_processes"),
        "num_processes",
    )
    process_id = _as_int(
        process_id if process_id is not None else _from_env("process_id"), "process_id"
    )
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if num_processes is not None and process_id is not None and process_id >= num_processes:
        raise ValueError(
            f"process_id must be in [0, num_processes={num_processes}), got {process_id}"
        )
    if local_device_ids is None and _from_env("local_device_ids") is not None:
        local_device_ids = [
            _as_int(v, "local_device_ids") for v in _from_env("local_device_ids").split(",")
        ]
    if cpu_collectives not in ("gloo", "mpi"):
        raise ValueError(f"cpu_collectives must be 'gloo' or 'mpi', got {cpu_collectives!r}")
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=initialization_timeout,
    )


def is_main_process() -> bool:
    """``True`` on process 0 (the one that prints progress and writes checkpoints)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches ``barrier(name)``; a no-op with one process."""
    global _barriers
    _barriers += 1
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def barrier_count() -> int:
    """How many times :func:`barrier` was called in this process (for tests)."""
    return _barriers
