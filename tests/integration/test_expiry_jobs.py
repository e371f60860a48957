"""Expiry jobs on the real engine: overlapping runs, runs that die, and purchases past their checkout.

The jobs take ``now`` (the CLI and the schedules leave it to the clock), so a
test moves time forward instead of sleeping.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import pytest

from chalicelib.spending import holds
from tests.integration import ops_helpers as oh

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = 8


def place_holds(economy: Any, n: int) -> List[str]:
    for u in range(USERS):
        economy.credit(f"payer{u}", 1000)

    def place(i: int) -> str:
        resp = economy.api.post("/v1/holds", {"user_id": f"payer{i % USERS}", "amount": 3 + i % 5,
                                              "purpose": "call", "expires_in": 60}, key=oh.key())
        assert resp.status == 201, resp.body
        return resp.body["hold_id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(place, range(n)))


def assert_all_expired_once(economy: Any, hold_ids: List[str]) -> None:

    for hold_id in hold_ids:
        assert holds.get_hold(economy.id, hold_id)["status"] == "expired"
    releases: Dict[str, int] = {}
    for u in range(USERS):
        cursor = None
        while True:
            path = f"/v1/users/payer{u}/transactions?limit=100" + (f"&cursor={cursor}" if cursor else "")
            body = economy.api.get(path).body
            for item in body["items"]:
                if (item.get("reason") or "").startswith("expire"):
                    hold_id = (item.get("details") or {}).get("hold_id")
                    releases[hold_id] = releases.get(hold_id, 0) + 1
            cursor = body["next_cursor"]
            if not cursor:
                break
        wallet = economy.api.get(f"/v1/users/payer{u}/wallet").body
        assert wallet["held"] == 0 and wallet["available"] == 1000
    assert len(releases) == len(hold_ids) and set(releases.values()) == {1}, "a hold was released twice"
    economy.check()


def test_two_expiry_runs_at_once_release_each_of_200_holds_exactly_once(economy) -> None:
    hold_ids = place_holds(economy, 200)
    start = threading.Barrier(2)

    def run(_: int) -> Dict[str, Any]:
        start.wait()
        return oh.run("expire-holds", economy=economy.id, now=oh.later(5))

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(run, range(2)))
    assert sum(r.get("resolved", 0) for r in reports) == 200  # the ledger moved each hold's coins once
    assert_all_expired_once(economy, hold_ids)
    assert oh.run("expire-holds", economy=economy.id, now=oh.later(5))["processed"] == 0  # none left due


def test_an_expiry_run_that_dies_half_way_is_finished_by_the_next(economy, monkeypatch) -> None:
    hold_ids = place_holds(economy, 60)
    real, done = holds.resolve, []

    def dying(*args: Any, **kwargs: Any):
        if len(done) == 23:
            raise RuntimeError("the Lambda timed out")
        outcome = real(*args, **kwargs)
        done.append(outcome)
        return outcome

    monkeypatch.setattr(holds, "resolve", dying)
    died = oh.run("expire-holds", economy=economy.id, now=oh.later(5))  # reported (and logged), not raised
    assert died["status"] == "failed" and died["error"] == "RuntimeError: the Lambda timed out"
    monkeypatch.setattr(holds, "resolve", real)
    report = oh.run("expire-holds", economy=economy.id, now=oh.later(5))
    assert report["resolved"] == 60 - 23 and report.get("already_resolved", 0) == 0  # nothing twice
    assert_all_expired_once(economy, hold_ids)


def test_a_bounded_run_stops_and_the_next_resumes(economy) -> None:
    hold_ids = place_holds(economy, 30)
    first = oh.run("expire-holds", economy=economy.id, now=oh.later(5), max_items=12)
    assert first["processed"] == 12 and first["stopped_early"]
    second = oh.run("expire-holds", economy=economy.id, now=oh.later(5))
    assert first["resolved"] + second["resolved"] == 30
    assert_all_expired_once(economy, hold_ids)


# -- purchases -----------------------------------------------------------------------


def purchase_status(economy: Any, purchase: Dict[str, Any]) -> str:
    return economy.api.get(f"/v1/purchases/{purchase['purchase_id']}").body["status"]


def due_shard(purchase_id: str) -> Any:
    from chalicelib.db.models.purchases import PurchaseModel

    return PurchaseModel.get(purchase_id, consistent_read=True).due_shard


def test_pending_purchases_past_their_expiry_are_marked_expired(shop) -> None:
    stale = oh.buy(shop, "alice")
    assert due_shard(stale["purchase_id"]) is not None
    assert oh.run("expire-purchases", economy=shop.id)["processed"] == 0  # not due yet
    report = oh.run("expire-purchases", economy=shop.id, now=oh.later(31))
    assert report["expired"] == 1
    assert purchase_status(shop, stale) == "expired" and due_shard(stale["purchase_id"]) is None
    assert oh.run("expire-purchases", economy=shop.id, now=oh.later(31))["processed"] == 0


def test_a_late_payment_after_the_job_expired_it_still_credits(shop) -> None:
    purchase = oh.buy(shop, "alice")
    oh.run("expire-purchases", economy=shop.id, now=oh.later(31))
    assert purchase_status(shop, purchase) == "expired"
    oh.pay(shop, purchase)
    assert purchase_status(shop, purchase) == "credited"
    assert shop.api.get("/v1/users/alice/wallet").body["available"] == 100
    shop.check()


def test_credited_and_expired_purchases_leave_the_index(shop) -> None:
    paid = oh.buy(shop, "alice")
    oh.pay(shop, paid)
    assert due_shard(paid["purchase_id"]) is None
    report = oh.run("expire-purchases", economy=shop.id, now=oh.later(31))
    assert report["processed"] == 0 and purchase_status(shop, paid) == "credited"


def test_a_paid_purchase_never_credited_is_credited_not_expired(shop) -> None:
    from chalicelib.db.models.purchases import PurchaseModel

    purchase = oh.buy(shop, "bob")
    # The worker recorded the payment and died before the credit's transaction.
    PurchaseModel.get(purchase["purchase_id"]).update(actions=[PurchaseModel.paid.set(True)])
    report = oh.run("expire-purchases", economy=shop.id, now=oh.later(31))
    assert report["credited"] == 1
    assert purchase_status(shop, purchase) == "credited"
    assert shop.api.get("/v1/users/bob/wallet").body["available"] == 100
    shop.check()


def test_two_runs_at_once_expire_each_purchase_once(shop) -> None:
    with ThreadPoolExecutor(8) as pool:
        purchases = list(pool.map(lambda i: oh.buy(shop, f"buyer{i % 5}"), range(40)))
    start = threading.Barrier(2)

    def run(_: int) -> Dict[str, Any]:
        start.wait()
        return oh.run("expire-purchases", economy=shop.id, now=oh.later(31))

    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(run, range(2)))
    assert sum(r.get("expired", 0) for r in reports) == 40
    assert {purchase_status(shop, p) for p in purchases} == {"expired"}


def test_an_expiry_run_that_dies_is_finished_by_the_next(shop, monkeypatch) -> None:
    from chalicelib.purchases import expiry as purchase_expiry

    purchases = [oh.buy(shop, "alice") for _ in range(15)]
    real, done = purchase_expiry.expire_purchase, []

    def dying(purchase_id: str, now: str) -> str:
        if len(done) == 6:
            raise RuntimeError("killed")
        done.append(purchase_id)
        return real(purchase_id, now)

    monkeypatch.setattr(purchase_expiry, "expire_purchase", dying)
    died = oh.run("expire-purchases", economy=shop.id, now=oh.later(31))  # reported (and logged), not raised
    assert died["status"] == "failed" and died["error"] == "RuntimeError: killed"
    monkeypatch.setattr(purchase_expiry, "expire_purchase", real)
    report = oh.run("expire-purchases", economy=shop.id, now=oh.later(31))
    assert report["expired"] == 15 - 6 and report.get("already", 0) == 0
    assert {purchase_status(shop, p) for p in purchases} == {"expired"}


def test_an_old_local_table_gets_the_indexes_it_lacks(local_engine, monkeypatch) -> None:
    """``make run`` keeps its data: ``tables create`` adds indexes that a later version declares."""
    import uuid

    from chalicelib.core import config
    from chalicelib.db.engine import get_client
    from chalicelib.db.schema import add_missing_indexes

    prefix = f"old-{uuid.uuid4().hex[:8]}-"
    client, name = get_client(), f"{prefix}purchases"
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "purchase_id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "purchase_id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    monkeypatch.setenv("COINS_TABLE_PREFIX", prefix)
    config.reset_settings()
    assert sorted(add_missing_indexes([name])) == [f"{name}/by_economy", f"{name}/by_user", f"{name}/due"]
    indexes = {g["IndexName"] for g in client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
    assert indexes == {"by_economy", "by_user", "due"}
    assert add_missing_indexes([name]) == []
