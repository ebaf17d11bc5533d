"""SpeedBenchmark / compare_backends / benchmark_optimizer and the built-in operations."""

from __future__ import annotations

import gc
import importlib.util
import json
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _bench_fakes import TICK, FakeClock, StandInGD, sometimes_slow_numpy
from _helpers import random_matrix
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import accel
from accel import SpeedBenchmark, benchmark_optimizer, compare_backends
from accel.bench import _clock, _compare
from accel.bench._backends import get_backend
from accel.bench._compare import _max_rel_diff
from accel.bench._operations import OPERATIONS, get_operation, parse_sizes, run_operation

CUPY_INSTALLED = importlib.util.find_spec("cupy") is not None
FIELDS = (
    "mean_time", "median_time", "std_time", "min_time", "compile_time", "transfer_time",
    "speedup_vs_numpy", "device", "dtype", "n_runs", "available", "reason",
)


# ----------------------------------------------------------------------------- fake clock
# FakeClock, StandInGD and sometimes_slow_numpy live in tests/_bench_fakes.py


@pytest.fixture(autouse=True)
def _no_settle_pause(monkeypatch):
    """The settle pause only matters to real timings; these tests check the timer's logic."""
    monkeypatch.setattr(_clock, "sleep", lambda seconds: None)


@pytest.fixture
def fake_clock(monkeypatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(_clock, "now", clock)
    monkeypatch.setattr(_clock, "sleep", clock.sleep)
    return clock


# ----------------------------------------------------------------------------- stand-ins


class StandInJAX:
    """Like JAXOptimizer: the first fit compiles, parameters stay JAX arrays (async)."""

    traces = 0

    def __init__(self, learning_rate: float = 0.1, max_iter: int = 20) -> None:
        self.learning_rate, self.max_iter = learning_rate, max_iter

        def train(X, y):
            type(self).traces += 1

            def step(w, _):
                w = w - learning_rate * X.T @ (X @ w - y) / X.shape[0]
                r = X @ w - y
                return w, r @ r / (2 * X.shape[0])

            w0 = jnp.zeros(X.shape[1], X.dtype)
            r0 = -y
            w, losses = jax.lax.scan(step, w0, None, length=max_iter)
            return w, jnp.concatenate([(r0 @ r0 / (2 * X.shape[0]))[None], losses])

        self._train = jax.jit(train)

    def fit(self, X, y):
        self.coef_, losses = self._train(X, y)
        self.history_ = {"loss": losses}
        self.n_epochs_ = self.max_iter
        return self


# ----------------------------------------------------------------------------- compare_backends


def test_result_fields_and_statistics_match_the_timed_samples():
    res = compare_backends(lambda X: X @ X.T, random_matrix(), backends=("numpy", "jax"), n_runs=7,
                           warmup=2, dtype="float32")
    assert isinstance(res, dict) and list(res) == ["numpy", "jax"]
    assert res.reference == "numpy"
    for name, r in res.items():
        for field in FIELDS:
            assert hasattr(r, field), field
        t = np.asarray(r.times)
        assert r.available and r.n_runs == 7 and r.warmup == 2 and len(t) == 7
        assert r.dtype == "float32"
        assert r.mean_time == pytest.approx(t.mean())
        assert r.median_time == pytest.approx(np.median(t))
        assert r.std_time == pytest.approx(t.std(ddof=1))
        assert r.min_time == pytest.approx(t.min())
        assert 0 < r.min_time <= r.median_time
        assert r.speedup_vs_numpy == pytest.approx(res["numpy"].median_time / r.median_time)
        assert r.max_rel_diff < 1e-5, name
    assert res["numpy"].speedup_vs_numpy == 1.0
    assert res["numpy"].compile_time == 0.0 and res["numpy"].transfer_time == 0.0
    assert res["jax"].compile_time > 0 and res["jax"].transfer_time > 0
    assert res["jax"].device.startswith(jax.devices()[0].platform)


def test_noisy_timing_makes_the_speedup_unreliable(fake_clock):
    """One NumPy run 0.25 s slower than the others: std > mean, so the ratio against it
    means nothing; the result says so in its fields, table and JSON."""
    res = compare_backends(
        sometimes_slow_numpy(fake_clock, slow_call=4),
        random_matrix(),
        backends=("numpy", "jax"),
        n_runs=4,
        warmup=1,
    )
    num, jx = res["numpy"], res["jax"]
    fast = TICK + 1 / 64
    assert num.times == (fast, fast, fast + 0.25, fast)  # the slow 4th call is the 3rd timed
    assert num.relative_std == pytest.approx(np.std(num.times, ddof=1) / np.mean(num.times))
    assert num.relative_std > 1 and num.noisy and not jx.noisy
    assert jx.speedup_reliable is False and num.speedup_reliable is False
    assert "noisy: std = " in str(res) and "speedup unreliable" in str(res)
    doc = json.loads(res.to_json())["results"]
    assert doc["numpy"]["noisy"] is True and doc["jax"]["speedup_reliable"] is False


def test_steady_timing_is_not_flagged(fake_clock):
    durations = iter([0.5, 0.375, 0.625])  # std = 0.25 x mean: under NOISY_RELATIVE_STD

    def op(X):
        fake_clock.advance(next(durations) - TICK)
        return X.sum()

    res = compare_backends(op, random_matrix(), backends=("numpy",), n_runs=3, warmup=0)
    r = res["numpy"]
    assert r.times == (0.5, 0.375, 0.625) and r.relative_std == 0.25
    assert r.noisy is False and r.speedup_reliable is True
    assert "noisy" not in str(res) and "unreliable" not in str(res)


def test_same_dtype_reaches_every_backend():
    seen = []

    def op(X):
        seen.append((type(X).__module__.split(".")[0], X.dtype.name))
        return X * 2

    compare_backends(
        op, random_matrix(), backends=("numpy", "jax"), n_runs=2, warmup=0, dtype="float32"
    )
    assert set(seen) == {("numpy", "float32"), ("jax", "float32")}


def test_float64_runs_in_float64_on_jax_without_leaving_x64_on():
    x = random_matrix(64)
    res = compare_backends(lambda X: X @ X.T, x, backends=("numpy", "jax"), n_runs=2, warmup=1)
    assert res["jax"].dtype == "float64"
    # float32 would differ by ~1e-7 relative; float64 agrees to rounding.
    assert res["jax"].max_rel_diff < 1e-13
    assert not jax.config.jax_enable_x64
    assert jnp.ones(1).dtype == jnp.float32


def test_xp_keyword_receives_the_array_namespace():
    names = set()

    def op(X, *, xp):
        names.add(xp.__name__)
        return xp.tanh(X)

    res = compare_backends(op, random_matrix(), backends=("numpy", "jax"), n_runs=2, warmup=0)
    assert names == {"array_api_compat.numpy", "jax.numpy"}
    assert res["jax"].max_rel_diff < 1e-12


def test_jax_is_compiled_once_before_timing_on_device_placed_inputs(monkeypatch):
    backend = get_backend("jax")
    traces, prepared_args, syncs = [], [], []
    real_prepare, real_sync = backend.prepare, backend.sync

    def prepare(fn, args):
        prepared_args.extend(args)
        return real_prepare(fn, args)

    def sync(out):
        out = real_sync(out)
        syncs.append(out.is_ready())
        return out

    monkeypatch.setattr(backend, "prepare", prepare)
    monkeypatch.setattr(backend, "sync", sync)

    def op(X):
        traces.append(1)
        return X + 1

    compare_backends(op, random_matrix(), backends=("jax",), n_runs=4, warmup=3)
    assert len(traces) == 1  # AOT compile only; the timed calls never retrace
    assert all(isinstance(a, jax.Array) and a.devices() == {jax.devices()[0]} for a in prepared_args)
    assert syncs == [True] * 7  # every warm-up and timed call was waited for


@pytest.mark.skipif(CUPY_INSTALLED, reason="cupy is installed")
def test_cupy_without_gpu_is_reported_not_raised():
    res = compare_backends(lambda X: X * 2, random_matrix(), n_runs=2, warmup=0)
    r = res["cupy"]
    assert not r.available
    assert "cupy is not installed" in r.reason and "requirements-cuda.txt" in r.reason
    assert r.median_time is None and r.speedup_vs_numpy is None and r.max_rel_diff is None
    assert res["numpy"].available and res["jax"].available
    assert "unavailable: cupy is not installed" in str(res)
    assert json.loads(res.to_json())["results"]["cupy"]["available"] is False


def _fake_cupy(events):
    """A stand-in for CuPy backed by NumPy that records transfers and synchronisations."""
    cp = types.ModuleType("cupy")
    cp.__version__ = "0.fake"

    class Device:
        id = 0

        def synchronize(self):
            events.append("sync")

    def asarray(a):
        events.append("h2d")
        return np.array(a, copy=True)

    def asnumpy(a):
        events.append("d2h")
        return np.asarray(a)

    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda i: {"name": b"Fake GPU"})
    cp.cuda = types.SimpleNamespace(Device=Device, runtime=runtime)
    cp.asarray, cp.asnumpy, cp.zeros = asarray, asnumpy, np.zeros
    return cp


