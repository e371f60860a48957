"""Operator events (``/v1/admin/events``): a window with a reward multiplier or a shop discount.

Worked examples on DynamoDB Local with the app's clock stopped (``clock``): the
window's statuses, what a grant and a shop order pay while an event runs and
what they record, replays across an event's end, and bad input that changes
nothing. Every test ends with the economy's invariants.
"""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Dict, Optional

import pytest

from chalicelib.core.ids import iso
from chalicelib.tenancy import events as event_rules
from tests.clock_helpers import Clock, clock  # noqa: F401 (fixture)
from tests.conftest import Economy, Resp
from tests.integration.spending_helpers import assert_error
from tests.market_helpers import buy, put_reward, use_plugin

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]


def later(clock: Clock, seconds: float) -> str:
    return iso(clock.now + timedelta(seconds=seconds))


def create(economy: Economy, key: Optional[str] = None, **fields: Any) -> Resp:
    return economy.api.post("/v1/admin/events", fields, key=key)


def multiplier(economy: Economy, clock: Clock, bps: int = 20_000, **fields: Any) -> Dict[str, Any]:
    body = {"name": "Double coins weekend", "kind": "reward_multiplier", "multiplier_bps": bps,
            "ends_at": later(clock, 2 * 86_400), **fields}
    resp = create(economy, **body)
    assert resp.status == 201, resp.body
    return resp.body


def discount(economy: Economy, clock: Clock, bps: int = 2_500, **fields: Any) -> Dict[str, Any]:
    body = {"name": "Quarter off", "kind": "shop_discount", "discount_bps": bps, "ends_at": later(clock, 86_400),
            **fields}
    resp = create(economy, **body)
    assert resp.status == 201, resp.body
    return resp.body


def grant(economy: Economy, user: str, type_: str) -> Resp:
    return economy.api.post(f"/v1/users/{user}/rewards", {"type": type_}, token=economy.rewards_token)


def event_audit(economy: Economy, event_id: str) -> list:
    return [(r["action"], (r.get("before") or {}).get("status"), r["after"]["status"])
            for r in economy.api.get("/v1/admin/audit?limit=200").body["items"] if r["target"] == f"event:{event_id}"]


# --------------------------------------------------------------------------- the window


def test_an_event_is_scheduled_then_active_then_ended_by_the_clock(economy, clock) -> None:
    made = multiplier(economy, clock, starts_at=later(clock, 3600), ends_at=later(clock, 7200))
    assert made["status"] == "scheduled" and made["multiplier_bps"] == 20_000 and made["discount_bps"] is None
    assert grant(economy, "alice", "daily").body["amount"] == 10  # not yet
    clock.advance(3600)
    path = f"/v1/admin/events/{made['event_id']}"
    assert economy.api.get(path).body["status"] == "active"
    assert [e["event_id"] for e in economy.api.get("/v1/admin/events?status=active").body["items"]] == [
        made["event_id"]]
    assert grant(economy, "bob", "daily").body["amount"] == 20
    clock.advance(3600)
    assert economy.api.get(path).body["status"] == "ended"
    assert economy.api.get("/v1/admin/events?status=active").body["items"] == []
    assert grant(economy, "carol", "daily").body["amount"] == 10
    assert_error(economy.api.post(f"{path}/stop", {}), 409, "event_state_conflict")
    assert_error(economy.api.post(f"{path}/start", {}), 409, "event_state_conflict")
    assert event_audit(economy, made["event_id"]) == [("event.create", None, "scheduled")]
    economy.check()


