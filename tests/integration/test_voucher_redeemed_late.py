"""README (redeem): a code whose order is past VOUCHER_TIMEOUT_H -> 409 voucher_not_redeemable,
"an expired one is refunded on the spot", before the expire-vouchers job ever ran; the job then finds nothing."""
from __future__ import annotations

import pytest

from chalicelib.market.fulfilment import redeem as redeem_module
from tests.integration.spending_helpers import treasury, wallet
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    plugin,
    buy, order, put_reward, run_job, signed_redeem,
)

pytestmark = pytest.mark.integration

FAR_FUTURE = "2999-01-01T00:00:00.000Z"  # past any VOUCHER_TIMEOUT_H deadline


def test_a_voucher_redeemed_after_its_deadline_is_refunded_on_the_spot(economy, plugin, monkeypatch) -> None:
    economy.credit("late", 500)
    put_reward(economy, "pet", price=120, fulfilment="voucher", stock=3)
    placed = buy(economy, "late", "pet").body
    assert wallet(economy, "late") == {"available": 380, "held": 120, "earnings": 0}

    # the redeem's clock only (the signature's timestamp stays real): the deadline has passed
    monkeypatch.setattr(redeem_module, "now_iso", lambda: FAR_FUTURE)
    late = signed_redeem(economy, placed["voucher_code"], "LatePlayer")
    assert (late.status, late.code) == (409, "voucher_not_redeemable"), late.body
    assert late.body["error"]["details"]["status"] == "refunded"

    final = order(economy, placed["order_id"])
    assert (final["status"], final["resolution"], final["redeemed_by"]) == ("refunded", "order-expire", None)
    # money back at once: 500 available, nothing held, nothing to the treasury; the unit back in stock
    assert wallet(economy, "late") == {"available": 500, "held": 0, "earnings": 0} and treasury(economy) == 0
    assert economy.api.get("/v1/admin/rewards/pet").body["stock"] == 3

    report = run_job("expire-vouchers", economy=economy.id, now=FAR_FUTURE)
    assert (report.get("resolved", 0), report["processed"]) == (0, 0), report  # nothing left due
    assert wallet(economy, "late") == {"available": 500, "held": 0, "earnings": 0} and treasury(economy) == 0
    economy.check()
