"""``python -m benchmarks.gpu``: check the modules the kit needs, then run it (``_cli``).

The check uses ``importlib.util.find_spec`` only, so a missing module is named with its
remedy before anything imports it; the run then writes nothing and exits 4.
"""

import importlib.util
import sys

# module -> distribution (pip name) for the message
REQUIRED = {"jax": "jax", "jaxlib": "jaxlib", "optax": "optax", "numpy": "numpy", "tqdm": "tqdm",
            "array_api_compat": "array-api-compat", "pytest": "pytest", "packaging": "packaging"}  # fmt: skip

missing = [dist for module, dist in REQUIRED.items() if importlib.util.find_spec(module) is None]
if missing:
    print(
        f"benchmarks.gpu: missing Python package(s): {', '.join(missing)}. Install them "
        "(pip install '.[test]'), or, on a machine without a package registry, bring their "
        "wheels: see the docstring of benchmarks/gpu/__init__.py. Nothing was written (exit 4).",
        file=sys.stderr,
    )
    sys.exit(4)  # _cli.EXIT_MISSING_PACKAGE (not imported: it needs the packages)

from benchmarks.gpu._cli import main  # noqa: E402  (after the check above)

sys.exit(main())
