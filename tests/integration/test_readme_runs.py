"""The README runs as written: every bash block, top to bottom, against a fresh `make run` (tests/readme_runner.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import readme_runner
from tests.stack_helpers import ROOT, Stack, shell_env, stack  # noqa: F401 (stack is a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_readme_block_runs_and_answers_what_the_readme_says(stack: Stack, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # While editing the README: README_UNTIL=<line> runs only the blocks that start before that line.
    until = int(os.environ.get("README_UNTIL") or 10**9)
    steps = readme_runner.steps("\n".join(readme.splitlines()[:until]) + "\n```\n")
    assert len(steps) >= 10, [s.command for s in steps]
    problems = readme_runner.run(steps, stack.url, tmp_path / "readme", shell_env(stack.stack_file), ROOT)
    assert problems == [], "\n".join(problems)
