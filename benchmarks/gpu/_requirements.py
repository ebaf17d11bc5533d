"""``requirements-cuda.txt`` against what is installed: do the pins match this machine?

Each requirement line (``name[extras]<specifier>``) is checked with ``packaging`` against
``importlib.metadata``. A ``jax[cudaNN]`` requirement also checks JAX's CUDA plugin
(``jax-cudaNN-plugin`` and ``jax-cudaNN-pjrt``), which must carry jax's own version.

Example:
    >>> rows = check_requirements(["numpy>=1.0", "surely-not-installed-pkg==1.0"])
    >>> [(r["name"], r["satisfied"]) for r in rows]
    [('numpy', True), ('surely-not-installed-pkg', False)]
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

__all__ = ["check_requirements", "read_requirements"]

_CUDA_EXTRA = re.compile(r"^cuda(\d+)$")


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments and blank lines dropped)."""
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _row(requirement: str, name: str, spec: Any, note: str = "") -> dict[str, Any]:
    installed = _installed(name)
    satisfied = installed is not None and spec.contains(installed, prereleases=True)
    return {"requirement": requirement, "name": name, "installed": installed,
            "satisfied": bool(satisfied), "note": note}  # fmt: skip


def check_requirements(lines: Iterable[str]) -> list[dict[str, Any]]:
    """One row per requirement (and per JAX CUDA plugin package): installed version and
    whether it satisfies the specifier."""
    rows = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            rows.append({"requirement": line, "name": None, "installed": None,
                         "satisfied": False, "note": f"unparsable: {exc}"})  # fmt: skip
            continue
        rows.append(_row(line, req.name, req.specifier))
        if req.name != "jax":
            continue
        for extra in sorted(req.extras):
            match = _CUDA_EXTRA.match(extra)
            if match is None:
                continue
            for part in ("plugin", "pjrt"):
                name = f"jax-cuda{match.group(1)}-{part}"
                rows.append(_row(line, name, req.specifier, note=f"installed by jax[{extra}]"))
    return rows
