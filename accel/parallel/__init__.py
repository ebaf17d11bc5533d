"""Parallel training: ``ParallelTrainer`` (data parallel over devices and processes).

Private modules, one concept each:

- ``_trainer``: the estimator, the host loop (chunks, progress, checkpoints, resume);
- ``_data_parallel``: the data-parallel program for each backend (pmap, shard_map, jit);
- ``_plan``: which rows each device reads at each step (shared epoch order, padding);
- ``_accumulate``: local gradient accumulation and masked per-example losses;
- ``_precision``: compute dtype, loss scaling, finiteness checks;
- ``_checkpoint``: atomic checkpoint directories.

Further strategies (model parallel, pipeline parallel) go beside ``_data_parallel`` and are
registered in ``_trainer.STRATEGIES``.
"""

from accel.parallel._trainer import ParallelTrainer

__all__ = ["ParallelTrainer"]
