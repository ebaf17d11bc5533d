"""Every public entry point refuses bad values with a ValueError/TypeError naming the parameter.

Including the data sources (files, shards, Parquet, grain's protocol), validation data and
early stopping's parameters of both estimators (issue 25 item 8).

The table of entry points, parameters and bad values is tests/_bad_inputs.py (run it as a
script for the counts). Two tests per entry point: every tabled bad value, and bad values
drawn by hypothesis from each parameter's kind (out-of-range numbers, wrong types, NaN...).
"""

from __future__ import annotations

import _bad_inputs as B
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TABLE = B.entries()
BY_NAME = {e.name: e for e in TABLE}


@pytest.fixture(autouse=True, scope="module")
def _no_network():
    B.no_network()  # a loader that accepted a bad `download` must not reach the network


@pytest.mark.parametrize("name", list(BY_NAME))
def test_every_tabled_bad_value_is_refused_naming_the_parameter(name):
    entry = BY_NAME[name]
    problems, still_known = [], []
    for param, kind in entry.params.items():
        for value in kind.fixed:
            outcome = B.run_case(entry, param, value)
            why = B.known(entry.name, param, value)
            if why is not None:
                if outcome.kind == "clear":
                    still_known.append(f"{outcome} - fixed? remove it from KNOWN ({why})")
            elif outcome.kind != "clear":
                problems.append(str(outcome))
    assert not problems, "\n".join(problems)
    assert not still_known, "\n".join(still_known)


@pytest.mark.parametrize("name", list(BY_NAME))
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_generated_bad_values_are_refused_naming_the_parameter(name, data):
    entry = BY_NAME[name]
    param = data.draw(st.sampled_from(sorted(entry.params)), label="param")
    value = data.draw(
        entry.params[param].strategy.filter(lambda v: B.known(entry.name, param, v) is None),
        label="value",
    )
    outcome = B.run_case(entry, param, value)
    assert outcome.kind == "clear", str(outcome)


def test_the_table_covers_every_public_entry_point():
    import accel
    import accel.augment
    import accel.data
    import optimizers
    from benchmarks import datasets

    covered = {e.name.split("(")[0].split(".")[0] for e in TABLE}
    skipped = {
        "__version__",
        "clear_caches",  # takes no argument
        "SpeedBenchmark",
        "BaseOptimizer",
        "BatchStrategy",
        "PerformanceMetrics",
        "RankRange",
        "RunningStats",
        "measure_memory",
        "measure_time",
        "process_memory_budget",
        "DataUnavailableError",
        # accel.data: a protocol, a record the pipeline builds, the pipeline itself (its
        # layout comes from the engine), predicates true or false for any value, and
        # the pipeline's read (run by every fit over a source: covered through fit)
        "Source",
        "Block",
        "StepLoader",
        "is_source_like",
        "streams",
        "read_checked",
    }
    for module in (accel, accel.augment, accel.data, optimizers, datasets):
        for name in module.__all__:
            if name.isupper() or name in skipped:  # constants and the documented exclusions
                continue
            assert name in covered, f"{module.__name__}.{name} has no row in tests/_bad_inputs.py"


@pytest.mark.parametrize(
    ("spelling", "name"),
    [("d", "float64"), ("f8", "float64"), (np.float32, "float32"), ("single", "float32")],
)
def test_numpys_spellings_of_a_valid_dtype_are_that_dtype(spelling, name):
    """``dtype`` is parsed the NumPy way: ``'d'`` is float64 there, not a bad value (the
    table's generator leaves these spellings out)."""
    from accel import JAXOptimizer
    from optimizers import AdaGrad

    X = np.random.default_rng(0).standard_normal((12, 2))
    y = X @ np.ones(2)
    for cls in (JAXOptimizer, AdaGrad):
        assert cls(dtype=spelling, epochs=2).fit(X, y).coef_.dtype == np.dtype(name)
