"""The 002 document's profiling API and frameworm's sections (seed 004) for JAX.

OptimizerProfiler start/record_epoch/stop and compile time apart, MemoryTracker and
GPUMonitor keys, mapping access to benchmark results, ``Unavailable`` readings, and
``PerformanceProfiler`` sections, synchronisation, device memory and traces.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _bench_fakes import ManualClock, fake_pynvml

from accel import GPUMonitor, MemoryTracker, OptimizerProfiler, SpeedBenchmark, compare_backends
from accel._info import nvidia_gpu_status
from accel.profile import PerformanceProfiler, Unavailable, _sections, is_unavailable

MB = 1 << 20


# ----------------------------------------------------------------------------- Unavailable


def test_unavailable_reads_as_unavailable_everywhere():
    x = Unavailable("no GPU")
    assert f"{x['mb'] if False else x:.1f} MB" == "unavailable MB"
    assert f"{x * 1000:.2f}ms" == "unavailablems" and is_unavailable(-x / 3 + 1)
    assert not x and str(x) == "unavailable" and repr(x) == "Unavailable('no GPU')"
    assert x != x and not (x > 0) and not (x < 0)  # NaN comparisons: never a number
    assert json.loads(json.dumps({"v": __import__("accel._report", fromlist=["jsonable"]).jsonable(x)})) == {"v": None}


# ----------------------------------------------------------------------------- OptimizerProfiler


class _Fitted:
    """An estimator after fit: n_epochs_, and compile_time_ when given."""

    def __init__(self, n_epochs, compile_time=None):
        self.n_epochs_ = n_epochs
        self.history_ = {"loss": [1.0] * (n_epochs + 1)}
        if compile_time is not None:
            self.compile_time_ = compile_time


def test_record_epoch_loop_and_live_stats():
    prof = OptimizerProfiler(interval=0.001, trace_python=False)
    prof.start()
    durations = []
    for epoch in range(3):
        time.sleep(0.02)
        durations.append(prof.record_epoch())
        live = prof.get_stats()
        assert live["running"] and live["n_epochs"] == epoch + 1
        assert live["peak_memory_mb"] > 0 and live["total_time"] >= 0.02 * (epoch + 1)
    stats = prof.stop()
    assert not stats["running"] and stats["epoch_times"] == durations
    assert all(d >= 0.02 for d in durations)
    assert stats["avg_epoch_time"] == pytest.approx(sum(durations) / 3)
    assert stats["total_time"] >= sum(durations)
    assert stats["peak_memory_mb"] == stats["rss_peak_bytes"] / MB
    assert is_unavailable(stats["compile_time"])  # a hand-written loop: unknown
    assert stats["compile_time_source"] == "unknown (no optimizer given)"
    assert stats["device_memory_per_epoch"] == [None, None, None] or jax.default_backend() != "cpu"
    with pytest.raises(RuntimeError, match="already stopped"):
        prof.stop()
    with pytest.raises(RuntimeError, match="needs a running profiler"):
        OptimizerProfiler().record_epoch()


def test_epoch_time_excludes_the_estimators_compile_time():
    est = _Fitted(n_epochs=4, compile_time=0.03)
    with OptimizerProfiler(est, trace_python=False) as prof:
        time.sleep(0.05)
    stats = prof.get_stats()
    assert stats["compile_time"] == 0.03 and stats["compile_time_source"] == "_Fitted.compile_time_"
    assert stats["avg_epoch_time"] == pytest.approx((stats["total_time"] - 0.03) / 4)
    assert stats["epoch_time_source"] == "(wall_time - compile_time_) / n_epochs_"


class _SlowToFinish:
    """A fitted estimator whose coef_ is still being computed: waiting for it takes 0.05 s."""

    def __init__(self):
        self.n_epochs_, self.history_ = 2, {"loss": [1.0, 0.5, 0.25]}
        self.coef_ = self
        self.waited_at = None

    def block_until_ready(self):
        time.sleep(0.05)
        self.waited_at = time.perf_counter()
        return self


def test_profiler_waits_for_the_fitted_arrays_before_stopping_the_clock():
    """JAX dispatches asynchronously: the wall time must include waiting for the fitted
    arrays. Both checks hold on any load: the clock stops after the wait ended (an ordering
    of readings of one monotonic clock), and a sleep is never shorter than asked."""
    est = _SlowToFinish()
    with OptimizerProfiler(est, trace_python=False) as prof:
        pass
    stats = prof.get_stats()
    assert est.waited_at is not None and est.waited_at <= prof._t0 + stats["wall_time"]
    assert stats["wall_time"] >= 0.05


def test_without_epochs_the_epoch_time_says_how_to_get_it():
    with OptimizerProfiler(trace_python=False) as prof:
        pass
    stats = prof.get_stats()
    assert is_unavailable(stats["avg_epoch_time"]) and "record_epoch()" in stats["avg_epoch_time"].reason
    assert f"{stats['avg_epoch_time'] * 1000:.2f}ms" == "unavailablems"


def test_estimator_fitted_in_the_calling_scope_is_found():
    from _bench_fakes import StandInGD

    X, y = np.ones((20, 2)), np.ones(20)
    est, other = StandInGD(max_iter=4), StandInGD(max_iter=2).fit(X, y)  # `other` fitted before
    with OptimizerProfiler(trace_python=False) as prof:
        est.fit(X, y)
    stats = prof.get_stats()
    assert stats["optimizer"] == "est (StandInGD, fitted in the calling scope)" and stats["n_epochs"] == 4
    with OptimizerProfiler(trace_python=False) as prof:  # two fitted: ambiguous, none used
        est.fit(X, y)
        other.fit(X, y)
    assert prof.get_stats()["optimizer"] is None and is_unavailable(prof.get_stats()["avg_epoch_time"])


def test_peak_memory_unavailable_without_psutil(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)
    with OptimizerProfiler(trace_python=False) as prof:
        pass
    peak = prof.get_stats()["peak_memory_mb"]
    assert is_unavailable(peak) and "accel[profile]" in peak.reason


# ----------------------------------------------------------------------------- MemoryTracker


def test_memory_tracker_document_keys():
    t = MemoryTracker()
    t.track_array("X_train", np.zeros((256, 512)))
    t.track_array("gradient", jnp.zeros(512))
    summary = t.get_summary()
    assert summary["tracked_arrays"] == 2 and summary["total_mb"] == (256 * 512 * 8 + 512 * 4) / MB
    est = t.estimate_optimizer_memory(n_params=10000, optimizer_type="adam", dtype="float32")
    assert est["total_memory_mb"] == est["total_bytes"] / MB == (4 * 40000 + 4) / MB


# ----------------------------------------------------------------------------- GPUMonitor


@pytest.mark.skipif(nvidia_gpu_status().usable, reason="an NVIDIA GPU is visible")
def test_gpu_monitor_record_without_gpu_reports_unavailable():
    monitor = GPUMonitor(device_id=0)
    assert [monitor.record() for _ in range(3)] == [None] * 3
    stats = monitor.get_stats()
    peak, util = stats["memory"]["peak_mb"], stats["utilization"]["gpu_avg_percent"]
    assert is_unavailable(peak) and peak.reason == nvidia_gpu_status().detail
    assert f"Peak GPU memory: {peak:.1f} MB" == "Peak GPU memory: unavailable MB"
    assert f"{util:.1f}%" == "unavailable%"


def test_gpu_monitor_record_reads_nvml_without_a_thread(monkeypatch):
    fake = fake_pynvml(power_mw=120_000)
    utilization = iter([20, 40, 60] * 10)
    fake.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=next(utilization))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monitor = GPUMonitor(device_id=0)
    samples = [monitor.record() for _ in range(3)]
    assert [s.memory_used_bytes for s in samples] == [MB, 2 * MB, 3 * MB] and fake.state["init"] == 1
    stats = monitor.get_stats()
    assert stats["n_samples"] == 3 and stats["memory"]["peak_mb"] == 3.0 and stats["memory"]["mean_mb"] == 2.0
    assert stats["utilization"] == {"gpu_avg_percent": 40.0, "gpu_max_percent": 60.0}
    assert stats["power"]["mean_w"] == 120.0 and stats["temperature"]["max_c"] == 61.0
    monitor.stop()
    assert fake.state["init"] == 0 and monitor.record() is None


# ----------------------------------------------------------------------------- bench results


def test_backend_results_support_the_documents_mapping_access():
    res = compare_backends(lambda X: X @ X.T, np.ones((16, 16)), backends=("numpy", "jax", "cupy"),
                           n_runs=2, warmup=1)
    lines = []
    for backend, timing in res.items():
        lines.append(f"{backend}: {timing['mean_time'] * 1000:.2f}ms")
        if "speedup_vs_numpy" in timing:
            lines.append(f"  Speedup: {timing['speedup_vs_numpy']:.2f}x")
    assert res["numpy"]["mean_time"] == res["numpy"].mean_time and "Speedup: 1.00x" in lines[1]
    if not res["cupy"].available:
        assert lines[-1] == "cupy: unavailablems" and "speedup_vs_numpy" not in res["cupy"]
        assert res["cupy"]["mean_time"].reason == res["cupy"].reason
    assert dict(res["jax"].items())["backend"] == "jax" and "reason" in res["jax"].keys()
    with pytest.raises(KeyError, match="'mean' is not a field of BackendResult; fields: backend"):
        res["jax"]["mean"]


def test_benchmark_optimizer_accepts_optimizer_cls_and_is_subscriptable():
    from optimizers import Adam

    X = np.random.default_rng(0).normal(size=(64, 3))
    y = X @ np.ones(3)
    result = SpeedBenchmark().benchmark_optimizer(optimizer_cls=Adam, X=X, y=y,
                                                  config={"learning_rate": 0.01, "epochs": 5}, n_runs=2)
    assert result["mean_time"] == result.mean_time > 0
    assert result["throughput_samples_per_sec"] == pytest.approx(64 * 5 / result.median_time)
    with pytest.raises(TypeError, match=r"pass the estimator .* once"):
        SpeedBenchmark().benchmark_optimizer(Adam, X, y, optimizer_cls=Adam)
    with pytest.raises(TypeError, match="needs the data: X and y"):
        SpeedBenchmark().benchmark_optimizer(optimizer_cls=Adam)


# ----------------------------------------------------------------------------- sections


def test_sections_totals_percent_and_unaccounted():
    prof = PerformanceProfiler(sync=False)
    clock = prof.clock = ManualClock()
    for _ in range(2):
        with prof.profile("step"):
            clock.now += 0.010  # data loading, not in a child
            with prof.profile("forward"):
                clock.now += 0.030
            with prof.profile("backward"):
                clock.now += 0.050
    with prof.profile("eval"):
        clock.now += 0.020
    rows = prof.summary()
    assert list(rows) == ["step", "step/forward", "step/backward", "step/(unaccounted)", "eval"]
    assert rows["step"]["total_s"] == pytest.approx(0.18) and rows["step"]["calls"] == 2
    assert rows["step/forward"]["percent_of_parent"] == pytest.approx(100 * 0.06 / 0.18)
    assert rows["step/backward"]["mean_s"] == pytest.approx(0.05)
    assert rows["step/(unaccounted)"]["total_s"] == pytest.approx(0.02)
    assert rows["step"]["percent_of_parent"] == pytest.approx(100 * 0.18 / 0.20)  # of all top-level time
    out = io.StringIO()
    prof.print_summary(file=out)
    text = out.getvalue()
    assert "  forward" in text and "(unaccounted)" in text and "33.3" in text


def test_sections_wait_for_their_results_or_for_all_device_work(monkeypatch):
    calls = []
    monkeypatch.setattr(_sections, "device_sync", lambda: calls.append("device"))
    real = jax.block_until_ready
    monkeypatch.setattr(_sections.jax, "block_until_ready", lambda x: calls.append(("wait", len(x))) or real(x))
    prof = PerformanceProfiler()
    with prof.profile("step"):
        with prof.profile("forward") as s:
            y = s.wait(jnp.ones(4) * 2)
        with prof.profile("host"):
            pass
    assert calls == ["device", "device", ("wait", 1), "device", "device", "device"]
    assert float(y[0]) == 2.0
    calls.clear()
    with prof.profile("unsynced", sync=False):
        pass
    assert calls == []


def test_device_sync_waits_for_dispatched_work():
    f = jax.jit(lambda x: jnp.sin(x @ x.T).sum())
    x = jnp.ones((512, 512))
    f(x).block_until_ready()
    pending = f(x)  # dispatched, not waited for
    _sections.device_sync()
    assert pending.is_ready()


def test_device_memory_per_step(cpu_devices):
    prof = PerformanceProfiler(devices=cpu_devices[:2])
    step = prof.record_gpu_memory()  # frameworm's name
    assert [r["device"] for r in step] == ["cpu:0", "cpu:1"]
    assert is_unavailable(step[0]["bytes_in_use_mb"])
    in_use = iter([10, 30, 20])
    fake = types.SimpleNamespace(platform="gpu", id=0,
                                 memory_stats=lambda: {"bytes_in_use": next(in_use) * MB, "peak_bytes_in_use": 30 * MB})
    prof = PerformanceProfiler(devices=[fake])
    for _ in range(3):
        prof.record_device_memory()
    assert prof.device_memory() == {"gpu:0": {"steps": 3, "last_mb": 20.0, "peak_mb": 30.0}}


def test_trace_export_names_the_sections(tmp_path):
    prof = PerformanceProfiler()
    with prof.trace(tmp_path / "trace") as folder:
        with prof.profile("train_step") as s:
            s.wait(jnp.ones((32, 32)) @ jnp.ones((32, 32)))
    traces = list(folder.rglob("perfetto_trace.json.gz"))
    assert len(traces) == 1 and list(folder.rglob("*.xplane.pb"))
    assert b"train_step" in gzip.decompress(traces[0].read_bytes())


def test_section_errors():
    prof = PerformanceProfiler()
    with pytest.raises(ValueError, match="name must be a non-empty string without '/'"):
        with prof.profile("a/b"):
            pass
    with pytest.raises(ZeroDivisionError), prof.profile("fails"):
        _ = 1 / 0
    assert "fails" not in prof.summary()
    with prof.profile("open"), pytest.raises(RuntimeError, match="cannot reset inside the open section 'open'"):
        prof.reset()
    with pytest.raises(TypeError, match="sync must be True or False"):
        PerformanceProfiler(sync=1)
