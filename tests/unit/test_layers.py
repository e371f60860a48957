"""The house's arrows, on every ``make test``: ``lint-imports`` against ``.importlinter``.

A new import that points up (a feature importing the Discord adapter, a
capability importing a sibling, a module outside a store touching the engine,
the deployed package importing dev code) fails here with the chain that broke it.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit


def test_every_import_linter_contract_is_kept() -> None:
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    result = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout and " kept" in result.stdout


def test_the_contracts_name_every_package_of_chalicelib() -> None:
    """A new package must take its place in the layers, or the contract would not see it."""
    with open(os.path.join(ROOT, ".importlinter"), encoding="utf-8") as handle:
        config = handle.read()
    layers = config.split("layers =", 1)[1].split("containers =", 1)[0]
    named = {name.strip() for line in layers.splitlines() for name in line.split("|") if name.strip()}
    packages = {entry.name for entry in os.scandir(os.path.join(ROOT, "chalicelib"))
                if entry.is_dir() and os.path.exists(os.path.join(entry.path, "__init__.py"))}
    assert packages == named
