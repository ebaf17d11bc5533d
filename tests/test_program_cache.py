"""One program cache for the whole library, ``accel.clear_caches()``, and one place that turns
an estimator's settings into its program's settings (issue 22 items 2 and 3)."""

from __future__ import annotations

import numpy as np
import optax
import pytest
from _helpers import regression

import accel
from accel import JAXOptimizer, ParallelTrainer, _cache
from accel.train import _optax


def _data(n=64, d=3):
    return regression(n, d, coef=np.arange(1.0, d + 1), intercept=0.5, dtype=np.float32)


ESTIMATORS = {
    "JAXOptimizer": lambda: JAXOptimizer(epochs=3),
    "JAXOptimizer(batch)": lambda: JAXOptimizer(epochs=3, batch_size=16),
    "ParallelTrainer": lambda: ParallelTrainer(n_devices=2, epochs=3, batch_size=16),
}


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_clear_caches_makes_the_next_fit_compile_again(name):
    X, y = _data(n=61)  # a shape no other test compiles
    est = ESTIMATORS[name]()
    est.fit(X, y)
    assert est.set_params(learning_rate=0.02, random_state=3).fit(X, y).compile_time_ == 0.0
    accel.clear_caches()
    assert _cache.size() == 0
    assert est.fit(X, y).compile_time_ > 0.0


def test_one_cache_holds_every_estimators_programs():
    accel.clear_caches()
    X, y = _data()
    JAXOptimizer(epochs=2).fit(X, y)
    ParallelTrainer(n_devices=2, epochs=2, batch_size=16).fit(X, y)
    assert _cache.size() == 2
    assert [key[0] for key in _cache._PROGRAMS] == ["JAXOptimizer", "ParallelTrainer"]


def test_the_cache_keeps_the_most_recently_used(monkeypatch):
    monkeypatch.setattr(_cache, "MAX_PROGRAMS", 2)
    accel.clear_caches()
    shapes = [_data(n=n) for n in (40, 41, 42)]
    est = JAXOptimizer(epochs=2)
    for X, y in shapes:
        est.fit(X, y)
    assert _cache.size() == 2
    assert est.fit(*shapes[2]).compile_time_ == 0.0  # kept
    assert est.fit(*shapes[0]).compile_time_ > 0.0  # dropped first, compiled again


def test_one_default_learning_rate_per_optimizer_for_both_estimators():
    assert JAXOptimizer().learning_rate is None and ParallelTrainer().learning_rate is None
    assert dict(_optax.DEFAULT_LEARNING_RATE) == {
        **{name: 0.01 for name in _optax.OPTIMIZER_NAMES}, "lbfgs": 1.0}
    X, y = _data()
    for make in (lambda **kw: JAXOptimizer(epochs=5, batch_size=16, **kw),
                 lambda **kw: ParallelTrainer(n_devices=1, epochs=5, batch_size=16, **kw)):
        np.testing.assert_array_equal(make().fit(X, y).coef_, make(learning_rate=0.01).fit(X, y).coef_)


@pytest.mark.parametrize("make", [JAXOptimizer, lambda **kw: ParallelTrainer(n_devices=1, **kw)],
                         ids=["JAXOptimizer", "ParallelTrainer"])
def test_a_rate_beside_a_ready_made_transformation_is_refused(make):
    X, y = _data()
    est = make(optimizer_type=optax.adam(0.05), learning_rate=0.1, epochs=2)  # stored
    with pytest.raises(ValueError, match=r"learning_rate=0\.1 cannot be applied to a ready-made"):
        est.fit(X, y)


def test_program_settings():
    schedule = optax.linear_schedule(0.1, 0.0, 10)
    assert _optax.program_settings("lbfgs", None, 1e-6, {}) == (
        0.0, {"learning_rate": 1.0, "tol": 1e-6})
    assert _optax.program_settings("adam", schedule, None, {"b1": 0.8}) == (
        schedule, {"learning_rate": 0.0, "tol": 0.0, "b1": 0.8})
    assert _optax.program_settings(optax.sgd(0.1), None, None, {})[1]["learning_rate"] == 0.0
