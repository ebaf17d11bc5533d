"""Sphinx configuration of the API reference (built from the docstrings).

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are errors,
as in CI). Only extensions that ship with Sphinx are used, and the default theme.
"""

import inspect
import os
import sys

# Document the source tree this file belongs to, installed or not.
sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import accel

project = "accel"
author = "accel contributors"
copyright = "accel contributors"
release = accel.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# The docstrings are Google style ("Args:", "Returns:", "Example:" with >>> doctests).
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Every page documents a module with ``automodule`` and ``:members:``: the members are the
# module's ``__all__``, in its order; a class's methods in source order.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True

nitpicky = False
exclude_patterns = ["_build", "tutorials", "**.ipynb_checkpoints"]

html_theme = "alabaster"
html_title = f"accel {release}"
html_static_path: list[str] = []


def _skip_sklearn_metadata_requests(app, what, name, obj, skip, options):
    """Leave out ``set_fit_request`` & co.: scikit-learn adds them to every estimator class
    (metadata routing), and their docstrings refer to scikit-learn's own documentation."""
    if getattr(obj, "__module__", "") == "sklearn.utils._metadata_requests":
        return True
    return None


def _drop_type_docstrings(app, what, name, obj, options, lines):
    """A constant (``ALGORITHMS``, a tuple) has no docstring of its own: autodoc would show
    its type's (``tuple``'s); the page's text describes it instead."""
    if what in ("data", "attribute") and not isinstance(obj, type):
        type_doc = inspect.getdoc(type(obj))
        if type_doc and "\n".join(lines).strip() == type_doc.strip():
            lines.clear()


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_metadata_requests)
    # before napoleon (priority 500) rewrites the lines
    app.connect("autodoc-process-docstring", _drop_type_docstrings, priority=100)
