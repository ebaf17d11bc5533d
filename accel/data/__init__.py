"""Data that does not fit in memory, or on a device: sources and the input pipeline.

- sources: :class:`ArraySource` (arrays or memory maps), :class:`NpyShards`,
  :class:`ParquetShards`, :class:`RandomAccessSource` (grain's random-access protocol),
  :class:`WrappedSource` (to transform or count reads), :class:`Throttled` (a slow source,
  to measure its effect), and :func:`as_source`;
- the input pipeline: :class:`StepLoader` reads the rows each of this
  process's devices needs for the coming steps of the shared batch plan, a block of steps
  at a time, on worker threads the process reuses and ahead of the device, while it
  computes.

``JAXOptimizer.fit`` and ``ParallelTrainer.fit``/``train`` take a source (or a path, or a
memory map) wherever they take arrays; training then streams the data (``accel.linear``'s
one training program, fed a block of steps at a time).
"""

# Layout: private modules _sources (the sources), _parquet (ParquetShards), _files (rows of
# a file read with pread and checked for change on every read), _ahead (read-ahead on
# reused threads), _pipeline (StepLoader).

from accel.data._parquet import ParquetShards
from accel.data._pipeline import Block, StepLoader
from accel.data._sources import (
    ArraySource,
    NpyShards,
    RandomAccessSource,
    Source,
    Throttled,
    WrappedSource,
    as_source,
    is_source_like,
    read_checked,
    streams,
)

__all__ = [
    "ArraySource",
    "Block",
    "NpyShards",
    "ParquetShards",
    "RandomAccessSource",
    "Source",
    "StepLoader",
    "Throttled",
    "WrappedSource",
    "as_source",
    "is_source_like",
    "read_checked",
    "streams",
]
