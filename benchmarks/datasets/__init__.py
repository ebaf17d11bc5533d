"""Benchmark data sets: real-data loaders and synthetic generators."""

__all__: list[str] = []
