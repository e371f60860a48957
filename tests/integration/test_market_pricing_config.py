"""An economy's market pricing through the admin API: read, set (validated, audited), and used by new listings."""
from __future__ import annotations

from typing import Any, Dict

import pytest

from chalicelib.market.pricing import DEFAULT_TERMS
from tests.conftest import Economy
from tests.edge_helpers import changed_tables, economy_records
from tests.market_helpers import list_item, put_reward

pytestmark = pytest.mark.integration

PATH = "/v1/admin/pricing"


def put(e: Economy, body: Any, reason: str = "spring pricing") -> Any:
    import json

    return e.api.request("PUT", PATH, body=json.dumps(body),
                         headers={"Authorization": f"Bearer {e.admin_token}", "Content-Type": "application/json",
                                  "X-Audit-Reason": reason})


def test_an_economy_starts_with_the_stage_and_formula_defaults(economy: Economy) -> None:
    from chalicelib.core.config import get_settings

    got = economy.api.get(PATH).body
    settings = get_settings()
    assert got == {"changed": False, "pricing": {
        "market_fee_bps": settings.market_fee_bps, "price_floor_bps": settings.price_floor_bps,
        "band_undercut_bps": 7500, "band_market_bps": 10000, "band_premium_bps": 15000, "band_far_over_bps": 20000,
        "scarcity_target_units": 10, "scarcity_alpha_bps": 12500}}
    assert DEFAULT_TERMS.scarcity_target_units == 10


def test_new_listings_pay_the_fee_of_the_pricing_set_and_the_change_is_audited(economy: Economy) -> None:
    put_reward(economy, "pet", price=40, fulfilment="voucher", category="cosmetic")
    before = list_item(economy, "seller", "pet", qty=1, unit_price=30)
    assert before.status == 201, before.body
    base = economy.api.get(PATH).body["pricing"]["market_fee_bps"]
    assert before.body["fee_bps"] == base * 12500 // 10000  # no history x1, one unit listed: scarce x 5/4

    changed = put(economy, {"market_fee_bps": 2000, "scarcity_target_units": 3, "scarcity_alpha_bps": 15000})
    assert changed.status == 200, changed.body
    assert changed.body["changed"] is True and changed.body["pricing"]["market_fee_bps"] == 2000
    # Two more units make three listed: not fewer than the target, so not scarce.
    scarce = list_item(economy, "seller", "pet", qty=1, unit_price=30)
    plenty = list_item(economy, "seller", "pet", qty=1, unit_price=30)
    assert (scarce.body["fee_bps"], scarce.body["fee"]["scarce"]) == (2000 * 15000 // 10000, True)
    assert (plenty.body["fee_bps"], plenty.body["fee"]["scarce"]) == (2000, False)
    # A listing keeps the fee it was made with.
    assert economy.api.get(f"/v1/listings/{before.body['listing_id']}").body["fee_bps"] == before.body["fee_bps"]
    assert economy.api.get("/v1/market/prices/pet").body["base_fee_bps"] == 2000

    [row] = [r for r in economy.api.get("/v1/admin/audit?limit=10").body["items"] if r["action"] == "economy.pricing"]
    assert row["reason"] == "spring pricing" and row["role"] == "SUPERADMIN"
    assert (row["before"]["market_fee_bps"], row["after"]["market_fee_bps"]) == (base, 2000)
    assert row["after"]["scarcity_alpha_bps"] == 15000 and row["before"]["scarcity_alpha_bps"] == 12500


def test_setting_what_is_already_set_changes_nothing(economy: Economy) -> None:
    current = economy.api.get(PATH).body["pricing"]
    same = put(economy, {"band_market_bps": current["band_market_bps"]})
    assert same.status == 200 and same.body["changed"] is False
    assert [r for r in economy.api.get("/v1/admin/audit").body["items"] if r["action"] == "economy.pricing"] == []


def test_one_economys_pricing_is_its_own(economy: Economy, chalice_client) -> None:
    from tests.edge_helpers import make_economy

    other = make_economy(chalice_client)
    assert put(economy, {"price_floor_bps": 9000}).status == 200
    assert other.api.get(PATH).body["pricing"]["price_floor_bps"] != 9000


BAD: Dict[str, Any] = {
    "fee-over": ({"market_fee_bps": 10_001}, "market_fee_bps"),
    "floor-negative": ({"price_floor_bps": -1}, "price_floor_bps"),
    "band-over": ({"band_premium_bps": 40_001}, "band_premium_bps"),
    "bands-out-of-order": ({"band_premium_bps": 9000}, "band_premium_bps"),  # below market's 10,000
    "undercut-above-market": ({"band_undercut_bps": 12_000}, "band_undercut_bps"),
    "explicit-null": ({"market_fee_bps": None}, "market_fee_bps"),
    "string": ({"market_fee_bps": "800"}, "market_fee_bps"),
    "float": ({"scarcity_target_units": 2.5}, "scarcity_target_units"),
    "bool": ({"scarcity_alpha_bps": True}, "scarcity_alpha_bps"),
    "unknown": ({"fee": 5}, "fee"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_pricing_is_a_4xx_naming_the_field_and_changes_nothing(economy: Economy, case: str) -> None:
    body, field = BAD[case]
    before = economy_records(economy.id)
    resp = put(economy, body)
    expected = (422, "pricing_bands_out_of_order") if "order" in case or "above" in case else (400, "validation_error")
    assert (resp.status, resp.code) == expected, resp.body
    assert resp.body["error"]["details"].get("field") == field, resp.body
    assert changed_tables(before, economy_records(economy.id)) == {}
