"""Parallel training: ``ParallelTrainer`` with three strategies.

- ``data_parallel``: the batch is split over devices (and processes), gradients all-reduced;
- ``model_parallel``: the parameters are split: feature sharding for ``fit``, Megatron tensor
  parallelism for a layer-list MLP in ``train``;
- ``pipeline_parallel``: a layer-list MLP cut into stages on consecutive devices, GPipe.

The layer-list model format of the last two: ``params = [{'w': (in, out), 'b': (out,)}, ...]``
with ``loss_fn = mlp_loss(head, activation)`` (``_mlp``).

Private modules, one concept each:

- ``_trainer``: the estimator, the host loop (chunks, progress, checkpoints, resume);
- ``_data_parallel``: the data-parallel program for each backend (pmap, shard_map, jit);
- ``_model_parallel``, ``_pipeline_parallel``: how those strategies split the model;
- ``_sharded``: the shard_map step loop shared by the two;
- ``_mlp``: the layer-list MLP format (``mlp_loss``, ``init_mlp``);
- ``_plan``: which rows each device reads at each step (shared epoch order, padding);
- ``_accumulate``: local gradient accumulation and masked per-example losses;
- ``_precision``: compute dtype, loss scaling, finiteness checks;
- ``_checkpoint``: atomic checkpoint directories.
"""

from accel.parallel._mlp import MLPLoss, init_mlp, mlp_loss
from accel.parallel._trainer import ParallelTrainer

__all__ = ["MLPLoss", "ParallelTrainer", "init_mlp", "mlp_loss"]