def test_cupy_code_path_places_syncs_and_copies_back(monkeypatch):
    events = []
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(events))
    calls = []

    def op(A, B):
        calls.append(len(events))
        return A @ B

    res = compare_backends(
        op,
        (random_matrix(16), random_matrix(16, seed=1)),
        backends=("numpy", "cupy"),
        n_runs=4,
        warmup=2,
        dtype="float32",
    )
    r = res["cupy"]
    assert r.available and r.device == "cuda:0 (Fake GPU)" and r.dtype == "float32"
    assert r.compile_time is None and r.transfer_time > 0 and len(r.times) == 4
    assert r.max_rel_diff == 0.0
    # 3 timed placements of 2 inputs, each followed by a sync; then one sync per call
    # (2 warm-up + 4 timed); then the copy back for the agreement check.
    assert events == ["h2d", "h2d", "sync"] * 3 + ["sync"] * 6 + ["d2h"]
    # Events seen at each call: NumPy's 6 calls before any; CuPy's after the placements
    # (9 events) and each after the previous call's sync.
    assert calls == [0] * 6 + [9, 10, 11, 12, 13, 14]


def test_without_numpy_the_first_backend_is_the_reference():
    res = compare_backends(lambda X: X * 2, random_matrix(8), backends=("jax",), n_runs=2, warmup=0)
    assert res.reference == "jax"
    assert res["jax"].speedup_vs_numpy is None and res["jax"].max_rel_diff is None


