"""Stripe events with a valid signature but a body we cannot read, and the signature's time window.

Every body here is signed with Stripe's real scheme (``stripe.WebhookSignature``
over ``t.body``), so it passes verification and reaches the parser. A body that
is not the shape we read is a 400 ``validation_error`` naming the field, and
nothing changes: no event record (the same event id, well formed, is then
handled as new), no purchase change, no payment record, no coins.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Dict, Optional

import pytest

from chalicelib.core import config
from chalicelib.purchases import stripe_gateway
from tests import purchase_helpers as ph

pytestmark = pytest.mark.integration

LONG = "a" * 3000


def buy(economy, user: str = "alice") -> Dict[str, Any]:
    resp = economy.api.post("/v1/checkout", {"user_id": user, "pack_id": "coins_100"})
    assert resp.status == 201, resp.body
    return resp.body


def raw_item(table: str, key: str, value: str) -> Optional[Dict[str, Any]]:
    from chalicelib.db.engine import get_client, table_name

    return get_client().get_item(TableName=table_name(table), Key={key: {"S": value}},
                                 ConsistentRead=True).get("Item")


def snapshot(economy, purchase: Dict[str, Any]) -> Dict[str, Any]:
    """Everything a webhook may change for this purchase: the raw records and the wallet."""
    wallet = economy.api.get("/v1/users/alice/wallet")
    return {"purchase": raw_item("purchases", "purchase_id", purchase["purchase_id"]),
            "payment": raw_item("payments", "payment_intent", ph.payment_intent(purchase)),
            "wallet": wallet.body if wallet.status == 200 else None}


def set_path(doc: Dict[str, Any], path: str, value: Any) -> Dict[str, Any]:
    """A copy of ``doc`` with ``path`` (dotted) set to ``value``, or removed when value is _GONE."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target = out
    for part in parents:
        target = target[part]
    if value is _GONE:
        del target[last]
    else:
        target[last] = value
    return out


_GONE = object()

# (path in the completed event, value) -> the field the 400 names.
PAID_CORPUS = [
    ("data", "x", "data"),
    ("data", [], "data"),
    ("data", _GONE, "data"),
    ("data.object", [], "data.object"),
    ("data.object", "cs_x", "data.object"),
    ("data.object", _GONE, "data.object"),
    ("id", "", "id"),
    ("id", "evt_" + LONG, "id"),
    ("id", "evt_a b", "id"),
    ("id", "evt_\u00e9t\u00e9", "id"),
    ("id", 123, "id"),
    ("id", ["evt_1"], "id"),
    ("id", _GONE, "id"),
    ("type", ["checkout.session.completed"], "type"),
    ("type", _GONE, "type"),
    ("data.object.id", "", "data.object.id"),
    ("data.object.id", "cs_" + LONG, "data.object.id"),
    ("data.object.id", "pi_123", "data.object.id"),
    ("data.object.id", ["cs_1"], "data.object.id"),
    ("data.object.id", _GONE, "data.object.id"),
    ("data.object.payment_intent", "pi_" + LONG, "data.object.payment_intent"),
    ("data.object.payment_intent", "", "data.object.payment_intent"),
    ("data.object.payment_intent", {"id": "pi_1"}, "data.object.payment_intent"),
    ("data.object.metadata", ["purchase_id"], "data.object.metadata"),
    ("data.object.metadata", "pur_x", "data.object.metadata"),
    ("data.object.metadata.purchase_id", LONG, "data.object.metadata.purchase_id"),
    ("data.object.metadata.purchase_id", "", "data.object.metadata.purchase_id"),
    ("data.object.metadata.purchase_id", 42, "data.object.metadata.purchase_id"),
    ("data.object.metadata.purchase_id", ["pur_x"], "data.object.metadata.purchase_id"),
    ("data.object.client_reference_id", LONG, "data.object.client_reference_id"),
    ("data.object.client_reference_id", "pur x", "data.object.client_reference_id"),
    ("data.object.amount_total", "999", "data.object.amount_total"),
    ("data.object.amount_total", 999.0, "data.object.amount_total"),
    ("data.object.amount_total", True, "data.object.amount_total"),
    ("data.object.amount_total", -1, "data.object.amount_total"),
    ("data.object.amount_total", 10**13, "data.object.amount_total"),
    ("data.object.amount_total", None, "data.object.amount_total"),
    ("data.object.amount_total", _GONE, "data.object.amount_total"),
    ("data.object.currency", 840, "data.object.currency"),
    ("data.object.currency", "dollars", "data.object.currency"),
    ("data.object.currency", ["usd"], "data.object.currency"),
    ("data.object.currency", _GONE, "data.object.currency"),
    ("data.object.payment_status", {"paid": True}, "data.object.payment_status"),
    ("data.object.payment_status", "PAID!", "data.object.payment_status"),
    ("data.object.payment_status", _GONE, "data.object.payment_status"),
]


