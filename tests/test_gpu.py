"""What only a GPU run can show (issue 15): dtypes on the device, CuPy against NumPy, NVML
readings during a fit, mixed precision on the GPU, and augmentation parameters (the DPA
integer kernel included) identical on the GPU and the CPU.

Every test is marked ``gpu`` and skipped without an NVIDIA GPU (tests/conftest.py);
``python -m benchmarks.gpu`` runs them first on a GPU machine. Tolerances, each stated where
it is used:

* float64 on the GPU against the NumPy reference: 1e-9 relative, the project's contract
  (shared DESIGN.md) for different programs in float64;
* float32 matrix products on NVIDIA GPUs may run on TF32 units (XLA's default precision:
  10-bit significand, relative rounding 2**-11 = 4.9e-4 per operand): 5e-3 of the largest
  coefficient after a contracting SGD run;
* CuPy against NumPy in float64: 1e-12 of the largest |value|, above the worst-case bound of
  a length-256 dot product, ``n * u * sum|a b| / max|ref|`` = 256 * 1.1e-16 * ~2.3 = 6.5e-14;
  float32 through ``compare_backends`` (CuPy uses no TF32 unless ``CUPY_TF32=1``): 1e-4,
  above that bound in float32 (256 * 6e-8 * 2.3 = 3.5e-5);
* bfloat16 / float16 compute against float32 compute: 5e-2 absolute on coefficients of size
  ~1 (8 / 11 significand bits; the CPU tests of test_parallel.py use the same scale);
* augmentation parameters: bitwise. The DPA kernel is integer arithmetic (its float64 is
  formed on the host); the counter-based kernels split every product so that FMA
  contraction cannot change a bit (``accel.augment._generate.affine_exact``).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _dpa_oracle import oracle
from _helpers import regression

from accel import GPUMonitor, JAXOptimizer, ParallelTrainer, compare_backends
from accel._info import nvidia_gpu_status
from accel.augment import ALGORITHMS, PARAM_NAMES, gen_augmentation_batch
from optimizers import SGD

pytestmark = pytest.mark.gpu

# 64 ids (one DPA kernel bucket): every decimal length and the 32/63/64-bit edges.
IDS = np.array(
    sorted(
        {0, 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1}
        | {10**k for k in range(20)}
        | {10**k - 1 for k in range(1, 20)}
        | {12345, 987654321, 2**40 + 7, 2**50 + 11, 2**62 + 3}
        | {2**k + 1 for k in range(33, 47)}
    ),
    dtype=np.uint64,
)


@pytest.fixture(scope="module")
def gpu() -> jax.Device:
    return jax.devices("gpu")[0]


@pytest.fixture(scope="module")
def cpu() -> jax.Device:
    return jax.devices("cpu")[0]


def _problem(n: int = 2048, d: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Well-conditioned least squares (float64 host data): SGD contracts, errors do not grow."""
    return regression(n, d, seed=seed, coef=np.linspace(-1.0, 1.0, d), intercept=0.5, noise=0.1)


def _x64_enabled() -> bool:
    """JAX's global x64 flag, read two ways: the config and a Python float's default dtype."""
    by_dtype = jnp.asarray(1.0).dtype == jnp.float64
    assert bool(jax.config.read("jax_enable_x64")) == by_dtype
    return by_dtype


# ----------------------------------------------------------------------------- dtypes


def test_jax_optimizer_computes_float32_on_the_gpu_by_default(gpu):
    X, y = _problem()
    assert jax.devices()[0] == gpu and not _x64_enabled()
    got = JAXOptimizer("sgd", learning_rate=0.1, epochs=100).fit(X, y)  # float64 host input
    assert got.params_["w"].dtype == jnp.float32 and got.params_["w"].devices() == {gpu}
    assert got.coef_.dtype == np.float32 and not _x64_enabled()
    ref = SGD(learning_rate=0.1, epochs=100).fit(X, y)  # NumPy, float64
    scale = np.max(np.abs(ref.coef_))
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=0, atol=5e-3 * scale)  # TF32 allowed


def test_float64_fit_on_the_gpu_keeps_x64_scoped_to_the_call(gpu):
    X, y = _problem()
    assert not _x64_enabled()
    got = JAXOptimizer("sgd", learning_rate=0.1, epochs=100, dtype="float64").fit(X, y)
    assert not _x64_enabled()  # the fit switched x64 on for itself only
    assert got.params_["w"].dtype == np.float64 and got.params_["w"].devices() == {gpu}
    assert got.predict(X).dtype == np.float64 and not _x64_enabled()
    ref = SGD(learning_rate=0.1, epochs=100).fit(X, y)
    np.testing.assert_allclose(got.coef_, ref.coef_, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref.coef_)))
    np.testing.assert_allclose(got.history_["loss"], ref.history_["loss"], rtol=1e-9)


# ----------------------------------------------------------------------------- CuPy


def _logreg_grad(X, y, w, xp):
    p = 1.0 / (1.0 + xp.exp(-(X @ w)))
    return X.T @ (p - y) / X.shape[0]


