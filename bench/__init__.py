"""Coinhall benchmarks: ``python -m bench`` (or ``make bench``).

One run starts its own DynamoDB Local in memory, points the app at it
(``COINS_TABLE_PREFIX=bench-``), creates the tables, seeds one economy with API
keys, runs every registered benchmark and prints ``name=value`` lines (``#``
lines are for people). Figures are ratios measured in the same run (app vs the
raw engine), so they mean the same thing on a laptop and on CI; nothing here
asserts a timing.

Layout: ``registry`` (how benchmarks are declared and ordered), ``context``
(engine, env, economy, app client, request counter), one module per family of
benchmarks (``cold_start``, ``spend``, ``checks``), ``runner`` (the run and the
output format) and ``__main__`` (the command line).
"""
from __future__ import annotations

import importlib

from bench.registry import COLD, FINAL, MAIN, Benchmark, benchmarks, register

# Modules whose import registers benchmarks; add new families here.
MODULES = (
    "bench.cold_start",
    "bench.spend",
    "bench.spending",
    "bench.purchases",
    "bench.market",
    "bench.capacity",
    "bench.reconcile",
    "bench.reports",
    "bench.checks",
)


def load() -> None:
    for name in MODULES:
        importlib.import_module(name)


__all__ = ["COLD", "FINAL", "MAIN", "MODULES", "Benchmark", "benchmarks", "load", "register"]
