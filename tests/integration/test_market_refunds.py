"""README promises about refunds and refusals in the market that no other test pinned down (issue #13)."""
from __future__ import annotations

import pytest

from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.integration.spending_helpers import treasury, wallet
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    plugin,
    buy, buy_listing, list_item, put_reward, wait_resolved,
)

# A stopped app clock: a daily limit's day, an order's deadline and a listing's expiry are
# where the test put them, not wherever the machine's speed (or UTC midnight) moved them.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]


def test_a_refunded_listing_order_gives_its_units_back_and_frees_the_buyers_limit(economy, plugin) -> None:
    # "Refunded: steve held -390, available +390, and the 3 units go back on the listing and off
    # steve's per-listing counter." The refund path: the plugin refuses with a 4xx.
    economy.credit("buyer", 5000)
    put_reward(economy, "axe", price=1000, category="cosmetic")
    listed = list_item(economy, "seller", "axe", qty=5, unit_price=130, max_per_buyer=3).body
    plugin.then(404)
    first = buy_listing(economy, listed["listing_id"], "buyer", qty=3)
    assert first.status == 201, first.body
    assert wait_resolved(economy, first.body["order_id"])["status"] == "refunded"
    view = economy.api.get(f"/v1/listings/{listed['listing_id']}").body
    assert (view["units_left"], view["status"]) == (5, "active")
    assert wallet(economy, "buyer") == {"available": 5000, "held": 0, "earnings": 0}
    assert wallet(economy, "seller") == {"available": 0, "held": 0, "earnings": 0} and treasury(economy) == 0

    # the counter went back to 0, so the full limit of 3 is open again (and only 3)
    again = buy_listing(economy, listed["listing_id"], "buyer", qty=3)
    assert again.status == 201, again.body
    final = wait_resolved(economy, again.body["order_id"])
    assert final["status"] == "fulfilled"
    assert buy_listing(economy, listed["listing_id"], "buyer", qty=1).code == "limit_reached"
    # 1000 bps (no history, scarce): seller floor(390 * 0.9) = 351, treasury 39, only for the second order
    assert wallet(economy, "seller") == {"available": 0, "held": 0, "earnings": 351} and treasury(economy) == 39
    assert wallet(economy, "buyer") == {"available": 5000 - 390, "held": 0, "earnings": 0}
    assert economy.api.get(f"/v1/listings/{listed['listing_id']}").body["units_left"] == 2
    economy.check()


def test_an_expired_shop_item_is_refused_and_nothing_changes(economy, plugin) -> None:
    economy.credit("steve", 1000)
    # an expires_at in the past by construction, not by waiting for the clock
    put_reward(economy, "old-rank", price=300, stock=5, expires_at="2000-01-01T00:00:00.000Z")
    resp = buy(economy, "steve", "old-rank")
    assert (resp.status, resp.code) == (422, "reward_unavailable"), resp.body
    assert wallet(economy, "steve") == {"available": 1000, "held": 0, "earnings": 0} and treasury(economy) == 0
    item = economy.api.get("/v1/admin/rewards/old-rank").body
    assert item.get("stock_left", item.get("stock")) == 5
    assert economy.api.get("/v1/users/steve/orders").body["items"] == []
    economy.check()
