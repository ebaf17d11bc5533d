"""accel.augment's BenchmarkConfig: measure_memory and measure_cpu are honoured."""

from __future__ import annotations

import pytest

from accel.augment import BenchmarkConfig, BenchmarkRunner


@pytest.mark.parametrize(("memory", "cpu"), [(False, False), (True, True), (False, True)])
def test_measure_switches(memory, cpu):
    config = BenchmarkConfig(iterations=2, warmup_iterations=1, measure_memory=memory, measure_cpu=cpu)
    m = BenchmarkRunner(config).benchmark_generation(256)
    assert m.throughput_samples_per_second > 0
    if not memory:
        assert m.memory_usage_mb == 0.0 and m.peak_rss_mb == 0.0
    else:
        assert m.peak_rss_mb > 0
    assert (m.cpu_usage_percent > 0) if cpu else (m.cpu_usage_percent == 0.0)
    assert m.cpu_usage_percent <= 100


def test_measure_switches_are_checked():
    with pytest.raises(TypeError, match="measure_cpu must be True or False"):
        BenchmarkConfig(measure_cpu="yes")
    with pytest.raises(TypeError, match="measure_memory must be True or False"):
        BenchmarkConfig(measure_memory=None)


def test_benchmark_times_any_call_with_setup_outside_the_timings():
    events = []
    config = BenchmarkConfig(iterations=3, warmup_iterations=2, measure_memory=False, measure_cpu=False)
    m = BenchmarkRunner(config).benchmark(lambda: events.append("run"), 10, setup=lambda: events.append("setup"))
    # one compiling call + one more warm-up + three timed calls, each after its setup
    assert events == ["setup", "run"] * 5
    assert len(m.times_seconds) == 3 and m.median_seconds in m.times_seconds
    assert m.throughput_samples_per_second == pytest.approx(10 / m.median_seconds)
    zero = BenchmarkRunner(config).benchmark(lambda: None, 0)
    assert zero.throughput_samples_per_second == 0.0 and zero.avg_latency_ms == 0.0
    with pytest.raises(TypeError, match="run must be a callable"):
        BenchmarkRunner(config).benchmark(3, 1)
    with pytest.raises(TypeError, match="setup must be None or a callable"):
        BenchmarkRunner(config).benchmark(lambda: None, 1, setup=3)
    with pytest.raises(ValueError, match="num_samples"):
        BenchmarkRunner(config).benchmark(lambda: None, -1)
