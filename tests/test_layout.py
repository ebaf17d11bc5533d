"""The package layout tells the architecture (issue 13, item 5): folders import downward,
never in a circle; nothing outside a folder imports its private modules; modules stay small.

Read from the source with ``ast`` (no imports executed)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import accel

ROOT = Path(accel.__file__).parent
MAX_LINES = 430  # "rarely over ~400 lines"; a longer module says why in its docstring


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
    """``accel.linear._program`` -> ``linear``; root modules -> ``(root)``."""
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
    # the bottom two layers: the data sources and their input pipeline (``data``) depend on
    # no other folder; the engine (``linear``) on the data layer only
    assert graph.get("data", set()) == set(), "the data layer depends on no other folder"
    assert graph.get("linear", set()) <= {"data"}, "the engine depends on the data layer only"
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
        for target in _imports(path):
            parts = target.split(".")
            private = [p for p in parts[1:] if p.startswith("_")]
            if len(parts) > 2 and private and _folder(target) not in ("(root)", _folder(module)):
                bad.append(f"{module} imports {target}")
    assert not bad, bad


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_small_or_say_why(module):
    path = MODULES[module]
    lines = len(path.read_text().splitlines())
    if lines > MAX_LINES:
        doc = importlib.import_module(module).__doc__ or ""
        assert "Length:" in doc, f"{module} has {lines} lines and no 'Length:' reason in its docstring"


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
    )  # fmt: skip
    from accel.augment import gen_augmentation_batch, get_preset, stream_augmentation_chain  # noqa: F401
    from accel.parallel import init_mlp, mlp_loss  # noqa: F401
    from optimizers import SGD, AdaGrad, Adam, AdamW, MomentumSGD, NesterovMomentum, RMSProp  # noqa: F401

    for name in accel.__all__:
        assert hasattr(accel, name)
