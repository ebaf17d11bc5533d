"""frameworm's and PyTorch DDP's keywords get errors naming this library's equivalent (issue 26
item 4), at ``fit``/``train`` with the other parameter checks (the constructor only stores,
issue 22)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from accel import ParallelTrainer
from accel._migration import COMMUNICATION_BACKENDS, FOREIGN_KEYWORDS

X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
Y = (X @ np.ones(3, np.float32)).astype(np.float32)
OURS = {  # what each message must name
    "use_amp": r"compute_dtype='bfloat16'.*compute_dtype='float16' with loss_scale='dynamic'",
    "gradient_accumulation_steps": r"use grad_accum_steps=4",
    "find_unused_parameters": r"jax\.grad gives a gradient .* remove it",
    "bucket_cap_mb": r"XLA schedules and fuses the all-reduce",
    "model": r"train\(loss_fn, params, data\)",
    "optimizer": r"optimizer_type='adam'",
}


def _loss(params, batch):
    return ((batch["x"] @ params["w"] - batch["y"]) ** 2).mean()


def test_every_foreign_keyword_has_a_tested_message():
    assert set(OURS) == set(FOREIGN_KEYWORDS)


@pytest.mark.parametrize("key", sorted(FOREIGN_KEYWORDS))
@pytest.mark.parametrize("call", ["fit", "train"])
def test_a_foreign_keyword_names_ours(key, call):
    trainer = ParallelTrainer(n_devices=2, epochs=1, batch_size=4, **{key: 4})  # stored
    with pytest.raises(TypeError, match=rf"^ParallelTrainer has no {key} \(.*?\): .*{OURS[key]}"):
        if call == "fit":
            trainer.fit(X, Y)
        else:
            trainer.train(_loss, {"w": np.zeros(3, np.float32)}, {"x": X, "y": Y})


@pytest.mark.parametrize("backend", [*COMMUNICATION_BACKENDS, "NCCL"])
def test_a_communication_backend_is_explained(backend):
    with pytest.raises(
        ValueError,
        match=rf"^backend={backend!r} is a torch.distributed communication backend; "
        r"here backend is how the devices run each step: 'pmap', 'shard_map' "
        r"or 'jit'.*jax\.distributed\.initialize\(\)",
    ):
        ParallelTrainer(n_devices=2, epochs=1, backend=backend).fit(X, Y)


def test_other_unknown_keywords_still_name_the_optimizers_hyperparameters():
    with pytest.raises(TypeError, match=r"optimizer 'adam' has no hyperparameter 'no_such'; its hyperparameters"):
        ParallelTrainer(n_devices=2, epochs=1, no_such=1.0).fit(X, Y)


def test_the_settings_the_messages_name_work():
    """What the messages tell the user to write is accepted (mixed precision, accumulation)."""
    for kw in (
        {"compute_dtype": "bfloat16"},
        {"compute_dtype": "float16", "loss_scale": "dynamic"},
        {"grad_accum_steps": 2},
    ):
        trainer = ParallelTrainer(n_devices=2, epochs=2, batch_size=4, **kw).fit(X, Y)
        assert np.all(np.isfinite(trainer.coef_))


# --- frameworm's names, and the migration guide (docs/migration.md) -------------------------

NAMES_OURS = {  # what each ImportError must name
    "DistributedTrainer": r"accel\.ParallelTrainer\(.*train\(loss_fn, params, data",
    "OptimizedDataLoader": r"accel\.data\.RandomAccessSource\(dataset\)",
    "PerformanceProfiler": r"from accel import PerformanceProfiler",
}


def test_every_foreign_name_has_a_tested_message():
    from accel._migration import FOREIGN_NAMES

    assert set(NAMES_OURS) == set(FOREIGN_NAMES)


@pytest.mark.parametrize("module", ["accel", "accel.distributed"])
@pytest.mark.parametrize("name", sorted(NAMES_OURS))
def test_a_frameworm_name_names_ours(module, name):
    import importlib

    mod = importlib.import_module(module)
    if module == "accel" and name == "PerformanceProfiler":
        assert mod.PerformanceProfiler.__name__ == "PerformanceProfiler"  # exported as is
        return
    with pytest.raises(ImportError, match=NAMES_OURS[name] + r".*docs/migration\.md"):
        exec(f"from {module} import {name}", {})


def test_other_missing_names_stay_ordinary():
    import accel
    import accel.distributed

    assert not hasattr(accel, "no_such_name") and not hasattr(accel.distributed, "no_such_name")
    with pytest.raises(AttributeError, match="module 'accel' has no attribute 'no_such_name'"):
        accel.no_such_name  # noqa: B018
    exec("from accel import augment, dpa", {})  # submodules still import through `from`


# Every name the code blocks of seed 002 (Phase 4) and seed 004 (frameworm) use: imported
# names and modules, keyword arguments, attributes (not of np/jax/cp/time) and string keys,
# as `_seed_names` extracts them. Frozen here because the seeds live beside the checkout, not
# in it; when they are there, the test below checks this list is still complete.
SEED_NAMES = {
    "002": """Adam GPUMonitor JAXOptimizer LargeScaleBenchmark MemoryTracker OptimizerProfiler
        ParallelTrainer SpeedBenchmark T X accelerate actual_kappa avg_epoch_time backends
        benchmark_dataset benchmark_optimizer benchmarks.datasets benchmarks.large_scale_benchmark
        binary_classification compare_backends condition_number condition_type config data_numpy
        device_id dtype epochs estimate_optimizer_memory fit generate_extreme_condition_data
        generate_highdim_regression generate_summary_report get_stats get_summary gpu_avg_percent
        items learning_rate load_california_housing load_mnist max_epochs mean_time memory
        n_devices n_features n_informative n_params n_runs n_samples n_train operation
        optimizer_cls optimizer_type optimizers output_dir peak_mb peak_memory_mb performance
        record record_epoch save_results speedup_vs_numpy start step stop strategy target_kappa
        throughput_samples_per_sec total_memory_mb total_time track_array tracked_arrays use_jit
        utilization y""".split(),
    "004": """DistributedDataParallel DistributedTrainer OptimizedDataLoader PerformanceProfiler
        backend backward batch_size bucket_cap_mb create epochs find_unused_parameters
        frameworm.distributed gradient_accumulation_steps num_workers persistent_workers
        pin_memory prefetch_factor print_summary profile record_gpu_memory step torch.nn.parallel
        train use_amp""".split(),
}
# Names that are the user's own, not an API to map: X / y (the data), X.T, dict.items.
NOT_API = {"X", "y", "T", "items"}
GUIDE = Path(__file__).resolve().parents[1] / "docs" / "migration.md"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def _seed_names(text: str) -> set[str]:
    """The API names a seed document's ```python blocks use (see SEED_NAMES)."""
    external = {"np", "jax", "cp", "time"}
    out: set[str] = set()
    for source in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom):
                out.add(node.module)
                out.update(alias.name for alias in node.names)
            elif isinstance(node, ast.keyword) and node.arg:
                out.add(node.arg)
            elif isinstance(node, ast.Attribute):
                base = node.value
                while isinstance(base, ast.Attribute):
                    base = base.value
                if not (isinstance(base, ast.Name) and base.id in external):
                    out.add(node.attr)
            elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                if isinstance(node.slice.value, str):
                    out.add(node.slice.value)
            elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant):
                if isinstance(node.left.value, str):
                    out.add(node.left.value)
    return out


def test_seed_name_extraction():
    text = "x\n```python\nfrom m.n import A\nA(k=1).f()['key']\nif 'w' in d: pass\n```\n"
    assert _seed_names(text) == {"m.n", "A", "k", "f", "key", "w"}


@pytest.mark.parametrize("seed", sorted(SEED_NAMES))
def test_the_frozen_seed_names_are_complete(seed):
    files = sorted(SEEDS.glob(f"{seed}_*.txt"))
    if not files:
        pytest.skip(f"the seed documents are not beside this checkout ({SEEDS})")
    assert _seed_names(files[0].read_text()) == set(SEED_NAMES[seed])


@pytest.mark.parametrize("seed", sorted(SEED_NAMES))
def test_the_migration_guide_maps_every_seed_name(seed):
    code = " ".join(re.findall(r"`([^`]+)`", GUIDE.read_text()))
    missing = [
        name for name in SEED_NAMES[seed]
        if name not in NOT_API and not re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", code)
    ]
    assert not missing, f"docs/migration.md does not map {missing} of seed {seed}"
