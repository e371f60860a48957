"""Settle-debt as the README's refund policy promises it: ``POST /v1/admin/users/{id}/settle-debt``
pays the debt from the wallet's available coins and, once it is zero, lifts the ``debt`` reason.

A real debt: alice buys coins_100 (100 coins, paid through a signed
``checkout.session.completed``), spends 70, and Stripe refunds the charge in full
(signed ``charge.refunded``): the 30 left are clawed back, 70 become debt, the wallet is
frozen (``debt``). Then:

* settle with nothing available: 422 ``insufficient_funds``, nothing written;
* credit 30, settle: pays 30, debt 70 - 30 = 40, still frozen (``debt``), 0 available;
* the same Idempotency-Key again, after another credit of 50: the first answer, nothing paid;
* settle with a new key: pays 40, debt 0, unfrozen, 50 - 40 = 10 available;
* settle again: 409 ``no_debt``, nothing written.
"""
from __future__ import annotations

from typing import Any, Dict

import pytest

from tests import purchase_helpers as ph
from tests.integration.spending_helpers import key

pytestmark = pytest.mark.integration


def wallet(economy) -> Dict[str, Any]:
    resp = economy.api.get("/v1/users/alice/wallet")
    assert resp.status == 200, resp.body
    return resp.body


def books(economy) -> Any:
    """Everything a settlement could write for alice: her wallet, her entries, her audit rows."""
    return (wallet(economy), economy.api.get("/v1/users/alice/transactions").body["items"],
            economy.api.get("/v1/admin/audit?user_id=alice").body["items"])


def can_spend(economy) -> bool:
    resp = economy.api.post("/v1/users/alice/spend", {"amount": 1, "reason": "probe"}, key=key())
    assert resp.status in (200, 422), resp.body
    assert resp.status == 200 or resp.code == "account_frozen", resp.body
    return resp.status == 200


def settle(economy, idempotency_key: str) -> Any:
    return economy.api.post("/v1/admin/users/alice/settle-debt", key=idempotency_key)


@pytest.fixture
def in_debt(shop):
    """alice owes 70 after a full refund of coins_100 of which she had spent 70."""
    purchase = shop.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}).body
    assert ph.deliver(shop.api, ph.completed(purchase)).body["outcome"] == "paid"
    assert shop.api.post("/v1/users/alice/spend", {"amount": 70, "reason": "sword"}, key=key()).status == 200
    assert ph.deliver(shop.api, ph.refunded(purchase, purchase["price"]["amount"])).status == 200
    w = wallet(shop)
    assert (w["available"], w["debt"], w["frozen"], w["freeze_reasons"]) == (0, 70, True, ["debt"])
    return shop


def test_settling_with_nothing_available_is_refused_and_writes_nothing(in_debt) -> None:
    before = books(in_debt)
    resp = settle(in_debt, key())
    assert (resp.status, resp.code) == (422, "insufficient_funds"), resp.body
    assert books(in_debt) == before
    assert not can_spend(in_debt)


def test_a_partial_settlement_leaves_the_exact_rest_and_the_freeze_a_full_one_lifts_it(in_debt) -> None:
    in_debt.credit("alice", 30)
    first = key()
    partial = settle(in_debt, first)
    assert partial.status == 200, partial.body
    assert (partial.body["paid"], partial.body["debt"], partial.body["frozen"], partial.body["freeze_reasons"]) \
        == (30, 40, True, ["debt"])
    w = wallet(in_debt)
    assert (w["available"], w["debt"], w["frozen"], w["freeze_reasons"]) == (0, 40, True, ["debt"])
    assert not can_spend(in_debt)

    in_debt.credit("alice", 50)
    replay = settle(in_debt, first)  # a retry of the partial one: answered again, not paid again
    assert replay.status == 200 and replay.body == partial.body
    assert (wallet(in_debt)["available"], wallet(in_debt)["debt"]) == (50, 40)

    full = settle(in_debt, key())
    assert full.status == 200, full.body
    assert (full.body["paid"], full.body["debt"], full.body["frozen"], full.body["freeze_reasons"]) \
        == (40, 0, False, [])
    w = wallet(in_debt)
    assert (w["available"], w["debt"], w["frozen"], w["freeze_reasons"]) == (10, 0, False, [])
    assert can_spend(in_debt) and wallet(in_debt)["available"] == 9

    before = books(in_debt)
    again = settle(in_debt, key())
    assert (again.status, again.code) == (409, "no_debt"), again.body
    assert books(in_debt) == before

    settled = [a for a in in_debt.api.get("/v1/admin/audit?user_id=alice").body["items"]
               if a["action"] == "wallet.settle_debt"]
    assert sorted((a["before"]["debt"], a["after"]["debt"]) for a in settled) == [(40, 0), (70, 40)]
