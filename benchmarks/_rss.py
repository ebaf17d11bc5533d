"""The resident memory of this process, for the benchmarks that report peak RSS per case.

Each case runs in a fresh process; it loads its data, calls :func:`reset_peak_rss` (Linux
``/proc/self/clear_refs`` 5: the peak mark drops to the current RSS, so the peak measured
next excludes loading the data), runs, then reads :func:`rss_mib` ``("VmHWM")``.

Example:
    >>> from benchmarks._rss import reset_peak_rss, rss_mib
    >>> reset = reset_peak_rss()
    >>> rss_mib("VmHWM") >= rss_mib("VmRSS") * 0.5 > 0
    True
"""

from __future__ import annotations

import resource

__all__ = ["process_peak_mib", "reset_peak_rss", "rss_mib"]


def reset_peak_rss() -> bool:
    """Reset this process's peak-RSS mark to its current RSS; ``False`` where that is not
    possible (then the peak counts from the process's start)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_mib(field: str = "VmHWM") -> float:
    """``'VmRSS'`` (now) or ``'VmHWM'`` (the peak since the last reset) of this process, in
    MiB; without ``/proc``, the peak since the process started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return process_peak_mib()


def process_peak_mib() -> float:
    """This process's peak RSS since it started, in MiB (``ru_maxrss``: not reset by
    :func:`reset_peak_rss`)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
