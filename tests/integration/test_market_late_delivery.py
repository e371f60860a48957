"""README: a plugin answering 2xx for an order we had already refunded flags it
``delivered_after_resolution`` and logs it for an operator; the money moves once (the refund)."""
from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Iterator, Tuple

import pytest

from chalicelib.market import settlement
from chalicelib.runtime import queue
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.integration.spending_helpers import treasury, wallet
from tests.market_helpers import PluginStandIn, buy, order, put_reward, use_plugin

# A stopped app clock: a daily limit's day, an order's deadline and a listing's expiry are
# where the test put them, not wherever the machine's speed (or UTC midnight) moved them.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]

FAR_FUTURE = "2999-01-01T00:00:00.000Z"


class HeldPlugin(PluginStandIn):
    """Delivers, then holds its answer until the test lets it go (no timing: two events)."""

    def __init__(self) -> None:
        super().__init__()
        self.called = threading.Event()
        self.let_go = threading.Event()

    def answer(self, headers: Dict[str, str], raw: bytes) -> Tuple[int, Dict[str, Any], float]:
        result = super().answer(headers, raw)
        self.called.set()
        self.let_go.wait(30)
        return result


@pytest.fixture
def held_plugin(economy, monkeypatch) -> Iterator[HeldPlugin]:
    with HeldPlugin() as fake:
        # a timeout far longer than the test, so our client hears the late 2xx rather than giving up
        use_plugin(monkeypatch, fake, MINECRAFT_TIMEOUT_S="60")
        try:
            yield fake
        finally:
            fake.let_go.set()
            assert queue.drain(30), "fulfilment work still running at the end of the test"


def test_a_2xx_after_the_refund_flags_the_order_and_moves_no_money_twice(economy, held_plugin, caplog) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    placed = buy(economy, "p", "rank").body
    assert held_plugin.called.wait(20), "the plugin was never called"
    # the deadline passes while the call is in flight: what the expiry job does, on an injected "now"
    settlement.expire_if_due(economy.id, placed["order_id"], FAR_FUTURE)
    assert order(economy, placed["order_id"])["status"] == "refunded"
    assert wallet(economy, "p") == {"available": 1000, "held": 0, "earnings": 0}

    with caplog.at_level(logging.ERROR, logger="coinhall"):
        held_plugin.let_go.set()
        assert queue.drain(30)
    final = order(economy, placed["order_id"])
    assert final["status"] == "refunded" and final.get("delivered_after_resolution") is True, final
    assert held_plugin.deliveries[placed["order_id"]] == 1
    # refunded once, never settled: the buyer has all 1000 back and the treasury got nothing
    assert wallet(economy, "p") == {"available": 1000, "held": 0, "earnings": 0} and treasury(economy) == 0
    assert any(placed["order_id"] in r.getMessage() and "delivered after" in r.getMessage()
               for r in caplog.records if r.levelno >= logging.ERROR)
    economy.check()
