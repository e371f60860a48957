"""Direct API fulfilment against a real local HTTP server playing the Minecraft plugin.

Every scenario ends with the books checked: the coins were either settled
once (treasury or seller) or returned once, never both, never twice.
"""
from __future__ import annotations

import threading
from typing import List

import pytest

from chalicelib.runtime import queue
from chalicelib.market.fulfilment import consumer, minecraft
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.integration.spending_helpers import assert_error, nothing_changes, treasury, wallet
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    buy, order, plugin, put_reward, run_job, use_plugin, wait_resolved,
)

# A stopped app clock: a daily limit's day, an order's deadline and a listing's expiry are
# where the test put them, not wherever the machine's speed (or UTC midnight) moved them.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clock")]

FAR_FUTURE = "2999-01-01T00:00:00.000Z"


def _statement(economy, user: str) -> list:
    return [e["type"] for e in economy.api.get(f"/v1/users/{user}/transactions").body["items"]]


def test_plugin_answers_at_once(economy, plugin) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    placed = buy(economy, "p", "rank").body
    final = wait_resolved(economy, placed["order_id"])
    assert final["status"] == "fulfilled" and final["resolution"] == "fulfilled:api"
    assert len(plugin.calls(placed["order_id"])) == 1 and plugin.deliveries[placed["order_id"]] == 1
    assert wallet(economy, "p") == {"available": 750, "held": 0, "earnings": 0} and treasury(economy) == 250
    economy.check()


def test_500_twice_then_success_delivers_once(economy, plugin) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    plugin.then(500, 503)
    placed = buy(economy, "p", "rank").body
    final = wait_resolved(economy, placed["order_id"])
    calls = plugin.calls(placed["order_id"])
    assert [c.answered for c in calls] == [500, 503, 200]
    assert all(c.signature_ok for c in calls)
    assert plugin.deliveries[placed["order_id"]] == 1  # one fulfilment, not three
    assert final["status"] == "fulfilled" and final["attempts"] == 3
    assert treasury(economy) == 250 and _statement(economy, "p") == ["settle", "order", "adjust"]
    economy.check()


def test_always_failing_plugin_refunds_and_nothing_is_lost(economy, plugin) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250, stock=3, daily_limit=1)
    plugin.default = 502
    placed = buy(economy, "p", "rank").body
    final = wait_resolved(economy, placed["order_id"])
    assert final["status"] == "refunded" and final["attempts"] == 4  # MINECRAFT_MAX_ATTEMPTS in the tests
    assert "after 4 tries" in final["last_error"]
    assert [c.answered for c in plugin.calls(placed["order_id"])] == [502] * 4
    assert not plugin.deliveries
    assert wallet(economy, "p") == {"available": 1000, "held": 0, "earnings": 0} and treasury(economy) == 0
    assert economy.api.get("/v1/admin/rewards/rank").body["stock"] == 3  # the unit is back on sale
    assert buy(economy, "p", "rank").status == 201  # and the day's limit counts it no more
    economy.check()


def test_slow_plugin_times_out_is_retried_and_delivers_once(economy, plugin, monkeypatch) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    # The first call times out for sure: the plugin delivers and answers nothing until
    # the retry arrives. The retry gets a timeout no local answer comes near, so the
    # count of calls is exact on any machine.
    use_plugin(monkeypatch, plugin, MINECRAFT_TIMEOUT_S="0.5")
    real, outcomes = minecraft.deliver, []

    def then_patient(view):
        delivery = real(view)
        outcomes.append(delivery.detail)
        use_plugin(monkeypatch, plugin, MINECRAFT_TIMEOUT_S="10")
        return delivery

    monkeypatch.setattr(minecraft, "deliver", then_patient)
    plugin.then("hang")
    placed = buy(economy, "p", "rank").body
    final = wait_resolved(economy, placed["order_id"])
    calls = plugin.calls(placed["order_id"])
    assert len(calls) == 2 and final["status"] == "fulfilled" and final["attempts"] == 2
    assert outcomes[0] == "timeout"
    assert plugin.deliveries[placed["order_id"]] == 1  # the plugin deduped the retry by order id
    assert treasury(economy) == 250
    economy.check()


def test_an_unanswered_last_try_refunds_and_says_the_delivery_is_unknown(economy, plugin, monkeypatch) -> None:
    # Found by the seeded simulation: the plugin delivered on a try whose answer never came,
    # then the order was refunded. Nobody can know from our side; the order must say so.
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    use_plugin(monkeypatch, plugin, MINECRAFT_TIMEOUT_S="0.5")
    plugin.then(503, 503, 503, "hang")
    placed = buy(economy, "p", "rank").body
    final = wait_resolved(economy, placed["order_id"])
    assert final["status"] == "refunded" and final["attempts"] == 4
    assert plugin.deliveries[placed["order_id"]] == 1  # the goods went out on the unanswered try
    assert final["delivery_unknown"] is True and final["delivered_after_resolution"] is False
    assert wallet(economy, "p") == {"available": 1000, "held": 0, "earnings": 0} and treasury(economy) == 0
    economy.check()


def test_a_consumer_that_dies_after_the_delivery_leaves_a_refund_in_doubt(economy, plugin, monkeypatch) -> None:
    # Found by the seeded simulation: the plugin delivered, the consumer died before settling,
    # and every retry failed the same way until the deadline; the expiry job refunded it.
    from chalicelib.market import settlement

    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)

    def dies(*args, **kwargs):
        raise RuntimeError("the consumer died before settling")

    monkeypatch.setattr(settlement, "fulfil", dies)
    placed = buy(economy, "p", "rank").body
    assert queue.drain(30)
    assert plugin.deliveries[placed["order_id"]] == 1 and order(economy, placed["order_id"])["status"] == "pending"
    assert run_job("expire-orders", economy=economy.id, now=FAR_FUTURE)["status"] == "ok"
    final = order(economy, placed["order_id"])
    assert final["status"] == "refunded" and final["delivery_unknown"] is True
    assert wallet(economy, "p")["available"] == 1000
    worker = queue._local()
    worker.failed[:] = [m for m in worker.failed if m["payload"].get("order_id") != placed["order_id"]]
    economy.check()