def test_table_and_json(tmp_path):
    res = compare_backends(lambda X: X.sum(axis=0), random_matrix(), backends=("numpy", "jax"),
                           n_runs=3, warmup=1, dtype="float32")
    text = str(res)
    header = text.splitlines()[1]
    for column in ("backend", "median ms", "compile ms", "transfer ms", "speedup", "max rel diff"):
        assert column in header
    numpy_row = next(line for line in text.splitlines() if line.startswith("numpy"))
    assert f"{res['numpy'].median_time * 1e3:.4g}" in numpy_row
    path = tmp_path / "r.json"
    doc = json.loads(res.to_json(path))
    assert json.loads(path.read_text()) == doc == res.to_dict()
    assert doc["results"]["jax"]["median_time"] == res["jax"].median_time
    assert doc["results"]["jax"]["times"] == list(res["jax"].times)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind


def test_operation_errors_propagate_with_the_backend_named():
    def op(X):
        return np.linalg.cholesky(X)  # NumPy function on a tracer: fails under jit

    with pytest.raises(jax.errors.TracerArrayConversionError) as info:
        compare_backends(op, np.eye(4), backends=("jax",), n_runs=1, warmup=0)
    assert any("backend 'jax'" in note for note in info.value.__notes__)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backends": ("numpy", "torch")}, ValueError, "unknown backend 'torch'; accepted: numpy, jax, cupy"),
        ({"backends": "jax"}, TypeError, "backends must be a sequence"),
        ({"backends": ()}, ValueError, "at least one"),
        ({"backends": ("jax", "jax")}, ValueError, "distinct"),
        ({"n_runs": 0}, ValueError, "n_runs must be an integer >= 1, got 0"),
        ({"n_runs": -3}, ValueError, "n_runs must be an integer >= 1"),
        ({"n_runs": 2.5}, TypeError, "n_runs must be an integer"),
        ({"n_runs": True}, TypeError, "n_runs must be an integer"),
        ({"warmup": -1}, ValueError, "warmup must be an integer >= 0"),
        ({"dtype": "int32"}, ValueError, "dtype must be None or one of float16, float32, float64"),
        ({"dtype": "bfloat16"}, ValueError, "dtype must be None or one of"),
        ({"dtype": "nonsense"}, ValueError, "dtype must be None or one of"),
        ({"data_numpy": [[1.0, 2.0]]}, TypeError, "data_numpy must be NumPy arrays"),
        ({"data_numpy": jnp.ones(3)}, TypeError, "data_numpy must be NumPy arrays"),
        ({"data_numpy": ()}, ValueError, "non-empty"),
        ({"data_numpy": np.array([1.0, 2.0], dtype=object)}, TypeError,
         "data_numpy must be numeric NumPy arrays .* got an array of dtype object"),
        ({"data_numpy": (np.ones(2), np.array(["a", "b"]))}, TypeError,
         "data_numpy must be numeric NumPy arrays .* got an array of dtype str"),
        ({"operation": "matmul"}, TypeError, "operation must be callable"),
    ],
)
def test_bad_input_is_rejected(kwargs, error, match):
    args = {"operation": lambda X: X, "data_numpy": np.ones(3), **kwargs}
    with pytest.raises(error, match=match):
        compare_backends(**args)


