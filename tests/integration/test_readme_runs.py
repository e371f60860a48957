"""The README runs as written: every bash block, top to bottom, against a fresh `make run` (tests/readme_runner.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import readme_runner
from tests.stack_helpers import ENGINE_PORT, ROOT, Stack, fresh_stack, shell_env  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_readme_block_runs_and_answers_what_the_readme_says(fresh_stack: Stack, tmp_path: Path) -> None:
    stack = fresh_stack  # its own engine: 8001 was taken, so the engine is elsewhere and the CLI must find it
    assert not str(stack.info["dynamodb_endpoint"]).endswith(f":{ENGINE_PORT}")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # While editing the README: README_UNTIL=<line> runs only the blocks that start before that line.
    until = int(os.environ.get("README_UNTIL") or 10**9)
    steps = readme_runner.steps("\n".join(readme.splitlines()[:until]) + "\n```\n")
    assert len(steps) >= 10, [s.command for s in steps]
    problems = readme_runner.run(steps, stack.url, tmp_path / "readme", shell_env(stack.stack_file), ROOT)
    assert problems == [], "\n".join(problems)
