"""Progress bars: tqdm's notebook widget where Jupyter can show it, its text bar elsewhere.

``tqdm.auto`` picks the widget inside a Jupyter kernel, but when ``ipywidgets`` is not
installed it warns (``TqdmWarning: IProgress not found``) at import time, which reached every
notebook user at ``import accel``. Here tqdm is imported only when a bar is made, and the
widget is used only when ``ipywidgets`` is importable; otherwise the text bar, which Jupyter
shows as well.

Example:
    >>> bar = progress_bar(total=3, desc="fit", unit="epoch", disable=True)
    >>> bar.update(3); bar.close()
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

__all__ = ["progress_bar"]


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm bar with ``kwargs`` (``total``, ``initial``, ``desc``, ``unit``, ...)."""
    if _in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(**kwargs)
