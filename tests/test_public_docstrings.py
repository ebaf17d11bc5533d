"""Public docstrings name no private modules (issue 22, item 7).

A user reading the API reference (or ``help()``) learns concepts and public names, not file
names: no public module's docstring, and no docstring of a public object (the names of a
public module's ``__all__``, and the public methods and properties of its classes), mentions
a private module, whether dotted (``accel.train._stopping``), as a path
(``accel/linear/_inplace.py``) or by its bare name (``_stopping``). A package's map of its
private modules is a comment after its docstring (``# Layout: ...``), for the next engineer.

Public modules: those of ``accel``, ``optimizers`` and ``benchmarks`` without a ``_`` part in
their dotted name, less the modules documented as not for users (``INTERNAL``). Private
module names: every ``_*.py`` file and ``_*`` package directory of the three source trees.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from _helpers import package_modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("accel", "optimizers", "benchmarks")
# Public by name but documented as not for users, with the phrase of its docstring that says so.
INTERNAL = {
    # the training engine: the interface between it and the library's estimators
    "accel.train": "Users need none of it",
    # the repository's own packages' door into accel's private modules
    "accel.internals": "not a stable API",
}


def _private_module_names() -> list[str]:
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("_*"):
            if path.suffix == ".py" and path.stem not in ("__init__", "__main__"):
                names.add(path.stem)
            elif path.is_dir() and not path.name.startswith("__"):
                names.add(path.name)
    return sorted(names)


def _mention_pattern(private: list[str]) -> re.Pattern[str]:
    roots = "|".join(PACKAGES)
    dotted = rf"(?:{roots})(?:\.[A-Za-z]\w*)*\._[A-Za-z]\w*"
    path = rf"(?:{roots})/(?:\w+/)*_\w+\.py"
    # a bare name: not part of a longer word, nor an attribute (``self._data``)
    bare = r"(?<![\w.])(?:" + "|".join(map(re.escape, private)) + r")(?!\w)"
    return re.compile(f"{dotted}|{path}|{bare}")


def _public_modules() -> list[str]:
    return [
        name for name in package_modules(PACKAGES)
        if not any(part.startswith("_") for part in name.split(".")) and name not in INTERNAL
    ]


def _documented(obj: object) -> list[tuple[str, object]]:
    """``(suffix, object)`` of ``obj`` and, for a class, of its own public methods (static,
    class and plain) and properties."""
    out = [("", obj)]
    if inspect.isclass(obj):
        for key, value in vars(obj).items():
            if key.startswith("_"):
                continue
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if isinstance(value, property):
                value = value.fget
            if inspect.isfunction(value):
                out.append((f".{key}", value))
    return out


def _docstrings() -> list[tuple[str, str]]:
    """``(where, docstring)`` of every public module and public object, each object once."""
    out, seen = [], set()
    for name in _public_modules():
        module = importlib.import_module(name)
        out.append((name, module.__doc__ or ""))
        for attr in getattr(module, "__all__", ()):
            obj = getattr(module, attr)
            if not (inspect.isclass(obj) or callable(obj)):
                continue  # a constant's __doc__ is its type's
            for suffix, item in _documented(obj):
                if id(item) not in seen:
                    seen.add(id(item))
                    out.append((f"{name}.{attr}{suffix}", item.__doc__ or ""))
    return out


def test_public_docstrings_name_no_private_module():
    private = _private_module_names()
    assert {"_stopping", "_keys", "_orders", "_source_fit"} <= set(private)
    docs = _docstrings()
    assert len(docs) > 300 and "accel.JAXOptimizer.fit" in dict(docs)
    pattern = _mention_pattern(private)
    found = [
        f"{where}: {mention}" for where, doc in docs for mention in sorted(set(pattern.findall(doc)))
    ]
    assert not found, (
        "public docstrings mention private modules (name the public object or describe the "
        "concept; a layout map goes in a comment):\n" + "\n".join(found)
    )


def test_the_modules_left_out_say_they_are_not_for_users():
    for name, phrase in INTERNAL.items():
        assert phrase in " ".join((importlib.import_module(name).__doc__ or "").split()), name


def test_the_pattern_finds_every_form_of_mention():
    pattern = _mention_pattern(["_stopping", "_keys"])
    text = (
        "see accel.train._stopping, accel/linear/_inplace.py, ``_keys`` and _stopping; "
        "benchmarks.gpu._device.detect_gpu; not self._keys, __keys__, _keys_kernel, "
        "accel.linear.engine or benchmarks/gpu/run.py"
    )
    assert pattern.findall(text) == [
        "accel.train._stopping", "accel/linear/_inplace.py", "_keys", "_stopping",
        "benchmarks.gpu._device",
    ]
