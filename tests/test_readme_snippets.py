"""The README's profiling and DPA examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(heading: str) -> list[str]:
    text = README.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], flags=re.S)


@pytest.mark.parametrize("heading", ["## Profiling a training loop", "### DPA code"])
def test_readme_examples_run(heading, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks(heading)
    assert blocks, f"no Python example under {heading!r}"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, f"<README {heading}>", "exec"), namespace)
    if heading.startswith("## Profiling"):
        assert namespace["stats"]["n_epochs"] == 100 and namespace["stats"]["avg_epoch_time"] > 0
        out = capsys.readouterr().out
        assert "  grad" in out and "(unaccounted)" in out
        assert list(tmp_path.rglob("perfetto_trace.json.gz"))
    else:
        assert len(namespace["params"]["hash"]) == 64 and len(namespace["chunk"]) == 10_000
