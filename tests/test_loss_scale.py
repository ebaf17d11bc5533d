"""A fixed loss scale changes nothing but the scale of the gradients inside the step.

With ``loss_scale=s`` the step differentiates ``s * loss`` and divides the gradients by ``s``
before the update; with ``s`` a power of two both are exact in float32, so a scaled fit equals
the unscaled one to float rounding. Plain SGD makes a gradient left scaled visible (its step
is ``s`` times too long); scale-invariant optimizers such as Adam would hide it.
"""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import regression

from accel import ParallelTrainer
from accel.data import ArraySource

N, D = 48, 4
KW = {
    "optimizer_type": "sgd",
    "learning_rate": 0.1,
    "epochs": 3,
    "batch_size": 16,
    "random_state": 3,
    "compute_dtype": "float32",
}


def _data():
    coef = np.array([0.5, -1.0, 2.0, 0.25], np.float32)
    return regression(N, D, seed=7, coef=coef, intercept=1.0, dtype=np.float32)


def _fit(streamed: bool, **kw):
    X, y = _data()
    trainer = ParallelTrainer(**{**KW, **kw})
    return trainer.fit(ArraySource({"X": X, "y": y})) if streamed else trainer.fit(X, y)


@pytest.mark.parametrize(
    "streamed, kw",
    [
        (False, {"n_devices": 2, "backend": "pmap", "grad_accum_steps": 2}),
        (False, {"n_devices": 2, "backend": "shard_map"}),
        (False, {"n_devices": 4, "backend": "jit"}),
        (True, {"n_devices": 2, "backend": "pmap"}),
        (True, {"n_devices": 1, "backend": "jit", "grad_accum_steps": 2}),
        (False, {"n_devices": 2, "strategy": "model_parallel", "backend": "shard_map"}),
    ],
    ids=["pmap-accum", "shard_map", "jit-4", "streamed-pmap", "streamed-accum", "model_parallel"],
)
def test_fixed_loss_scale_fit_equals_unscaled_fit(streamed, kw):
    plain = _fit(streamed, **kw)
    scaled = _fit(streamed, loss_scale=8.0, **kw)
    assert scaled.history_["loss_scale"] == 8.0
    np.testing.assert_allclose(scaled.coef_, plain.coef_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scaled.intercept_, plain.intercept_, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scaled.history_["loss"], plain.history_["loss"], rtol=1e-6)
    assert plain.history_["loss"][-1] < 0.5 * plain.history_["loss"][0]  # it trained


def test_fixed_loss_scale_train_equals_unscaled_train():
    X, y = _data()

    def loss_fn(params, batch):
        return 0.5 * ((batch["x"] @ params["w"] + params["b"] - batch["y"]) ** 2).mean()

    params = {"w": np.zeros(D, np.float32), "b": np.zeros((), np.float32)}
    out = {}
    for scale in (None, 4.0):
        trainer = ParallelTrainer(**{**KW, "n_devices": 2, "loss_scale": scale})
        out[scale] = trainer.train(loss_fn, params, {"x": X, "y": y})
    (p1, h1), (p4, h4) = out[None], out[4.0]
    np.testing.assert_allclose(p4["w"], p1["w"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h4["loss"], h1["loss"], rtol=1e-6)
