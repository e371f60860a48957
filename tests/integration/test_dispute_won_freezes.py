"""A won dispute lifts its own freeze and nothing else (README, *Refund and dispute policy*):
"the held coins go back to ``available`` and that dispute's reason is lifted; the wallet
stays frozen if anything else froze it (an operator, a debt, another open dispute)".

Every fact arrives as Stripe sends it: signed ``checkout.session.completed``,
``charge.dispute.created``, ``charge.dispute.closed`` (won) and ``charge.refunded`` through
``/v1/webhooks/stripe``. Each coins_100 purchase credits 100 coins.

(test_freeze_reasons.py already proves an operator's freeze outlives a won dispute and
that one won dispute leaves another open one; this file adds the wallet frozen by the
dispute alone, a debt that outlives it, and an operator's freeze that survives the won
event delivered twice.)
"""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from tests import purchase_helpers as ph
from tests.integration.spending_helpers import key

pytestmark = pytest.mark.integration


def bought(economy) -> Dict[str, Any]:
    resp = economy.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"})
    assert resp.status == 201, resp.body
    assert ph.deliver(economy.api, ph.completed(resp.body)).body["outcome"] == "paid"
    return resp.body


def deliver(economy, event: Dict[str, Any]) -> None:
    resp = ph.deliver(economy.api, event)
    assert resp.status == 200, resp.body


def spend(economy, amount: int) -> None:
    resp = economy.api.post("/v1/users/alice/spend", {"amount": amount, "reason": "sword"}, key=key())
    assert resp.status == 200, resp.body


def can_spend(economy) -> bool:
    resp = economy.api.post("/v1/users/alice/spend", {"amount": 1, "reason": "probe"}, key=key())
    assert resp.status == 200 or (resp.status, resp.code) == (422, "account_frozen"), resp.body
    return resp.status == 200


def state(economy) -> tuple:
    w = economy.api.get("/v1/users/alice/wallet").body
    assert w["frozen"] is bool(w["freeze_reasons"]), w
    return w["available"], w["held"], w["debt"], w["freeze_reasons"]


def freeze(economy) -> None:
    resp = economy.api.post("/v1/admin/users/alice/freeze", {"reason": "review"})
    assert resp.status == 200, resp.body


def test_a_wallet_frozen_only_by_the_dispute_is_unfrozen_when_it_is_won(shop) -> None:
    purchase = bought(shop)
    spend(shop, 30)  # 70 of the purchase's coins are still there
    deliver(shop, ph.dispute(purchase))
    assert state(shop) == (0, 70, 0, [f"dispute:{purchase['purchase_id']}"])
    assert not can_spend(shop)
    deliver(shop, ph.dispute(purchase, closed="won"))
    assert state(shop) == (70, 0, 0, [])
    assert can_spend(shop) and state(shop)[0] == 69


def test_a_debt_outlives_a_won_dispute_on_another_purchase(shop) -> None:
    first, second = bought(shop), bought(shop)  # 200
    spend(shop, 50)  # 150
    deliver(shop, ph.dispute(second))  # holds second's 100: 50 available, 100 held
    assert state(shop) == (50, 100, 0, [f"dispute:{second['purchase_id']}"])
    # first refunded in full: its 100 come from the 50 available (second's hold is not first's), 50 owed
    deliver(shop, ph.refunded(first, first["price"]["amount"]))
    assert state(shop) == (0, 100, 50, ["debt", f"dispute:{second['purchase_id']}"])
    deliver(shop, ph.dispute(second, closed="won"))
    assert state(shop) == (100, 0, 50, ["debt"])
    assert not can_spend(shop)
    settled = shop.api.post("/v1/admin/users/alice/settle-debt", key=key())
    assert settled.status == 200 and (settled.body["paid"], settled.body["freeze_reasons"]) == (50, []), settled.body
    assert state(shop) == (50, 0, 0, [])
    assert can_spend(shop)


def test_an_operator_freeze_from_before_the_dispute_survives_the_won_event_delivered_twice(shop) -> None:
    purchase = bought(shop)
    freeze(shop)
    deliver(shop, ph.dispute(purchase))
    assert state(shop) == (0, 100, 0, [f"dispute:{purchase['purchase_id']}", "operator"])
    won = ph.dispute(purchase, closed="won")
    deliver(shop, won)
    deliver(shop, won)  # Stripe retries a delivery it did not see answered
    deliver(shop, ph.dispute(purchase, closed="won"))  # and may send the same fact as a new event
    assert state(shop) == (100, 0, 0, ["operator"])
    assert not can_spend(shop)
    entries: List[Dict[str, Any]] = shop.api.get("/v1/users/alice/transactions").body["items"]
    assert sum(1 for e in entries if e["type"] == "dispute") == 2  # one hold, one release
    resp = shop.api.post("/v1/admin/users/alice/unfreeze", {"reason": "reviewed"})
    assert resp.status == 200 and resp.body["freeze_reasons"] == [], resp.body
    assert can_spend(shop) and state(shop)[0] == 99
