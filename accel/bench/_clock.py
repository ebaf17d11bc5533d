"""The host clock every timer in :mod:`accel.bench` reads: one seam, so tests can replace it.

``now()`` is :func:`time.perf_counter` (seconds, monotonic, the highest resolution) and
``sleep()`` is :func:`time.sleep` (the settle pause between backends). The timers call them
through this module at each use, never a copy bound at import time, so a test that sets
``accel.bench._clock.now`` to a fake clock controls every duration the harness reports
(timed calls, compilation, placement, fits) and can check what falls inside the clock
without depending on the machine's load.
"""

from __future__ import annotations

import time

__all__ = ["now", "sleep"]

now = time.perf_counter
sleep = time.sleep
