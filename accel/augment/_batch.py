"""``AugmentationBatch``: the parameters of a batch of samples, as a read-only mapping.

``batch['rotation']`` is the array of rotations (one per sample, in ``batch.sample_ids``
order); keys are always ``PARAM_NAMES`` in order. ``len(batch)`` is the number of samples
(DPA's batches are lists of samples), while ``batch.keys()`` has the five names.

Example:
    >>> from accel.augment import gen_augmentation_batch
    >>> b = gen_augmentation_batch([3, 1, 2])
    >>> list(b), len(b), b.sample_ids.tolist()
    (['rotation', 'brightness', 'noise', 'scale', 'contrast'], 3, [3, 1, 2])
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, Sequence, ValuesView
from typing import Any

import jax
import numpy as np

from .._checks import MAX_U64, check_int
from ._config import ALGORITHMS, PARAM_NAMES, AugmentationConfig

__all__ = ["AugmentationBatch"]


class AugmentationBatch(Mapping[str, Any]):
    """Per-sample augmentation parameters of a batch: ``name -> array`` (read-only).

    Attributes:
        sample_ids: ``np.ndarray`` of ``uint64`` ids, one per sample.
        seed, epoch: the integers the parameters were derived from.
        algorithm: name of the generator (``'threefry2x32'``, ``'philox4x32'``, ``'dpa'``).
        config: the ``AugmentationConfig`` whose ranges the values lie in.

    Values are ``float32`` JAX arrays for the counter-based algorithms (left on the device
    where they were computed) and ``float64`` NumPy arrays for ``'dpa'``.
    """

    __slots__ = ("_values", "algorithm", "config", "epoch", "sample_ids", "seed")

    def __init__(
        self,
        values: Mapping[str, Any],
        sample_ids: np.ndarray,
        *,
        seed: int,
        epoch: int,
        algorithm: str,
        config: AugmentationConfig,
    ) -> None:
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping of {PARAM_NAMES} to arrays, got {type(values).__name__}")
        if tuple(values) != PARAM_NAMES:
            raise ValueError(f"values must have the keys {PARAM_NAMES} in order, got {tuple(values)}")
        check_int(seed, "seed", minimum=0, maximum=MAX_U64, allow_none=True)
        check_int(epoch, "epoch", minimum=0, maximum=2**32 - 1, allow_none=True)
        if algorithm is not None:
            if not isinstance(algorithm, str) or algorithm not in ALGORITHMS:
                raise (ValueError if isinstance(algorithm, str) else TypeError)(
                    f"algorithm must be one of {ALGORITHMS} or None, got {algorithm!r}"
                )
        if config is not None and not isinstance(config, AugmentationConfig):
            raise TypeError(f"config must be an AugmentationConfig or None, got {type(config).__name__}")
        ids = np.asarray(sample_ids)
        if ids.dtype != np.uint64 or ids.ndim != 1:
            raise TypeError(f"sample_ids must be a 1-D uint64 array, got {ids.dtype} of shape {ids.shape}")
        for name, v in values.items():
            if tuple(np.shape(v)) != ids.shape:
                raise ValueError(f"values[{name!r}] has shape {tuple(np.shape(v))}, expected {ids.shape} (one per sample id)")
        self._values = dict(values)
        self.sample_ids = ids
        self.seed = seed
        self.epoch = epoch
        self.algorithm = algorithm
        self.config = config

    # -- Mapping interface -------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        try:
            return self._values[name]
        except (KeyError, TypeError):
            raise KeyError(f"{name!r} is not a parameter name; names: {PARAM_NAMES}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        """Number of samples (not the number of parameter names)."""
        return int(self.sample_ids.shape[0])

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def keys(self) -> KeysView[str]:
        return self._values.keys()

    def values(self) -> ValuesView[Any]:
        return self._values.values()

    def items(self) -> ItemsView[str, Any]:
        return self._values.items()

    __eq__ = object.__eq__  # arrays have no single truth value; compare with .to_numpy()
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return (
            f"AugmentationBatch(n={len(self)}, algorithm={self.algorithm!r}, seed={self.seed}, "
            f"epoch={self.epoch})"
        )

    # -- conversions -------------------------------------------------------------------
    def to_numpy(self) -> dict[str, np.ndarray]:
        """The five parameter arrays as NumPy arrays (copied from the device if needed)."""
        return {name: np.asarray(v) for name, v in self._values.items()}

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield one dict per sample: ``{'sample_id': int, 'rotation': float, ...}``."""
        cols = [v.tolist() for v in self.to_numpy().values()]
        for i, sid in enumerate(self.sample_ids.tolist()):
            rec: dict[str, Any] = {"sample_id": sid}
            for name, col in zip(PARAM_NAMES, cols, strict=True):
                rec[name] = col[i]
            yield rec

    def block_until_ready(self) -> AugmentationBatch:
        """Wait for device computation of the values; returns ``self``."""
        jax.block_until_ready([v for v in self._values.values() if isinstance(v, jax.Array)])
        return self

    def select(self, index: slice | np.ndarray | Sequence[int]) -> AugmentationBatch:
        """A new batch with the samples at ``index`` (a slice or integer index array);
        its values are NumPy arrays."""
        idx = index if isinstance(index, slice) else np.asarray(index, dtype=np.int64)
        values = {name: v[idx] for name, v in self.to_numpy().items()}
        return self._like(values, self.sample_ids[idx])

    @classmethod
    def concatenate(cls, batches: Sequence[AugmentationBatch]) -> AugmentationBatch:
        """Join batches made with the same seed, epoch, algorithm and config (NumPy values)."""
        if not batches:
            raise ValueError("concatenate needs at least one batch")
        first = batches[0]
        for b in batches[1:]:
            if (b.seed, b.epoch, b.algorithm, b.config) != (first.seed, first.epoch, first.algorithm, first.config):
                raise ValueError("cannot concatenate batches made with different seed/epoch/algorithm/config")
        if len(batches) == 1:
            return first
        arrays = [b.to_numpy() for b in batches]
        values = {name: np.concatenate([a[name] for a in arrays]) for name in PARAM_NAMES}
        return first._like(values, np.concatenate([b.sample_ids for b in batches]))

    def _like(self, values: Mapping[str, Any], sample_ids: np.ndarray) -> AugmentationBatch:
        return AugmentationBatch(
            values, sample_ids, seed=self.seed, epoch=self.epoch, algorithm=self.algorithm, config=self.config
        )