@pytest.mark.parametrize("path,value,field", PAID_CORPUS,
                         ids=[f"{p}={'gone' if v is _GONE else repr(v)[:20]}" for p, v, _ in PAID_CORPUS])
def test_a_malformed_paid_event_is_400_and_changes_nothing(shop, path: str, value: Any, field: str) -> None:
    purchase = buy(shop)
    good = ph.completed(purchase)
    before = snapshot(shop, purchase)
    resp = ph.deliver_signed(shop.api, json.dumps(set_path(good, path, value)))
    assert (resp.status, resp.code) == (400, "validation_error"), resp.body
    assert resp.body["error"]["details"]["field"] == field
    assert snapshot(shop, purchase) == before
    assert raw_item("stripe_events", "event_id", good["id"]) is None
    # The event as Stripe meant it is still new to us, and credits.
    again = ph.deliver(shop.api, good)
    assert (again.status, again.body["outcome"]) == (200, "paid")
    assert shop.api.get("/v1/users/alice/wallet").body["available"] == 100
    shop.check()


@pytest.mark.parametrize("body,code", [
    ("[]", "validation_error"), ('"evt_1"', "validation_error"), ("42", "validation_error"),
    ("null", "validation_error"), ("not json", "malformed_json"), ("{", "malformed_json"),
    ("[" * 100_000 + "]" * 100_000, "malformed_json"),
])
def test_a_signed_body_that_is_not_an_event_object_is_400(shop, body: str, code: str) -> None:
    purchase = buy(shop)
    before = snapshot(shop, purchase)
    resp = ph.deliver_signed(shop.api, body)
    assert (resp.status, resp.code) == (400, code)
    assert snapshot(shop, purchase) == before


def _credited(shop) -> Dict[str, Any]:
    purchase = buy(shop)
    assert ph.deliver(shop.api, ph.completed(purchase)).body["outcome"] == "paid"
    return purchase


CHARGE_CORPUS = [
    ("data.object.amount_refunded", "999", "data.object.amount_refunded"),
    ("data.object.amount_refunded", 9.99, "data.object.amount_refunded"),
    ("data.object.amount_refunded", _GONE, "data.object.amount_refunded"),
    ("data.object.amount_refunded", 1000, "data.object"),  # more than the charge
    ("data.object.amount", [999], "data.object.amount"),
    ("data.object.amount", _GONE, "data.object.amount"),
    ("data.object.payment_intent", "pi_" + LONG, "data.object.payment_intent"),
    ("data.object.payment_intent", 7, "data.object.payment_intent"),
    ("data.object.metadata", [], "data.object.metadata"),
    ("data.object.metadata.purchase_id", LONG, "data.object.metadata.purchase_id"),
    ("data.object", [], "data.object"),
]


@pytest.mark.parametrize("path,value,field", CHARGE_CORPUS,
                         ids=[f"{p}={'gone' if v is _GONE else repr(v)[:20]}" for p, v, _ in CHARGE_CORPUS])
def test_a_malformed_refund_is_400_and_takes_nothing_back(shop, path: str, value: Any, field: str) -> None:
    purchase = _credited(shop)
    good = ph.refunded(purchase, 999)
    before = snapshot(shop, purchase)
    resp = ph.deliver_signed(shop.api, json.dumps(set_path(good, path, value)))
    assert (resp.status, resp.code) == (400, "validation_error"), resp.body
    assert resp.body["error"]["details"]["field"] == field
    assert snapshot(shop, purchase) == before
    assert ph.deliver(shop.api, good).body["outcome"] == "recorded"
    assert shop.api.get("/v1/users/alice/wallet").body["available"] == 0
    shop.check()


DISPUTE_CORPUS = [
    ("data.object.id", _GONE, "data.object.id"),
    ("data.object.id", "ch_123", "data.object.id"),
    ("data.object.id", "dp_" + LONG, "data.object.id"),
    ("data.object.status", 5, "data.object.status"),
    ("data.object.status", _GONE, "data.object.status"),
    ("data.object.payment_intent", ["pi_1"], "data.object.payment_intent"),
    ("data.object.metadata", "x", "data.object.metadata"),
]


