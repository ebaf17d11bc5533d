"""Programs keyed on what an optax transformation computes, not on the object (issue 27
item 2): an equal optax expression written again reuses the compiled program; any
difference (a number, an array, a function, a global it reads) is a new program."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _compiles import COMPILES
from _helpers import regression
from hypothesis import given, settings
from hypothesis import strategies as st

from accel import JAXOptimizer, ParallelTrainer
from accel._fingerprint import MAX_ARRAY_ELEMENTS, fingerprint
from accel.data import ArraySource

# ----- the key ------------------------------------------------------------------------------


def test_equal_optax_expressions_have_equal_keys():
    def build():
        schedule = optax.warmup_cosine_decay_schedule(0.0, 1e-2, 10, 100)
        return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=1e-4))

    assert fingerprint(build()) == fingerprint(build())
    assert hash(fingerprint(build())) == hash(fingerprint(build()))


@pytest.mark.parametrize(
    "a, b",
    [
        (lambda: optax.adam(1e-3), lambda: optax.adam(2e-3)),
        (lambda: optax.adam(1e-3), lambda: optax.sgd(1e-3)),
        (lambda: optax.adam(1e-3), lambda: optax.adam(1e-3, b1=0.8)),
        (lambda: optax.sgd(0.0), lambda: optax.sgd(-0.0)),
        (lambda: optax.sgd(1), lambda: optax.sgd(1.0)),
        (
            lambda: optax.chain(optax.clip(1.0), optax.sgd(0.1)),
            lambda: optax.chain(optax.clip(2.0), optax.sgd(0.1)),
        ),
        (
            lambda: optax.exponential_decay(0.1, 10, 0.9),
            lambda: optax.exponential_decay(0.1, 10, 0.8),
        ),
        (
            lambda: optax.masked(optax.sgd(0.1), {"w": True, "b": False}),
            lambda: optax.masked(optax.sgd(0.1), {"w": False, "b": False}),
        ),
    ],
    ids=[
        "rate",
        "kind",
        "hyperparameter",
        "signed-zero",
        "int-vs-float",
        "chain",
        "schedule",
        "mask",
    ],
)
def test_any_difference_gives_another_key(a, b):
    assert fingerprint(a()) != fingerprint(b())


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-6, 10.0), st.floats(1e-6, 10.0))
def test_adam_keys_are_equal_exactly_when_the_rates_are(a, b):
    assert (fingerprint(optax.adam(a)) == fingerprint(optax.adam(b))) == (a == b)


def _closure_reading(namespace_value):
    namespace = {"SCALE": namespace_value}
    exec("def schedule(step):\n    return SCALE * step\n", namespace)
    return namespace["schedule"]


def test_a_closure_counts_by_its_code_constants_cells_and_the_globals_it_reads():
    assert fingerprint(lambda s: 0.1 * s) == fingerprint(lambda s: 0.1 * s)
    assert fingerprint(lambda s: 0.1 * s) != fingerprint(lambda s: 0.2 * s)
    assert fingerprint(lambda s: 0.1 * s) != fingerprint(lambda s: 0.1 + s)
    assert fingerprint(_closure_reading(2.0)) == fingerprint(_closure_reading(2.0))
    assert fingerprint(_closure_reading(2.0)) != fingerprint(_closure_reading(3.0))
    part = functools.partial(optax.polynomial_schedule, 1.0, 0.0, 1)
    assert fingerprint(part) == fingerprint(
        functools.partial(optax.polynomial_schedule, 1.0, 0.0, 1)
    )
    assert fingerprint(part) != fingerprint(
        functools.partial(optax.polynomial_schedule, 1.0, 0.0, 2)
    )


def test_arrays_count_by_value_up_to_a_size_then_by_identity():
    small = np.arange(4.0)
    assert fingerprint(small) == fingerprint(small.copy()) == fingerprint(np.arange(4.0))
    assert fingerprint(small) != fingerprint(small.astype(np.float32))
    assert fingerprint(jnp.arange(4.0)) == fingerprint(jnp.arange(4.0))
    big = np.zeros(MAX_ARRAY_ELEMENTS + 1)
    assert fingerprint(big) == fingerprint(big) and fingerprint(big) != fingerprint(big.copy())


def test_what_cannot_be_read_counts_by_identity():
    class Rate:
        def __call__(self, step):
            return 0.1

    one = Rate()
    assert fingerprint(one) == fingerprint(one)
    assert fingerprint(one) != fingerprint(Rate())
    key = jax.random.key(0)  # a typed key array has no host value: by identity, no error
    assert fingerprint(key) == fingerprint(key) and fingerprint(key) != fingerprint(jax.random.key(0))
    cycle: list = []
    cycle.append(cycle)
    assert fingerprint(cycle) == fingerprint(cycle)  # a cycle ends in an identity, not a loop


# ----- no recompilation ----------------------------------------------------------------------


def _data(n):
    return regression(n, 3, coef=[1.0, -2.0, 0.5], intercept=0.3, dtype=np.float32)


def _mse(params, batch):
    return jnp.mean((batch["X"] @ params["w"] + params["b"] - batch["y"]) ** 2)


def test_an_inline_optax_expression_in_train_compiles_once():
    X, y = _data(67)  # a shape no other test compiles
    params = {"w": np.zeros(3, np.float32), "b": np.zeros((), np.float32)}
    pt = ParallelTrainer(n_devices=2, epochs=2, batch_size=16)
    first, _ = pt.train(_mse, params, {"X": X, "y": y}, optimizer=optax.adam(1e-2))
    before = COMPILES.count
    again, _ = pt.train(_mse, params, {"X": X, "y": y}, optimizer=optax.adam(1e-2))
    assert COMPILES.count == before and pt.compile_time_ == 0.0
    np.testing.assert_array_equal(again["w"], first["w"])
    other, _ = pt.train(_mse, params, {"X": X, "y": y}, optimizer=optax.adam(5e-2))
    assert COMPILES.count > before and pt.compile_time_ > 0.0
    assert not np.allclose(other["w"], first["w"])


@pytest.mark.parametrize("streamed", [False, True], ids=["resident", "streamed"])
def test_an_equal_transformation_as_optimizer_type_compiles_once(streamed):
    X, y = _data(69 if streamed else 71)
    data = (ArraySource({"X": X, "y": y}),) if streamed else (X, y)
    batch = 16 if streamed else None
    first = JAXOptimizer(optax.sgd(0.05), epochs=3, batch_size=batch).fit(*data)
    before = COMPILES.count
    again = JAXOptimizer(optax.sgd(0.05), epochs=3, batch_size=batch).fit(*data)
    assert COMPILES.count == before
    np.testing.assert_array_equal(again.coef_, first.coef_)
    other = JAXOptimizer(optax.sgd(0.01), epochs=3, batch_size=batch).fit(*data)
    assert COMPILES.count > before
    assert not np.allclose(other.coef_, first.coef_)
