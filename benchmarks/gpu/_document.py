"""The kit's JSON document (schema ``accel.gpu_check``, version 1) and its Markdown summary.

Top level (every key always present)::

    schema          "accel.gpu_check"          schema_version  1
    status          "ok" | "failed" | "incomplete" | "skipped"
    reason          why it was skipped (no GPU), else null
    mode            "gpu" | "dry-run" | "none" (no GPU found: nothing ran)
    command         the command line         deadline_s    the run's time limit
    started_utc, finished_utc (ISO 8601)     wall_s        seconds the run took
    environment     {python, platform, cpu_count, load_average, root, git_commit, packages,
                     gpu_probe, env, host_peak_rss_bytes}
    sections        {name: section}          (empty when status is "skipped")
    files           {"json": ..., "markdown": ..., and "pytest_gpu": the pytest log}

A section::

    status   "ok" | "failed" | "skipped" | "timeout" | "not_selected"
    reason   why it failed or was skipped (null when ok)
    budget_s seconds it was given (null when not selected)   wall_s  seconds it took
    results  its numbers (null unless it ran), always with "tables": [{title, headers, rows}]
             for the summary, optionally "notes" and "problems" (the failed checks)
    error    the traceback's last lines when it raised, else null

Overall status: ``failed`` if any section failed, else ``incomplete`` if any was skipped or
timed out, else ``ok`` (``skipped`` when no GPU was found). Numbers are floats in
SI units (seconds, bytes, bytes/s) unless a key says otherwise; non-finite floats are null.

Example:
    >>> doc = new_document(mode="dry-run", deadline_s=60, started_utc="2026-01-01T00:00:00+00:00",
    ...                    command="python -m benchmarks.gpu --dry-run")
    >>> doc["sections"]["tests"] = {"status": "ok", "reason": None, "budget_s": 5, "wall_s": 1.0,
    ...                             "results": {"tables": []}, "error": None}
    >>> doc["status"] = overall_status(doc["sections"])
    >>> validate(doc)
    []
    >>> validate({**doc, "status": "great"})
    ["status: 'great' is not one of ('ok', 'failed', 'incomplete', 'skipped')"]
"""

from __future__ import annotations

from numbers import Real
from typing import Any

from accel.internals import format_table

__all__ = ["SCHEMA", "SCHEMA_VERSION", "new_document", "overall_status", "render_markdown", "validate"]

SCHEMA = "accel.gpu_check"
SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "incomplete", "skipped")
SECTION_STATUSES = ("ok", "failed", "skipped", "timeout", "not_selected")
MODES = ("gpu", "dry-run", "none")
JSON_FILE, MARKDOWN_FILE = "gpu_check.json", "gpu_check.md"

_NUMBER = (Real,)
_TOP: dict[str, tuple[type, ...]] = {
    "schema": (str,), "schema_version": (int,), "status": (str,), "reason": (str, type(None)),
    "mode": (str,), "command": (str,), "deadline_s": _NUMBER, "started_utc": (str,),
    "finished_utc": (str,), "wall_s": _NUMBER, "environment": (dict,), "sections": (dict,),
    "files": (dict,),
}  # fmt: skip
_SECTION: dict[str, tuple[type, ...]] = {
    "status": (str,), "reason": (str, type(None)), "budget_s": (*_NUMBER, type(None)),
    "wall_s": (*_NUMBER, type(None)), "results": (dict, type(None)), "error": (str, type(None)),
}  # fmt: skip


def new_document(*, mode: str, deadline_s: float, started_utc: str, command: str) -> dict[str, Any]:
    """An empty document of the current schema (``status`` is filled in when it is written)."""
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "status": "incomplete", "reason": None,
        "mode": mode, "command": command, "deadline_s": deadline_s, "started_utc": started_utc,
        "finished_utc": started_utc, "wall_s": 0.0, "environment": {}, "sections": {},
        "files": {"json": JSON_FILE, "markdown": MARKDOWN_FILE},
    }  # fmt: skip


def overall_status(sections: dict[str, dict[str, Any]]) -> str:
    """``failed`` if a section failed, else ``incomplete`` if one was skipped or timed out, else ``ok``."""
    statuses = {s["status"] for s in sections.values()}
    if "failed" in statuses:
        return "failed"
    if statuses & {"skipped", "timeout", "running"}:
        return "incomplete"
    return "ok"


