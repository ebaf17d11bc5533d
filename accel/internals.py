"""The one door from the repository's own packages into accel's private modules.

For the repository's own packages (``optimizers``, ``benchmarks``, ``examples``); not a
stable API; users import from ``accel`` and its subpackages. Every name here is defined in
a private module of ``accel`` and changes with it. ``tests/test_layout.py`` holds the rule:
outside ``accel``, a module imports from ``accel`` only public modules and names, or this
module; inside ``accel``, nothing imports this module.

What the packages take from here, and why:

* argument checks, the repository's one implementation (``accel._checks``):
  ``check_bool``, ``check_choice``, ``check_int``, ``check_path``, ``check_positive_real``,
  ``check_real``, ``check_seed``, ``parse_dtype``; ``optimizers`` checks its estimators'
  arguments with them, ``benchmarks.datasets`` its loaders' and generators', the GPU kit
  its own, all with accel's messages;
* the linear model's math, validation and stopping rules, which the NumPy reference
  optimizers share with the JAX estimators (``accel.linear``'s ``_model`` and ``_data``,
  ``accel.train``'s ``_optax`` and ``_stopping``; the contract decorator of
  ``accel._sklearn``): ``loss_and_grad``, ``loss_value``, ``grad_norm``,
  ``decision_function``, ``sigmoid``, ``log_softmax``, ``normalized_sample_weight``,
  ``encode_labels`` (class labels as the estimators encode them), ``check_X_y``, ``check_loss``,
  ``check_learning_rate``, ``check_hyperparameters``, ``diverged``, ``converged``,
  ``keeps_state_on_error`` (a failed fit leaves the previous one intact),
  ``cached_programs`` (the library's one program cache, for ``bench_linear_profile``); the
  benchmarks judge every backend with the same ``loss_value``;
* keys and row orders (``accel._keys``, ``accel._orders``): ``seed_key``, ``epoch_key``,
  ``sample_keys``, ``split_ids``, ``epoch_permutation``, ``EpochOrders``; the NumPy
  optimizers visit the rows in the JAX estimators' order; the JAX training-loop example
  and the augmentation benchmark derive ``K(seed, epoch)`` and the id halves that
  ``accel.augment.augmentation_params`` takes;
* report files (``accel._atomic``, ``accel._report``, ``accel._info``): ``write_atomic``,
  ``atomic_open``, ``dump_json``, ``jsonable``, ``format_table``, ``package_versions``,
  ``nvidia_gpu_status``; benchmark reports and the dataset cache are written as accel
  writes its own files;
* pieces that a benchmark measures on their own: ``aligned_empty`` and ``ParamLayout``
  (``accel.linear``'s placement and parameter layout), ``FileRows`` (``accel.data``'s
  ``.npy`` reader), ``data_digest`` and ``source_digest`` (``accel.parallel``'s
  checkpoint data digest), ``bounds_array`` and ``affine_exact`` (the affine step of the
  augmentation kernel), ``clear_sample_cache`` and ``SAMPLE_CACHE_BLOCK`` (the block
  cache of the per-sample path: ``accel.augment._sample``'s ``clear_cache`` and
  ``BLOCK``);
* modules whose globals the A/B benchmarks of internal settings replace for the length of
  one measurement (a variant of the compiled program, the copy threshold, the kernel
  factory): ``linear_jax_optimizer``, ``linear_program``, ``linear_placement``
  (``benchmarks.bench_linear_profile``), ``augment_dpa`` (DPA's device kernel) and
  ``augment_mt19937`` (``benchmarks.bench_augment_dpa_settings``, ``bench_augment_dpa``).

Example:
    >>> from accel.internals import check_int, epoch_permutation
    >>> check_int(3, "epochs", minimum=1)
    3
    >>> sorted(epoch_permutation(0, 1, 4).tolist())
    [0, 1, 2, 3]
"""

from __future__ import annotations

from accel._atomic import atomic_open, write_atomic
from accel._cache import entries as cached_programs
from accel._checks import (
    check_bool,
    check_choice,
    check_int,
    check_path,
    check_positive_real,
    check_real,
    check_seed,
    parse_dtype,
)
from accel._info import nvidia_gpu_status, package_versions
from accel._keys import epoch_key, sample_keys, seed_key, split_ids
from accel._orders import EpochOrders, epoch_permutation
from accel._report import dump_json, format_table, jsonable
from accel._sklearn import keeps_state_on_error
from accel.augment._dpa_kernels import _draws as augment_dpa
from accel.augment._dpa_kernels import _mt19937 as augment_mt19937
from accel.augment._generate import affine_exact, bounds_array
from accel.augment._sample import BLOCK as SAMPLE_CACHE_BLOCK
from accel.augment._sample import clear_cache as clear_sample_cache
from accel.data._files import FileRows
from accel.linear import _jax_optimizer as linear_jax_optimizer
from accel.linear import _placement as linear_placement
from accel.linear import _program as linear_program
from accel.linear._data import check_loss, check_X_y, encode_labels
from accel.linear._flat_step import ParamLayout
from accel.linear._model import (
    decision_function,
    grad_norm,
    log_softmax,
    loss_and_grad,
    loss_value,
    normalized_sample_weight,
    sigmoid,
)
from accel.linear._placement import aligned_empty
from accel.parallel._resume import data_digest, source_digest
from accel.train._optax import check_hyperparameters, check_learning_rate
from accel.train._stopping import converged, diverged

__all__ = [
    "SAMPLE_CACHE_BLOCK",
    "EpochOrders",
    "FileRows",
    "ParamLayout",
    "affine_exact",
    "aligned_empty",
    "atomic_open",
    "augment_dpa",
    "augment_mt19937",
    "bounds_array",
    "cached_programs",
    "check_X_y",
    "check_bool",
    "check_choice",
    "check_hyperparameters",
    "check_int",
    "check_learning_rate",
    "check_loss",
    "check_path",
    "check_positive_real",
    "check_real",
    "check_seed",
    "clear_sample_cache",
    "converged",
    "data_digest",
    "decision_function",
    "diverged",
    "dump_json",
    "encode_labels",
    "epoch_key",
    "epoch_permutation",
    "format_table",
    "grad_norm",
    "jsonable",
    "keeps_state_on_error",
    "linear_jax_optimizer",
    "linear_placement",
    "linear_program",
    "log_softmax",
    "loss_and_grad",
    "loss_value",
    "normalized_sample_weight",
    "nvidia_gpu_status",
    "package_versions",
    "parse_dtype",
    "sample_keys",
    "seed_key",
    "sigmoid",
    "source_digest",
    "split_ids",
    "write_atomic",
]