def test_start_moves_a_scheduled_event_to_now_and_stop_ends_it_now(economy, clock) -> None:
    made = multiplier(economy, clock, starts_at=later(clock, 86_400), ends_at=later(clock, 2 * 86_400))
    path = f"/v1/admin/events/{made['event_id']}"
    started = economy.api.post(f"{path}/start", {"reason": "launch early"})
    assert started.status == 200 and started.body["status"] == "active"
    assert started.body["starts_at"] == clock.iso()
    assert grant(economy, "alice", "daily").body["amount"] == 20
    clock.advance(60)
    stopped = economy.api.post(f"{path}/stop", {})
    assert stopped.status == 200 and stopped.body["status"] == "stopped"
    assert stopped.body["stopped_at"] == clock.iso()
    assert grant(economy, "bob", "daily").body["amount"] == 10
    assert_error(economy.api.post(f"{path}/stop", {}), 409, "event_state_conflict")
    assert [e["status"] for e in economy.api.get("/v1/admin/events?status=stopped").body["items"]] == ["stopped"]
    assert event_audit(economy, made["event_id"]) == [
        ("event.stop", "active", "stopped"), ("event.start", "scheduled", "active"),
        ("event.create", None, "scheduled")]
    reasons = [r["reason"] for r in economy.api.get("/v1/admin/audit?limit=200").body["items"]
               if r["target"] == f"event:{made['event_id']}"]
    assert reasons[1] == "launch early"
    economy.check()


def test_events_of_one_kind_never_overlap_and_other_kinds_may(economy, clock) -> None:
    first = multiplier(economy, clock, ends_at=later(clock, 7200))
    assert_error(create(economy, name="Again", kind="reward_multiplier", multiplier_bps=15_000,
                        starts_at=later(clock, 3600), ends_at=later(clock, 9000)), 409, "event_overlap")
    discount(economy, clock)  # another kind: allowed
    after = create(economy, name="Next", kind="reward_multiplier", multiplier_bps=15_000,
                   starts_at=later(clock, 7200), ends_at=later(clock, 9000))
    assert after.status == 201, after.body  # windows are half-open: it starts as the first ends
    # Starting the later one now would overlap the first: refused, nothing changes.
    assert_error(economy.api.post(f"/v1/admin/events/{after.body['event_id']}/start", {}), 409, "event_overlap")
    assert economy.api.get(f"/v1/admin/events/{after.body['event_id']}").body["status"] == "scheduled"
    # Once the first is stopped, the window is free.
    assert economy.api.post(f"/v1/admin/events/{first['event_id']}/stop", {}).status == 200
    assert economy.api.post(f"/v1/admin/events/{after.body['event_id']}/start", {}).status == 200
    economy.check()


# --------------------------------------------------------------------------- the listing, a page at a time