def test_max_rel_diff_reference_values():
    ref = np.array([1.0, 2.0, -4.0])
    assert _max_rel_diff("b", np.array([1.0, 2.5, -4.0]), ref) == 0.125
    assert _max_rel_diff("b", ref.copy(), ref) == 0.0
    assert _max_rel_diff("b", np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) == 0.0
    assert _max_rel_diff("b", np.array([np.nan, 1.0]), np.array([0.0, 1.0])) == float("inf")
    assert _max_rel_diff("b", np.array([1e-3]), np.array([0.0])) == 1e-3  # absolute at zero
    assert _max_rel_diff("b", (ref, 2 * ref), (ref, ref)) == 1.0  # worst over a tuple
    assert _max_rel_diff("b", np.array([3 + 4j]), np.array([3 - 4j])) == 8 / 5  # complex
    assert _max_rel_diff("b", np.array([1, 3]), np.array([1, 2])) == 0.5  # integers
    with pytest.raises(ValueError, match="backend 'b' returned shape"):
        _max_rel_diff("b", np.ones(2), np.ones(3))


@settings(max_examples=50, deadline=None)
@given(
    ref=hnp.arrays(np.float64, st.integers(1, 20), elements=st.floats(-1e3, 1e3)),
    scale=st.floats(1e-9, 1e-1),
)
def test_max_rel_diff_is_max_abs_error_over_max_abs_reference(ref, scale):
    rng = np.random.default_rng(0)
    err = rng.uniform(-1, 1, ref.shape) * scale
    out = ref + err
    denom = np.max(np.abs(ref))
    with np.errstate(over="ignore"):  # a subnormal reference makes the relative error inf
        expected = np.max(np.abs(out - ref)) / denom if denom > 0 else np.max(np.abs(out - ref))
    assert _max_rel_diff("b", out, ref) == pytest.approx(expected, rel=1e-12)


def test_compare_keeps_results():
    bench = SpeedBenchmark()
    bench.compare_backends(
        lambda X: X * 2, random_matrix(8), backends=("numpy",), n_runs=1, warmup=0
    )
    bench.benchmark_optimizer(StandInGD, random_matrix(20, 3), np.ones(20), n_runs=1)
    doc = json.loads(bench.to_json())
    assert len(doc) == 2 and doc[0]["operation"] == "<lambda>" and doc[1]["optimizer"] == "StandInGD"
    assert accel.SpeedBenchmark is SpeedBenchmark


# ----------------------------------------------------------------------------- accuracy


