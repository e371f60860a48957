"""`make load`'s script on a small scale against a real stack: its counts add up and the books balance.

Only counts and the books are asserted: the latency figures are for reading.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.stack_helpers import ROOT, Stack, shell_env, stack  # noqa: F401 (stack is a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_small_load_run_adds_up_and_leaves_balanced_books(stack: Stack) -> None:
    done = subprocess.run([sys.executable, "-m", "scripts.load", "--minutes", "0.1", "--rate", "300",
                           "--burst", "40", "--workers", "20"],
                          cwd=ROOT, env=shell_env(stack.stack_file), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["violations"] == [] and report["books_ok"] is True
    phases = report["phases"]
    assert phases["sustained"]["calls"] == 30  # 0.1 min at 300/min
    hot = phases["burst_one_wallet"]["answers"]
    # every spend ends passed or refused (a 409 contention is sent again with its key)
    assert (hot["200"], hot["422 insufficient_funds"]) == (20, 20) and set(hot) <= {"200", "422 insufficient_funds",
                                                                                    "409 contention"}
    assert phases["burst_many_wallets"]["answers"] == {"200": 40}
    for phase in phases.values():
        assert set(phase["latency_ms"]) == {"p50", "p95", "p99", "mean"}


def test_with_no_stack_it_refuses_in_one_line(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "scripts.load", "--minutes", "0"], cwd=ROOT,
                          env=shell_env(tmp_path / "none.json"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: no local stack is running")
