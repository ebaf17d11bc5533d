"""Augmentation inside the training step: ``ParallelTrainer.train(..., augment=...)``.

The contract: the images the step sees for sample ``i`` in epoch ``e`` are
``apply_augmentations(images[[i]], gen_augmentation_batch([i], cfg, seed=s, epoch=e), seed=s)``,
on every backend, device count, for resident and streamed data; the same training result
whatever the devices or the input pipeline's settings; clear errors before compiling. (Two
processes: tests/test_parallel_multiprocess.py; SIGKILL mid-epoch and resume:
tests/test_parallel_checkpoint.py.)
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from _parallel_worker import AUGMENT, IMAGE_CONFIG, image_loss, image_params, make_images

from accel import ParallelTrainer
from accel.augment import (
    AugmentationConfig,
    TrainingAugmentation,
    apply_augmentations,
    gen_augmentation_batch,
    get_preset,
)
from accel.data import ArraySource
from accel.parallel import _source

N, SIDE, SEED, EPOCHS = 6, 5, 7, 2


def _images(dtype) -> np.ndarray:
    x = np.random.default_rng(0).random((N, SIDE, SIDE, 1), dtype=np.float32)
    return x if dtype == np.float32 else np.round(x * 255).astype(np.uint8)


def _revealing_loss(params, batch):
    """d loss / d params[i] = (the image the step saw for sample i) / batch rows: with SGD
    at learning rate 1, -batch_size * params sums what each sample looked like."""
    image = batch["image"].astype(jnp.float32)
    return jnp.mean(jnp.einsum("bn,nhwc,bhwc->b", batch["onehot"], params, image))


def _seen(aug: TrainingAugmentation, images: np.ndarray, epoch: int) -> np.ndarray:
    """The contract's images of every sample in ``epoch`` (float32)."""
    ids = np.arange(len(images))
    if aug.algorithm == "dpa":  # DPA's values have no seed or epoch
        batch = gen_augmentation_batch(ids, aug.config, algorithm="dpa")
    else:
        batch = gen_augmentation_batch(ids, aug.config, seed=SEED, epoch=epoch, algorithm=aug.algorithm)
    return np.asarray(apply_augmentations(images, batch, seed=SEED)).astype(np.float32)


@pytest.mark.parametrize(
    ("algorithm", "n_devices", "backend", "streamed", "dtype"),
    [
        ("threefry2x32", 1, "pmap", False, np.float32),
        ("threefry2x32", 2, "shard_map", True, np.uint8),
        ("threefry2x32", 4, "jit", False, np.float32),
        ("philox4x32", 4, "pmap", True, np.float32),
        ("dpa", 2, "jit", False, np.uint8),
        ("dpa", 4, "shard_map", True, np.float32),
    ],
)
def test_the_step_sees_each_sample_as_the_contract_says(algorithm, n_devices, backend, streamed, dtype):
    """Batches of 3 rows over 1, 2 or 4 devices (4: one padded slot per step)."""
    aug = TrainingAugmentation("aggressive", algorithm=algorithm)
    images = _images(dtype)
    data = {"image": images, "onehot": np.eye(N, dtype=np.float32)}
    pt = ParallelTrainer(n_devices=n_devices, backend=backend, epochs=EPOCHS, batch_size=3,
                         optimizer_type="sgd", learning_rate=1.0, random_state=SEED)
    params, _ = pt.train(_revealing_loss, np.zeros((N, SIDE, SIDE, 1), np.float32),
                         ArraySource(data) if streamed else data, augment=aug)
    expected = sum(_seen(aug, images, e) for e in range(EPOCHS))
    atol = 1e-5 if dtype == np.float32 else 1.0 * EPOCHS  # uint8: a rounding step of 1 per epoch
    np.testing.assert_allclose(-3.0 * np.asarray(params), expected, atol=atol)
    if algorithm != "dpa":  # the epochs differ (DPA's values do not change)
        assert np.abs(_seen(aug, images, 0) - _seen(aug, images, 1)).max() > 0.05


