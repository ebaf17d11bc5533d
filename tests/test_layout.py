"""The package layout tells the architecture (issue 13, item 5): folders import downward,
never in a circle; nothing outside a folder imports its private modules; modules stay small.

A sealed surface (issue 22, item 6): the rules cover every top-level folder of the repository.
Outside ``accel`` (``optimizers``, ``benchmarks``, ``examples``, ``docs``), a module imports
from ``accel`` only public modules and public names (no part of the dotted name starts with
``_``), or ``accel.internals``, the one module declared for the repository's own packages;
the private modules of ``optimizers`` and ``benchmarks`` are imported only inside their own
package; ``accel`` imports none of the other packages, and none of its modules imports
``accel.internals``. ``tests/`` is the one folder left out: white-box tests import private
modules on purpose.

Read from the source with ``ast`` (no imports executed)."""

from __future__ import annotations

import ast
import importlib
import subprocess
from pathlib import Path

import pytest

import accel

ROOT = Path(accel.__file__).parent
REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 430  # "rarely over ~400 lines"; a longer module says why in its docstring
INTERNALS = "accel.internals"  # the one module of accel declared for the repository's packages
# the repository's top-level folders of Python source besides accel, held to the import rules
SIBLINGS = ("benchmarks", "docs", "examples", "optimizers")
NOT_CHECKED = {"tests": "white-box tests import private modules on purpose"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _folder(module: str) -> str:
    """``accel.train._loop`` -> ``linear``; root modules -> ``(root)``."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (ROOT / parts[1]).is_dir()):
        return parts[1]
    return "(root)"


def _imports(path: Path) -> list[str]:
    """``accel.*`` modules imported by ``path``, anywhere in it (lazy imports in functions
    too), relative imports resolved; ``from accel.x import _y`` counts ``accel.x._y`` when
    ``_y`` is a module."""
    rel = path.relative_to(ROOT.parent).with_suffix("").parts
    # the package a relative import starts from: the module's folder (for __init__, itself)
    package = list(rel[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if not module.startswith("accel"):
                continue
            out.append(module)
            out += [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in MODULES]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("accel")]
    return out


def _folder_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        src = _folder(module)
        for target in _imports(path):
            dst = _folder(target)
            if dst != src and dst != "(root)" and src != "(root)":
                graph.setdefault(src, set()).add(dst)
    return graph


def test_folders_import_downward_without_cycles():
    graph = _folder_graph()
    # the bottom three layers: the data sources and their input pipeline (``data``) depend on
    # no other folder; the training engine (``train``) on the data layer only; the linear
    # model (``linear``: JAXOptimizer) on those two
    assert graph.get("data", set()) == set(), "the data layer depends on no other folder"
    assert graph.get("train", set()) <= {"data"}, "the engine depends on the data layer only"
    assert graph.get("linear", set()) <= {"data", "train"}, "the linear model sits on the engine"
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"import cycle between folders: {' -> '.join([*path, node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])


def test_no_import_cycles_between_modules():
    graph = {m: {t for t in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # a package's __init__ re-exports its own modules: only edges between modules count
    graph = {m: {t for t in ts if not m.startswith(t + ".")} for m, ts in graph.items()
             if not (ROOT.parent / m.replace(".", "/") / "__init__.py").exists()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            raise AssertionError(f"import cycle: {' -> '.join([*path, node])}")
        if state.get(node) == 2 or node not in graph:
            return
        state[node] = 1
        for nxt in sorted(graph[node]):
            visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        visit(node, [])


def test_nothing_outside_a_folder_imports_its_private_modules():
    bad = []
    for module, path in MODULES.items():
        if module == INTERNALS:  # the declared door: it re-exports private modules' names
            continue
        for target in _imports(path):
            parts = target.split(".")
            private = [p for p in parts[1:] if p.startswith("_")]
            if len(parts) > 2 and private and _folder(target) not in ("(root)", _folder(module)):
                bad.append(f"{module} imports {target}")
    assert not bad, bad


def _sources(top: str) -> dict[str, Path]:
    """Dotted name -> path of every ``.py`` file under the top-level folder ``top``."""
    out = {}
    for path in sorted((REPO / top).rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _dotted_imports(module: str, path: Path) -> set[tuple[int, str]]:
    """``(line, dotted name)`` of everything ``path`` imports, anywhere in it: ``import a.b``
    gives ``a.b``; ``from a import x`` gives ``a.x`` (module or not), relative imports
    resolved; and attribute chains on a package name (``accel.x._y.z``)."""
    parts = module.split(".")
    package = parts if path.name == "__init__.py" else parts[:-1]
    tops = {"accel", *SIBLINGS}
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            out |= {(node.lineno, f"{source}.{a.name}") for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {(node.lineno, a.name) for a in node.names}
        elif isinstance(node, ast.Attribute):
            chain, base = [node.attr], node.value
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in tops:
                out.add((node.lineno, ".".join([base.id, *reversed(chain)])))
    return out


def _private(dotted: str) -> bool:
    """Whether a part after the package's name starts with ``_`` (dunders are public)."""
    return any(p.startswith("_") and not p.endswith("__") for p in dotted.split(".")[1:])


def _import_problem(importer_top: str, target: str) -> str | None:
    top = target.split(".")[0]
    if top == importer_top or top not in ("accel", *SIBLINGS):
        return None
    if importer_top == "accel":
        return "accel imports none of the repository's other packages"
    if top == "accel" and (target == INTERNALS or target.startswith(INTERNALS + ".")):
        return None
    if _private(target):
        where = "accel.internals" if top == "accel" else f"{top}'s public modules"
        return f"a private module or name of {top}: import from {where}"
    return None


def test_every_top_level_folder_is_held_to_the_import_rules():
    # the folders of the tracked Python files: not build/ or a venv, which installing or
    # running creates in a checkout
    try:
        listed = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True,
                                text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    folders = {Path(f).parts[0] for f in listed if len(Path(f).parts) > 1}
    assert folders == {"accel", *SIBLINGS, *NOT_CHECKED}, (
        "a top-level folder of Python source is neither checked (SIBLINGS) nor excused "
        f"(NOT_CHECKED): {sorted(folders - {'accel', *SIBLINGS, *NOT_CHECKED})}"
    )


@pytest.mark.parametrize("top", ["accel", *SIBLINGS])
def test_packages_import_each_other_only_through_public_names(top):
    bad = []
    for module, path in _sources(top).items():
        for line, target in sorted(_dotted_imports(module, path)):
            problem = _import_problem(top, target)
            if problem:
                bad.append(f"{path.relative_to(REPO)}:{line} {target}: {problem}")
    assert not bad, "\n".join(bad)


def test_nothing_in_accel_imports_accel_internals():
    bad = [
        f"{module} imports {target}"
        for module, path in MODULES.items()
        if module != INTERNALS
        for _, target in _dotted_imports(module, path)
        if target == INTERNALS or target.startswith(INTERNALS + ".")
    ]
    assert not bad, bad


def test_accel_internals_is_declared_and_exports_exactly_what_it_imports():
    path = MODULES[INTERNALS]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = " ".join((ast.get_docstring(tree) or "").split())
    assert "not a stable API" in doc and "users import from ``accel`` and its subpackages" in doc
    bound = {
        a.asname or a.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for a in node.names
    }
    exported = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    )
    assert set(exported) == bound, f"imported, not exported: {bound - set(exported)}"
    assert not [n for n in exported if n.startswith("_")], "a private name exported"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_small_or_say_why(module):
    path = MODULES[module]
    lines = len(path.read_text().splitlines())
    if lines > MAX_LINES:
        doc = importlib.import_module(module).__doc__ or ""
        assert "Length:" in doc, (
            f"{module} has {lines} lines and no 'Length:' reason in its docstring"
        )


def test_public_names_stay_where_the_readme_shows_them():
    from accel import (  # noqa: F401
        GPUMonitor,
        JAXOptimizer,
        MemoryTracker,
        OptimizerProfiler,
        ParallelTrainer,
        SpeedBenchmark,
        benchmark_optimizer,
        compare_backends,
    )
    from accel.augment import gen_augmentation_batch, get_preset, stream_augmentation_chain  # noqa: F401
    from accel.parallel import init_mlp, mlp_loss  # noqa: F401
    from optimizers import SGD, AdaGrad, Adam, AdamW, MomentumSGD, NesterovMomentum, RMSProp  # noqa: F401

    for name in accel.__all__:
        assert hasattr(accel, name)
