"""Every docstring example in ``accel``, ``optimizers`` and ``benchmarks`` runs and passes.

Modules are found by walking the packages, so a new module's examples are tested without
registering it. ``__main__`` modules (they run a program when imported) are left out.
"""

from __future__ import annotations

import doctest
import importlib

import pytest
from _helpers import package_modules

PACKAGES = ("accel", "optimizers", "benchmarks")


MODULES = package_modules(PACKAGES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_walk_finds_the_subpackages():
    for name in (
        "accel.train._loop",
        "accel.parallel._trainer",
        "accel.augment._generate",
        "accel.bench._compare",
        "accel.profile._memory",
        "optimizers._rules",
        "benchmarks.datasets._synthetic",
    ):
        assert name in MODULES
