"""The API reference (docs/, Sphinx) covers the public surface (issue 26 item 2).

Every public module (no ``_`` in its dotted path, with an ``__all__``) has an ``automodule``
page, and every name of its ``__all__`` is documented: by that ``automodule``'s
``:members:`` (autodoc takes the members from ``__all__``; it shows classes and functions
with a docstring), by an explicit ``auto*`` / ``py:*`` directive (constants: ``autodata``),
or, for a name re-exported from where it is documented (listed in ``:exclude-members:``),
by a link on the module's page to the same object documented elsewhere. A public name
added without documentation fails here.

The .rst files are parsed, not built: CI builds the reference with warnings as errors
(``sphinx-build -W --keep-going -b html docs <dir>``, .ci/run).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest
from _helpers import package_modules

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROOTS = ("accel", "optimizers")
# Public by name, but not API: each with the reason.
NOT_DOCUMENTED = {
    # the training engine, the interface between it and the library's estimators; its
    # docstring: "Users need none of it"
    "accel.train",
    # the repository's own packages' door into accel's private modules (optimizers, benchmarks,
    # examples; tests/test_layout.py); its docstring: "not a stable API"
    "accel.internals",
}

DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\.\s+(?P<kind>auto\w+|py:\w+)::\s*(?P<target>\S+)\s*$")
OPTION = re.compile(r"^\s+:(?P<name>[\w-]+):\s*(?P<value>.*)$")
ROLE = re.compile(r":(?:py:)?(?:class|func|meth|data|attr|exc|obj|mod):`(?:[^`<]*<)?~?(?P<target>[\w.]+)>?`")


def _pages() -> list[Path]:
    return [
        p for p in sorted(DOCS.rglob("*.rst"))
        if not {"_build", "tutorials"} & set(p.relative_to(DOCS).parts)
    ]


def _directives(text: str) -> list[tuple[str, str, dict[str, str], str]]:
    """(kind, target, options, current module) of each directive, in order; option values
    spanning several (more indented) lines are joined."""
    lines = text.splitlines()
    found = []
    module = ""
    for i, line in enumerate(lines):
        m = DIRECTIVE.match(line)
        if not m:
            continue
        kind, target = m["kind"], m["target"]
        options: dict[str, str] = {}
        last = None
        for follow in lines[i + 1:]:
            o = OPTION.match(follow)
            if o:
                last = o["name"]
                options[last] = o["value"]
            elif last and follow.strip() and not follow.lstrip().startswith(":") and (
                len(follow) - len(follow.lstrip()) > len(m["indent"]) + 3
            ):
                options[last] += " " + follow.strip()
            else:
                break
        if kind in ("automodule", "py:module", "py:currentmodule"):
            module = target
        found.append((kind, target, options, module))
    return found


def _resolve(dotted: str) -> object:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(dotted)


def _autodoc_renders(obj: object) -> bool:
    """Whether ``automodule :members:`` shows ``obj``: a class or function with a docstring of
    its own. Constants have none (autodoc would skip them): they need an ``autodata``."""
    if inspect.isclass(obj):
        return bool(obj.__dict__.get("__doc__"))
    return (inspect.isroutine(obj) or callable(obj)) and bool(getattr(obj, "__doc__", None))


def _names(value: str) -> set[str]:
    return {n.strip() for n in value.split(",") if n.strip()}


def _reference() -> tuple[set[str], dict[str, set[str]], dict[str, set[str]]]:
    """Documented full names; each automodule page's link targets; its excluded members."""
    documented: set[str] = set()
    links: dict[str, set[str]] = {}
    excluded: dict[str, set[str]] = {}
    for page in _pages():
        text = page.read_text(encoding="utf-8")
        directives = _directives(text)
        page_module = next((t for k, t, _, _ in directives if k == "automodule"), "")
        targets = {
            t if "." in t else f"{page_module}.{t}" for t in (m["target"] for m in ROLE.finditer(text))
        }
        for kind, target, options, module in directives:
            if kind == "automodule":
                links.setdefault(target, set()).update(targets)
                excluded[target] = _names(options.get("exclude-members", ""))
                if "members" in options:
                    module = importlib.import_module(target)
                    documented.update(
                        f"{target}.{n}" for n in module.__all__
                        if n not in excluded[target] and _autodoc_renders(getattr(module, n))
                    )
                    if "no-index" in options or "noindex" in options:
                        raise AssertionError(f"{page}: automodule {target} with :no-index:")
            elif kind not in ("py:module", "py:currentmodule"):  # auto* or py:* of one object
                if "no-index" not in options and "noindex" not in options:
                    documented.add(target if "." in target else f"{module}.{target}")
    return documented, links, excluded


def _public_modules() -> list[str]:
    names = [
        n for n in package_modules(ROOTS)
        if not any(p.startswith("_") for p in n.split("."))
        and (n in ROOTS or hasattr(importlib.import_module(n), "__all__"))
    ]
    return sorted(set(names) - NOT_DOCUMENTED)


REFERENCE = _reference()
PUBLIC = _public_modules()


def test_docs_have_a_sphinx_project_with_only_builtin_extensions():
    conf = (DOCS / "conf.py").read_text(encoding="utf-8")
    extensions = re.search(r"extensions = \[(.*?)\]", conf, re.S)
    assert extensions is not None
    for name in re.findall(r"\"([\w.]+)\"", extensions[1]):
        assert name.startswith("sphinx.ext."), f"{name}: only extensions that ship with Sphinx"
    index = (DOCS / "index.rst").read_text(encoding="utf-8")
    toctree = {line.strip() for line in index.splitlines() if line.startswith("   api/")}
    pages = {f"api/{p.stem}" for p in (DOCS / "api").glob("*.rst")}
    nested = {f"api/{p.stem}" for p in (DOCS / "api").glob("*.*.rst")}  # in their parent's toctree
    assert pages - nested == toctree


def test_every_public_module_has_an_automodule_page():
    _, links, _ = REFERENCE
    missing = [m for m in PUBLIC if m not in links]
    assert not missing, f"public modules without an `.. automodule::` in docs/: {missing}"


@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_is_documented(module):
    documented, links, excluded = REFERENCE
    public = importlib.import_module(module).__all__
    assert not excluded.get(module, set()) - set(public), "exclude-members not in __all__"
    missing = []
    for name in public:
        full = f"{module}.{name}"
        if full in documented:
            continue
        obj = getattr(importlib.import_module(module), name)
        # a re-export: the same object documented elsewhere, linked from this module's page
        elsewhere = [t for t in links.get(module, set()) if t in documented and _resolve(t) is obj]
        if not elsewhere:
            missing.append(name)
    assert not missing, (
        f"{module}: public names missing from the API reference (docs/api/*.rst): {missing}; "
        "document them, or link the page where the same object is documented"
    )


def test_every_explicit_directive_names_an_existing_object():
    documented, links, _ = REFERENCE
    for full in documented:
        _resolve(full)  # raises for a stale name
    for page_links in links.values():
        for target in page_links:
            _resolve(target)