def _train(data, *, n_devices=1, backend=None, augment=AUGMENT, epochs=3, **kw):
    pt = ParallelTrainer(n_devices=n_devices, backend=backend, epochs=epochs, **IMAGE_CONFIG, **kw)
    return pt.train(image_loss, image_params(), data, augment=augment)


@functools.cache
def _reference():
    return _train(make_images())


@pytest.mark.parametrize(("n_devices", "backend"), [(2, "pmap"), (4, "jit"), (4, "shard_map")])
def test_the_result_does_not_depend_on_the_devices(n_devices, backend):
    params, history = _train(make_images(), n_devices=n_devices, backend=backend)
    ref, ref_history = _reference()
    for name in ("w", "b"):
        np.testing.assert_allclose(params[name], ref[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=1e-5)


@pytest.mark.parametrize(("threads", "prefetch"), [(1, 0), (4, 8)])
def test_the_result_does_not_depend_on_the_input_pipeline(monkeypatch, threads, prefetch):
    """Streamed with no read-ahead and one thread, or 8 steps ahead on 4 threads: the
    resident run's result (the ids travel with the rows)."""
    loader = _source.loader
    monkeypatch.setattr(_source, "loader", functools.partial(loader, threads=threads, prefetch=prefetch))
    params, history = _train(ArraySource(make_images()), n_devices=2)
    ref, ref_history = _reference()
    for name in ("w", "b"):
        np.testing.assert_allclose(params[name], ref[name], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(history["loss"], ref_history["loss"], rtol=1e-5)


def test_augmentation_changes_the_training_and_evaluations_see_the_clean_images():
    images = make_images()
    params, history = _train(images, eval_every=1)
    np.testing.assert_array_equal(params["w"], _reference()[0]["w"])  # the same program's steps
    plain, _ = _train(images, augment=None)
    assert np.abs(params["w"] - plain["w"]).max() > 1e-3
    # the full-data evaluations (eval_every=1) see the data as given (no augmentation), at
    # init and after the last epoch
    np.testing.assert_allclose(history["loss"][0], np.log(2.0), rtol=1e-6)
    clean = float(image_loss({k: jnp.asarray(v) for k, v in params.items()}, images))
    np.testing.assert_allclose(history["loss"][-1], clean, rtol=1e-5)


def test_a_config_a_preset_name_and_a_training_augmentation_are_the_same():
    images = make_images()
    by_name, _ = _reference()
    by_config, _ = _train(images, augment=get_preset(AUGMENT))
    by_spec, _ = _train(images, augment=TrainingAugmentation(AUGMENT, leaf="image"))
    for got in (by_config, by_spec):
        np.testing.assert_array_equal(got["w"], by_name["w"])


def test_another_leaf_name():
    images = make_images()
    renamed = {"pixels": images["image"], "label": images["label"]}

    def loss(params, batch):
        return image_loss(params, {"image": batch["pixels"], "label": batch["label"]})

    pt = ParallelTrainer(n_devices=1, epochs=3, **IMAGE_CONFIG)
    params, _ = pt.train(loss, image_params(), renamed, augment=TrainingAugmentation(AUGMENT, leaf="pixels"))
    np.testing.assert_allclose(params["w"], _reference()[0]["w"], rtol=1e-6, atol=1e-7)


def test_a_checkpoint_of_an_unaugmented_run_is_not_resumed_with_augmentation(tmp_path):
    images = make_images()
    ParallelTrainer(n_devices=1, epochs=1, checkpoint_dir=str(tmp_path), **IMAGE_CONFIG).train(
        image_loss, image_params(), images)
    pt = ParallelTrainer(n_devices=1, epochs=2, checkpoint_dir=str(tmp_path), **IMAGE_CONFIG)
    with pytest.raises(ValueError, match=r"different run or on other data.*augment"):
        pt.train(image_loss, image_params(), images, augment=AUGMENT, resume=True)


# -- bad input: clear errors before anything compiles ----------------------------------------
def _bad(**changes):
    data = make_images()
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "augment", "error", "match"),
    [
        (_bad(), 3, TypeError, "augment must be None, a preset name"),
        (_bad(), "wild", ValueError, r"augment must be None, a preset name \['aggressive', 'mild', 'moderate'\].*got 'wild'"),
        (_bad(), TrainingAugmentation, TypeError, "augment must be None"),
        (_bad(pixels=np.zeros((40, 8, 8, 1), np.float32)) | {"image": None}, AUGMENT, ValueError, "data has no leaf 'image'"),
        ({"x": np.zeros((40, 8, 8, 1), np.float32), "label": np.zeros(40, np.float32)}, AUGMENT, ValueError,
         r"data has no leaf 'image' \(its keys: \['label', 'x'\]\)"),
        (_bad(image=np.zeros((40, 64), np.float32)), AUGMENT, ValueError, r"must be images .*4-D\), got shape \(40, 64\)"),
        (_bad(image=np.zeros((40, 8, 8), np.float32)), AUGMENT, ValueError, "NHWC"),
        (_bad(image=np.full((40, 8, 8, 1), 300, np.int32)), AUGMENT, ValueError, r"integers in \[300, 300\].*\[0, 255\]"),
        (_bad(image=np.full((40, 8, 8, 1), -1, np.int64)), AUGMENT, ValueError, r"integer images must lie in \[0, 255\]"),
        (_bad(image=np.full((40, 8, 8, 1), 2.0, np.float32)), AUGMENT, ValueError, r"values in \[2.0, 2.0\].*\[0, 1\]"),
        (_bad(image=np.zeros((40, 8, 8, 1), bool)), AUGMENT, TypeError, "float32 in \\[0, 1\\] or uint8 images, got dtype bool"),
    ],
    ids=["type", "preset", "class", "leaf-none", "no-leaf", "2-D", "3-D", "int-high", "int-negative", "float-high", "bool"],
)
def test_bad_input_is_refused_before_compiling(data, augment, error, match):
    if data.get("image") is None:
        data.pop("image", None)
    pt = ParallelTrainer(n_devices=1, epochs=1, **IMAGE_CONFIG)
    with pytest.raises(error, match=match):
        pt.train(image_loss, image_params(), data, augment=augment)
    assert not hasattr(pt, "compile_time_")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"config": 1.0}, TypeError, "config must be an AugmentationConfig or a preset name"),
        ({"config": "wild"}, ValueError, r"config must be .* preset name .*got 'wild'"),
        ({"leaf": ""}, TypeError, "leaf must be a non-empty str"),
        ({"algorithm": "mt"}, ValueError, "algorithm must be one of"),
    ],
)
def test_training_augmentation_checks_its_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        TrainingAugmentation(**kwargs)


