"""Benchmarks callable from ``radfound bench`` and runnable as ``python -m radfound.benchmarks.<name>``.

Each module exposes ``run(quick: bool = False) -> dict`` returning JSON-ready numbers.
"""
