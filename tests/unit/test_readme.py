"""The README documents every setting the code reads, and its two commands come first."""
from __future__ import annotations

import os

import pytest

from chalicelib.core.config import _ENV

pytestmark = pytest.mark.unit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _readme() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("name", sorted(_ENV))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in _readme() or f"{name}`" in _readme()


def test_the_two_commands_come_first() -> None:
    text = _readme()
    assert text.index("make run") < text.index("## Configuration")
    assert text.index("make test") < text.index("## Configuration")


def test_ci_runs_the_readme_test_command_and_nothing_else() -> None:
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as handle:
        commands = [line for line in handle.read().splitlines() if line.strip() and not line.startswith("#")]
    assert commands[-1] == "make test"
    words = {word for c in commands for word in c.split()}
    assert not words & {"pip", "apt-get", "pytest", "python", "python3"}