def test_an_invalid_config_is_refused_by_its_constructor():
    with pytest.raises(ValueError, match="scale_range"):
        AugmentationConfig(scale_range=(0.0, 1.0))


def test_augment_needs_the_data_parallel_strategy():
    pt = ParallelTrainer(n_devices=2, strategy="model_parallel", epochs=1, **IMAGE_CONFIG)
    with pytest.raises(ValueError, match="augment needs strategy='data_parallel'"):
        pt.train(image_loss, image_params(), make_images(), augment=AUGMENT)


def test_data_that_is_not_a_mapping_is_refused():
    pt = ParallelTrainer(n_devices=1, epochs=1, **IMAGE_CONFIG)
    images = make_images()
    with pytest.raises(TypeError, match="augment needs data as a mapping with the images under 'image'"):
        pt.train(image_loss, image_params(), (images["image"], images["label"]), augment=AUGMENT)


def test_a_streamed_source_is_checked_as_it_is_read():
    """A source's values are only seen as they are read: the first read out of range stops
    the run with the column and the rows."""
    bad = make_images()
    bad["image"][17] = 1.5
    pt = ParallelTrainer(n_devices=1, epochs=1, **IMAGE_CONFIG)
    with pytest.raises(ValueError, match=r"column 'image' of rows \d+\.\.\d+ holds values in \[.*, 1.5\]"):
        pt.train(image_loss, image_params(), ArraySource(bad), augment=AUGMENT)
    ints = make_images() | {"image": np.zeros((40, 8, 8, 1), np.int16)}
    with pytest.raises(TypeError, match="column 'image' is int16: store integer images as uint8"):
        pt.train(image_loss, image_params(), ArraySource(ints), augment=AUGMENT)