def test_each_backend_is_timed_after_a_settle_pause(fake_clock, monkeypatch):
    """NumPy's BLAS threads spin after a call; the next backend must not be timed under them.
    The pause comes before each backend's timed calls and is not inside any of them."""
    real_time_calls = _compare._time_calls

    def spy(call, sync, n_runs, warmup):
        fake_clock.events.append("time_calls")
        return real_time_calls(call, sync, n_runs, warmup)

    monkeypatch.setattr(_compare, "_time_calls", spy)
    res = compare_backends(
        lambda X: X + 1, np.ones((4, 4), np.float32), backends=("numpy", "jax"), n_runs=1, warmup=0
    )
    assert fake_clock.sleeps == [_compare.SETTLE_S] * 2
    timed = [e for e in fake_clock.events if e in ("sleep", "time_calls") or e == "clock"]
    # JAX: 3 placements and the compilation read the clock before its pause
    assert timed == ["sleep", "time_calls", "clock", "clock"] + ["clock"] * 8 + ["sleep", "time_calls", "clock", "clock"]
    assert res["numpy"].times == res["jax"].times == (TICK,)
    assert _compare.SETTLE_S >= 0.1


# What the harness's clock holds, checked with the fake clock instead of against timeit
# (real timings, harness against timeit, are in benchmarks/bench_timer_accuracy.py):
# exactly the call and its synchronisation, one call per reading pair, garbage collector off;
# warm-up calls, placement, compilation and the settle pause outside.


def test_numpy_times_are_exactly_the_calls_warmup_excluded(fake_clock):
    durations = [3.0, 1.5, 0.5, 0.25, 1.0, 0.75, 2.0]  # 2 warm-up calls, then 5 timed
    left = iter(durations)
    gc_during_calls = []

    def op(X):
        gc_during_calls.append(gc.isenabled())
        fake_clock.events.append("call")
        fake_clock.advance(next(left) - TICK)  # the reading after the call adds the tick
        return X * 2

    assert gc.isenabled()
    res = compare_backends(op, random_matrix(8), backends=("numpy",), n_runs=5, warmup=2)
    r = res["numpy"]
    assert r.first_call_time == 3.0  # the first (warm-up) call, reported apart
    assert r.times == (0.5, 0.25, 1.0, 0.75, 2.0)  # warm-up calls excluded
    assert r.median_time == 0.75 and r.mean_time == 0.9 and r.min_time == 0.25
    assert r.std_time == pytest.approx(np.std(r.times, ddof=1), rel=1e-15)
    assert r.compile_time == 0.0 and r.transfer_time == 0.0
    calls = [e for e in fake_clock.events if e != "sleep"]
    assert calls == ["clock", "call", "clock"] * 7  # nothing but the call between readings
    assert gc_during_calls == [False] * 7 and gc.isenabled()  # GC off while timing, restored


def test_jax_times_wait_for_the_device_inside_the_clock(fake_clock, monkeypatch):
    """Each timed JAX call is dispatched, then waited for with block_until_ready, both
    between the two clock readings; the device's work (simulated as time passing inside
    block_until_ready) is in every timed duration. Compilation (the trace, 7 s here) and
    placement (a median of three) are timed apart, the warm-up call is excluded."""
    backend = get_backend("jax")
    real_prepare, real_block = backend.prepare, jax.block_until_ready
    device_work = iter([4.0, 1.0, 0.5, 2.0])  # 1 warm-up call, then 3 timed
    placements = iter([0.25, 1.0, 0.5])
    traces = []

    def op(X):
        traces.append(1)
        fake_clock.advance(7.0 - TICK)  # tracing happens while compiling
        return X + 1

    def prepare(fn, args):
        compiled, compile_time = real_prepare(fn, args)

        def call(*a):
            fake_clock.events.append("call")
            return compiled(*a)

        return call, compile_time

    def block_until_ready(x):
        if isinstance(x, tuple):  # the placement of the inputs
            fake_clock.advance(next(placements) - TICK)
            return real_block(x)
        fake_clock.events.append("block_until_ready")
        fake_clock.advance(next(device_work) - TICK)
        return real_block(x)

    monkeypatch.setattr(backend, "prepare", prepare)
    monkeypatch.setattr(jax, "block_until_ready", block_until_ready)
    res = compare_backends(
        op, random_matrix(8), backends=("jax",), n_runs=3, warmup=1, dtype="float32"
    )
    r = res["jax"]
    assert traces == [1] and r.compile_time == 7.0
    assert r.transfer_time == 0.5
    assert r.first_call_time == 4.0 and r.times == (1.0, 0.5, 2.0) and r.median_time == 1.0
    timed = fake_clock.events[fake_clock.events.index("call") - 1:]
    assert timed == ["clock", "call", "block_until_ready", "clock"] * 4


