"""README: "an escrow's fee [is fixed] when it opens"; "The fee is fixed on the listing when it is created."

Each test opens at rate A, moves the rate to B the way the README names (the admin
spending-rates route for escrows, the stage's MARKET_FEE for listings), shows B is
live for new ones, then resolves the old one and expects the money of rate A.
"""
from __future__ import annotations

import pytest

from chalicelib.core import config
from tests.integration.spending_helpers import key, put, treasury, wallet
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    plugin,
    buy_listing, list_item, put_reward, wait_resolved,
)

pytestmark = pytest.mark.integration


def open_escrow(economy, amount: int):
    resp = economy.api.post("/v1/escrows", {"client_id": "client-4", "freelancer_id": "dev-8", "amount": amount,
                                            "job_ref": f"job-{key()}"}, key=key())
    assert resp.status == 201, resp.body
    return resp.body


def test_an_escrow_keeps_the_fee_it_opened_with_after_the_rate_changes(economy) -> None:
    economy.credit("client-4", 2000)
    opened = open_escrow(economy, 999)
    assert opened["fee_bps"] == 1000  # the stage default, rate A
    assert put(economy, "/v1/admin/spending-rates", {"escrow_fee_bps": 2500}).status == 200
    assert open_escrow(economy, 100)["fee_bps"] == 2500  # rate B is live for new escrows in this container

    released = economy.api.post(f"/v1/escrows/{opened['escrow_id']}/release", {}, key=key())
    assert released.status == 200, released.body
    # at A: dev-8 floor(999 * 9000 / 10000) = 899, the fee 100; at B it would have been 749 / 250
    assert (released.body["freelancer_amount"], released.body["fee_amount"]) == (899, 100)
    assert wallet(economy, "dev-8") == {"available": 0, "held": 0, "earnings": 899}
    assert wallet(economy, "client-4") == {"available": 2000 - 999 - 100, "held": 100, "earnings": 0}
    assert treasury(economy) == 100
    economy.check()


def test_a_listing_keeps_the_fee_it_was_created_with_after_the_market_fee_changes(economy, plugin,
                                                                               monkeypatch) -> None:
    economy.credit("buyer", 5000)
    put_reward(economy, "bow", price=1000, category="cosmetic")
    # MARKET_FEE 0.08: no history (x1), 4 units listed is scarce (x5/4): 1000 bps, rate A
    listed = list_item(economy, "seller", "bow", qty=4, unit_price=130, max_per_buyer=3).body
    assert listed["fee_bps"] == 1000

    monkeypatch.setenv("MARKET_FEE", "0.20")
    config.reset_settings()
    # rate B is live: the same listing now would pay 2000 x 5/4 = 2500 bps
    fresh = list_item(economy, "other", "bow", qty=1, unit_price=130).body
    assert fresh["fee_bps"] == 2500

    bought = buy_listing(economy, listed["listing_id"], "buyer", qty=3)
    assert bought.status == 201, bought.body
    final = wait_resolved(economy, bought.body["order_id"])
    # at A: seller floor(390 * 9000 / 10000) = 351, treasury 39 (at B: 292 / 98)
    assert (final["status"], final["seller_amount"], final["treasury_amount"]) == ("fulfilled", 351, 39)
    assert wallet(economy, "seller") == {"available": 0, "held": 0, "earnings": 351} and treasury(economy) == 39
    assert wallet(economy, "buyer") == {"available": 5000 - 390, "held": 0, "earnings": 0}
    economy.check()
