"""Augmentation inside a compiled training step: the images of sample ``i`` in epoch ``e``.

``ParallelTrainer.train(..., augment=...)`` augments the image leaf of every batch on the
device, inside the compiled step, from the batch's global sample ids and the epoch alone:

.. code-block:: text

    seen(i, e) = apply_augmentations(images[[i]],
                                     gen_augmentation_batch([i], config, seed=s, epoch=e,
                                                            algorithm=algorithm),
                                     seed=s)                    (s = the trainer's random_state)

so what a sample looks like depends only on ``(s, e, i)``: not on the batch it lands in, the
number of devices or processes, the input pipeline's read-ahead, or where a run was resumed.
The parameters are the kernel of ``gen_augmentation_batch`` traced into the step
(``accel.augment._generate``), the ops those of ``apply_augmentations`` (``_ops``); nothing
is computed on the host. With ``algorithm='dpa'`` (DPA's bit-exact values, which have no seed
and no epoch) ``seen(i, e) = apply_augmentations(images[[i]], gen_augmentation_batch([i],
config, algorithm='dpa'), seed=s)`` in every epoch, as with DPA: the values are drawn once
per sample on the host (DPA's float64 hash chain) and travel with the rows as a hidden
column.

:class:`TrainingAugmentation` says which leaf holds the images and how they are augmented;
its ``of`` reads what ``augment=`` accepts, ``check_data`` and ``wrap_source`` are the host
checks of the images, ``apply`` is the traceable step.

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> from accel import _keys
    >>> from accel.augment import apply_augmentations, gen_augmentation_batch, get_preset
    >>> from accel.augment import TrainingAugmentation
    >>> aug = TrainingAugmentation(get_preset("mild"))
    >>> images = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    >>> ids = jnp.array([2, 0, 1], jnp.int32)
    >>> out = aug.apply({"image": jnp.asarray(images[[2, 0, 1]])}, ids, jnp.int32(4),
    ...                 jnp.asarray(_keys.seed_key_data(7)))
    >>> ref = apply_augmentations(images[[0]], gen_augmentation_batch([0], aug.config, seed=7, epoch=4), seed=7)
    >>> bool(np.allclose(out["image"][1], ref[0], atol=1e-6))
    True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _keys
from ._config import ALGORITHMS, PARAM_NAMES, PRESETS, AugmentationConfig, get_preset
from ._generate import (
    DEFAULT_ALGORITHM,
    PORTABLE_FOLDS,
    _param_words,
    _params_from_words,
    bounds_array,
)
from ._ops import augment_images

__all__ = ["DPA_COLUMN", "TrainingAugmentation", "dpa_columns"]

# the hidden column of per-sample DPA values (algorithm='dpa'): (rows, 5) float32, in the
# order of PARAM_NAMES; removed from the batch before the loss function sees it
DPA_COLUMN = "__accel_dpa_augmentation__"
_IDENTITY = np.array([0.0, 1.0, 0.0, 1.0, 1.0], np.float32)  # PARAM_NAMES' values that change nothing


@dataclasses.dataclass(frozen=True)
class TrainingAugmentation:
    """How a trainer augments its images: ``config`` (an ``AugmentationConfig`` or a preset
    name), the data ``leaf`` holding the images (a top-level key of the data mapping;
    ``(rows, H, W, C)``, float32 in ``[0, 1]`` or uint8) and the ``algorithm`` of the
    parameters (``'threefry2x32'``, the default, ``'philox4x32'``, or ``'dpa'``).

    Given to ``ParallelTrainer.train(..., augment=...)``, the images of sample ``i`` in epoch
    ``e`` are, inside the compiled step, ``apply_augmentations(images[[i]],
    gen_augmentation_batch([i], config, seed=s, epoch=e, algorithm=algorithm), seed=s)``
    (``s``: the trainer's ``random_state``). With ``algorithm='dpa'`` the parameters are
    DPA's, which have no seed and no epoch (``gen_augmentation_batch([i], config,
    algorithm='dpa')``, the noise of epoch 0), the same in every epoch as with DPA; they are
    drawn on the host once per sample and travel with the rows.

    Hashable: it is part of the compiled program's identity.

    Example:
        >>> from accel.augment import TrainingAugmentation
        >>> TrainingAugmentation("mild", leaf="pixels").config.rotation_range
        (-15.0, 15.0)
    """

    config: AugmentationConfig | str = "moderate"
    leaf: str = "image"
    algorithm: str = DEFAULT_ALGORITHM

    def __post_init__(self) -> None:
        config = self.config
        if isinstance(config, str) and config in PRESETS:
            config = get_preset(config)
        elif not isinstance(config, AugmentationConfig):
            raise (ValueError if isinstance(config, str) else TypeError)(
                f"config must be an AugmentationConfig or a preset name {sorted(PRESETS)}, got "
                f"{config!r}"
            )
        object.__setattr__(self, "config", config)
        if not isinstance(self.leaf, str) or not self.leaf:
            raise TypeError(f"leaf must be a non-empty str (the data key of the images), got {self.leaf!r}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}")

    # -- what a trainer calls (ParallelTrainer.train; the engine's step calls apply/strip) --
    @classmethod
    def of(cls, augment: Any) -> TrainingAugmentation | None:
        """What ``augment=`` accepts: ``None`` (no augmentation), a preset name, an
        ``AugmentationConfig`` (the images in the leaf ``'image'``) or a
        :class:`TrainingAugmentation`."""
        if augment is None or isinstance(augment, cls):
            return augment
        if isinstance(augment, AugmentationConfig) or (isinstance(augment, str) and augment in PRESETS):
            return cls(augment)
        raise (ValueError if isinstance(augment, str) else TypeError)(
            f"augment must be None, a preset name {sorted(PRESETS)}, an AugmentationConfig or a "
            f"TrainingAugmentation, got {augment!r}"
        )

    def check_data(self, data: Any, *, values: bool = True) -> Any:
        """The data with its image leaf checked (host, before anything compiles): ``data`` a
        mapping with the key ``self.leaf``; the images 4-D ``(rows, H, W, C)`` with H, W, C >= 1;
        float32 (float64 is read as float32) with values in ``[0, 1]``, or integers in
        ``[0, 255]`` (kept as uint8). ``values=False``: the dtype and shape only (one row of a
        source: its reads are checked as they come, :meth:`wrap_source`)."""
        if not isinstance(data, Mapping):
            raise TypeError(
                f"augment needs data as a mapping with the images under {self.leaf!r} "
                f"(e.g. {{'{self.leaf}': images, 'label': labels}}), got {type(data).__name__}"
            )
        if self.leaf not in data:
            raise ValueError(
                f"augment: data has no leaf {self.leaf!r} (its keys: {sorted(map(str, data))}); name "
                f"the image leaf with TrainingAugmentation(config, leaf=...)"
            )
        images = data[self.leaf]
        shape, dtype = np.shape(images), np.dtype(getattr(images, "dtype", np.asarray(images).dtype))
        if len(shape) != 4 or min(shape[1:]) < 1:
            raise ValueError(
                f"augment: data[{self.leaf!r}] must be images (rows, height, width, channels) (NHWC, "
                f"4-D), got shape {tuple(shape)}"
            )
        if dtype == np.bool_ or not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise TypeError(
                f"augment: data[{self.leaf!r}] must be float32 in [0, 1] or uint8 images, got dtype {dtype}"
            )
        if not values:
            if np.issubdtype(dtype, np.integer) and dtype != np.uint8:
                raise TypeError(
                    f"augment: the source's column {self.leaf!r} is {dtype}: store integer images as "
                    "uint8 (0..255), or as float32 in [0, 1]"
                )
            return data
        images = np.asarray(images)
        if dtype.kind == "f":
            images = images.astype(np.float32, copy=False)
            _check_range(images, f"data[{self.leaf!r}]")
        elif images.size and (images.min() < 0 or images.max() > 255):
            raise ValueError(
                f"augment: data[{self.leaf!r}] holds integers in [{images.min()}, {images.max()}]; "
                "integer images must lie in [0, 255] (they are read as uint8)"
            )
        else:
            images = images.astype(np.uint8, copy=False)
        return {**data, self.leaf: images}

    def wrap_source(self, source: Any) -> Any:
        """``source`` as an augmented run reads it: every read's images range-checked (the
        reads of a streamed run are checked as they come) and, with ``algorithm='dpa'``, the
        hidden column :data:`DPA_COLUMN` of the rows read."""
        from accel.data import WrappedSource  # the input pipeline: only for streamed runs

        aug, dpa = self, self.algorithm == "dpa"

        class Augmented(WrappedSource):
            def __init__(self, inner: Any) -> None:
                super().__init__(inner)
                if dpa:
                    self.columns = (*inner.columns, DPA_COLUMN)

            def spec(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
                spec = dict(self.source.spec())
                if dpa:
                    spec[DPA_COLUMN] = ((len(PARAM_NAMES),), np.dtype(np.float32))
                return spec

            def read(self, rows: np.ndarray) -> dict[str, np.ndarray]:
                got = dict(self.source.read(rows))
                _check_range(np.asarray(got[aug.leaf]), f"column {aug.leaf!r} of rows {int(np.min(rows))}..{int(np.max(rows))}")
                if dpa:
                    got[DPA_COLUMN] = dpa_columns(aug.config, rows)
                return got

        return Augmented(source)

    def with_hidden_columns(self, data: Mapping, first_id: int = 0) -> Mapping:
        """``data`` (rows with the global ids ``first_id, first_id + 1, ...``) plus what
        :meth:`apply` reads besides the images: DPA's values with ``algorithm='dpa'``."""
        if self.algorithm != "dpa":
            return data
        n = len(np.asarray(data[self.leaf]))
        return {**data, DPA_COLUMN: dpa_columns(self.config, np.arange(first_id, first_id + n))}

    def strip(self, rows: Mapping) -> dict:
        """``rows`` without the hidden columns (what an evaluation's loss function sees)."""
        return {k: v for k, v in rows.items() if k != DPA_COLUMN}

    def apply(self, batch: Any, ids: jax.Array, epoch: jax.Array, seed_key_data: jax.Array) -> Any:
        """The batch with its images augmented (traceable; the module's formula).

        ``batch``: the step's rows, every leaf ``ids.shape + row shape``; ``ids`` int32 global
        sample ids (``-1``: padding, augmented as sample 0 and masked by the caller); ``epoch``
        an int32 scalar; ``seed_key_data`` the uint32 ``[s >> 32, s & 0xFFFFFFFF]`` of the seed.
        With ``algorithm='dpa'`` the batch carries the hidden column :data:`DPA_COLUMN`, which is
        used and removed.
        """
        batch = dict(batch)
        images = batch[self.leaf]
        lead = ids.shape
        flat = images.reshape(-1, *images.shape[len(lead):])
        lo = jnp.maximum(ids.reshape(-1), 0).astype(jnp.uint32)
        hi = jnp.zeros_like(lo)
        if self.algorithm == "dpa":
            table = batch.pop(DPA_COLUMN).reshape(-1, len(PARAM_NAMES))
            # padding slots hold zeros (a scale of 0 would make NaN that poisons the masked
            # gradient): the identity instead
            table = jnp.where((ids.reshape(-1) >= 0)[:, None], table, jnp.asarray(_IDENTITY))
            values = {name: table[:, j] for j, name in enumerate(PARAM_NAMES)}
            noise_epoch = jnp.int32(0)  # as apply_augmentations of a 'dpa' batch (epoch 0)
        else:
            fold = PORTABLE_FOLDS[self.algorithm]  # = jax.random.fold_in, bit for bit
            base = jnp.stack(fold(seed_key_data[0], seed_key_data[1], epoch.astype(jnp.uint32)))
            words = _param_words(base, hi, lo, None, self.algorithm, folds=PORTABLE_FOLDS)
            values = dict(zip(PARAM_NAMES, _params_from_words(words, jnp.asarray(bounds_array(self.config))), strict=True))
            noise_epoch = epoch
        noise_base = _keys.epoch_key(jax.random.wrap_key_data(seed_key_data, impl=_keys.DEFAULT_IMPL), noise_epoch)
        keys = jax.vmap(lambda k: jax.random.fold_in(k, _keys.IMAGE_NOISE_STREAM))(_keys.sample_keys(noise_base, hi, lo))
        # the per-image values and keys computed once: fused into the per-pixel ops, XLA:CPU
        # would redo their hash chains for every pixel (twice the augmentation's cost, measured)
        values, key_data = jax.lax.optimization_barrier((values, jax.random.key_data(keys)))
        keys = jax.random.wrap_key_data(key_data, impl=_keys.DEFAULT_IMPL)
        batch[self.leaf] = augment_images(flat, values, keys).reshape(images.shape)
        return batch


def dpa_columns(config: AugmentationConfig, rows: np.ndarray) -> np.ndarray:
    """DPA's values of the samples ``rows`` as float32 ``(len(rows), 5)`` (the hidden column
    of ``algorithm='dpa'``: the values ``apply_augmentations`` takes, rounded as it rounds
    them)."""
    from ._generate import gen_augmentation_batch

    batch = gen_augmentation_batch(np.asarray(rows, np.int64), config, algorithm="dpa")
    return np.stack([np.asarray(batch[name], np.float32) for name in PARAM_NAMES], axis=1)


def _check_range(images: np.ndarray, where: str) -> None:
    if images.dtype.kind != "f" or not images.size:
        return  # uint8 cannot leave [0, 255]
    lo, hi = images.min(), images.max()
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"augment: {where} holds values in [{lo}, {hi}]; the ops take float images in "
            "[0, 1] (scale them first, e.g. images / 255)"
        )