_CUPY_OPS = {
    "matmul": lambda xp, A, B, v, y: A @ B,
    "matvec": lambda xp, A, B, v, y: A @ v,
    "row sums": lambda xp, A, B, v, y: xp.sum(A, axis=1),
    "exp": lambda xp, A, B, v, y: xp.exp(A),
    "logreg_grad": lambda xp, A, B, v, y: _logreg_grad(A, y, v / 16.0, xp),
}


@pytest.mark.parametrize("op", list(_CUPY_OPS))
def test_cupy_float64_results_equal_numpys(op):
    cupy = pytest.importorskip("cupy")
    rng = np.random.default_rng(0)
    host = (
        rng.standard_normal((256, 256)),
        rng.standard_normal((256, 256)),
        rng.standard_normal(256),
        (rng.random(256) < 0.5).astype(np.float64),
    )
    ref = _CUPY_OPS[op](np, *host)
    got = cupy.asnumpy(_CUPY_OPS[op](cupy, *(cupy.asarray(a) for a in host)))
    assert got.dtype == np.float64 and got.shape == ref.shape
    assert np.max(np.abs(got - ref)) <= 1e-12 * np.max(np.abs(ref))


def test_cupy_through_compare_backends_agrees_with_numpy_in_float32():
    pytest.importorskip("cupy")
    if os.environ.get("CUPY_TF32") == "1":
        pytest.skip("CUPY_TF32=1 makes CuPy's float32 products TF32")
    rng = np.random.default_rng(1)
    res = compare_backends(
        lambda A, B: A @ B,
        (rng.standard_normal((256, 256)), rng.standard_normal((256, 256))),
        backends=("numpy", "cupy"),
        n_runs=2,
        warmup=1,
        dtype="float32",
    )
    assert res["cupy"].available, res["cupy"].reason
    assert res["cupy"].device.startswith("cuda:") and res["cupy"].dtype == "float32"
    assert res["cupy"].max_rel_diff <= 1e-4


# ----------------------------------------------------------------------------- NVML


def test_gpu_monitor_reads_non_zero_values_during_a_fit(gpu):
    if not nvidia_gpu_status().usable:
        pytest.skip(f"NVML cannot see the GPU: {nvidia_gpu_status().detail}")
    X, y = _problem(n=20000, d=512)
    X, y = jax.device_put((X.astype(np.float32), y.astype(np.float32)), gpu)
    fits = 0
    with GPUMonitor(interval=0.02) as mon:
        end = time.perf_counter() + 1.5  # NVML's utilisation window is 1/6 s to 1 s
        while fits == 0 or time.perf_counter() < end:
            JAXOptimizer("adam", epochs=200).fit(X, y)
            fits += 1
    stats = mon.get_stats()
    assert stats["available"], stats["reason"]
    assert stats["n_samples"] >= 10 and stats["duration_s"] >= 1.0
    for key in ("peak_memory_used_bytes", "max_utilization_pct", "max_power_w"):
        assert stats[key] is not None and stats[key] > 0, (key, stats)


# ----------------------------------------------------------------------------- mixed precision


@pytest.mark.parametrize("compute_dtype", ["bfloat16", "float16"])
def test_mixed_precision_training_on_the_gpu(gpu, compute_dtype):
    assert jax.devices()[0] == gpu  # ParallelTrainer(n_devices=1) trains on this device
    X, y = (a.astype(np.float32) for a in _problem(n=4096, d=16))
    kwargs = {"n_devices": 1, "epochs": 20, "batch_size": 256, "learning_rate": 0.05}
    f32 = ParallelTrainer(**kwargs).fit(X, y)
    low = ParallelTrainer(**kwargs, compute_dtype=compute_dtype).fit(X, y)
    loss = np.asarray(low.history_["loss"])
    assert np.all(np.isfinite(loss)) and loss[-1] < 0.05 * loss[0]
    assert sum(low.history_["skipped_steps"]) <= 16  # float16: a few while the loss scale settles
    assert low.coef_.dtype == np.float32
    np.testing.assert_allclose(low.coef_, f32.coef_, atol=5e-2)
    assert not np.array_equal(low.coef_, f32.coef_)  # the low precision was really used


# ----------------------------------------------------------------------------- augmentation


def _bits(a) -> tuple[str, bytes]:
    a = np.asarray(a)
    return a.dtype.str, a.tobytes()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_augmentation_parameters_are_bitwise_equal_on_gpu_and_cpu(algorithm, gpu, cpu):
    on_gpu = gen_augmentation_batch(IDS, algorithm=algorithm)
    with jax.default_device(cpu):
        on_cpu = gen_augmentation_batch(IDS, algorithm=algorithm)
    if algorithm != "dpa":  # DPA's values are NumPy arrays formed on the host
        assert on_gpu["rotation"].devices() == {gpu} and on_cpu["rotation"].devices() == {cpu}
    for name in PARAM_NAMES:
        assert _bits(on_gpu[name]) == _bits(on_cpu[name]), name


def test_dpa_kernel_on_the_gpu_equals_the_python_oracle():
    batch = gen_augmentation_batch(IDS, algorithm="dpa")
    config = batch.config
    u = np.array([oracle(int(i), config.augmentation_depth) for i in IDS])
    for j, (name, (lo, hi)) in enumerate(zip(PARAM_NAMES, config.ranges, strict=True)):
        assert _bits(batch[name]) == _bits(lo + (hi - lo) * u[:, j]), name
