"""Parallel training: ``ParallelTrainer`` with three strategies.

- ``data_parallel``: the batch is split over devices (and processes), gradients all-reduced;
- ``model_parallel``: the parameters are split: feature sharding for ``fit``, Megatron tensor
  parallelism for a layer-list MLP in ``train``;
- ``pipeline_parallel``: a layer-list MLP cut into stages on consecutive devices, GPipe.

For image models, :func:`conv2d` is a convolution that keeps its speed inside the one
compiled training program on CPU (``lax``'s convolution gradients do not, jax#12868).

The layer-list model format of the last two: ``params = [{'w': (in, out), 'b': (out,)}, ...]``
with ``loss_fn = mlp_loss(head, activation)`` (parameters from ``init_mlp``).

The batch plan, the objectives, mixed precision, the training loop and the host driver
that runs it are the training engine's (``accel.train``), shared with ``JAXOptimizer``.
"""

# Layout: private modules, one concept each.
# - _trainer: the estimator (parameters, fit, train), wiring a strategy's program to the
#   engine's one host driver (accel.train.drive);
# - _resume: checkpoints of a run and the fingerprints that guard resume;
# - _data_parallel: the one training program (accel.train) on each backend
#   (pmap, shard_map, jit);
# - _model_parallel, _pipeline_parallel: how those strategies split the model;
# - _sharded: the step of the two, on the same training program;
# - _mlp: the layer-list MLP format (mlp_loss, init_mlp);
# - _conv: conv2d, a convolution as slices and a matmul (fast inside compiled loops on CPU);
# - _checkpoint: atomic checkpoint directories;
# - _source, _inputs, _programs: training on a data source (the streamed feed), the
#   input checks and batch plan, the compiled programs in the library's one cache.

from accel.parallel._conv import conv2d
from accel.parallel._mlp import MLPLoss, init_mlp, mlp_loss
from accel.parallel._trainer import ParallelTrainer

__all__ = ["MLPLoss", "ParallelTrainer", "conv2d", "init_mlp", "mlp_loss"]
