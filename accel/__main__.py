"""``python -m accel``: same as the ``accel`` console script."""

import sys

from accel.cli import main

sys.exit(main())
