"""Chaos runs: the whole flow against the emulators with faults injected at random, seeded points.

`python -m tests.chaos --runs N --seed S` prints the figures; `tests/test_chaos.py` runs a short version.
"""