def test_speedup_is_the_ratio_of_the_medians(fake_clock, monkeypatch):
    numpy_durations = iter([9.0, 3.0, 2.0, 4.0])
    jax_durations = iter([9.0, 0.5, 1.0, 0.75])
    real_sync = get_backend("jax").sync

    def op(X):
        if isinstance(X, np.ndarray):
            fake_clock.advance(next(numpy_durations) - TICK)
        return X * 2

    def sync(out):
        fake_clock.advance(next(jax_durations) - TICK)
        return real_sync(out)

    monkeypatch.setattr(get_backend("jax"), "sync", sync)
    res = compare_backends(op, random_matrix(8), backends=("numpy", "jax"), n_runs=3, warmup=1)
    assert res["numpy"].median_time == 3.0 and res["jax"].median_time == 0.75
    assert res["jax"].speedup_vs_numpy == 4.0 and res["numpy"].speedup_vs_numpy == 1.0
    assert res["jax"].speedup_reliable is True


# ----------------------------------------------------------------------------- built-in ops


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


REFERENCES = {
    "matmul": lambda A, B: A @ B,
    "matvec": lambda A, v: A @ v,
    "elementwise": lambda X: np.minimum(np.maximum(1.2 * X - 0.05, 0.0), 1.0),
    "reduction": lambda X: X.sum(axis=1),
    "logreg_grad": lambda X, y, w: X.T @ (_sigmoid(X @ w) - y) / len(y),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_builtin_operation_matches_float64_reference(name):
    op = get_operation(name)
    inputs = op.make_inputs(24, np.random.default_rng(3))
    xp = get_backend("numpy").namespace(inputs)
    kwargs = {"xp": xp} if name in ("elementwise", "reduction", "logreg_grad") else {}
    got = op.fn(*inputs, **kwargs)
    np.testing.assert_allclose(got, REFERENCES[name](*inputs), rtol=1e-12, atol=1e-12)
    res = run_operation(name, 24, backends=("numpy", "jax"), dtype="float32", n_runs=2, warmup=1)
    assert res["jax"].available and res["jax"].dtype == "float32"
    assert res["jax"].max_rel_diff < 1e-5


def test_builtin_flop_counts():
    assert OPERATIONS["matmul"].flops(1000) == 2e9
    assert OPERATIONS["matvec"].flops(1000) == 2e6


@pytest.mark.skipif(importlib.util.find_spec("accel.augment") is not None, reason="accel.augment exists")
def test_augment_op_reports_missing_module():
    res = run_operation("augment", 8, backends=("numpy", "jax", "cupy"), n_runs=1, warmup=0)
    for r in res.values():
        assert not r.available and "accel.augment is not available" in r.reason


def test_augment_op_with_a_stand_in_module(monkeypatch):
    calls = []

    def gen_augmentation_batch(sample_ids, config=None, *, seed=0, epoch=0):
        calls.append((sample_ids.dtype, seed, epoch))
        return {"angle": jnp.asarray(sample_ids % 7, jnp.float32)}

    fake = types.ModuleType("accel.augment")
    fake.gen_augmentation_batch = gen_augmentation_batch
    monkeypatch.setitem(sys.modules, "accel.augment", fake)
    res = run_operation("augment", 16, backends=("numpy", "jax"), n_runs=2, warmup=1)
    assert not res["numpy"].available and "implemented for jax only" in res["numpy"].reason
    r = res["jax"]
    assert r.available and r.dtype == "int64" and r.transfer_time == 0.0 and r.compile_time is None
    assert calls == [(np.dtype(np.int64), 0, 0)] * 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [("256", (256,)), ("256,1024", (256, 1024)), (" 8 , 16", (8, 16)), ([4, 5], (4, 5))],
)
def test_parse_sizes(text, expected):
    assert parse_sizes(text) == expected


@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=8))
def test_parse_sizes_round_trips_any_positive_ints(sizes):
    assert parse_sizes(",".join(map(str, sizes))) == tuple(sizes)


