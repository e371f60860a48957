"""``BooksWatch``: the simulation's repeated check of an economy, reading only what changed.

It must find what a full ``check_economy`` finds in what it reads, read less
than the full check while the books grow, and leave exactly one blind spot (an
entry that moved no account), which the full check covers.
"""
from __future__ import annotations

import uuid

import pytest

from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger.invariants import BooksWatch, check_economy, entry_partition
from tests.integration import ops_helpers as oh

pytestmark = pytest.mark.integration


def spend(economy, user: str, amount: int) -> None:
    resp = economy.api.post(f"/v1/users/{user}/spend", {"amount": amount, "reason": "hat"}, key=uuid.uuid4().hex)
    assert resp.status == 200, resp.body


def test_a_second_check_reads_only_the_new_entries_of_the_wallets_that_moved(economy) -> None:
    oh.busy(economy)
    watch = BooksWatch(economy.id)
    first = watch.check()
    assert first.ok, first.discrepancies
    assert first.entries_checked == check_economy(economy.id).entries_checked  # the first check reads everything
    quiet = watch.check()
    assert quiet.ok and quiet.entries_checked == 0  # nothing moved: nothing read
    spend(economy, "alice", 3)
    spend(economy, "alice", 4)
    after = watch.check()
    assert after.ok, after.discrepancies
    # alice's two new entries, and the system account they paid into read again in full
    full = check_economy(economy.id)
    assert 2 < after.entries_checked < full.entries_checked
    assert after.accounts_checked == full.accounts_checked


@pytest.mark.books_broken("a wallet tampered behind the ledger")
def test_a_tampered_balance_is_found_by_the_next_check(economy) -> None:
    oh.busy(economy)
    watch = BooksWatch(economy.id)
    assert watch.check().ok
    oh.tamper(economy.id, "u:bob", "available", 7)
    report = watch.check()
    assert {"type": "zero_sum", "total": 7} in report.discrepancies
    assert {"type": "ledger_mismatch", "account": "u:bob", "bucket": "available", "balance": 277,
            "entries_sum": 270} in report.discrepancies


@pytest.mark.books_broken("an entry rewritten behind the ledger")
def test_a_new_entry_that_does_not_replay_is_found(economy) -> None:
    economy.credit("erin", 100)
    watch = BooksWatch(economy.id)
    assert watch.check().ok
    spend(economy, "erin", 10)  # seq 2
    get_client().update_item(
        TableName=table_name("entries"),
        Key={"account_key": {"S": entry_partition(economy.id, "u:erin")}, "sk": {"S": f"{2:012d}"}},
        UpdateExpression="SET available_after = :x", ExpressionAttributeValues={":x": {"N": "95"}},
    )
    problems = watch.check().discrepancies
    assert {"type": "balance_after_mismatch", "account": "u:erin", "seq": 2, "bucket": "available",
            "recorded": 95, "replayed": 90} in problems


@pytest.mark.books_broken("an entry deleted behind the ledger")
def test_an_entry_that_moved_no_account_is_the_blind_spot_the_full_check_covers(economy) -> None:
    economy.credit("erin", 100)
    spend(economy, "erin", 10)
    watch = BooksWatch(economy.id)
    assert watch.check().ok
    get_client().delete_item(
        TableName=table_name("entries"),
        Key={"account_key": {"S": entry_partition(economy.id, "u:erin")}, "sk": {"S": f"{1:012d}"}},
    )
    assert watch.check().ok  # the wallet's item did not change: the watch does not read it again
    kinds = {d["type"] for d in check_economy(economy.id).discrepancies if d.get("account") == "u:erin"}
    assert {"seq_gap", "ledger_mismatch"} <= kinds
