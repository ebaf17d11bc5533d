"""The test suite's own layout (issue 22, item 7): shared helpers live in one place, the helper
modules ``tests/_*.py``, and no test file imports another.

Read from the source with ``ast`` (no imports executed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
TEST_FILES = sorted(TESTS.glob("test_*.py"))
HELPER_FILES = sorted(TESTS.glob("_*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported_modules(tree: ast.Module) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import, anywhere in the file (lazy imports in
    functions too)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.lineno, node.module))
    return out


def _top_level_definitions(tree: ast.Module) -> dict[str, int]:
    """The functions and classes a module defines at its top level, with their lines."""
    return {
        node.name: node.lineno
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }


def _helper_definitions() -> dict[str, str]:
    """Public function and class names of the helper modules, with the module defining each."""
    out = {}
    for path in HELPER_FILES:
        for name in _top_level_definitions(_tree(path)):
            if not name.startswith("_"):
                out[name] = path.name
    return out


def test_the_suite_has_test_files_and_helper_modules():
    assert len(TEST_FILES) > 10 and (TESTS / "_helpers.py").is_file()
    assert not (TESTS / "__init__.py").exists()  # test modules are imported by file name


@pytest.mark.parametrize("path", TEST_FILES + HELPER_FILES, ids=lambda p: p.name)
def test_no_file_imports_a_test_file(path):
    """What two test files share lives in a helper module (``tests/_*.py``), not in either."""
    bad = [
        f"{path.name}:{line} imports {module}"
        for line, module in _imported_modules(_tree(path))
        if module.split(".")[0].startswith("test_")
    ]
    assert not bad, "; ".join(bad) + " (move what is shared into a tests/_*.py module)"


# Files whose owners have yet to take the shared helper (strict: passing again fails, so the
# entry is removed with the fix).
PENDING: dict[str, str] = {}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=PENDING[p.name]))
        if p.name in PENDING
        else p
        for p in TEST_FILES
    ],
    ids=lambda p: p.name,
)
def test_no_test_file_defines_a_shared_helper_again(path):
    helpers = _helper_definitions()
    again = [
        f"{path.name}:{line} defines {name}, which tests/{helpers[name]} provides"
        for name, line in _top_level_definitions(_tree(path)).items()
        if name in helpers
    ]
    assert not again, "; ".join(again) + " (import it from there)"


def test_the_checks_catch_what_they_look_for():
    tree = ast.parse(
        "import test_a\nfrom test_b.c import d\ndef f():\n    from test_e import g\n"
        "import _helpers\nfrom . import test_x\n"
    )
    modules = sorted(module for _, module in _imported_modules(tree))
    assert modules == ["_helpers", "test_a", "test_b.c", "test_e"]  # not the relative one
    assert "regression" in _helper_definitions() and "FakeClock" in _helper_definitions()
    tree = ast.parse("def regression():\n    pass\nclass K:\n    pass\nX = 1\n")
    assert _top_level_definitions(tree) == {"regression": 1, "K": 3}


def test_tests_are_formatted_normally():
    # ruff's formatter is not run in CI, but a test file opting out of it line by line is
    # what issue 22 removed: no formatter-skip markers (spelled in two parts below, so this
    # file does not hold one itself)
    marker = "# fmt: " + "skip"
    marked = [
        f"{path.name}:{i}"
        for path in sorted(TESTS.glob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if marker in line
    ]
    assert not marked, marked