def _check_fields(obj: Any, fields: dict[str, tuple[type, ...]], where: str) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where}: expected an object, got {type(obj).__name__}"]
    errors = []
    for key, types in fields.items():
        if key not in obj:
            errors.append(f"{where}{key}: missing")
        elif (isinstance(obj[key], bool) and bool not in types) or not isinstance(obj[key], types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            errors.append(f"{where}{key}: expected {names}, got {type(obj[key]).__name__}")
    return errors


def _check_tables(results: dict[str, Any], where: str) -> list[str]:
    tables = results.get("tables")
    if not isinstance(tables, list):
        return [f"{where}tables: expected a list"]
    errors = []
    for i, table in enumerate(tables):
        ok = (isinstance(table, dict) and isinstance(table.get("title"), str)
              and isinstance(table.get("headers"), list) and isinstance(table.get("rows"), list)
              and all(isinstance(r, list) and len(r) == len(table["headers"]) for r in table["rows"]))  # fmt: skip
        if not ok:
            errors.append(f"{where}tables[{i}]: expected {{title: str, headers: list, rows: lists of len(headers)}}")
    return errors


def validate(doc: Any) -> list[str]:
    """Every way ``doc`` departs from the schema (an empty list when it conforms)."""
    errors = _check_fields(doc, _TOP, "")
    if errors:
        return errors
    for key, value, allowed in (("schema", doc["schema"], (SCHEMA,)),
                                ("schema_version", doc["schema_version"], (SCHEMA_VERSION,)),
                                ("status", doc["status"], STATUSES), ("mode", doc["mode"], MODES)):  # fmt: skip
        if value not in allowed:
            errors.append(f"{key}: {value!r} is not one of {allowed}")
    for key in ("json", "markdown"):
        if not isinstance(doc["files"].get(key), str):
            errors.append(f"files.{key}: missing")
    for name, section in doc["sections"].items():
        where = f"sections.{name}."
        section_errors = _check_fields(section, _SECTION, where)
        errors += section_errors
        if section_errors:
            continue
        if section["status"] not in SECTION_STATUSES:
            errors.append(f"{where}status: {section['status']!r} is not one of {SECTION_STATUSES}")
        if section["results"] is not None:
            errors += _check_tables(section["results"], where + "results.")
    return errors


def _md_table(table: dict[str, Any]) -> str:
    return f"{table['title']}:\n\n```text\n{format_table(table['headers'], table['rows'])}\n```\n"


def render_markdown(doc: dict[str, Any]) -> str:
    """The human summary of ``doc``: status, machine, one line per section, then its tables."""
    env = doc["environment"]
    pkgs = env.get("packages", {})
    lines = [
        f"# GPU check: {doc['status']}",
        "",
        f"- mode: {doc['mode']}; command: `{doc['command']}`",
        f"- {doc['started_utc']} to {doc['finished_utc']} ({doc['wall_s']:.0f} s of the {doc['deadline_s']:.0f} s limit)",
        f"- python {env.get('python')}, jax {pkgs.get('jax')}, jaxlib {pkgs.get('jaxlib')}, cupy {pkgs.get('cupy')}, "
        f"numpy {pkgs.get('numpy')}; commit {env.get('git_commit')}; load {env.get('load_average')}",
    ]  # fmt: skip
    g = (doc["sections"].get("device", {}).get("results") or {}).get("gpu") or {}
    if g.get("available"):
        memory = g.get("memory_total_bytes")
        lines.append(f"- GPU: {g.get('name')}, {memory / 2**30 if memory else 0:.0f} GiB, driver "
                     f"{g.get('driver_version')}, CUDA {g.get('cuda_driver_version')}, compute "
                     f"capability {g.get('compute_capability')}")  # fmt: skip
    if doc["reason"]:
        lines.append(f"- reason: {doc['reason']}")
    rows = [[name, s["status"], s["wall_s"], s["budget_s"], (s["reason"] or "")[:160]]
            for name, s in doc["sections"].items()]  # fmt: skip
    if rows:
        lines += ["", "## Sections", "", _md_table({"title": "status", "headers":
                  ["section", "status", "wall s", "budget s", "reason"], "rows": rows})]  # fmt: skip
    for name, section in doc["sections"].items():
        results = section["results"]
        if not results:
            continue
        lines += ["", f"## {name}", ""]
        for table in results.get("tables", []):
            lines.append(_md_table(table))
        lines += [f"- {note}" for note in results.get("notes", [])]
        lines += [f"- problem: {p}" for p in results.get("problems", [])]
    return "\n".join(lines).rstrip() + "\n"
