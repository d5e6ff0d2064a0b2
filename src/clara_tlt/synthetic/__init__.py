"""Synthetic CT-like data for the example pipeline, the tests and the benchmarks (nothing is downloaded)."""
