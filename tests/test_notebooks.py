"""The tutorials under docs/tutorials/ run in a Jupyter kernel (nbclient), as a user opens
them, and show what they promise (issue 26 item 1).

Each notebook checks its own numbers with ``assert`` cells (against scikit-learn, an exact
solution, or a second run); a failing assert fails its execution here. This file checks what
the reader sees: no error and no warning printed in any cell (a third-party warning in a
notebook is a defect: ``import accel`` used to print tqdm's "IProgress not found"), the
plots rendered as images, the results shown as tables, and the lines the text refers to.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

TUTORIALS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
# notebook -> (at least this many images, regexes the text outputs must match)
EXPECTED = {
    "01_jax_optimizer": (2, [r"test R\^2: LinearRegression (\S+), JAXOptimizer\(lbfgs\) \1",
                             r"best: \{'jaxoptimizer__learning_rate': 1\.0\}",
                             r"JAXOptimizer\(adam\)\s+test accuracy 0\.9[3-9]"]),
    "02_compare_backends": (2, [r"<table", r"numpy", r"jax"]),
    "03_data_parallel": (1, [r"devices: 4", r"max \|coef\(1 device\) - coef\(4 devices\)\|"]),
    "04_augmentation": (2, [r"epoch 0: .*\n.*epoch 1: ", r"'sample_id': 0"]),
    "05_migration": (0, [r"DistributedTrainer: accel has no DistributedTrainer",
                         r"gradient_accumulation_steps: .*use grad_accum_steps=4",
                         r"Mean time: .*samples/s"]),
}


def test_every_tutorial_is_checked():
    assert {p.stem for p in TUTORIALS.glob("*.ipynb")} == set(EXPECTED)


def _texts(nb) -> tuple[list[str], list[str], int]:
    """(stdout and rich-text outputs, stderr outputs, number of images) of an executed notebook."""
    texts, errors, images = [], [], 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream":
                (errors if out["name"] == "stderr" else texts).append(out["text"])
            elif out["output_type"] in ("display_data", "execute_result"):
                data = out["data"]
                images += "image/png" in data
                texts += [data[k] for k in ("text/html", "text/plain") if k in data]
    return texts, errors, images


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tutorial_runs_and_shows_its_results(name, tmp_path):
    path = TUTORIALS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{path.name} is committed with outputs: clear them"
    )
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the cell's traceback on any error
    texts, errors, images = _texts(nb)
    assert not errors, f"{path.name} printed to stderr: {errors}"
    min_images, patterns = EXPECTED[name]
    assert images >= min_images
    joined = "\n".join(texts)
    for pattern in patterns:
        assert re.search(pattern, joined), f"{path.name}: no output matches {pattern!r}"


class _Kernel:
    def __init__(self) -> None:
        self.config = {"IPKernelApp": {}}  # what IPython's shell holds inside a Jupyter kernel


@pytest.mark.parametrize("in_kernel", [False, True])
def test_progress_bar_never_warns_for_a_missing_widget(in_kernel, monkeypatch):
    # tqdm.auto warns "IProgress not found" in a kernel without ipywidgets; the text bar is
    # used there instead (and everywhere outside a kernel).
    import importlib.util
    import types

    from tqdm.std import tqdm

    from accel._progress import progress_bar

    shell = _Kernel() if in_kernel else None
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    bar = progress_bar(total=2, disable=True)  # pytest turns any warning into an error
    assert type(bar) is tqdm


def test_import_accel_imports_no_progress_bar_library():
    code = "import sys, accel; print(sorted(m for m in sys.modules if m.startswith('tqdm')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