@pytest.mark.parametrize("text", ["", "0", "-1", "8,abc", "2.5", "8,,16", [True], [0]])
def test_parse_sizes_rejects(text):
    with pytest.raises(ValueError, match="sizes must be positive integers"):
        parse_sizes(text)


def test_unknown_operation():
    with pytest.raises(ValueError, match="unknown operation 'conv'; accepted: matmul, matvec"):
        get_operation("conv")


# ----------------------------------------------------------------------------- optimizers


def test_benchmark_optimizer_numpy_stand_in():
    X, y = random_matrix(50, 4), np.arange(50.0) / 50
    est = StandInGD(max_iter=7)
    res = benchmark_optimizer(est, X, y, n_runs=4)
    assert est.n_fits == 5  # one warm-up fit, then the timed ones
    t = np.asarray(res.times)
    assert len(t) == 4 and res.median_time == pytest.approx(np.median(t))
    assert res.mean_time == pytest.approx(t.mean()) and res.min_time == pytest.approx(t.min())
    assert res.epochs == 7 and res.n_samples == 50 and res.n_features == 4
    assert res.throughput_samples_per_sec == pytest.approx(50 * 7 / res.median_time)
    assert res.final_loss == pytest.approx(StandInGD(max_iter=7).fit(X, y).history_["loss"][-1], rel=1e-15)
    assert res.final_loss < StandInGD(max_iter=0).fit(X, y).history_["loss"][-1]
    doc = json.loads(res.to_json())
    assert doc["epochs"] == 7 and doc["throughput_samples_per_sec"] == res.throughput_samples_per_sec
    assert "StandInGD" in str(res) and "samples/s" in str(res)


def test_benchmark_optimizer_config_builds_or_clones():
    X, y = random_matrix(20, 3), np.ones(20)
    assert benchmark_optimizer(StandInGD, X, y, config={"max_iter": 3}, n_runs=1).epochs == 3
    est = StandInGD(max_iter=2)
    assert benchmark_optimizer(est, X, y, config={"max_iter": 4}, n_runs=1).epochs == 4
    assert est.max_iter == 2 and est.n_fits == 0  # the user's instance is left alone


def test_benchmark_optimizer_jax_compiles_in_warmup_only():
    StandInJAX.traces = 0
    X, y = random_matrix(64, 8).astype(np.float32), np.ones(64, np.float32)
    res = benchmark_optimizer(StandInJAX(max_iter=20), X, y, n_runs=3)
    assert StandInJAX.traces == 1  # the warm-up fit compiled; the 3 timed fits reused it
    assert res.epochs == 20 and np.isfinite(res.final_loss) and len(res.times) == 3


class _CompilesOnFirstFit(StandInGD):
    """A fit whose first call also compiles: 5 s, then 0.5 s per fit (fake clock time)."""

    def __init__(self, clock, **kwargs):
        super().__init__(**kwargs)
        self.clock = clock

    def fit(self, X, y):
        self.clock.advance((5.0 if self.n_fits == 0 else 0.5) - TICK)
        return super().fit(X, y)


def test_benchmark_optimizer_keeps_the_compile_in_the_warmup(fake_clock):
    res = benchmark_optimizer(
        _CompilesOnFirstFit(fake_clock, max_iter=2), random_matrix(8, 2), np.ones(8), n_runs=3
    )
    assert res.warmup_time == 5.0  # the compiling fit is the warm-up, reported apart
    assert res.times == (0.5, 0.5, 0.5) and res.median_time == 0.5
    assert res.throughput_samples_per_sec == 8 * 2 / 0.5


class _Pending:
    """A fitted value still being computed: block_until_ready() waits ``work`` seconds."""

    def __init__(self, clock, work):
        self.clock, self.work, self.waited = clock, work, False

    def block_until_ready(self):
        self.clock.events.append("block_until_ready")
        self.clock.advance(self.work)
        self.waited = True
        return self


class _AsyncFitFake:
    """fit() returns at once (0.25 s on the host), its result computed later (``work``)."""

    def __init__(self, clock, work):
        self.clock, self.work, self.fitted = clock, iter(work), []

    def fit(self, X, y):
        self.clock.events.append("fit")
        self.clock.advance(0.25 - TICK)
        self.coef_ = _Pending(self.clock, next(self.work))
        self.fitted.append(self.coef_)
        self.history_, self.n_epochs_ = {"loss": [1.0, 0.5]}, 1
        return self


