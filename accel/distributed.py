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

When a process dies (measured with JAX 0.10.2, 2 local processes, gloo; see
tests/test_parallel_multiprocess.py). Every process publishes a heartbeat counter in JAX's
key-value store every ``HEARTBEAT_PERIOD_S``; run training inside :func:`guard`
(``with accel.distributed.guard(): trainer.fit(X, y)``):

* **Another process than 0 dies, and a collective fails.** Usually the survivors' next
  collective fails at once with ``jax.errors.JaxRuntimeError`` ("Gloo all-reduce failed ...
  Connection reset by peer"), which names no process. ``guard`` re-raises it as
  :class:`PeerLostError` naming the processes whose heartbeat stopped (watched for
  ``LOST_AFTER_S`` seconds).
* **Another process than 0 dies, and a collective blocks.** A collective can instead wait
  for the dead process without failing (seen in the first rendezvous of a group of devices,
  e.g. the first checkpoint barrier, and now and then inside a training step); no Python
  exception can interrupt it. ``guard`` then prints the ``PeerLostError`` message and the
  main thread's stack once a process has sent no heartbeat for ``stuck_exit_s`` seconds
  (default ``STUCK_EXIT_S`` = 10) and exits with status 1.
* Either way the process exits with status 1 without JAX's shutdown barrier. Without
  ``guard`` (or with ``stuck_exit_s=None`` in the blocked case), JAX's barrier or its
  coordination service waits ``heartbeat_timeout_seconds`` (:func:`initialize`, default
  100, ``ACCEL_HEARTBEAT_TIMEOUT``) for the dead process and then ends the survivors with
  SIGABRT and a C++ trace (the 75-92 s abort seen before this existed).
* **Process 0 dies** (it hosts JAX's coordination service). JAX terminates every other
  process at once, with SIGABRT and a C++ trace ("Terminating process because the JAX
  distributed service detected fatal errors"). This cannot be turned into a Python
  exception: ``jax.distributed.initialize`` (0.10.2) has no parameter for the client's
  missed-heartbeat callback, whose default terminates the process.
* **A process hangs without dying** (its heartbeat thread still runs): nothing is
  declared lost by accel; JAX's coordination service declares it dead after
  ``heartbeat_timeout_seconds`` of missing heartbeats of its own and aborts the others.

Example (two processes on one machine, each with 2 CPU devices)::

    # process 0                                  # process 1
    accel.distributed.initialize(                accel.distributed.initialize(
        "127.0.0.1:12355", 2, 0)                     "127.0.0.1:12355", 2, 1)
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import os
import sys
import threading
import time
from collections.abc import Iterator

import jax

from accel._checks import check_int, check_real

__all__ = [
    "HEARTBEAT_PERIOD_S",
    "LOST_AFTER_S",
    "STUCK_EXIT_S",
    "PeerLostError",
    "barrier",
    "barrier_count",
    "guard",
    "initialize",
    "is_main_process",
    "lost_processes",
]

HEARTBEAT_PERIOD_S = 0.5  # each process bumps its counter in JAX's key-value store this often
LOST_AFTER_S = 3 * HEARTBEAT_PERIOD_S  # after a failed collective: whose counter stopped
# Without a failed collective, a process is declared lost only after this long without a
# heartbeat (a live process can hold the GIL for a while; guard(stuck_exit_s=...)).
STUCK_EXIT_S = 10.0
_BEAT_KEY = "accel/heartbeat/"
DEFAULT_HEARTBEAT_TIMEOUT_S = 100  # jax.distributed.initialize's default
_state: dict = {"heartbeat": None, "peer_lost": False}


class PeerLostError(RuntimeError):
    """Another process of the group died; ``lost`` holds the ids of the lost processes."""

    def __init__(self, message: str, lost: tuple[int, ...]):
        super().__init__(message)
        self.lost = lost

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
    heartbeat_timeout_seconds: int | None = None,
) -> None:
    """Join the process group (see the module doc for the environment variables).

    ``heartbeat_timeout_seconds`` (default ``ACCEL_HEARTBEAT_TIMEOUT`` or 100): how long
    JAX's coordination service waits for a silent process before it declares it dead and
    terminates the others (see the module doc for what happens when a process dies).
    """
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
    initialization_timeout = check_int(initialization_timeout, "initialization_timeout", minimum=1)
    if heartbeat_timeout_seconds is None:
        env = os.environ.get("ACCEL_HEARTBEAT_TIMEOUT", "")
        heartbeat_timeout_seconds = (
            _as_int(env, "ACCEL_HEARTBEAT_TIMEOUT") if env else DEFAULT_HEARTBEAT_TIMEOUT_S
        )
    heartbeat_timeout_seconds = check_int(
        heartbeat_timeout_seconds, "heartbeat_timeout_seconds", minimum=1
    )
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        initialization_timeout=initialization_timeout,
        heartbeat_timeout_seconds=heartbeat_timeout_seconds,
    )
    _start_heartbeat()


# -- lost processes ---------------------------------------------------------------------------
def _client():
    """JAX's distributed runtime client (private in JAX 0.10.2: no public accessor)."""
    from jax._src import distributed

    return distributed.global_state.client


def _start_heartbeat() -> None:
    client = _client()
    if client is None or jax.process_count() < 2 or _state["heartbeat"] is not None:
        return
    key = f"{_BEAT_KEY}{jax.process_index()}"

    def beat() -> None:
        n = 0
        while True:
            n += 1
            try:
                client.key_value_set(key, str(n), allow_overwrite=True)
            except Exception:  # the coordination service is gone: nothing left to tell
                return
            time.sleep(HEARTBEAT_PERIOD_S)

    _state["heartbeat"] = threading.Thread(target=beat, name="accel-heartbeat", daemon=True)
    _state["heartbeat"].start()
    atexit.register(_exit_without_barrier_if_peer_lost)  # runs before JAX's own clean-up


def _counters(client) -> dict[int, str]:
    return {int(k.rsplit("/", 1)[1]): v for k, v in client.key_value_dir_get(_BEAT_KEY)}


def lost_processes() -> list[int]:
    """Ids of the processes whose heartbeat stopped (watches it for ``LOST_AFTER_S`` s).

    Empty with one process; ``[0]`` when the key-value store (hosted by process 0) cannot
    be reached.
    """
    if jax.process_count() < 2 or _state["heartbeat"] is None:
        return []
    client = _client()
    me = jax.process_index()
    try:
        before = _counters(client)
        time.sleep(LOST_AFTER_S)
        after = _counters(client)
    except Exception:
        return [0]
    return [i for i in range(jax.process_count()) if i != me and (
        i not in after or after[i] == before.get(i))]  # fmt: skip


def _lost_message(lost: list[int], silent_s: float, what: str) -> str:
    names = ", ".join(str(i) for i in lost)
    return (
        f"process {names} of {jax.process_count()} is lost (no heartbeat for {silent_s:g} s) "
        f"and this process (process {jax.process_index()}) cannot continue: {what}. It exits "
        "with status 1, without JAX's shutdown barrier (which would wait "
        "heartbeat_timeout_seconds for the lost process and then abort)."
    )


def _watch_for_stuck(stop: threading.Event, stuck_exit_s: float) -> None:
    """Exit the process when a peer's heartbeat stopped ``stuck_exit_s`` ago and the main
    thread is still inside :func:`guard`: it is blocked in a JAX collective that no Python
    exception can interrupt (a first rendezvous of a device group waits for the lost
    process until JAX's heartbeat timeout, then JAX aborts)."""
    client, me = _client(), jax.process_index()
    seen: dict[int, tuple[str | None, float]] = {}
    while not stop.wait(HEARTBEAT_PERIOD_S):
        try:
            counters = _counters(client)
        except Exception:
            return  # the coordination service is gone; JAX ends this process itself
        now = time.monotonic()
        for i in range(jax.process_count()):
            if i != me and (i not in seen or seen[i][0] != counters.get(i)):
                seen[i] = (counters.get(i), now)
        lost = sorted(i for i, (_, t) in seen.items() if now - t > stuck_exit_s)
        if lost and not stop.is_set():
            msg = _lost_message(lost, stuck_exit_s, "it is blocked in a JAX collective")
            with contextlib.suppress(Exception):
                print(f"accel.distributed.PeerLostError: {msg} Main thread:", file=sys.stderr)
                faulthandler.dump_traceback(file=sys.stderr, all_threads=False)
            _state["peer_lost"] = True
            _exit_without_barrier_if_peer_lost()


@contextlib.contextmanager
def guard(stuck_exit_s: float | None = STUCK_EXIT_S) -> Iterator[None]:
    """Turn the loss of another process into :class:`PeerLostError` naming it.

    A JAX collective that fails inside the block (``JaxRuntimeError``, e.g. gloo's
    "Connection reset by peer") is re-raised as ``PeerLostError`` when some process's
    heartbeat stopped (checked for ``LOST_AFTER_S`` seconds); otherwise unchanged. A
    collective that blocks instead of failing cannot be interrupted from Python: when a
    process has sent no heartbeat for ``stuck_exit_s`` seconds while this one is still
    inside the block, this process prints the ``PeerLostError`` message and its main
    thread's stack and exits with status 1 (``None``: leave it to JAX, which aborts after
    ``heartbeat_timeout_seconds``). A no-op in a single process.

    Example::

        with accel.distributed.guard():
            ParallelTrainer(...).fit(X, y)
    """
    if stuck_exit_s is not None:
        stuck_exit_s = check_real(stuck_exit_s, "stuck_exit_s", minimum=LOST_AFTER_S)
    if jax.process_count() < 2 or _state["heartbeat"] is None:
        yield
        return
    stop = threading.Event()
    if stuck_exit_s is not None:
        threading.Thread(target=_watch_for_stuck, args=(stop, stuck_exit_s),
                         name="accel-peer-watch", daemon=True).start()  # fmt: skip
    try:
        yield
    except jax.errors.JaxRuntimeError as exc:
        stop.set()
        lost = lost_processes()
        if not lost:
            raise
        _state["peer_lost"] = True
        raise PeerLostError(
            _lost_message(lost, LOST_AFTER_S, str(exc).splitlines()[0]), tuple(lost)
        ) from exc
    finally:
        stop.set()


def _exit_without_barrier_if_peer_lost() -> None:
    """JAX's shutdown barrier waits for the dead process and then aborts: skip it."""
    if _state["peer_lost"]:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(1)


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


def __getattr__(name: str) -> object:
    # ``from frameworm.distributed import DistributedTrainer`` with the path changed to this
    # module: an ImportError naming the equivalent here (accel._migration).
    from accel._migration import missing_name

    raise missing_name(__name__, name)
