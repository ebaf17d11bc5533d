"""The augmentation benchmarks' DPA baseline computes DPA's values; the scripts run."""

from __future__ import annotations

import random

import pytest
from _dpa_oracle import oracle

from accel.augment import PARAM_NAMES, AugmentationConfig, get_preset
from benchmarks import bench_augment_reference as ref


@pytest.mark.parametrize("sample_id", [0, 1, 9, 10, 12345, 2**32, 2**63 + 17, 2**64 - 1])
@pytest.mark.parametrize("preset", ["mild", "moderate"])
def test_reference_gives_dpa_values_and_hash(sample_id, preset):
    config = get_preset(preset)
    got = ref.dpa_reference_params(sample_id, config)
    u = oracle(sample_id, config.augmentation_depth)
    assert list(got) == [*PARAM_NAMES, "hash"]
    assert [got[n] for n in PARAM_NAMES] == [lo + (hi - lo) * v for (lo, hi), v in zip(config.ranges, u, strict=True)]
    assert got["hash"] == ref.dpa_hash(sample_id, config.augmentation_depth) and len(got["hash"]) == 64


def test_reference_reseeds_the_module_generator_like_dpa():
    ref.dpa_reference_params(5)
    after = random.random()
    ref.dpa_reference_params(5)
    assert random.random() == after  # DPA's global random.seed: the draws that follow repeat


@pytest.mark.parametrize(("n", "fib"), [(0, 0), (1, 1), (2, 1), (10, 55), (50, 12586269025)])
def test_fib(n, fib):
    assert ref.dpa_fib(n) == fib


@pytest.mark.parametrize(
    ("call", "match"),
    [(lambda: ref.dpa_reference_params(-1), "non-negative"), (lambda: ref.dpa_hash(3, 0), "depth"),
     (lambda: ref.dpa_fib(-2), "non-negative")],
)
def test_reference_checks_like_dpa(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_load_dpa_needs_a_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv(ref.ENV_DPA_SRC, raising=False)
    assert ref.load_dpa() is None
    with pytest.raises(FileNotFoundError, match="no DPA checkout"):
        ref.load_dpa(str(tmp_path))
    with pytest.raises(SystemExit, match=ref.ENV_DPA_SRC):
        ref.main(["--n", "10", "--repeats", "1"])


def test_reference_accepts_the_default_config():
    assert ref.dpa_reference_params(3) == ref.dpa_reference_params(3, AugmentationConfig())


def test_bench_dpa_sample_checks_values_and_reports_every_order():
    from benchmarks import bench_dpa_sample

    out = bench_dpa_sample.main(["--quick", "--fresh", "0"])
    assert set(out["per_sample"]) == {"shuffled", "sequential", "random"}
    assert all(r["accel_per_s"] > 0 and r["peer_per_s"] > 0 for r in out["per_sample"].values())
    assert out["fresh_process"] == {}


@pytest.mark.slow
def test_bench_dpa_sample_times_a_fresh_process():
    from benchmarks import bench_dpa_sample

    t_import, t_first = bench_dpa_sample.fresh_process(bench_dpa_sample._FRESH_ACCEL)
    assert t_import > 0 and t_first > 0


@pytest.mark.slow
def test_bench_augment_sample_quick_run():
    from benchmarks import bench_augment_sample

    out = bench_augment_sample.main(["--quick"])
    assert all(r["samples_per_s"] > 0 for r in out.values())
