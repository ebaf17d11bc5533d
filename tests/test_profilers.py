"""OptimizerProfiler, MemoryTracker and GPUMonitor."""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _bench_fakes import StandInGD, fake_pynvml

from accel import GPUMonitor, MemoryTracker, OptimizerProfiler
from accel._info import nvidia_gpu_status
from accel.profile._sampler import PeriodicSampler

MB = 1 << 20


def _wait_until(condition, timeout: float = 120.0) -> None:
    """Poll ``condition`` until it holds. A background sampler is late, never early, on a
    loaded machine: tests wait for the samples they need instead of sleeping a fixed time
    and counting (the timeout only catches a thread that never samples)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the background sampler never produced the samples"
        time.sleep(0.001)


# ----------------------------------------------------------------------------- OptimizerProfiler


def test_profiler_wall_epochs_and_memory():
    X, y = np.random.default_rng(0).standard_normal((200, 5)), np.ones(200)
    est = StandInGD(max_iter=6)
    with OptimizerProfiler(est, interval=0.001) as prof:
        est.fit(X, y)
        held = np.ones(4 * MB // 8)  # 4 MiB through NumPy: seen by tracemalloc
        time.sleep(0.05)
        _wait_until(lambda: len(prof._sampler.samples) >= 10)  # the background thread samples
    stats = prof.get_stats()
    assert stats["wall_time"] >= 0.05  # a sleep is never shorter: load only lengthens it
    assert stats["n_epochs"] == 6
    # the stand-in reports no compile_time_: the epoch time is the wall time per epoch
    assert stats["epoch_time_source"] == "wall_time / n_epochs_ (compile time unknown: included if any)"
    assert stats["epoch_time_mean"] == pytest.approx(stats["wall_time"] / 6)
    assert stats["compile_time_source"] == "unknown (StandInGD reports no compile_time_)"
    assert stats["tracemalloc_peak_increase_bytes"] >= held.nbytes
    assert stats["tracemalloc_end_increase_bytes"] >= held.nbytes
    assert stats["rss_samples"] >= 11  # the background thread's, then the one at the end
    assert stats["rss_start_bytes"] > 0 and stats["rss_peak_bytes"] >= stats["rss_start_bytes"]
    assert stats["rss_peak_increase_bytes"] == stats["rss_peak_bytes"] - stats["rss_start_bytes"]
    assert not tracemalloc.is_tracing()  # the profiler stops what it started


def test_profiler_rss_peak_sees_a_short_lived_allocation():
    """No sleep-and-hope: on a loaded machine the sampler may not run at all during a fixed
    sleep (a CI run saw a peak increase of 4096 bytes). np.ones writes every page, so the
    block is resident once it returns; the sample that may be in flight then could have
    read RSS before the allocation, so the test waits for the one after it, begun once the
    block was resident. 64 MiB is above glibc's largest mmap threshold (32 MiB): freeing it
    unmaps it at once. Garbage of earlier tests is collected first, so none is freed
    (lowering RSS) while the block is held. The increase is measured from an RSS reading
    taken just before the allocation, not from the profiler's first sample: on a loaded CI
    machine memory freed elsewhere in the process (earlier tests' buffers, released by
    other threads) between the first sample and the allocation hid the block (increase 0)."""
    gc.collect()
    with OptimizerProfiler(interval=0.001, trace_python=False) as prof:
        before = prof._rss()
        block = np.ones(64 * MB // 8)  # every page written: resident
        taken = len(prof._sampler.samples)  # the sample in flight, if any, may predate it
        _wait_until(lambda: len(prof._sampler.samples) >= taken + 2)  # one begun after it
        during = max(v for _, v in prof._sampler.samples[taken + 1 :])
        del block
    stats = prof.get_stats()
    assert during - before >= 48 * MB  # the sampler saw the block
    assert stats["rss_peak_bytes"] >= during  # and the peak holds it
    assert stats["rss_peak_bytes"] - stats["rss_end_bytes"] >= 32 * MB  # freed before the end
    assert stats["tracemalloc_peak_bytes"] is None


def test_profiler_prefers_epoch_times_from_history():
    est = types.SimpleNamespace(history_={"loss": [3.0, 2.0, 1.0], "epoch_time": [0.5, 0.25]},
                                n_epochs_=2)
    with OptimizerProfiler(est) as prof:
        pass
    stats = prof.get_stats()
    assert stats["epoch_times"] == [0.5, 0.25] and stats["epoch_time_mean"] == 0.375
    assert stats["epoch_time_source"] == "history_['epoch_time']"


def test_profiler_keeps_tracemalloc_running_if_it_was():
    tracemalloc.start()
    try:
        with OptimizerProfiler() as prof:
            a = np.ones(MB // 8)
        assert tracemalloc.is_tracing()
        assert prof.get_stats()["tracemalloc_peak_increase_bytes"] >= a.nbytes
    finally:
        tracemalloc.stop()


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="GPUs provide memory_stats")
def test_profiler_device_memory_on_cpu_says_why_missing():
    with OptimizerProfiler() as prof:
        pass
    stats = prof.get_stats()
    assert stats["device_memory_end"] is None
    assert stats["device_memory_reason"] == "JAX's cpu device provides no memory_stats()"


def test_profiler_without_psutil_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil -> ImportError
    with OptimizerProfiler() as prof:
        a = np.ones(MB // 8)
    stats = prof.get_stats()
    assert stats["rss_peak_bytes"] is None and stats["rss_samples"] == 0
    assert "pip install 'accel[profile]'" in stats["rss_reason"]
    assert stats["tracemalloc_peak_increase_bytes"] >= a.nbytes  # the rest still works


def test_profiler_misuse():
    prof = OptimizerProfiler()
    with pytest.raises(RuntimeError, match="no stats yet"):
        prof.get_stats()
    with prof:
        pass
    with pytest.raises(RuntimeError, match="entered once"), prof:
        pass
    with pytest.raises(ValueError, match="interval must be a positive number"):
        OptimizerProfiler(interval=0)


def test_sampler_reraises_errors_from_the_thread():
    calls = []

    def sample():
        calls.append(1)
        if len(calls) > 1:
            raise OSError("sensor gone")
        return 1

    s = PeriodicSampler(sample, interval=0.001)
    s.start()
    _wait_until(lambda: len(calls) > 1)  # the thread's first sample raised
    with pytest.raises(OSError, match="sensor gone"):
        s.stop()


# ----------------------------------------------------------------------------- MemoryTracker


def test_memory_tracker_numpy_and_jax(cpu_devices):
    t = MemoryTracker()
    t.track_array("X", np.zeros((100, 10)))  # 8000 bytes
    t.track_array("w", jnp.zeros(250, jnp.float32))  # 1000 bytes
    mesh = jax.sharding.Mesh(np.array(cpu_devices), ("d",))
    replicated = jax.device_put(jnp.ones(100, jnp.float32), jax.NamedSharding(mesh, jax.P()))
    t.track_array("replicated", replicated)  # 400 bytes on each of 4 devices
    t.track_array("X", np.zeros(10))  # replaces the first "X": 80 bytes
    s = t.get_summary()
    assert s["n_arrays"] == 3
    assert s["by_backend"] == {"numpy": 80, "jax": 1000 + 1600}
    assert s["total_bytes"] == 80 + 2600
    assert s["by_device"]["cpu (host)"] == 80
    assert s["by_device"]["cpu:0,cpu:1,cpu:2,cpu:3"] == 1600
    entry = next(a for a in s["arrays"] if a["name"] == "w")
    assert entry == {"name": "w", "backend": "jax", "shape": (250,), "dtype": "float32",
                     "nbytes": 1000, "device": "cpu:0"}
    assert "replicated" in str(t)


class _CuPyLikeArray:
    """Shape of a cupy.ndarray as MemoryTracker reads it (no GPU needed)."""

    __module__ = "cupy._core.core"

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.nbytes = int(np.prod(shape)) * self.dtype.itemsize
        self.device = types.SimpleNamespace(id=1)


def test_memory_tracker_cupy_arrays():
    t = MemoryTracker()
    t.track_array("g", _CuPyLikeArray((3, 5), "float16"))
    s = t.get_summary()
    assert s["by_backend"] == {"cupy": 30} and s["by_device"] == {"cuda:1": 30}
    assert s["arrays"][0]["dtype"] == "float16" and s["arrays"][0]["shape"] == (3, 5)


def test_memory_tracker_rejects():
    t = MemoryTracker()
    with pytest.raises(TypeError, match=r"NumPy, JAX or CuPy array, got builtins\.list"):
        t.track_array("x", [1, 2])
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        t.track_array("", np.ones(1))


OPTAX = {
    "sgd": lambda: optax.sgd(0.01),
    "momentum": lambda: optax.sgd(0.01, momentum=0.9),
    "nesterov": lambda: optax.sgd(0.01, momentum=0.9, nesterov=True),
    "adagrad": lambda: optax.adagrad(0.01),
    "rmsprop": lambda: optax.rmsprop(0.01),
    "adam": lambda: optax.adam(0.01),
    "adamw": lambda: optax.adamw(0.01, weight_decay=0.01),
}


@pytest.mark.parametrize("n_params", [1, 1000])
@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
@pytest.mark.parametrize("name", sorted(OPTAX))
def test_estimate_matches_actual_optax_state(name, dtype, n_params):
    with jax.enable_x64(dtype == "float64"):
        params = jnp.zeros(n_params, dtype)
        state = OPTAX[name]().init(params)
        leaves = jax.tree.leaves(state)
        est = MemoryTracker.estimate_optimizer_memory(n_params, name, dtype)
        vectors = [x for x in leaves if x.shape == params.shape]
        scalars = [x for x in leaves if x.shape == ()]
        assert len(vectors) + len(scalars) == len(leaves)
        assert len(vectors) == est["n_state_vectors"]
        assert sum(x.nbytes for x in vectors) == est["state_bytes"]
        assert sum(x.nbytes for x in scalars) == est["scalar_state_bytes"]
        assert est["params_bytes"] == est["gradient_bytes"] == params.nbytes
        grads = jax.grad(lambda p: jnp.sum(p * p))(params)
        assert est["gradient_bytes"] == grads.nbytes
        assert est["total_bytes"] == params.nbytes + grads.nbytes + sum(x.nbytes for x in leaves)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, "adam"), "n_params must be a positive integer"),
        ((1.5, "adam"), "n_params must be a positive integer"),
        ((10, "lbfgs"), "optimizer_type must be one of sgd, momentum, nesterov"),
        ((10, "adam", "int32"), "dtype must be a floating NumPy dtype"),
        ((10, "adam", "nonsense"), "dtype must be a floating NumPy dtype"),
    ],
)
def test_estimate_rejects(args, match):
    with pytest.raises(ValueError, match=match):
        MemoryTracker.estimate_optimizer_memory(*args)


# ----------------------------------------------------------------------------- GPUMonitor


@pytest.mark.skipif(nvidia_gpu_status().usable, reason="an NVIDIA GPU is visible")
def test_gpu_monitor_without_gpu_reports_and_never_raises():
    with GPUMonitor(interval=0.01) as mon:
        time.sleep(0.02)
    stats = mon.get_stats()
    assert stats["available"] is False and stats["reason"] == nvidia_gpu_status().detail
    assert stats["n_samples"] == 0 and stats["energy_j"] is None and stats["mean_power_w"] is None


def test_gpu_monitor_energy_integrates_over_actual_sample_times(monkeypatch):
    fake = fake_pynvml(power_mw=150_000, energy_mj=7_500)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    mon = GPUMonitor(device_id=0, interval=0.005)
    assert mon.available and "Fake GPU" in mon.reason
    with mon:
        _wait_until(lambda: len(mon.samples) >= 3)  # the start sample and two of the thread's
    stats = mon.get_stats()
    times = [t for t, _ in mon.samples]
    assert stats["n_samples"] == len(times) >= 4  # and the one at stop
    assert stats["duration_s"] == pytest.approx(times[-1] - times[0])
    # Constant 150 W: the integral is 150 W times the span actually sampled.
    assert stats["energy_j"] == pytest.approx(150.0 * (times[-1] - times[0]), rel=1e-12)
    assert stats["energy_kwh"] == pytest.approx(stats["energy_j"] / 3.6e6, rel=1e-12)
    assert stats["energy_counter_j"] == 7.5
    assert stats["mean_power_w"] == 150.0 and stats["max_temperature_c"] == 61.0
    assert stats["mean_utilization_pct"] == 50.0 and stats["name"] == "Fake GPU"
    assert stats["peak_memory_used_bytes"] == 3 * MB
    assert fake.state["init"] == 0  # NVML released


def test_gpu_monitor_energy_follows_irregular_power(monkeypatch):
    """Power that changes between samples: the trapezoid over the real timestamps."""
    fake = fake_pynvml(power_mw=0)
    watts = iter([100.0, 300.0, 100.0, 300.0] * 1000)
    fake.nvmlDeviceGetPowerUsage = lambda h: next(watts) * 1000
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with GPUMonitor(interval=0.003) as mon:
        _wait_until(lambda: len(mon.samples) >= 4)
    t = np.array([s[0] for s in mon.samples])
    p = np.array([s[1].power_w for s in mon.samples])
    expected = sum((p[i] + p[i + 1]) / 2 * (t[i + 1] - t[i]) for i in range(len(t) - 1))
    assert mon.get_stats()["energy_j"] == pytest.approx(expected, rel=1e-12)
    assert mon.get_stats()["energy_j"] == pytest.approx(200.0 * (t[-1] - t[0]), rel=0.5)


def test_gpu_monitor_unsupported_power_and_bad_device(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(power_mw=0, supports_power=False))
    with GPUMonitor(interval=0.005) as mon:
        time.sleep(0.02)
    stats = mon.get_stats()
    assert stats["available"] and stats["mean_power_w"] is None and stats["energy_j"] is None
    assert stats["peak_memory_used_bytes"] is not None
    fake = fake_pynvml(power_mw=1, count=1)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    with GPUMonitor(device_id=3) as mon:
        pass
    assert not mon.available and "device_id 3 is out of range: NVML sees 1 GPU(s)" in mon.reason
    assert fake.state["init"] == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"device_id": -1}, ValueError, "device_id must be a non-negative integer"),
        ({"device_id": "0"}, ValueError, "device_id must be a non-negative integer"),
        ({"interval": 0}, ValueError, "interval must be a positive number"),
        ({"interval": "fast"}, TypeError, "interval must be a positive number"),
    ],
)
def test_gpu_monitor_rejects(kwargs, error, match):
    with pytest.raises(error, match=match):
        GPUMonitor(**kwargs)


@pytest.mark.gpu
def test_gpu_monitor_on_a_real_gpu():
    if not nvidia_gpu_status().usable:
        pytest.skip("nvidia-ml-py cannot see the GPU")
    with GPUMonitor(interval=0.01) as mon:
        x = jnp.ones((4096, 4096))
        for _ in range(20):
            x = (x @ x) / 4096
        x.block_until_ready()
    stats = mon.get_stats()
    assert stats["available"] and stats["n_samples"] >= 2
    assert stats["peak_memory_used_bytes"] > 0 and stats["mean_power_w"] > 0
    assert stats["energy_j"] > 0
