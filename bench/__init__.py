"""Benchmarks: `python -m bench.<name>`; each prints what it measured, side by side, in one run."""
