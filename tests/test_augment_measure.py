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
