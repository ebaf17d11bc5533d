"""The runnable examples: a JAX training loop and a PyTorch Dataset (skipped without torch)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from accel.augment import gen_augmentation_params

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_jax_training_loop_example_trains_with_in_jit_params():
    losses = _load("jax_training_loop").main(num_samples=64, batch_size=16, epochs=2)
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


def test_torch_dataset_example():
    torch = pytest.importorskip("torch")
    mod = _load("torch_dataset")
    ds = mod.AugmentedDataset(np.zeros((10, 2, 2), np.float32), seed=3)
    ds.set_epoch(2)
    _, single = ds[4]
    _, batched = ds.__getitems__([9, 4])[1]
    want = gen_augmentation_params(4, ds.config, seed=3, epoch=2)
    for k, v in want.items():
        assert float(single[k]) == pytest.approx(v, abs=0) and float(batched[k]) == float(single[k])
    seen = mod.main(num_images=32, epochs=1)
    assert len(seen) == 2 and isinstance(seen[0]["rotation"], torch.Tensor)


def test_augmented_cnn_example_resumes_bit_for_bit_and_plots(tmp_path):
    """examples/augmented_cnn.py on the offline stand-in (scikit-learn's digits), 2 devices:
    the run interrupted after half its epochs and resumed equals the uninterrupted run, the
    model learns, and the plot of what the step saw is written."""
    plot = tmp_path / "samples.png"
    out = _load("augmented_cnn").main(rows=512, epochs=4, devices=2, batch_size=64, plot=str(plot), source="digits")
    assert out["identical"] is True
    assert out["source"].startswith("scikit-learn digits")
    assert out["accuracy"] > 0.3  # 10 classes: chance is 0.1
    assert plot.stat().st_size > 10_000