def test_benchmark_optimizer_waits_for_the_fitted_arrays_inside_the_clock(fake_clock):
    """Without the wait the clock would stop after the dispatch (0.25 s), not after the
    work: each timed fit is fit + work, and the clock stops only after the wait."""
    est = _AsyncFitFake(fake_clock, work=[8.0, 1.0, 2.0, 3.0])
    res = benchmark_optimizer(est, random_matrix(8, 2), np.ones(8), n_runs=3)
    assert res.warmup_time == 8.25 and res.times == (1.25, 2.25, 3.25)
    assert all(p.waited for p in est.fitted)
    assert fake_clock.events == ["clock", "fit", "block_until_ready", "clock"] * 4


@jax.jit
def _device_work(w):
    return jax.lax.fori_loop(0, 10, lambda i, w: jnp.tanh(w @ w), w)


class _AsyncFit:
    """fit() returns as soon as the work is dispatched, like any JAX estimator."""

    def __init__(self):
        self._w = jnp.full((200, 200), 1.0 / 200, jnp.float32)

    def fit(self, X, y):
        self.coef_ = _device_work(self._w)
        self.history_, self.n_epochs_ = {"loss": [1.0, 0.5]}, 1
        return self


def test_benchmark_optimizer_stops_the_clock_with_real_jax_results_ready(monkeypatch):
    """With real JAX arrays: whenever the clock stops, the fit's array is computed."""
    est = _AsyncFit()
    readings = []

    def clock():
        coef = getattr(est, "coef_", None)
        readings.append(None if coef is None else coef.is_ready())
        return float(len(readings))

    monkeypatch.setattr(_clock, "now", clock)
    benchmark_optimizer(est, random_matrix(8, 2), np.ones(8), n_runs=3)
    assert readings[1::2] == [True] * 4  # every stop: the warm-up and the 3 timed fits


class _NoFit:
    pass


class _Drifting(StandInGD):
    def fit(self, X, y):
        super().fit(X, y)
        self.n_epochs_ = self.n_fits
        return self


@pytest.mark.parametrize(
    ("optimizer", "X", "y", "kwargs", "error", "match"),
    [
        (_NoFit(), random_matrix(4, 2), np.ones(4), {}, TypeError, "fit\\(X, y\\)"),
        (StandInGD(), np.ones(4), np.ones(4), {}, ValueError, "X must be 2-D"),
        (StandInGD(), random_matrix(4, 2), np.ones(5), {}, ValueError, "same non-zero n_samples"),
        (
            StandInGD(),
            random_matrix(4, 2),
            np.ones(4),
            {"n_runs": 0},
            ValueError,
            "n_runs must be an integer >= 1",
        ),
        (
            StandInGD(),
            random_matrix(4, 2),
            np.ones(4),
            {"config": [1]},
            TypeError,
            "config must be a dict",
        ),
        (
            StandInJAX(),
            random_matrix(4, 2),
            np.ones(4),
            {"config": {"max_iter": 1}},
            TypeError,
            "get_params",
        ),
        (
            _Drifting(),
            random_matrix(4, 2),
            np.ones(4),
            {"n_runs": 2},
            RuntimeError,
            "not deterministic",
        ),
    ],
)
def test_benchmark_optimizer_rejects(optimizer, X, y, kwargs, error, match):
    with pytest.raises(error, match=match):
        benchmark_optimizer(optimizer, X, y, **kwargs)


# ----------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_cupy_and_jax_on_gpu_agree_with_numpy():
    res = compare_backends(
        lambda A, B: A @ B,
        (random_matrix(512), random_matrix(512, seed=1)),
        n_runs=5,
        warmup=2,
        dtype="float32",
    )
    for name in ("jax", "cupy"):
        r = res[name]
        if name == "cupy" and not CUPY_INSTALLED:
            continue
        assert r.available, r.reason
        assert r.max_rel_diff < 1e-2  # TF32 matrix units are allowed for float32
        assert r.transfer_time > 0 and r.median_time > 0
    if CUPY_INSTALLED:
        assert res["cupy"].device.startswith("cuda:") and res["cupy"].compile_time is None
