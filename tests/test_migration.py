"""frameworm's and PyTorch DDP's keywords get errors naming this library's equivalent (issue 26
item 4), with the other parameter checks (in ``__init__`` today; at ``fit``/``train`` once
``__init__`` only stores, issue 22: the tests accept either)."""

from __future__ import annotations

import numpy as np
import pytest

from accel import ParallelTrainer
from accel.parallel._migration import COMMUNICATION_BACKENDS, FOREIGN_KEYWORDS

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
    with pytest.raises(TypeError, match=rf"^ParallelTrainer has no {key} \(.*?\): .*{OURS[key]}"):
        trainer = ParallelTrainer(n_devices=2, epochs=1, batch_size=4, **{key: 4})
        if call == "fit":
            trainer.fit(X, Y)
        else:
            trainer.train(_loss, {"w": np.zeros(3, np.float32)}, {"x": X, "y": Y})


@pytest.mark.parametrize("backend", [*COMMUNICATION_BACKENDS, "NCCL"])
def test_a_communication_backend_is_explained(backend):
    with pytest.raises(ValueError, match=rf"^backend={backend!r} is a torch.distributed communication backend; "
                                         r"here backend is how the devices run each step: 'pmap', 'shard_map' "
                                         r"or 'jit'.*jax\.distributed\.initialize\(\)"):  # fmt: skip
        ParallelTrainer(n_devices=2, epochs=1, backend=backend).fit(X, Y)


def test_other_unknown_keywords_still_name_the_optimizers_hyperparameters():
    with pytest.raises(TypeError, match=r"optimizer 'adam' has no hyperparameter 'no_such'; its hyperparameters"):
        ParallelTrainer(n_devices=2, epochs=1, no_such=1.0).fit(X, Y)


def test_the_settings_the_messages_name_work():
    """What the messages tell the user to write is accepted (mixed precision, accumulation)."""
    for kw in ({"compute_dtype": "bfloat16"}, {"compute_dtype": "float16", "loss_scale": "dynamic"},
               {"grad_accum_steps": 2}):  # fmt: skip
        trainer = ParallelTrainer(n_devices=2, epochs=2, batch_size=4, **kw).fit(X, Y)
        assert np.all(np.isfinite(trainer.coef_))