def test_tries_that_were_all_answered_leave_no_doubt(economy, plugin) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    plugin.default = 502
    placed = buy(economy, "p", "rank").body
    final = wait_resolved(economy, placed["order_id"])
    assert final["status"] == "refunded" and final["delivery_unknown"] is False and not plugin.deliveries


def test_a_4xx_refusal_refunds_at_once(economy, plugin) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    plugin.then(404)
    placed = buy(economy, "p", "rank", player_id="NoSuchPlayer").body
    final = wait_resolved(economy, placed["order_id"])
    assert final["status"] == "refunded" and "refused" in final["last_error"]
    assert len(plugin.calls(placed["order_id"])) == 1
    assert wallet(economy, "p")["available"] == 1000
    economy.check()


def test_consumer_killed_before_the_call_is_retried_and_delivers_once(economy, plugin, monkeypatch) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)
    real, kills = minecraft.deliver, []

    def die_once(view):
        if not kills:
            kills.append(view["order_id"])
            raise RuntimeError("the Lambda died after the escrow, before the call")
        return real(view)

    monkeypatch.setattr(minecraft, "deliver", die_once)
    placed = buy(economy, "p", "rank").body
    assert placed["status"] == "pending" and wallet(economy, "p")["held"] == 250  # escrowed before the crash
    final = wait_resolved(economy, placed["order_id"], timeout=30)
    assert kills == [placed["order_id"]]
    assert final["status"] == "fulfilled" and plugin.deliveries[placed["order_id"]] == 1
    assert run_job("expire-orders", economy=economy.id, now=FAR_FUTURE)["processed"] == 0  # nothing left to expire
    assert treasury(economy) == 250
    economy.check()


def test_consumer_dead_for_good_is_ended_by_the_expiry_job_once(economy, plugin, monkeypatch) -> None:
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250)

    def always_die(view):
        raise RuntimeError("the consumer keeps dying before the call")

    real = minecraft.deliver
    monkeypatch.setattr(minecraft, "deliver", always_die)
    placed = buy(economy, "p", "rank").body
    assert queue.drain(60)
    assert order(economy, placed["order_id"])["status"] == "pending"
    first = run_job("expire-orders", economy=economy.id, now=FAR_FUTURE)
    second = run_job("expire-orders", economy=economy.id, now=FAR_FUTURE)
    assert first["resolved"] == 1 and second["processed"] == 0
    final = order(economy, placed["order_id"])
    assert final["status"] == "refunded" and final["resolution"] == "order-expire"
    monkeypatch.setattr(minecraft, "deliver", real)
    consumer.handle({"economy": economy.id, "order_id": placed["order_id"], "attempt": 1}, "late")  # a late redelivery
    assert not plugin.calls(placed["order_id"])  # never called: the order was already refunded
    assert wallet(economy, "p") == {"available": 1000, "held": 0, "earnings": 0} and treasury(economy) == 0
    assert _statement(economy, "p") == ["release", "order", "adjust"]
    economy.check()


def test_retry_and_expiry_job_racing_end_the_order_exactly_once(economy, plugin, monkeypatch) -> None:
    economy.credit("p", 10_000)
    put_reward(economy, "rank", price=100)
    real = minecraft.deliver

    def killed(view):
        raise RuntimeError("killed after the escrow, before the call")

    monkeypatch.setattr(minecraft, "deliver", killed)
    placed = [buy(economy, "p", "rank").body["order_id"] for _ in range(6)]
    assert queue.drain(90)
    monkeypatch.setattr(minecraft, "deliver", real)
    start = threading.Barrier(2)
    failed: List[BaseException] = []  # a thread's exception is otherwise only printed, and the test would pass

    def both(work):
        def run() -> None:
            try:
                start.wait(timeout=30)
                work()
            except BaseException as exc:  # noqa: B036 - recorded, then asserted below
                failed.append(exc)
        return run

    def redeliver() -> None:
        for order_id in placed:
            consumer.handle({"economy": economy.id, "order_id": order_id, "attempt": 1}, f"{order_id}:again")

    def expire() -> None:
        run_job("expire-orders", economy=economy.id, now=FAR_FUTURE)

    threads = [threading.Thread(target=both(redeliver)), threading.Thread(target=both(expire))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads) and failed == [], failed
    finals = [order(economy, o) for o in placed]
    assert {f["status"] for f in finals} <= {"fulfilled", "refunded"}
    fulfilled = sum(f["status"] == "fulfilled" for f in finals)
    assert treasury(economy) == 100 * fulfilled
    assert wallet(economy, "p") == {"available": 10_000 - 100 * fulfilled, "held": 0, "earnings": 0}
    resolutions = [e for e in economy.api.get("/v1/users/p/transactions?limit=100").body["items"]
                   if e["type"] in ("settle", "release")]
    assert len(resolutions) == len(placed)  # one resolution per order, whoever won
    economy.check()


def test_api_fulfilment_not_configured_is_503_and_changes_nothing(economy, monkeypatch) -> None:
    use_plugin(monkeypatch, None)
    economy.credit("p", 1000)
    put_reward(economy, "rank", price=250, stock=2)
    with nothing_changes(economy, "p"):
        resp = buy(economy, "p", "rank")
    assert_error(resp, 503, "fulfilment_unavailable")
    assert economy.api.get("/v1/admin/rewards/rank").body["stock"] == 2
