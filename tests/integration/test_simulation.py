"""The seeded whole-system simulation (``sim/``, issue #15), CI-sized: 0 violations, every flow and fault seen.

Run as ``make sim`` would, in its own process with its own DynamoDB Local, so its
environment and injected faults never touch the other tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sim.faults import Faults
from sim.runner import WEIGHTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 20261203
OPS = 1_500  # about 70 s on this 2-core machine, DynamoDB Local start and reconciliation included


def test_a_seeded_simulation_of_every_flow_with_faults_finds_no_violation() -> None:
    proc = subprocess.run([sys.executable, "-m", "sim", "--seed", str(SEED), "--ops", str(OPS), "--json",
                           "--no-shrink"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    summary = json.loads(lines[-1])
    assert summary["violations"] == 0, summary.get("violation")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert summary["seed"] == SEED and sum(summary["ops_by_kind"].values()) == OPS
    assert set(summary["ops_by_kind"]) == set(WEIGHTS), summary["ops_by_kind"]
    assert all(summary["faults_by_kind"].get(kind, 0) >= 1 for kind in Faults.KINDS), summary["faults_by_kind"]
    outcomes = summary["outcomes"]
    # The flows happened, not just their refusals: money moved by each, across a UTC midnight.
    for seen in ("hold_came_due", "escrow_came_due", "refunded_in_flight", "daily_next_day", "deliveries_3",
                 "hold_settle_200", "escrow_release_200", "escrow_refund_200", "unlock_201", "tip_200",
                 "5xx_retried"):
        assert outcomes.get(seen, 0) >= 1, (seen, outcomes)
    assert summary["reconcile"]["purchases_checked"] >= 1
