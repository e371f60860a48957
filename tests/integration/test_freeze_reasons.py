"""Who may lift a freeze: each reason is lifted only by the actor that put it there.

Worked examples on DynamoDB Local through the public API and Stripe's signed
webhooks, in the orders that matter: an operator's freeze, a refund that leaves
debt, disputes opened, won and lost, settle-debt partial and full, and an
operator's unfreeze with and without naming other reasons. Each step asserts
exactly which reasons remain and whether the wallet can spend (a real spend:
refused with 422 ``account_frozen``, or charged one coin), and every example
ends with the books checked.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

import pytest

from tests import purchase_helpers as ph
from tests.integration.spending_helpers import key

pytestmark = pytest.mark.integration


def bought(economy, user: str = "alice") -> Dict[str, Any]:
    """A paid and credited coins_100 purchase (100 coins for 9.99)."""
    resp = economy.api.post("/v1/checkout", {"user_id": user, "pack_id": "coins_100"})
    assert resp.status == 201, resp.body
    assert ph.deliver(economy.api, ph.completed(resp.body)).body["outcome"] == "paid"
    return resp.body


def deliver(economy, event: Dict[str, Any]) -> None:
    resp = ph.deliver(economy.api, event)
    assert resp.status == 200, resp.body


def reasons(economy, user: str = "alice") -> List[str]:
    body = economy.api.get(f"/v1/users/{user}/wallet").body
    assert body["frozen"] is bool(body["freeze_reasons"]), body
    return body["freeze_reasons"]


def can_spend(economy, user: str = "alice") -> bool:
    """Try to spend one coin: True when charged, False when refused as frozen."""
    resp = economy.api.post(f"/v1/users/{user}/spend", {"amount": 1, "reason": "probe"}, key=key())
    assert resp.status in (200, 422), resp.body
    if resp.status == 422:
        assert resp.code == "account_frozen", resp.body
    return resp.status == 200


def spend(economy, amount: int, user: str = "alice") -> None:
    resp = economy.api.post(f"/v1/users/{user}/spend", {"amount": amount, "reason": "sword"}, key=key())
    assert resp.status == 200, resp.body


def freeze(economy, user: str = "alice") -> Dict[str, Any]:
    resp = economy.api.post(f"/v1/admin/users/{user}/freeze", {"reason": "review"})
    assert resp.status == 200, resp.body
    return resp.body


def unfreeze(economy, user: str = "alice", lift: Optional[List[str]] = None) -> Dict[str, Any]:
    body: Dict[str, Any] = {"reason": "reviewed"}
    if lift is not None:
        body["lift"] = lift
    resp = economy.api.post(f"/v1/admin/users/{user}/unfreeze", body)
    assert resp.status == 200, resp.body
    return resp.body


def settle_debt(economy, user: str = "alice") -> Dict[str, Any]:
    resp = economy.api.post(f"/v1/admin/users/{user}/settle-debt", key=key())
    assert resp.status == 200, resp.body
    return resp.body


def wallet(economy, user: str = "alice") -> Dict[str, Any]:
    return economy.api.get(f"/v1/users/{user}/wallet").body


# --------------------------------------------------------------------------- settle-debt lifts only the debt


def test_settling_a_debt_does_not_lift_an_operators_freeze(shop) -> None:
    purchase = bought(shop)
    spend(shop, 70)
    assert freeze(shop)["freeze_reasons"] == ["operator"]
    deliver(shop, ph.refunded(purchase, 999))  # takes back the 30 left: 70 owed
    assert reasons(shop) == ["debt", "operator"] and wallet(shop)["debt"] == 70
    shop.credit("alice", 100)
    settled = settle_debt(shop)
    assert (settled["paid"], settled["debt"], settled["frozen"], settled["freeze_reasons"]) == (70, 0, True, ["operator"])
    assert reasons(shop) == ["operator"] and not can_spend(shop)
    assert unfreeze(shop) == {"user_id": "alice", "frozen": False, "freeze_reasons": [], "changed": True,
                              "reason": "reviewed"}
    assert can_spend(shop) and wallet(shop)["available"] == 29
    shop.check()


def test_partial_then_full_settlement_keeps_the_debt_freeze_until_zero(shop) -> None:
    purchase = bought(shop)
    spend(shop, 70)
    deliver(shop, ph.refunded(purchase, 999))
    assert reasons(shop) == ["debt"] and not can_spend(shop)
    shop.credit("alice", 50)
    partial = settle_debt(shop)
    assert (partial["paid"], partial["debt"], partial["freeze_reasons"]) == (50, 20, ["debt"])
    assert not can_spend(shop)
    shop.credit("alice", 25)
    full = settle_debt(shop)
    assert (full["paid"], full["debt"], full["frozen"], full["freeze_reasons"]) == (20, 0, False, [])
    assert can_spend(shop) and wallet(shop)["available"] == 4
    shop.check()


def test_two_settlements_at_once_pay_the_debt_once(shop) -> None:
    purchase = bought(shop)
    spend(shop, 70)
    deliver(shop, ph.refunded(purchase, 999))
    shop.credit("alice", 100)
    start = threading.Barrier(2)

    def settle(_: int) -> Any:
        start.wait()
        return shop.api.post("/v1/admin/users/alice/settle-debt", key=key())

    with ThreadPoolExecutor(2) as pool:
        answers = sorted(pool.map(settle, range(2)), key=lambda r: r.status)
    assert [(a.status, a.code) for a in answers] == [(200, None), (409, "no_debt")]
    assert answers[0].body["paid"] == 70 and answers[0].body["freeze_reasons"] == []
    assert (wallet(shop)["available"], wallet(shop)["debt"], reasons(shop)) == (30, 0, [])
    shop.check()


def test_an_operator_freeze_added_while_in_debt_outlives_the_debt(shop) -> None:
    purchase = bought(shop)
    spend(shop, 70)
    deliver(shop, ph.refunded(purchase, 999))
    assert freeze(shop)["freeze_reasons"] == ["debt", "operator"]
    shop.credit("alice", 70)
    assert settle_debt(shop)["freeze_reasons"] == ["operator"]
    assert not can_spend(shop)
    shop.check()


def test_an_operator_unfreeze_leaves_the_debt_freeze_unless_named(shop) -> None:
    purchase = bought(shop)
    spend(shop, 70)
    deliver(shop, ph.refunded(purchase, 999))
    freeze(shop)
    assert unfreeze(shop)["freeze_reasons"] == ["debt"]
    assert not can_spend(shop)
    shop.credit("alice", 10)
    assert unfreeze(shop, lift=["debt"]) == {"user_id": "alice", "frozen": False, "freeze_reasons": [],
                                              "changed": True, "reason": "reviewed"}
    assert can_spend(shop) and wallet(shop)["debt"] == 70  # the debt itself is still owed
    shop.check()


# --------------------------------------------------------------------------- disputes lift only their own hold


def test_a_won_dispute_does_not_lift_an_operators_earlier_freeze(shop) -> None:
    purchase = bought(shop)
    freeze(shop)
    deliver(shop, ph.dispute(purchase))
    assert reasons(shop) == [f"dispute:{purchase['purchase_id']}", "operator"]
    assert (wallet(shop)["available"], wallet(shop)["held"]) == (0, 100)
    deliver(shop, ph.dispute(purchase, closed="won"))
    assert reasons(shop) == ["operator"] and not can_spend(shop)
    assert (wallet(shop)["available"], wallet(shop)["held"]) == (100, 0)
    unfreeze(shop)
    assert can_spend(shop)
    shop.check()


def test_an_operator_unfreeze_does_not_lift_an_open_dispute(shop) -> None:
    purchase = bought(shop)
    deliver(shop, ph.dispute(purchase))
    hold = f"dispute:{purchase['purchase_id']}"
    result = unfreeze(shop)
    assert (result["frozen"], result["freeze_reasons"], result["changed"]) == (True, [hold], False)
    assert not can_spend(shop)
    deliver(shop, ph.dispute(purchase, closed="won"))
    assert reasons(shop) == [] and can_spend(shop)
    shop.check()


def test_one_won_dispute_leaves_another_open_dispute_frozen(shop) -> None:
    first, second = bought(shop), bought(shop)
    deliver(shop, ph.dispute(first))
    deliver(shop, ph.dispute(second))
    assert reasons(shop) == sorted([f"dispute:{first['purchase_id']}", f"dispute:{second['purchase_id']}"])
    deliver(shop, ph.dispute(first, closed="won"))
    assert reasons(shop) == [f"dispute:{second['purchase_id']}"] and not can_spend(shop)
    deliver(shop, ph.dispute(second, closed="won"))
    assert reasons(shop) == [] and can_spend(shop)
    assert wallet(shop)["available"] == 199
    shop.check()


def test_a_lost_dispute_stays_frozen_for_review_after_its_debt_is_settled(shop) -> None:
    purchase = bought(shop)
    spend(shop, 40)
    deliver(shop, ph.dispute(purchase))
    deliver(shop, ph.dispute(purchase, closed="lost"))
    lost = f"dispute_lost:{purchase['purchase_id']}"
    assert reasons(shop) == ["debt", lost] and wallet(shop)["debt"] == 40
    shop.credit("alice", 41)
    assert settle_debt(shop)["freeze_reasons"] == [lost]
    assert not can_spend(shop)
    # An operator's plain unfreeze is not a review: the lost chargeback stays.
    plain = unfreeze(shop)
    assert (plain["frozen"], plain["freeze_reasons"], plain["changed"]) == (True, [lost], False)
    assert not can_spend(shop)
    reviewed = unfreeze(shop, lift=["dispute_lost"])
    assert (reviewed["frozen"], reviewed["freeze_reasons"], reviewed["changed"]) == (False, [], True)
    assert can_spend(shop)
    audit = shop.api.get("/v1/admin/audit?user_id=alice").body["items"]
    lifted = next(a for a in audit if a["action"] == "wallet.unfreeze")
    assert lifted["before"] == {"frozen": True, "freeze_reasons": [lost]}
    assert lifted["after"] == {"frozen": False, "freeze_reasons": []}
    assert lifted["extra"]["lift"] == ["dispute_lost"]
    shop.check()


def test_a_lost_dispute_after_a_full_refund_is_still_kept_for_review(shop) -> None:
    purchase = bought(shop)
    deliver(shop, ph.refunded(purchase, 999))  # nothing left for the chargeback to take
    assert reasons(shop) == [] and wallet(shop)["available"] == 0
    deliver(shop, ph.dispute(purchase))
    deliver(shop, ph.dispute(purchase, closed="lost"))
    assert reasons(shop) == [f"dispute_lost:{purchase['purchase_id']}"]
    shop.credit("alice", 5)
    assert not can_spend(shop)
    shop.check()


def test_naming_one_lost_dispute_lifts_that_one_only(shop) -> None:
    first, second = bought(shop), bought(shop)
    for purchase in (first, second):
        deliver(shop, ph.dispute(purchase, closed="lost"))
    one, other = f"dispute_lost:{first['purchase_id']}", f"dispute_lost:{second['purchase_id']}"
    assert reasons(shop) == sorted([one, other])
    assert unfreeze(shop, lift=[one])["freeze_reasons"] == [other]
    shop.credit("alice", 5)
    assert not can_spend(shop)
    assert unfreeze(shop, lift=[other])["freeze_reasons"] == []
    assert can_spend(shop)
    shop.check()


def test_an_operator_freeze_during_a_dispute_outlives_its_loss_and_review(shop) -> None:
    purchase = bought(shop)
    deliver(shop, ph.dispute(purchase))
    freeze(shop)
    deliver(shop, ph.dispute(purchase, closed="lost"))
    lost = f"dispute_lost:{purchase['purchase_id']}"
    assert reasons(shop) == [lost, "operator"]  # the hold became a review; all 100 were held: no debt
    assert wallet(shop)["debt"] == 0
    assert unfreeze(shop)["freeze_reasons"] == [lost]  # the operators' own freeze only
    shop.credit("alice", 5)
    assert not can_spend(shop)
    assert unfreeze(shop, lift=[lost])["freeze_reasons"] == []
    assert can_spend(shop)
    shop.check()


# --------------------------------------------------------------------------- what an unfreeze refuses


@pytest.mark.parametrize("lift", [["frozen"], ["dispute:"], ["dispute:a b"], ["operator:x"], "debt", [1],
                                  ["debt"] * 11])
def test_an_unfreeze_naming_no_reason_is_refused_and_changes_nothing(shop, lift) -> None:
    shop.credit("alice", 10)
    freeze(shop)
    before = (wallet(shop), shop.api.get("/v1/admin/audit?user_id=alice").body["items"])
    resp = shop.api.post("/v1/admin/users/alice/unfreeze", {"reason": "x", "lift": lift})
    assert (resp.status, resp.code) == (400, "validation_error"), resp.body
    assert resp.body["error"]["details"]["field"].startswith("lift")
    assert (wallet(shop), shop.api.get("/v1/admin/audit?user_id=alice").body["items"]) == before
    shop.check()


def test_freezing_twice_changes_nothing_the_second_time(shop) -> None:
    shop.credit("alice", 10)
    assert freeze(shop)["changed"] is True
    seq = wallet(shop)["seq"]
    assert freeze(shop) == {"user_id": "alice", "frozen": True, "freeze_reasons": ["operator"], "changed": False,
                            "reason": "review"}
    assert wallet(shop)["seq"] == seq
    assert [e["type"] for e in shop.api.get("/v1/users/alice/transactions").body["items"]] == ["freeze", "adjust"]
    shop.check()


# --------------------------------------------------------------------------- wallets frozen before reasons existed


def _as_stored_before_reasons(economy_id: str, user: str = "alice") -> None:
    """What the old code left: ``frozen`` true and no reasons on the wallet."""
    from chalicelib.db.engine import get_client, table_name

    get_client().update_item(
        TableName=table_name("accounts"), Key={"economy": {"S": economy_id}, "account": {"S": f"u:{user}"}},
        UpdateExpression="SET frozen = :t REMOVE freeze_reasons", ExpressionAttributeValues={":t": {"BOOL": True}},
    )


def test_a_legacy_frozen_wallet_is_not_thawed_by_settling_its_debt(shop) -> None:
    purchase = bought(shop)
    spend(shop, 70)
    deliver(shop, ph.refunded(purchase, 999))
    _as_stored_before_reasons(shop.id)
    assert reasons(shop) == ["operator"]  # read as the operators' freeze
    shop.check()  # a legacy wallet is not a discrepancy
    shop.credit("alice", 100)
    assert settle_debt(shop)["freeze_reasons"] == ["operator"]
    assert not can_spend(shop)
    assert unfreeze(shop)["freeze_reasons"] == []
    assert can_spend(shop)
    shop.check()


def test_a_legacy_frozen_wallet_is_not_thawed_by_a_won_dispute(shop) -> None:
    purchase = bought(shop)
    deliver(shop, ph.dispute(purchase))
    _as_stored_before_reasons(shop.id)  # the old dispute hold froze it with the bare flag
    deliver(shop, ph.dispute(purchase, closed="won"))
    assert reasons(shop) == ["operator"] and not can_spend(shop)
    assert (wallet(shop)["available"], wallet(shop)["held"]) == (100, 0)
    shop.check()