def walk(economy: Economy, query: str = "", limit: int = 2) -> tuple:
    """Every page of ``GET /v1/admin/events?<query>``: (event ids in order, page sizes)."""
    ids, sizes, cursor = [], [], None
    while True:
        path = f"/v1/admin/events?limit={limit}{'&' + query if query else ''}"
        resp = economy.api.get(path + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status == 200, resp.body
        ids += [e["event_id"] for e in resp.body["items"]]
        sizes.append(len(resp.body["items"]))
        cursor = resp.body["next_cursor"]
        if cursor is None:
            return ids, sizes


@pytest.fixture
def six(economy: Economy, clock: Clock) -> Dict[str, str]:
    """One event ended, two active, two scheduled, one stopped (two kinds: each kind's windows never overlap)."""
    made = {"ended": multiplier(economy, clock, ends_at=later(clock, 100))["event_id"]}
    clock.advance(200)
    made["active_m"] = multiplier(economy, clock, ends_at=later(clock, 1000))["event_id"]
    made["scheduled_m"] = multiplier(economy, clock, starts_at=later(clock, 2000),
                                     ends_at=later(clock, 3000))["event_id"]
    made["stopped"] = discount(economy, clock, ends_at=later(clock, 500))["event_id"]
    assert economy.api.post(f"/v1/admin/events/{made['stopped']}/stop", {}).status == 200
    made["scheduled_d"] = discount(economy, clock, starts_at=later(clock, 600), ends_at=later(clock, 700))["event_id"]
    made["active_d"] = discount(economy, clock, ends_at=later(clock, 550))["event_id"]
    return made


def test_the_listing_pages_latest_end_first_and_each_status_pages_too(economy, six) -> None:
    ids, sizes = walk(economy)
    assert ids == [six[n] for n in ("scheduled_m", "active_m", "scheduled_d", "active_d", "stopped", "ended")]
    assert sizes == [2, 2, 2]
    statuses = {"scheduled": ["scheduled_m", "scheduled_d"], "active": ["active_m", "active_d"],
                "stopped": ["stopped"], "ended": ["ended"]}
    for status, names in statuses.items():
        ids, _ = walk(economy, f"status={status}", limit=1)
        assert ids == [six[n] for n in names], status
        items = economy.api.get(f"/v1/admin/events?status={status}&limit=100").body["items"]
        assert {e["status"] for e in items} == {status}
    assert walk(economy, limit=100) == ([six[n] for n in ("scheduled_m", "active_m", "scheduled_d", "active_d",
                                                            "stopped", "ended")], [6])
    economy.check()


def test_a_page_of_live_events_whose_last_one_ended_since_is_the_last_page(economy, clock, six) -> None:
    first = economy.api.get("/v1/admin/events?status=active&limit=1").body
    assert [e["event_id"] for e in first["items"]] == [six["active_m"]] and first["next_cursor"]
    clock.advance(1000)  # every active event has ended now: none can follow
    again = economy.api.get(f"/v1/admin/events?status=active&limit=1&cursor={first['next_cursor']}")
    assert (again.status, again.body) == (200, {"items": [], "next_cursor": None})
    assert walk(economy, "status=ended", limit=1)[0] == [six[n] for n in ("active_m", "scheduled_d", "active_d",
                                                                            "ended")]


def test_bad_paging_is_refused_with_the_stable_codes(economy, clock, six) -> None:
    from chalicelib.core import cursors, keys

    audit = economy.api.get("/v1/admin/audit?limit=200").body
    for limit in ("0", "101", "x", "-1", "²"):
        assert_error(economy.api.get(f"/v1/admin/events?limit={limit}"), 400, "validation_error", "limit")
    active = economy.api.get("/v1/admin/events?status=active&limit=1").body["next_cursor"]
    ended_scope = keys.join("events", economy.id, "ended")
    far = later(clock, 86_400)
    bad = [
        "junk", "x" * 3000,
        f"{active}&status=scheduled", f"{active}&status=",  # a cursor of another status's listing
        cursors.encode(keys.join("events", "someone-else", "active"), {"event_id": six["active_m"], "ends_at": far}),
        cursors.encode(ended_scope, {"event_id": six["ended"], "ends_at": far}),  # ended, yet after now
        cursors.encode(ended_scope, {"event_id": six["ended"], "ends_at": "yesterday"}),
        cursors.encode(ended_scope, {"event_id": "evt_x", "ends_at": clock.iso()}),
        cursors.encode(ended_scope, {"event_id": six["ended"]}),
    ]
    for cursor in bad:
        query = cursor if "&" in cursor else f"{cursor}&status=ended"
        assert_error(economy.api.get(f"/v1/admin/events?limit=1&cursor={query}"), 400, "invalid_cursor")
    assert economy.api.get("/v1/admin/audit?limit=200").body == audit


def test_the_live_read_is_the_index_and_the_overlap_check_is_the_table(economy, clock, monkeypatch) -> None:
    from chalicelib.tenancy import store

    ended = multiplier(economy, clock, ends_at=later(clock, 60))
    clock.advance(120)
    live = multiplier(economy, clock, ends_at=later(clock, 600))
    now = clock.iso()
    assert [i["event_id"] for i in store.query_events(economy.id, ending_after=now)] == [live["event_id"]]
    assert [i["event_id"] for i in store.query_events(economy.id, ending_after=now, consistent=True)] == [
        live["event_id"]]
    # Sparse: the guard item has no ends_at, so even "everything that ends after 0" is events only.
    assert sorted(i["event_id"] for i in store.query_events(economy.id, ending_after="0")) == sorted(
        [ended["event_id"], live["event_id"]])
    # An index that lags (it is eventually consistent) must not let an overlap through: the check reads the table.
    real = store.query_events
    monkeypatch.setattr(store, "query_events",
                        lambda economy, *, ending_after, consistent=False:
                        real(economy, ending_after=ending_after, consistent=True) if consistent else [])
    assert_error(create(economy, name="Again", kind="reward_multiplier", multiplier_bps=15_000,
                        ends_at=later(clock, 300)), 409, "event_overlap")
    economy.check()


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("body,status,code,field", [
    ({"kind": "reward_multiplier", "multiplier_bps": 20_000}, 400, "validation_error", "name"),
    ({"name": "x", "kind": "bonus", "multiplier_bps": 20_000}, 400, "validation_error", "kind"),
    ({"name": "x", "kind": "reward_multiplier"}, 422, "invalid_event", "multiplier_bps"),
    ({"name": "x", "kind": "reward_multiplier", "multiplier_bps": 10_000}, 400, "validation_error", "multiplier_bps"),
    ({"name": "x", "kind": "reward_multiplier", "multiplier_bps": 100_001}, 400, "validation_error",
     "multiplier_bps"),
    ({"name": "x", "kind": "reward_multiplier", "multiplier_bps": 2.5}, 400, "validation_error", "multiplier_bps"),
    ({"name": "x", "kind": "reward_multiplier", "multiplier_bps": 20_000, "discount_bps": 10}, 422,
     "invalid_event", "discount_bps"),
    ({"name": "x", "kind": "shop_discount", "discount_bps": 9_001}, 400, "validation_error", "discount_bps"),
    ({"name": "x", "kind": "shop_discount", "discount_bps": 0}, 400, "validation_error", "discount_bps"),
    ({"name": "x", "kind": "shop_discount", "discount_bps": 100, "rewards": ["daily"]}, 422, "invalid_event",
     "rewards"),
    ({"name": "x", "kind": "reward_multiplier", "multiplier_bps": 20_000, "skus": ["a"]}, 422, "invalid_event",
     "skus"),
    ({"name": "x", "kind": "reward_multiplier", "multiplier_bps": 20_000, "rewards": ["weekly"]}, 400,
     "validation_error", None),
    ({"name": "x", "kind": "reward_multiplier", "multiplier_bps": 20_000, "rewards": ["daily", "daily"]}, 422,
     "invalid_event", "rewards"),
    ({"name": "x", "kind": "shop_discount", "discount_bps": 100, "skus": ["bad sku"]}, 400, "validation_error",
     "skus"),
    ({"name": " ", "kind": "shop_discount", "discount_bps": 100}, 400, "validation_error", "name"),
])
def test_a_bad_event_is_refused_and_nothing_changes(economy, clock, body, status, code, field) -> None:
    body = {"ends_at": later(clock, 3600), **body}
    audit = economy.api.get("/v1/admin/audit?limit=200").body
    err = assert_error(create(economy, **body), status, code)
    if field is not None:
        assert err["details"]["field"] == field, err
    assert economy.api.get("/v1/admin/events").body == {"items": [], "next_cursor": None}
    assert economy.api.get("/v1/admin/audit?limit=200").body == audit


@pytest.mark.parametrize("window,field,status,code", [
    ({"ends_at": "tomorrow"}, "ends_at", 400, "validation_error"),
    ({"ends_at": "2030-01-01T00:00:00"}, "ends_at", 400, "validation_error"),  # no zone
    ({"starts_at": "+3600", "ends_at": "+1800"}, "ends_at", 422, "invalid_event"),  # ends before it starts
    ({"ends_at": "-60"}, "ends_at", 422, "invalid_event"),  # already over
    ({"ends_at": "+8000000"}, "ends_at", 422, "invalid_event"),  # more than 90 days
])
def test_a_bad_window_is_refused(economy, clock, window, field, status, code) -> None:
    body = {"name": "x", "kind": "reward_multiplier", "multiplier_bps": 20_000}
    for name, value in window.items():
        body[name] = later(clock, float(value)) if value[0] in "+-" else value
    assert_error(create(economy, **body), status, code, field)
    assert economy.api.get("/v1/admin/events").body == {"items": [], "next_cursor": None}


def test_unknown_and_malformed_event_ids(economy) -> None:
    assert_error(economy.api.get("/v1/admin/events/evt_00000000000000000000000000"), 404, "event_not_found")
    assert_error(economy.api.post("/v1/admin/events/evt_00000000000000000000000000/stop", {}), 404,
                 "event_not_found")
    assert_error(economy.api.get("/v1/admin/events/nope"), 400, "validation_error", "event_id")
    assert_error(economy.api.get("/v1/admin/events?status=over"), 400, "validation_error", "status")


def test_a_write_without_a_reason_is_refused(economy, clock) -> None:
    body = {"name": "x", "kind": "reward_multiplier", "multiplier_bps": 20_000, "ends_at": later(clock, 60)}
    resp = economy.api.post("/v1/admin/events", body, headers={"X-Audit-Reason": None})
    assert_error(resp, 400, "reason_required")
    assert economy.api.get("/v1/admin/events").body == {"items": [], "next_cursor": None}


def test_creation_honours_the_idempotency_key(economy, clock) -> None:
    body = {"name": "Double", "kind": "reward_multiplier", "multiplier_bps": 20_000, "ends_at": later(clock, 600)}
    key = f"k-{uuid.uuid4().hex}"
    first = create(economy, key=key, **body)
    again = create(economy, key=key, **body)
    assert (first.status, first.headers["idempotent-replayed"]) == (201, "false")
    assert (again.status, again.headers["idempotent-replayed"]) == (200, "true")
    assert again.body["event_id"] == first.body["event_id"]
    assert_error(create(economy, key=key, **{**body, "multiplier_bps": 30_000}), 409, "idempotency_key_reused")
    assert len(economy.api.get("/v1/admin/events").body["items"]) == 1
    assert len(event_audit(economy, first.body["event_id"])) == 1


# --------------------------------------------------------------------------- grants


def test_a_multiplier_pays_more_and_the_entry_says_why(economy, clock) -> None:
    made = multiplier(economy, clock, bps=15_000)  # x1.5: 10 daily -> 15, 15 quest -> 22 (floored)
    daily = grant(economy, "alice", "daily")
    assert (daily.status, daily.body["amount"], daily.body["base_amount"]) == (200, 15, 10)
    assert daily.body["event"] == {"event_id": made["event_id"], "name": made["name"], "multiplier_bps": 15_000}
    quest = grant(economy, "alice", "quest")
    assert (quest.body["amount"], quest.body["base_amount"]) == (22, 15)
    statement = economy.api.get("/v1/users/alice/transactions").body["items"]
    assert [(e["amount"], e["details"]["event_id"], e["details"]["multiplier_bps"], e["details"]["base_amount"])
            for e in statement] == [(22, made["event_id"], 15_000, 15), (15, made["event_id"], 15_000, 10)]
    assert economy.api.get("/v1/users/alice/wallet").body["available"] == 37
    # The key's grant budget took what was paid.
    from chalicelib.rewards import budget
    from chalicelib.rewards.grants import today_utc
    from chalicelib.tenancy import apikeys
    assert budget.used(economy.id, apikeys.key_id_for(economy.rewards_token), today_utc()) == 37
    economy.check()


def test_a_multiplier_names_the_grants_it_applies_to(economy, clock) -> None:
    multiplier(economy, clock, rewards=["quest"])
    daily = grant(economy, "alice", "daily")
    assert daily.body["amount"] == 10 and daily.body.get("event") is None and daily.body.get("base_amount") is None
    assert grant(economy, "alice", "quest").body["amount"] == 30
    assert "event_id" not in economy.api.get("/v1/users/alice/transactions").body["items"][1]["details"]
    economy.check()


def test_a_grant_replayed_after_the_event_ended_pays_nothing_more(economy, clock) -> None:
    made = multiplier(economy, clock, ends_at=later(clock, 600))
    first = grant(economy, "alice", "daily")
    assert first.body["amount"] == 20
    assert economy.api.post(f"/v1/admin/events/{made['event_id']}/stop", {}).status == 200
    again = grant(economy, "alice", "daily")
    assert again.body["already_claimed"] is True
    assert (again.body["amount"], again.body["transaction_id"]) == (20, first.body["transaction_id"])
    clock.advance(700)  # past its end too
    assert grant(economy, "alice", "daily").body["transaction_id"] == first.body["transaction_id"]
    assert economy.api.get("/v1/users/alice/wallet").body["available"] == 20
    economy.check()


# --------------------------------------------------------------------------- the shop


@pytest.fixture
def shop(economy: Economy, monkeypatch: pytest.MonkeyPatch) -> Economy:
    use_plugin(monkeypatch, None)  # vouchers: no game server
    economy.credit("alice", 1_000)
    put_reward(economy, "vip", price=101, fulfilment="voucher", category="rank")
    put_reward(economy, "hat", price=40, fulfilment="voucher", category="cosmetic")
    return economy


def test_a_discount_shows_in_the_catalog_and_the_order_records_it(shop, clock) -> None:
    made = discount(shop, clock, bps=2_500, categories=["rank"])  # 101 - floor(25.25) = 76
    items = {i["sku"]: i for i in shop.api.get("/v1/rewards").body["items"]}
    assert (items["vip"]["price"], items["vip"]["list_price"]) == (76, 101)
    assert items["vip"]["event"] == {"event_id": made["event_id"], "name": made["name"], "discount_bps": 2_500}
    assert items["hat"]["price"] == 40 and items["hat"].get("event") is None
    assert shop.api.get("/v1/rewards/vip").body["price"] == 76
    assert shop.api.get("/v1/admin/rewards/vip").body["price"] == 101  # operators see the list price
    order = buy(shop, "alice", "vip", qty=2)
    assert order.status == 201, order.body
    body = order.body
    assert (body["unit_price"], body["total"], body["list_price"], body["discount_bps"], body["event_id"]) == (
        76, 152, 101, 2_500, made["event_id"])
    stored = shop.api.get(f"/v1/orders/{body['order_id']}").body
    assert (stored["unit_price"], stored["event_id"], stored["list_price"]) == (76, made["event_id"], 101)
    assert shop.api.get("/v1/users/alice/wallet").body["held"] == 152
    shop.check()


def test_expected_price_is_compared_with_the_discounted_price(shop, clock) -> None:
    made = discount(shop, clock, bps=5_000, skus=["vip"])  # 101 - 50 = 51
    wallet = shop.api.get("/v1/users/alice/wallet").body
    err = assert_error(buy(shop, "alice", "vip", expected_price=101), 409, "price_changed")
    assert (err["details"]["price"], err["details"]["expected_price"]) == (51, 101)
    assert shop.api.get("/v1/users/alice/wallet").body == wallet
    assert shop.api.get("/v1/admin/rewards/vip").body["sold"] == 0
    key = f"k-{uuid.uuid4().hex}"
    placed = buy(shop, "alice", "vip", idem=key, expected_price=51)
    assert placed.status == 201 and placed.body["unit_price"] == 51
    # The event ends; a retry of the same order replays it (no second charge, no price_changed).
    assert shop.api.post(f"/v1/admin/events/{made['event_id']}/stop", {}).status == 200
    again = buy(shop, "alice", "vip", idem=key, expected_price=51)
    assert (again.status, again.headers["idempotent-replayed"]) == (201, "true")
    assert again.body["order_id"] == placed.body["order_id"]
    assert shop.api.get("/v1/users/alice/wallet").body["held"] == 51
    # A new order now pays the list price, and 51 is no longer it.
    assert_error(buy(shop, "alice", "vip", expected_price=51), 409, "price_changed")
    assert buy(shop, "alice", "vip").body["unit_price"] == 101
    shop.check()


def test_the_active_event_is_read_once_per_cache_window(economy, clock, monkeypatch) -> None:
    calls = []
    real = event_rules.store.query_events
    monkeypatch.setattr(event_rules.store, "query_events",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    multiplier(economy, clock)  # the write reads (overlap) and drops this container's copy
    calls.clear()
    for user in ("alice", "bob", "carol"):
        assert grant(economy, user, "daily").body["amount"] == 20
    assert len(calls) == 1
    assert event_rules.EVENTS_CACHE_SECONDS == 30.0
