"""``python -m benchmarks``: the large-scale benchmark suite (see ``large_scale_benchmark``)."""

import sys

from benchmarks.large_scale_benchmark import main

sys.exit(main())
