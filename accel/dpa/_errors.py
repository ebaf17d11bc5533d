"""DPA's distributed-streaming exceptions (re-exported by ``accel.dpa.distributed``).

Example:
    >>> from accel.dpa.distributed import InvalidRankError, DistributedError
    >>> issubclass(InvalidRankError, DistributedError)
    True
"""

from __future__ import annotations

__all__ = ["DistributedError", "InvalidRankError", "RangeSplittingError", "SeedGenerationError"]


class DistributedError(Exception):
    """Base class of the distributed errors."""


class InvalidRankError(DistributedError):
    """A rank outside ``[0, world_size)``."""


class RangeSplittingError(DistributedError):
    """Splitting the ids over the ranks failed."""


class SeedGenerationError(DistributedError):
    """Generating rank-aware parameters failed."""