@pytest.mark.parametrize("path,value,field", DISPUTE_CORPUS,
                         ids=[f"{p}={'gone' if v is _GONE else repr(v)[:20]}" for p, v, _ in DISPUTE_CORPUS])
def test_a_malformed_dispute_is_400_and_holds_nothing(shop, path: str, value: Any, field: str) -> None:
    purchase = _credited(shop)
    good = ph.dispute(purchase)
    before = snapshot(shop, purchase)
    resp = ph.deliver_signed(shop.api, json.dumps(set_path(good, path, value)))
    assert (resp.status, resp.code) == (400, "validation_error"), resp.body
    assert resp.body["error"]["details"]["field"] == field
    assert snapshot(shop, purchase) == before
    assert ph.deliver(shop.api, good).body["outcome"] == "recorded"
    w = shop.api.get("/v1/users/alice/wallet").body
    assert (w["available"], w["held"], w["frozen"]) == (0, 100, True)
    shop.check()


@pytest.mark.parametrize("data", [[], "x", None, {"object": []}, {"object": {"id": LONG}}])
def test_unknown_event_types_are_acknowledged_whatever_their_data(shop, data: Any) -> None:
    evt = ph.event("customer.updated", {})
    evt["data"] = data
    resp = ph.deliver_signed(shop.api, json.dumps(evt))
    assert (resp.status, resp.body["outcome"]) == (200, "ignored")


def test_event_ids_are_bounded_at_stripes_255_characters(shop) -> None:
    longest, too_long = "evt_" + "A" * 251, "evt_" + "A" * 252
    ok = ph.deliver(shop.api, ph.event("customer.created", {}, event_id=longest))
    refused = ph.deliver(shop.api, ph.event("customer.created", {}, event_id=too_long))
    assert (ok.status, ok.body["outcome"]) == (200, "ignored")
    assert (refused.status, refused.code, refused.body["error"]["details"]["field"]) == (400, "validation_error", "id")


def test_a_session_that_names_someone_elses_reference_is_acknowledged_not_looked_up(shop) -> None:
    purchase = buy(shop)
    before = snapshot(shop, purchase)
    evt = ph.completed(purchase, client_reference_id="order-123", metadata={"cart": "9"})
    resp = ph.deliver(shop.api, evt)
    assert (resp.status, resp.body["outcome"], resp.body["purchase_id"]) == (200, "unknown_purchase", None)
    assert snapshot(shop, purchase) == before


class TestSignatureWindow:
    """Stripe's 300 s tolerance, both sides of now, on a pinned clock, for every configured secret."""

    NOW = 1_900_000_000

    @pytest.fixture(autouse=True)
    def pinned(self, monkeypatch) -> None:
        monkeypatch.setattr(stripe_gateway, "clock", lambda: float(self.NOW))
        monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_old,whsec_new")
        config.reset_settings()

    @pytest.mark.parametrize("secret", ["whsec_old", "whsec_new"])
    @pytest.mark.parametrize("offset,accepted", [(-301, False), (-300, True), (0, True), (300, True), (301, False),
                                                 (86_400, False)])
    def test_the_window(self, shop, secret: str, offset: int, accepted: bool) -> None:
        purchase = buy(shop)
        evt = ph.completed(purchase)
        before = snapshot(shop, purchase)
        resp = ph.deliver(shop.api, evt, secret=secret, timestamp=self.NOW + offset)
        if accepted:
            assert (resp.status, resp.body["outcome"]) == (200, "paid")
            assert shop.api.get("/v1/users/alice/wallet").body["available"] == 100
            return
        assert (resp.status, resp.code) == (400, "invalid_signature")
        assert snapshot(shop, purchase) == before and raw_item("stripe_events", "event_id", evt["id"]) is None
        # Re-signed now, the same event is new to us and credits.
        assert ph.deliver(shop.api, evt, secret=secret, timestamp=self.NOW).body["outcome"] == "paid"

    def test_a_future_timestamp_is_refused_even_when_one_of_several_v1_signatures_matches(self, shop) -> None:
        evt = ph.event("customer.created", {})
        body = json.dumps(evt)
        ahead = self.NOW + 301
        header = ph.signature(body, "whsec_old", ahead) + "," + ph.signature(body, "whsec_new", ahead).split(",")[1]
        resp = ph.deliver(shop.api, evt, header=header)
        assert (resp.status, resp.code) == (400, "invalid_signature")

