"""Benchmark harness for conslaw_algebra: ``python -m benchmarks [--quick]``."""
