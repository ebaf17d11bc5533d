"""Benchmark data sets and the large-scale benchmark suite."""

__all__: list[str] = []
