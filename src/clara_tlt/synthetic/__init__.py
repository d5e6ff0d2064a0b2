"""Synthetic CT-like data for the example pipeline, the tests and the benchmarks (nothing is downloaded).

Layer: the catalogue (tests/layers.py); it writes through io and atomic.
"""
