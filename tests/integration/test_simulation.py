"""The seeded whole-system simulation (``sim/``, issue #15), CI-sized: 0 violations, every flow and fault seen.

Run as ``make sim`` would, in its own process with its own DynamoDB Local, so its
environment and injected faults never touch the other tests.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict

import pytest

from sim.faults import Faults
from sim.ops_discord import REST_FAULTS
from sim.ops_stripe import STRIPE_FAULTS
from sim.runner import WEIGHTS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEED = 20261203
OPS = 20_000  # about 6 minutes on this 2-core machine alone, 8-10 beside the rest of `make test` (it runs first)


def _simulate(seed: int, ops: int) -> Dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "sim", "--seed", str(seed), "--ops", str(ops), "--json",
                           "--no-shrink"], cwd=ROOT, capture_output=True, text=True, timeout=1_450)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    summary = json.loads(lines[-1])
    assert summary["violations"] == 0, summary.get("violation")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return summary


@pytest.mark.timeout(1_500)
def test_a_seeded_simulation_of_every_flow_with_faults_finds_no_violation() -> None:
    summary = _simulate(SEED, OPS)
    assert summary["seed"] == SEED and sum(summary["ops_by_kind"].values()) == OPS
    assert set(summary["ops_by_kind"]) == set(WEIGHTS), summary["ops_by_kind"]
    faults = summary["faults_by_kind"]
    assert all(faults.get(kind, 0) >= 1 for kind in (*Faults.KINDS, *REST_FAULTS, *STRIPE_FAULTS)), faults
    outcomes = summary["outcomes"]
    # The flows happened, not just their refusals: money moved by each, across a UTC midnight,
    # and every fault was met and got over (a retried 5xx, a crashed request sent again, a job resumed).
    for seen in ("hold_came_due", "escrow_came_due", "refunded_in_flight", "daily_next_day", "deliveries_3",
                 "hold_settle_200", "escrow_release_200", "escrow_refund_200", "unlock_201", "tip_200",
                 "5xx_retried", "crash_retried", "job_crashed",
                 "dispute_opened", "dispute_won", "dispute_lost", "dispute_events_swapped", "refund_left_debt",
                 "settle_debt_200", "settle_debt_partly", "freeze_200", "unfreeze_200", "frozen_refused",
                 "raced_spends", "raced_deliveries_3",
                 "order_fulfilled", "order_refunded", "order_cancelled", "redeem_200", "listing_201",
                 "listing_buy_201", "listing_cancel_200", "game_server_ok", "game_server_500", "game_server_429",
                 "game_server_reset", "game_server_hang", "game_server_404",
                 # /give: sent, refused each way, cancelled, delivered again, clicked by another; the deferred work done
                 "give_offered", "give_ok_sent", "give_self", "give_bot", "give_funds", "give_ok_frozen",
                 "give_ok_expired", "give_no_cancelled_now", "give_no_already_sent", "give_ok_not_yours",
                 "give_redelivered_sent", "discord_setup_done", "discord_line_posted",
                 # the rewards API: paid, repeated (nothing paid), refused each way, a budget spent, a daily capped
                 "quest_200", "quest_again", "referral_200", "referral_again", "referral_reward_already_claimed",
                 "referral_self_referral", "referral_user_not_found", "course_200", "course_again",
                 "course_course_not_found", "course_delete_200", "grant_budget_429", "daily_capped",
                 # operator events: made, replayed, started, stopped, refused, written between two claims and
                 # after a lost answer (the cache window let pass); grants and orders inside them
                 "event_created", "event_create_replayed", "event_started", "event_stopped", "event_overlap",
                 "invalid_event", "event_write_between_claims", "event_cache_waited", "grant_during_event",
                 "order_during_discount",
                 # Stripe's API: every fault met; refunds made (in part, in full, finished by a retry of the
                 # same key after a 503), clawed back from events delivered late, twice or out of order
                 "stripe_checkout_201", "stripe_500", "stripe_429", "stripe_timeout", "stripe_reset",
                 "stripe_503_retried", "stripe_library_retried", "admin_refund_201", "admin_refund_200",
                 "admin_refund_partial", "admin_refund_full", "admin_refund_replayed", "admin_refund_422",
                 "stripe_refund_clawed", "stripe_refund_left_debt", "stripe_refund_event_stale",
                 "stripe_refund_overtaken", "stripe_events_reordered"):
        assert outcomes.get(seen, 0) >= 1, (seen, outcomes)
    assert summary["reconcile"]["purchases_checked"] >= 1
    # The population stays mostly able to pay: a run whose wallets end up frozen tests only refusals.
    assert summary["frozen_share"] < 0.3, summary["frozen_share"]
    assert outcomes["oracle_checks_full"] >= OPS // (200 * 5)


def test_a_seed_replays_exactly() -> None:
    """Same seed, same run: every choice, fault, id and deadline comes from the seed and the simulated clock."""
    first, second = (_simulate(7, 400) for _ in range(2))
    assert first["ops_by_kind"].get("race", 0) >= 1  # the one place threads interleave as the machine likes
    for run in (first, second):
        run.pop("duration_s"), run.pop("ops_per_s")
        # A race's legs land on system-account shards its threads picked in their own order:
        # reconciliation may walk one shard account more or fewer, and nothing else differs.
        run["reconcile"].pop("accounts_checked")
    assert first == second
    assert sum(first["faults_by_kind"].values()) >= 5  # a replay of faults, not of a quiet run
