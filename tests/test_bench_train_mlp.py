"""benchmarks/bench_train_mlp.py runs: every case trains, reports positive rates and losses.

A smoke run only (tiny sizes, one repeat): no assertion on any timing or ratio.
"""

from __future__ import annotations

import json
import math

import jax

from benchmarks import bench_train_mlp

TINY = ["--quick", "--rows", "1024", "--features", "32", "--hidden", "16"]


def test_bench_train_mlp_runs_every_case(tmp_path):
    assert len(jax.devices()) >= 4  # tests/conftest.py: 4 host CPU devices
    path = tmp_path / "out.json"
    out = bench_train_mlp.main([*TINY, "--json", str(path)])
    assert out["errors"] == {}
    expected = {
        "1 dev: accel backend=default",
        "1 dev: accel backend=default, eval_every=1",
        "1 dev: accel backend=default, NumPy data",
        "1 dev: hand-written jit+scan",
        "1 dev: hand-written jit+scan, shuffled",
        "4 dev: accel backend=default",
        "4 dev: accel backend=pmap",
        "4 dev: accel backend=shard_map",
        "4 dev: accel backend=jit",
        "4 dev: accel backend=default, eval_every=1",
        "4 dev: accel backend=default, NumPy data",
        "4 dev: hand-written shard_map",
        "4 dev: hand-written jit+NamedSharding",
        "4 dev: hand-written shard_map, shuffled",
    }
    assert set(out["cases"]) == expected
    for entry in out["cases"].values():
        assert entry["samples_per_s"] > 0 and entry["median_s"] > 0 and entry["first_call_s"] > 0
        assert len(entry["times_s"]) == 1
        assert math.isfinite(entry["final_loss"])
    assert out["cases"]["1 dev: accel backend=default"]["rows_per_call"] == 1024
    assert set(out["ratios"]) == {name for name in expected if "accel" in name}
    for entry in out["ratios"].values():  # against the unshuffled loop and the shuffled one
        assert "shuffled" not in entry["peer"] and "shuffled" in entry["shuffled_peer"]
        assert entry["time_per_sample_ratio"] > 0 and entry["shuffled_ratio"] > 0
    check = out["one_epoch_check"]
    assert len(check["accel_history_loss"]) == 2  # initial and after the one epoch
    assert all(math.isfinite(v) for k, v in check.items() if k != "accel_history_loss")
    assert out["peak_rss_mib"] > 0
    assert json.loads(path.read_text())["cases"].keys() == out["cases"].keys()
