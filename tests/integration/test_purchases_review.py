"""A customer who paid is credited, or the purchase says why not, alerts, and waits for an operator.

Two halves of one class ("paid and never credited"):

* what a pack may be is checked where it enters (PUT /v1/admin/packs) and again
  at checkout (a pack stored before the limits): nobody can pay for a pack the
  ledger could not credit or Stripe could not charge;
* a paid purchase whose credit the ledger still refuses for good (the wallet at
  MAX_BALANCE, terms stored out of bounds, an invalid user id) becomes
  ``needs_review`` with its reason, raises an operator alert, and the webhook
  answers 200 (no retry loop of 500s). An operator retries once the cause is
  fixed (audited, idempotent). Refunds and disputes that arrive meanwhile end
  in a state where no coin moved wrongly. Transient failures stay 5xx.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Dict, Iterator, List

import pytest

from tests.ledger_helpers import posting
from chalicelib.core import config
from chalicelib import ledger
from chalicelib.ledger.accounts import MAX_AMOUNT, MAX_BALANCE
from tests import purchase_helpers as ph

pytestmark = pytest.mark.integration


@pytest.fixture
def alerts(caplog) -> Iterator[List[Dict[str, Any]]]:
    """The EMF documents emitted meanwhile; OPERATOR ALERT lines go to caplog."""
    from chalicelib.core import observability

    docs: List[Dict[str, Any]] = []
    observability.set_metrics_sink(docs.append)
    # Chalice's app logger ("coinhall") may not propagate to the root, where caplog listens.
    logger = logging.getLogger("coinhall.purchases")
    logger.addHandler(caplog.handler)
    try:
        yield docs
    finally:
        logger.removeHandler(caplog.handler)
        observability.set_metrics_sink(None)


def alert_lines(caplog) -> List[str]:
    # A record may reach caplog twice (our handler, and the root's once logging propagates): count it once.
    records = list({id(r): r for r in caplog.records}.values())
    return [r.getMessage() for r in records if r.levelno == logging.ERROR
            and r.getMessage().startswith("OPERATOR ALERT")]


def review_metrics(docs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [d for d in docs if d.get("Alert") == "purchase_needs_review"]


def put_pack(economy, pack_id: str, body: Dict[str, Any]) -> Any:
    return economy.api.request("PUT", f"/v1/admin/packs/{pack_id}", body=json.dumps(body),
                               headers={"Authorization": f"Bearer {economy.admin_token}",
                                        "Content-Type": "application/json"})


def audit_rows(economy) -> List[Dict[str, Any]]:
    return economy.api.get("/v1/admin/audit?limit=100").body["items"]


def buy(economy, user: str = "alice", pack: str = "coins_100", key: str = None) -> Dict[str, Any]:
    resp = economy.api.post("/v1/checkout", {"user_id": user, "pack_id": pack}, key=key)
    assert resp.status == 201, resp.body
    return resp.body


def wallet(economy, user: str = "alice") -> Any:
    resp = economy.api.get(f"/v1/users/{user}/wallet")
    return resp.body if resp.status == 200 else None


def view(economy, purchase: Dict[str, Any]) -> Dict[str, Any]:
    return economy.api.get(f"/v1/purchases/{purchase['purchase_id']}").body


def retry(economy, purchase: Dict[str, Any], key: str, reason: str = "wallet made room", token: str = None) -> Any:
    return economy.api.post(f"/v1/admin/purchases/{purchase['purchase_id']}/retry-credit", {"reason": reason},
                            key=key, token=token)


def fill(economy, user: str, amount: int) -> None:
    """Put ``amount`` coins (any size) in one wallet with one ledger posting: legs of at most MAX_AMOUNT."""
    legs, left = [], amount
    while left:
        chunk = min(MAX_AMOUNT, left)
        legs += [ledger.Leg(ledger.user(user), chunk), ledger.Leg(ledger.system("adjustments"), -chunk)]
        left -= chunk
    ledger.post(posting(economy.id, f"test:fill:{uuid.uuid4().hex}", ledger.fingerprint("fill", user, amount), "adjust",
                legs, respond=lambda posted: {}, reason="test fill"))


def purchase_entries(economy, user: str = "alice") -> List[Dict[str, Any]]:
    items = economy.api.get(f"/v1/users/{user}/transactions?limit=100").body["items"]
    return [e for e in items if e["type"] in ("purchase", "refund", "dispute")]


def raw_update(purchase_id: str, **values: Any) -> None:
    """Rewrite stored purchase terms: a purchase written before the limits existed."""
    from chalicelib.db.engine import get_client, table_name
    from chalicelib.db import codec

    get_client().update_item(
        TableName=table_name("purchases"), Key={"purchase_id": {"S": purchase_id}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in values),
        ExpressionAttributeNames={f"#{k}": k for k in values},
        # Floats too: what an older writer may have stored (the ledger's codec refuses them).
        ExpressionAttributeValues={f":{k}": {"N": repr(v)} if isinstance(v, float) else codec.encode(v)
                                   for k, v in values.items()})


# --- limits at the pack's entry and at checkout -------------------------------------------

@pytest.mark.parametrize("body,field", [
    ({"coins": MAX_AMOUNT, "bonus_coins": 1}, "bonus_coins"),
    ({"coins": 1, "bonus_coins": MAX_AMOUNT}, "bonus_coins"),
    ({"coins": MAX_AMOUNT + 1}, "coins"),
    ({"price": {"amount": 49, "currency": "usd"}}, "price"),
    ({"price": {"amount": 29, "currency": "gbp"}}, "price"),
    ({"price": {"amount": 49, "currency": "jpy"}}, "price"),
    ({"price": {"amount": 100_000_000, "currency": "usd"}}, "price.amount"),
    ({"price": {"amount": 999, "currency": "xyz"}}, "price"),
    ({"price": {"amount": 999, "currency": "USD"}}, "price.currency"),
    ({"name": "   "}, "name"),
])
def test_a_pack_a_later_step_would_refuse_is_refused_at_entry(shop, body: Dict[str, Any], field: str) -> None:
    full = {"name": "Big", "coins": 100, "bonus_coins": 0, "price": {"amount": 999, "currency": "usd"}, **body}
    audit_before = audit_rows(shop)
    resp = put_pack(shop, "big", full)
    assert (resp.status, resp.code) == (400, "validation_error"), resp.body
    assert resp.body["error"]["details"]["field"] == field
    assert "big" not in [p["id"] for p in shop.api.get("/v1/admin/packs").body["items"]]
    assert audit_rows(shop) == audit_before


def test_the_largest_pack_the_limits_allow_is_sold_and_credited(shop) -> None:
    edge = {"name": "Whale", "coins": MAX_AMOUNT - 1, "bonus_coins": 1,
            "price": {"amount": 99_999_999, "currency": "usd"}}
    assert put_pack(shop, "whale", edge).status == 200
    for pack_id, price in [("cheap_usd", {"amount": 50, "currency": "usd"}),
                           ("cheap_gbp", {"amount": 30, "currency": "gbp"}),
                           ("cheap_jpy", {"amount": 50, "currency": "jpy"})]:
        assert put_pack(shop, pack_id, {"name": pack_id, "coins": 1, "price": price}).status == 200
    purchase = buy(shop, pack="whale")
    resp = ph.deliver(shop.api, ph.completed(purchase))
    assert (resp.status, resp.body["outcome"]) == (200, "paid")
    assert wallet(shop)["available"] == MAX_AMOUNT and view(shop, purchase)["status"] == "credited"
    shop.check()


@pytest.mark.parametrize("terms,problem", [
    ({"coins": MAX_AMOUNT, "bonus_coins": 1}, "bonus_coins"),
    ({"coins": 0}, "coins"),
    ({"coins": 1.5}, "coins"),
    ({"price_amount": 0}, "price.amount"),
    ({"price_amount": 10**9}, "price.amount"),
    ({"currency": "xyz"}, "price.currency"),
    ({"currency": "USD"}, "price.currency"),
])
def test_a_pack_stored_before_the_limits_cannot_be_bought(shop, terms: Dict[str, Any], problem: str) -> None:
    from chalicelib.db.models.economies import PackModel
    from chalicelib.purchases.checkout import purchase_id_for as _purchase_id

    stored = {"name": "Old", "coins": 100, "bonus_coins": 0, "price_amount": 999, "currency": "usd", **terms}
    PackModel(shop.id, "old", active=True, sort_order=9, **stored).save()
    resp = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "old"}, key="buy-old")
    assert (resp.status, resp.code) == (422, "pack_terms_invalid"), resp.body
    assert list(resp.body["error"]["details"]["problems"]) == [problem]
    # No purchase was opened, so nobody can pay for it.
    assert shop.api.get(f"/v1/purchases/{_purchase_id(shop.id, 'buy-old')}").code == "purchase_not_found"
    # An operator can still take it off sale.
    off = shop.api.request("DELETE", "/v1/admin/packs/old", headers={"Authorization": f"Bearer {shop.admin_token}"})
    assert off.status == 200 and off.body["active"] is False


# --- a refused credit: visible, alerted, acknowledged, retried by an operator ---------------

def test_a_credit_refused_for_good_waits_in_needs_review_alerts_once_and_the_webhook_answers_200(
        shop, alerts, caplog) -> None:
    from chalicelib.purchases.expiry import expire_purchase

    fill(shop, "alice", MAX_BALANCE - 50)
    purchase = buy(shop)
    first = ph.deliver(shop.api, ph.completed(purchase))
    assert (first.status, first.body["outcome"]) == (200, "needs_review")
    got = view(shop, purchase)
    assert (got["status"], got["failure_reason"], got["review_step"]) == ("needs_review", "balance_limit", "credit")
    assert wallet(shop)["available"] == MAX_BALANCE - 50 and purchase_entries(shop) == []
    [line] = alert_lines(caplog)
    assert purchase["purchase_id"] in line and "balance_limit" in line
    [metric] = review_metrics(alerts)
    assert metric["OperatorAlerts"] == 1 and metric["purchase_id"] == purchase["purchase_id"]
    assert metric["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Alert"]]
    # Stripe's redeliveries and the second paid event of the session: 200, no second alert, no coins.
    assert ph.deliver(shop.api, ph.completed(purchase)).status == 200
    again = ph.deliver(shop.api, ph.session_event("checkout.session.async_payment_succeeded", purchase))
    assert (again.status, again.body["outcome"]) == (200, "needs_review")
    assert len(alert_lines(caplog)) == 1 and len(review_metrics(alerts)) == 1
    # Out of the expiry job's hands: it is not pending.
    assert expire_purchase(purchase["purchase_id"], "9999-01-01T00:00:00.000Z") == "already"
    assert wallet(shop)["available"] == MAX_BALANCE - 50
    shop.check()


def test_the_operator_retries_the_credit_once_the_cause_is_fixed(shop, alerts, caplog) -> None:
    fill(shop, "alice", MAX_BALANCE - 50)
    purchase = buy(shop)
    ph.deliver(shop.api, ph.completed(purchase))
    # Too early: the wallet is still full. Audited, still needs_review, alerted again.
    early = retry(shop, purchase, "r-1", reason="first try")
    assert (early.status, early.body["status"], early.body["failure_reason"]) == (200, "needs_review", "balance_limit")
    assert len(alert_lines(caplog)) == 2
    row = audit_rows(shop)[0]
    assert (row["action"], row["target"], row["reason"]) == ("purchase.retry", f"purchase:{purchase['purchase_id']}",
                                                              "first try")
    assert row["after"] == {"status": "needs_review", "review_step": "credit", "review_reason": "balance_limit"}
    # The cause goes away (the player spends), the retry credits.
    assert shop.api.post("/v1/users/alice/spend", {"amount": 1_000, "reason": "room"}, key="s1").status == 200
    done = retry(shop, purchase, "r-2")
    assert (done.status, done.headers["idempotent-replayed"]) == (200, "false")
    assert done.body["status"] == "credited" and "failure_reason" not in done.body
    assert wallet(shop)["available"] == MAX_BALANCE - 50 - 1_000 + 100
    [credit] = purchase_entries(shop)
    assert credit["amount"] == 100 and credit["type"] == "purchase"
    row = audit_rows(shop)[0]
    assert row["action"] == "purchase.retry" and row["after"] == {"step": "credit", "transaction_id": credit["id"]}
    assert row["before"] == {"status": "needs_review", "review_step": "credit", "review_reason": "balance_limit"}
    # The same request replays; the same key for another request is refused; a new key finds nothing to do.
    replay = retry(shop, purchase, "r-2")
    assert (replay.status, replay.headers["idempotent-replayed"], replay.body["status"]) == (200, "true", "credited")
    assert retry(shop, purchase, "r-2", reason="other").code == "idempotency_key_reused"
    later = retry(shop, purchase, "r-3")
    assert (later.status, later.code, later.body["error"]["details"]["status"]) == (
        409, "purchase_not_in_review", "credited")
    assert wallet(shop)["available"] == MAX_BALANCE - 50 - 1_000 + 100 and len(purchase_entries(shop)) == 1
    assert view(shop, purchase)["status"] == "credited"
    shop.check()


def test_retry_credit_is_for_admins_with_a_key_on_a_purchase_of_theirs(shop, chalice_client) -> None:
    from tests.conftest import _economy

    pending = buy(shop)
    assert retry(shop, pending, "k", token=shop.write_token).status == 403
    no_key = shop.api.post(f"/v1/admin/purchases/{pending['purchase_id']}/retry-credit", {"reason": "x"})
    assert no_key.code == "idempotency_key_required"
    assert shop.api.post(f"/v1/admin/purchases/{pending['purchase_id']}/retry-credit", {}, key="k",
                         headers={"X-Audit-Reason": None}).code == "reason_required"
    assert retry(shop, {"purchase_id": "pur_NOPE"}, "k").code == "purchase_not_found"
    assert retry(shop, {"purchase_id": "a b"}, "k").code == "validation_error"
    assert retry(_economy(chalice_client), pending, "k").code == "purchase_not_found"
    not_paid = retry(shop, pending, "k")
    assert (not_paid.status, not_paid.code, not_paid.body["error"]["details"]["status"]) == (
        409, "purchase_not_in_review", "pending")
    assert view(shop, pending)["status"] == "pending" and wallet(shop) is None


# --- refunds and disputes meeting a needs_review purchase -----------------------------------

def _in_review(shop) -> Dict[str, Any]:
    fill(shop, "alice", MAX_BALANCE - 50)
    purchase = buy(shop)
    assert ph.deliver(shop.api, ph.completed(purchase)).body["outcome"] == "needs_review"
    return purchase


def test_a_full_refund_ends_a_needs_review_purchase_as_refunded_with_nothing_moved(shop) -> None:
    purchase = _in_review(shop)
    assert ph.deliver(shop.api, ph.refunded(purchase, 999)).status == 200
    got = view(shop, purchase)
    assert (got["status"], got["failure_reason"], got["clawed_back_coins"], got["refunded_amount"]) == (
        "refunded", "balance_limit", 0, 999)
    w = wallet(shop)
    assert (w["available"], w["debt"], w["frozen"]) == (MAX_BALANCE - 50, 0, False)
    assert purchase_entries(shop) == []
    assert retry(shop, purchase, "r").code == "purchase_not_in_review"
    shop.check()


def test_a_lost_dispute_ends_a_needs_review_purchase_as_disputed_without_freezing(shop) -> None:
    purchase = _in_review(shop)
    ph.deliver(shop.api, ph.dispute(purchase))
    assert view(shop, purchase)["status"] == "needs_review"  # money still contested: still owed
    ph.deliver(shop.api, ph.dispute(purchase, closed="lost"))
    assert view(shop, purchase)["status"] == "disputed"
    w = wallet(shop)
    assert (w["available"], w["held"], w["frozen"]) == (MAX_BALANCE - 50, 0, False)
    assert purchase_entries(shop) == []
    shop.check()


def test_a_partial_refund_keeps_it_in_review_and_the_retry_credits_then_claws_back(shop) -> None:
    purchase = _in_review(shop)
    ph.deliver(shop.api, ph.refunded(purchase, 500))
    assert view(shop, purchase)["status"] == "needs_review"
    assert wallet(shop)["available"] == MAX_BALANCE - 50
    shop.api.post("/v1/users/alice/spend", {"amount": 1_000, "reason": "room"}, key="s1")
    done = retry(shop, purchase, "r")
    # 100 coins credited, then ceil(100 x 500 / 999) = 51 taken back: as if the events had come in order.
    assert (done.status, done.body["status"], done.body["clawed_back_coins"]) == (200, "refunded", 51)
    assert wallet(shop)["available"] == MAX_BALANCE - 50 - 1_000 + 100 - 51
    assert [e["amount"] for e in purchase_entries(shop)] == [-51, 100]
    shop.check()


def test_an_open_dispute_keeps_it_in_review_and_the_retry_credits_then_holds(shop) -> None:
    purchase = _in_review(shop)
    ph.deliver(shop.api, ph.dispute(purchase))
    shop.api.post("/v1/users/alice/spend", {"amount": 1_000, "reason": "room"}, key="s1")
    done = retry(shop, purchase, "r")
    assert (done.status, done.body["status"]) == (200, "disputed")
    w = wallet(shop)
    assert (w["available"], w["held"], w["frozen"]) == (MAX_BALANCE - 50 - 1_000, 100, True)
    ph.deliver(shop.api, ph.dispute(purchase, closed="won"))
    w = wallet(shop)
    assert (w["available"], w["held"], w["frozen"]) == (MAX_BALANCE - 50 - 1_000 + 100, 0, False)
    assert view(shop, purchase)["status"] == "credited"
    shop.check()


# --- purchases stored out of bounds --------------------------------------------------------

@pytest.mark.parametrize("values,reason", [
    ({"coins": MAX_AMOUNT, "bonus_coins": 1}, "purchase_terms_invalid"),
    ({"coins": 2.5}, "purchase_terms_invalid"),
    ({"user_id": "not a user id"}, "invalid_user_id"),
])
def test_a_purchase_stored_with_terms_no_credit_can_carry_needs_review(shop, alerts, caplog, values: Dict[str, Any],
                                                                       reason: str) -> None:
    purchase = buy(shop)
    raw_update(purchase["purchase_id"], **values)
    resp = ph.deliver(shop.api, ph.completed(purchase))
    assert (resp.status, resp.body["outcome"]) == (200, "needs_review")
    got = view(shop, purchase)
    assert (got["status"], got["failure_reason"]) == ("needs_review", reason)
    assert wallet(shop) is None and len(alert_lines(caplog)) == 1
    # The way out for what cannot be fixed: refund it in Stripe.
    ph.deliver(shop.api, ph.refunded(purchase, 999))
    assert view(shop, purchase)["status"] == "refunded" and wallet(shop) is None
    shop.check()


def test_reconciliation_reports_purchases_waiting_for_review(shop) -> None:
    from tests.integration import ops_helpers as oh

    purchase = _in_review(shop)
    report = oh.run("reconcile", economy=shop.id, full=True)
    assert [d for d in report["discrepancies"] if d["type"] == "purchase_needs_review"] == [
        {"type": "purchase_needs_review", "economy": shop.id, "purchase_id": purchase["purchase_id"],
         "reason": "balance_limit", "step": "credit"}]


# --- transient failures stay 5xx ---------------------------------------------------------------

class _Conflicts:
    """Cancels every TransactWriteItems as DynamoDB does under contention (TransactionConflict)."""

    def __init__(self) -> None:
        self.injected = 0

    def __call__(self, model: Any = None, params: Any = None, **_: Any) -> Any:
        if model is None or model.name != "TransactWriteItems":
            return None
        self.injected += 1
        items = json.loads(params["body"])["TransactItems"]
        body = {"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                "CancellationReasons": [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1),
                "ResponseMetadata": {"HTTPStatusCode": 400}}
        return _Http(400), body


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code, self.headers, self.content = status, {}, b""


def test_contention_is_a_503_that_stripe_retries_and_the_retry_credits_once(shop, monkeypatch) -> None:
    from chalicelib.db.engine import get_client

    monkeypatch.setenv("COINS_LEDGER_RETRY_SECONDS", "0.2")
    config.reset_settings()
    purchase = buy(shop)
    evt = ph.completed(purchase)
    conflicts = _Conflicts()
    client = get_client()
    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", conflicts)
    try:
        resp = ph.deliver(shop.api, evt)
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", conflicts)
    assert conflicts.injected >= 1
    assert (resp.status, resp.code, resp.body["error"]["details"]) == (503, "unavailable", {"cause": "contention"})
    assert view(shop, purchase)["status"] == "pending" and wallet(shop) is None
    # Stripe delivers the same event again: it is new to us (nothing was recorded) and credits once.
    again = ph.deliver(shop.api, evt)
    assert (again.status, again.body["outcome"]) == (200, "paid")
    assert wallet(shop)["available"] == 100 and len(purchase_entries(shop)) == 1
    shop.check()
