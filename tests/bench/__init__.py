"""Benchmarks: not collected by pytest; run one with ``python -m tests.bench.<module>``."""
