"""Reconciliation on the real engine: it finds what is wrong, names it, and changes nothing.

Every test scopes the job to its own economy (``economy=``): the shared engine
holds every other test's economies too.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List

import pytest

from tests.ledger_helpers import posting
from chalicelib import ledger
from chalicelib.operations.reconcile import state
from tests.integration import ops_helpers as oh

pytestmark = pytest.mark.integration


@pytest.fixture
def metrics() -> Any:
    from chalicelib.core import observability

    docs: List[Dict[str, Any]] = []
    observability.set_metrics_sink(docs.append)
    yield docs
    observability.set_metrics_sink(None)


def named_accounts(report: Dict[str, Any]) -> set:
    return {d["account"] for d in report["discrepancies"] if "account" in d}


def test_a_clean_economy_reconciles_to_nothing_and_the_first_run_is_full(economy) -> None:
    oh.busy(economy)
    report = oh.run("reconcile", economy=economy.id)
    assert report["discrepancies"] == [] and report["warnings"] == [] and report["complete"]
    only = report["economies"][0]
    assert only["mode"] == "full"  # nothing was verified before: start from the first entry
    assert only["accounts_checked"] == only["accounts"] == len(oh.accounts(economy.id))
    assert report["entries_checked"] >= report["accounts_checked"]
    assert report["credits_checked"] == 1 and report["purchases_checked"] == 2
    assert report["job_id"].startswith("job_")
    assert state.peek("reconcile", economy.id)["since"]


def test_incremental_runs_check_only_what_changed_since_the_checkpoint(economy) -> None:
    oh.busy(economy)
    oh.run("reconcile", economy=economy.id)
    quiet = oh.run("reconcile", economy=economy.id)
    # Nothing changed, but accounts touched within the settle margin are looked at again.
    assert quiet["economies"][0]["mode"] == "incremental" and quiet["discrepancies"] == []
    economy.credit("erin", 5)
    after = oh.run("reconcile", economy=economy.id)
    assert after["economies"][0]["mode"] == "incremental" and after["discrepancies"] == []
    assert after["accounts_checked"] <= after["economies"][0]["accounts"]


@pytest.mark.books_broken("a wallet tampered behind the ledger")
@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_a_tampered_wallet_is_found_exactly_and_nothing_is_changed(economy, tmp_path, caplog, metrics, mode) -> None:
    oh.busy(economy)
    oh.run("reconcile", economy=economy.id)  # the checkpoint: everything was fine
    oh.tamper(economy.id, "u:bob", "available", 7)
    before = oh.snapshot(economy.id, tmp_path)
    caplog.set_level(logging.INFO)
    report = oh.run("reconcile", economy=economy.id, full=(mode == "full"))
    assert named_accounts(report) == {"u:bob"}
    mismatch = [d for d in report["discrepancies"] if d["type"] == "ledger_mismatch"]
    assert mismatch == [{"type": "ledger_mismatch", "account": "u:bob", "bucket": "available",
                         "balance": 277, "entries_sum": 270, "economy": economy.id}]
    assert {"type": "zero_sum", "total": 7, "economy": economy.id} in report["discrepancies"]
    # An incremental run cannot see an edit that left updated_at alone, but the
    # economy no longer sums to zero: it escalates to a full check and finds it.
    assert report["economies"][0]["mode"] == "full"
    assert oh.snapshot(economy.id, tmp_path) == before  # reconciliation never writes a balance
    alerts = [r for r in caplog.records if "OPERATOR ALERT" in r.getMessage()]
    assert alerts and alerts[0].levelno == logging.ERROR
    emitted = [d for d in metrics if d.get("Job") == "reconcile"]
    assert emitted[-1]["Discrepancies"] == 2 and emitted[-1]["JobFailed"] == 0
    assert "JobDuration" in emitted[-1] and emitted[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Coinhall"


@pytest.mark.books_broken("a system shard tampered behind the ledger")
def test_a_tampered_system_shard_is_found(economy) -> None:
    oh.busy(economy)
    shard = next(a["account"] for a in oh.accounts(economy.id) if a["account"].startswith("sys:adjustments"))
    oh.tamper(economy.id, shard, "available", -3)
    report = oh.run("reconcile", economy=economy.id, full=True)
    assert named_accounts(report) == {shard}


@pytest.mark.books_broken("an entry tampered behind the ledger")
def test_a_tampered_entry_is_found_on_the_full_run(economy) -> None:
    from chalicelib.db.engine import get_client, table_name

    oh.busy(economy)
    get_client().update_item(
        TableName=table_name("entries"),
        Key={"account_key": {"S": f"{economy.id}#u:alice"}, "sk": {"S": f"{1:012d}"}},
        UpdateExpression="SET d_available = :d", ExpressionAttributeValues={":d": {"N": "499"}})
    report = oh.run("reconcile", economy=economy.id, full=True)
    assert named_accounts(report) == {"u:alice"}
    assert {d["type"] for d in report["discrepancies"]} >= {"ledger_mismatch", "balance_after_mismatch"}


@pytest.mark.books_broken("freeze reasons changed behind the ledger")
@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_freeze_reasons_changed_behind_the_ledger_are_found(economy, mode) -> None:
    from chalicelib.db.engine import get_client, table_name
    from chalicelib.core.ids import now_iso

    oh.busy(economy)
    assert economy.api.post("/v1/admin/users/bob/freeze", {"reason": "review"}).status == 200
    clean = oh.run("reconcile", economy=economy.id)
    assert clean["discrepancies"] == []
    # A console edit lifts bob's freeze without a ledger entry (updated_at moves, as an edit tool would).
    get_client().update_item(
        TableName=table_name("accounts"), Key={"economy": {"S": economy.id}, "account": {"S": "u:bob"}},
        UpdateExpression="SET frozen = :f, updated_at = :t REMOVE freeze_reasons",
        ExpressionAttributeValues={":f": {"BOOL": False}, ":t": {"S": now_iso()}})
    report = oh.run("reconcile", economy=economy.id, full=(mode == "full"))
    assert report["economies"][0]["mode"] == mode
    seq = economy.api.get("/v1/users/bob/wallet").body["seq"]
    assert report["discrepancies"] == [{"type": "freeze_mismatch", "account": "u:bob", "frozen": False,
                                        "freeze_reasons": [], "entry_seq": seq, "entry_reasons": ["operator"],
                                        "economy": economy.id}]


@pytest.mark.books_broken("a negative bucket written behind the ledger")
def test_a_negative_user_bucket_is_reported(economy) -> None:
    economy.credit("alice", 5)
    oh.tamper(economy.id, "u:alice", "held", -2)
    oh.tamper(economy.id, "u:alice", "available", 2)  # still sums to zero
    report = oh.run("reconcile", economy=economy.id, full=True)
    assert {"type": "negative_balance", "account": "u:alice", "bucket": "held", "balance": -2,
            "economy": economy.id} in report["discrepancies"]


@pytest.mark.books_broken("a wallet tampered behind the ledger")
def test_the_cli_reports_json_and_exits_1_on_discrepancies(economy, capsys) -> None:
    from chalicelib.cli.main import main

    economy.credit("alice", 10)
    assert main(["jobs", "run", "reconcile", "--economy", economy.id]) == 0
    assert json.loads(capsys.readouterr().out)["discrepancies"] == []
    oh.tamper(economy.id, "u:alice", "available", 1)
    assert main(["jobs", "run", "reconcile", "--economy", economy.id, "--full"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["job"] == "reconcile" and out["mode"] == "full" and out["duration_s"] >= 0
    assert {d["account"] for d in out["discrepancies"] if "account" in d} == {"u:alice"}


def test_a_run_killed_half_way_resumes_where_it_stopped(economy, monkeypatch) -> None:
    from chalicelib.operations.reconcile import accounts as checks
    from chalicelib.operations.reconcile import job

    for i in range(12):
        economy.credit(f"user{i:02d}", 10 + i)
    total = len(oh.accounts(economy.id))
    monkeypatch.setattr(job, "BATCH", 4)
    real, calls = checks.check, []

    def dying(*args: Any, **kwargs: Any):
        if len(calls) == 9:
            raise RuntimeError("the Lambda died")
        calls.append(args[1]["account"])
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "check", dying)
    died = oh.run("reconcile", economy=economy.id)  # the last resort reports it (and logs it), not raises
    assert died["status"] == "failed" and died["error"] == "RuntimeError: the Lambda died"
    saved = state.peek("reconcile", economy.id)
    assert "since" not in saved and "lease_owner" not in saved  # no checkpoint yet; the lease is given back
    assert saved["progress"]["after"] == sorted(a["account"] for a in oh.accounts(economy.id))[7]
    monkeypatch.setattr(checks, "check", real)
    report = oh.run("reconcile", economy=economy.id)
    assert report["complete"] and report["discrepancies"] == []
    assert report["accounts_checked"] == total - 8  # the two saved batches are not checked again
    assert "progress" not in state.peek("reconcile", economy.id)


def test_a_run_out_of_budget_saves_progress_and_the_next_finishes(economy) -> None:
    for i in range(10):
        economy.credit(f"user{i:02d}", 1)
    total = len(oh.accounts(economy.id))
    first = oh.run("reconcile", economy=economy.id, max_items=3)
    assert not first["complete"] and first["unfinished"] == [economy.id] and first["stopped_early"]
    second = oh.run("reconcile", economy=economy.id)
    assert second["complete"] and first["accounts_checked"] + second["accounts_checked"] == total


def test_an_economy_another_run_holds_is_skipped(economy) -> None:
    from datetime import timedelta

    from chalicelib.core.ids import utc_now

    economy.credit("alice", 1)
    assert state.claim("reconcile", economy.id, "job_other", utc_now(), timedelta(minutes=5)) is not None
    report = oh.run("reconcile", economy=economy.id)
    assert report["economies"][0]["skipped"] and not report["complete"]
    assert report["warnings"] == [{"type": "busy", "economy": economy.id}]


def test_a_second_credit_of_one_purchase_is_found(economy) -> None:
    info = oh.busy(economy)
    purchase_id = info["purchase"]["purchase_id"]
    # A buggy path credits the same purchase again under another key.
    outcome = ledger.post(posting(economy.id, f"bug:{purchase_id}", "fp", "purchase",
                          [ledger.Leg(ledger.user("carol"), 100), ledger.Leg(ledger.system("issuance"), -100)],
                          respond=lambda posted: {}, ref=purchase_id))
    report = oh.run("reconcile", economy=economy.id)
    problems = [d for d in report["discrepancies"] if d["type"] == "purchase_credited_twice"]
    assert problems == [{"type": "purchase_credited_twice", "purchase_id": purchase_id, "op_id": outcome.op_id,
                         "purchase_op_id": problems[0]["purchase_op_id"], "account": problems[0]["account"],
                         "economy": economy.id}]
    assert len(report["discrepancies"]) == 1  # the books themselves balance


def test_a_purchase_marked_credited_without_its_money_is_found(economy) -> None:
    from chalicelib.db.engine import get_client, table_name

    info = oh.busy(economy)
    pending = info["pending"]["purchase_id"]
    get_client().update_item(TableName=table_name("purchases"), Key={"purchase_id": {"S": pending}},
                             UpdateExpression="SET credited_op = :o", ExpressionAttributeValues={":o": {"S": "op_X"}})
    report = oh.run("reconcile", economy=economy.id)
    assert report["discrepancies"] == [{
        "type": "credited_purchase_without_entry", "purchase_id": pending, "credited_op": "op_X",
        "operation_found": False, "entry_found": False, "economy": economy.id}]


def test_overdue_holds_and_purchases_are_repaired_through_the_ledger(economy) -> None:
    from chalicelib.spending.holds import get_hold

    info = oh.busy(economy)
    report = oh.run("reconcile", economy=economy.id, now=oh.later(120))
    repairs = {(r["type"], r["id"]) for r in report["repairs"]}
    assert repairs == {("hold_expired", info["open_hold"]), ("purchase_expired", info["pending"]["purchase_id"])}
    assert all(r["reason"] for r in report["repairs"])
    assert get_hold(economy.id, info["open_hold"])["status"] == "expired"
    wallet = economy.api.get("/v1/users/bob/wallet").body
    assert wallet["held"] == 0
    history = economy.api.get("/v1/users/bob/transactions?limit=1").body["items"][0]
    assert history["reason"].startswith("expire")  # the repair is a ledger entry with a reason
    assert economy.api.get(f"/v1/purchases/{info['pending']['purchase_id']}").body["status"] == "expired"
    again = oh.run("reconcile", economy=economy.id, now=oh.later(120))
    assert again["repairs"] == []  # resolved once
    economy.check()


def test_economies_never_reconciled_go_first_then_the_longest_unchecked(local_engine) -> None:
    from tests.conftest import new_economy_id
    from chalicelib.tenancy.economies import ensure_economy
    from chalicelib.operations.reconcile.job import oldest_first

    old, recent, never = new_economy_id(), new_economy_id(), new_economy_id()
    for e in (old, recent, never):
        ensure_economy(e)
    oh.run("reconcile", economy=old)
    oh.run("reconcile", economy=recent)
    assert oldest_first([recent, old, never]) == [never, old, recent]
