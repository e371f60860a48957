"""Operator reports on a seeded economy: four UTC days of credits, spends, tips, purchases, a refund and rewards.

The clock (and the ids' milliseconds, so the journal's op ids fall on the same
days) is pinned and moved a minute per operation. Every expected figure is
kept by the seed itself from what it posted and what the API answered (the
spend's platform share, the reward's amount, the wallet's change on a refund),
never read back from a report.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import datetime, time as dtime, timedelta, timezone
from typing import Any, Dict, List, Tuple

import pytest

from chalicelib.core import ids
from tests import purchase_helpers as ph
from tests.clock_helpers import install
from tests.integration.spending_helpers import key

pytestmark = pytest.mark.integration

USERS = ("alice", "bob", "carol", "dave")
REPORT = "/v1/admin/reports"


class Seed:
    """What was posted, as the report should tell it."""

    def __init__(self, economy: Any, clock: Any) -> None:
        self.e, self.clock = economy, clock
        self.flows: Dict[str, Counter] = {}
        self.active: Dict[str, set] = {}
        self.rows: List[Tuple[str, str, str, int, int, int]] = []  # (day, type, user, available, held, earnings)
        self.ids: Dict[str, str] = {}  # transaction id -> type, where the API answered one
        self.earned: Counter = Counter()
        self.spent: Counter = Counter()

    @property
    def day(self) -> str:
        return self.clock.now.date().isoformat()

    def tick(self) -> None:
        self.clock.advance(60)

    def _note(self, kind: str, user: str, available: int = 0, held: int = 0, earnings: int = 0) -> None:
        self.rows.append((self.day, kind, user, available, held, earnings))
        self.active.setdefault(self.day, set()).add(user)

    def _flow(self, **counts: int) -> Counter:
        flows = self.flows.setdefault(self.day, Counter())
        flows.update(counts)
        flows["operations"] += 1
        return flows

    def credit(self, user: str, amount: int) -> None:
        resp = self.e.credit(user, amount)
        self.ids[resp.body["transaction_id"]] = "adjust"
        self._flow(adjusted=amount)
        self._note("adjust", user, amount)
        self.tick()

    def spend(self, user: str, amount: int, creator: str = "") -> None:
        body: Dict[str, Any] = {"amount": amount, "reason": "thing, \"quoted\"\nand a line break"}
        if creator:
            body["creator_id"] = creator
        resp = self.e.api.post(f"/v1/users/{user}/spend", body, key=key())
        assert resp.status == 200, resp.body
        self.ids[resp.body["transaction_id"]] = "spend"
        if creator:
            share, fee = resp.body["creator_amount"], resp.body["platform_amount"]
            assert share + fee == amount
            self._flow(fees=fee, spent=amount)
            self._note("spend", creator, earnings=share)
            self.earned[creator] += share
        else:
            self._flow(burned=amount, spent=amount)
        self._note("spend", user, -amount)
        self.spent[user] += amount
        self.tick()

    def buy(self, user: str) -> Dict[str, Any]:
        purchase = self.e.api.post("/v1/checkout", {"user_id": user, "pack_id": "coins_100"}).body
        before = self.wallet(user)["available"]
        assert ph.deliver(self.e.api, ph.completed(purchase)).body["outcome"] == "paid"
        coins = self.wallet(user)["available"] - before
        assert coins > 0
        self._flow(bought=coins, purchases=1)
        self._note("purchase", user, coins)
        self.tick()
        return purchase

    def refund(self, user: str, purchase: Dict[str, Any], cents: int) -> None:
        before = self.wallet(user)["available"]
        assert ph.deliver(self.e.api, ph.refunded(purchase, cents)).status == 200
        taken = before - self.wallet(user)["available"]
        assert taken > 0
        self._flow(clawed_back=taken, refunds=1)
        self._note("refund", user, -taken)
        self.tick()

    def reward(self, user: str) -> None:
        resp = self.e.api.post(f"/v1/users/{user}/rewards", {"type": "daily"}, key=key())
        assert resp.status == 200, resp.body
        amount = resp.body["amount"]
        self._flow(rewarded=amount)
        self._note(resp.body.get("entry_type") or "reward", user, amount)
        self.earned[user] += amount
        self.tick()

    def wallet(self, user: str) -> Dict[str, Any]:
        resp = self.e.api.get(f"/v1/users/{user}/wallet")
        return resp.body if resp.status == 200 else {"available": 0, "held": 0, "earnings": 0, "debt": 0}


@pytest.fixture
def seeded(shop: Any, monkeypatch: pytest.MonkeyPatch) -> Seed:
    first = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=5), dtime(9), tzinfo=timezone.utc)
    clock = install(monkeypatch, first)
    monkeypatch.setattr(ids, "millis", lambda: int(clock.now.timestamp() * 1000))
    s = Seed(shop, clock)
    # day 0: credits, a burn, a tip
    for user, amount in (("alice", 500), ("bob", 300), ("carol", 40)):
        s.credit(user, amount)
    s.spend("alice", 40)
    s.spend("bob", 25, creator="carol")
    s.reward("alice")
    # day 1: purchases, spends of the bought coins, rewards
    clock.set(first + timedelta(days=1))
    bought = s.buy("dave")
    s.buy("carol")
    s.spend("dave", 30)
    s.spend("alice", 60, creator="bob")
    s.reward("alice")
    s.reward("bob")
    # day 2 is quiet. day 3: a partial refund of dave's purchase, more of everything
    clock.set(first + timedelta(days=3))
    s.refund("dave", bought, bought["price"]["amount"] // 2)
    s.credit("bob", 11)
    for n in range(8):
        s.spend("bob", 3 + n, creator="alice" if n % 2 else "")
    s.reward("carol")
    s.credit("alice", 7)
    clock.set(first + timedelta(days=4, hours=1))
    return s


def get(e: Any, path: str, **query: Any) -> Any:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return e.api.get(f"{path}?{qs}" if qs else path)


def days_of(s: Seed) -> Tuple[str, str]:
    first = min(s.flows)
    return first, (datetime.fromisoformat(first) + timedelta(days=3)).date().isoformat()


def test_the_economy_figures_match_what_was_posted(seeded: Seed) -> None:
    s = seeded
    first, last = days_of(s)
    resp = get(s.e, f"{REPORT}/economy", **{"from": first, "to": last})
    assert resp.status == 200, resp.body
    body = resp.body
    assert [d["day"] for d in body["days"]] == sorted({*s.flows, (datetime.fromisoformat(first)
                                                                  + timedelta(days=2)).date().isoformat()})
    for day in body["days"]:
        want = s.flows.get(day["day"], Counter())
        for name in ("adjusted", "burned", "fees", "bought", "rewarded", "clawed_back", "purchases", "refunds",
                     "spent", "operations"):
            assert day[name] == want[name], (day["day"], name, day[name], want[name])
        assert day["issued"] == want["bought"] + want["rewarded"] + want["adjusted"]
        assert day["active_wallets"] == len(s.active.get(day["day"], ()))
    assert body["days"][2]["operations"] == 0  # the quiet day is there, empty
    total_spent = sum(f["spent"] for f in s.flows.values())
    assert body["totals"]["spent"] == total_spent
    assert body["totals"]["active_wallets"] == len(set().union(*s.active.values()))
    wallets = [s.wallet(u) for u in USERS]
    supply = body["supply"]
    for bucket in ("available", "held", "earnings", "debt"):
        assert supply[bucket] == sum(w.get(bucket, 0) for w in wallets), bucket
    circulation = sum(w["available"] + w["held"] + w["earnings"] for w in wallets)
    assert supply["circulation"] == circulation and supply["wallets"] == len(USERS)
    assert body["velocity"] == round(total_spent / circulation, 4)
    top_earners = sorted(s.earned.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(t["user_id"], t["earned"]) for t in body["top_earners"]] == top_earners
    top_spenders = sorted(s.spent.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [(t["user_id"], t["spent"]) for t in body["top_spenders"]] == top_spenders


def test_one_day_of_the_economy(seeded: Seed) -> None:
    s = seeded
    day = sorted(s.flows)[1]
    body = get(s.e, f"{REPORT}/economy", **{"from": day, "to": day}).body
    assert len(body["days"]) == 1 and body["totals"]["bought"] == s.flows[day]["bought"] > 0
    assert body["totals"]["refunds"] == 0 and body["totals"]["purchases"] == 2


def text(resp: Any) -> str:
    return resp.body.decode() if isinstance(resp.body, bytes) else resp.body


def _all_pages(s: Seed, fmt: str, limit: int, **query: Any) -> Tuple[List[Any], int]:
    rows: List[Any] = []
    pages, cursor = 0, None
    first, last = days_of(s)
    while True:
        q = {"from": first, "to": last, "limit": limit, "format": fmt, **query}
        if cursor:
            q["cursor"] = cursor
        resp = get(s.e, f"{REPORT}/transactions", **q)
        assert resp.status == 200, resp.body
        pages += 1
        if fmt == "csv":
            assert resp.headers["content-type"].startswith("text/csv")
            body = text(resp)
            parsed = list(csv.reader(io.StringIO(body, newline="")))
            assert parsed[0] == ["id", "created_at", "type", "user_id", "amount", "available", "held", "earnings",
                                 "ref"]
            assert body.endswith("\r\n")
            rows.extend(parsed[1:])
            cursor = resp.headers.get("x-next-cursor")
        else:
            rows.extend(resp.body["items"])
            cursor = resp.body["next_cursor"]
            assert cursor == resp.headers.get("x-next-cursor")
        if not cursor:
            return rows, pages
        assert pages < 100


def _tuples(rows: List[Dict[str, Any]]) -> Counter:
    return Counter((r["created_at"][:10], r["type"], r["user_id"], r["available"], r["held"], r["earnings"])
                   for r in rows)


def test_the_transactions_in_pages_are_every_leg_posted_newest_first(seeded: Seed) -> None:
    s = seeded
    rows, pages = _all_pages(s, "json", 4)
    assert pages > 5
    assert _tuples(rows) == Counter(s.rows)
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    for r in rows:
        assert r["amount"] == r["available"] + r["held"] + r["earnings"]
        if r["id"] in s.ids:
            assert s.ids[r["id"]] == r["type"]
    assert set(s.ids) <= {r["id"] for r in rows}
    one_page, _ = _all_pages(s, "json", 500)
    assert one_page == rows


def test_the_csv_pages_are_the_json_pages_row_by_row(seeded: Seed) -> None:
    s = seeded
    as_json, _ = _all_pages(s, "json", 5)
    as_csv, _ = _all_pages(s, "csv", 5)
    assert len(as_csv) == len(as_json)
    for line, row in zip(as_csv, as_json):
        assert line == [str(row[c]) for c in ("id", "created_at", "type", "user_id", "amount", "available",
                                              "held", "earnings", "ref")]


def test_a_csv_field_with_commas_quotes_and_line_breaks_survives(seeded: Seed) -> None:
    s = seeded
    s.clock.set(s.clock.now + timedelta(minutes=1))
    resp = s.e.api.post("/v1/users/alice/spend", {"amount": 1, "reason": "r", "ref": 'a,b "c"\r\nd'}, key=key())
    assert resp.status == 200, resp.body
    today = s.clock.now.date().isoformat()
    csv_page = get(s.e, f"{REPORT}/transactions", **{"from": today, "to": today, "format": "csv"})
    assert csv_page.status == 200, csv_page.body
    assert '"a,b ""c""\r\nd"' in text(csv_page)
    parsed = list(csv.reader(io.StringIO(text(csv_page), newline="")))
    assert [row[8] for row in parsed[1:]] == ['a,b "c"\r\nd']


def test_filters_by_type_user_and_amount(seeded: Seed) -> None:
    s = seeded
    spends, _ = _all_pages(s, "json", 3, type="spend")
    assert _tuples(spends) == Counter(r for r in s.rows if r[1] == "spend")
    several, _ = _all_pages(s, "json", 3, type="purchase,refund")
    assert _tuples(several) == Counter(r for r in s.rows if r[1] in ("purchase", "refund"))
    bobs, _ = _all_pages(s, "json", 2, user_id="bob")
    assert _tuples(bobs) == Counter(r for r in s.rows if r[2] == "bob")
    bob_spends, _ = _all_pages(s, "json", 2, user_id="bob", type="spend", min_amount=5, max_amount=9)
    assert _tuples(bob_spends) == Counter(r for r in s.rows if r[2] == "bob" and r[1] == "spend"
                                          and 5 <= abs(sum(r[3:])) <= 9)
    assert len(bob_spends) == 5  # 5, 6, 7, 8, 9 of the 3..10 spends
    big, _ = _all_pages(s, "json", 3, min_amount=100)
    assert _tuples(big) == Counter(r for r in s.rows if abs(sum(r[3:])) >= 100)


def test_a_window_keeps_only_its_days(seeded: Seed) -> None:
    s = seeded
    day = sorted(s.flows)[-1]
    resp = get(s.e, f"{REPORT}/transactions", **{"from": day, "to": day, "limit": 500})
    assert _tuples(resp.body["items"]) == Counter(r for r in s.rows if r[0] == day)
    mine = get(s.e, f"{REPORT}/transactions", **{"from": day, "to": day, "limit": 500, "user_id": "alice"})
    assert _tuples(mine.body["items"]) == Counter(r for r in s.rows if r[0] == day and r[2] == "alice")


def test_a_cursor_belongs_to_its_listing(seeded: Seed) -> None:
    s = seeded
    first, last = days_of(s)
    page = get(s.e, f"{REPORT}/transactions", **{"from": first, "to": last, "limit": 2})
    cursor = page.body["next_cursor"]
    assert cursor
    other = get(s.e, f"{REPORT}/transactions", **{"from": first, "to": last, "limit": 2, "user_id": "bob",
                                                  "cursor": cursor})
    assert (other.status, other.code) == (400, "invalid_cursor"), other.body
    moved = get(s.e, f"{REPORT}/transactions", **{"from": last, "to": last, "cursor": cursor})
    assert (moved.status, moved.code) == (400, "invalid_cursor"), moved.body


@pytest.mark.parametrize("path, query, status, code", [
    ("transactions", {"from": "2026-13-01"}, 400, "validation_error"),
    ("transactions", {"to": "yesterday"}, 400, "validation_error"),
    ("economy", {"from": "2026-1-1"}, 400, "validation_error"),
    ("transactions", {"from": "2026-05-02", "to": "2026-05-01"}, 422, "invalid_range"),
    ("economy", {"from": "2026-05-02", "to": "2026-05-01"}, 422, "invalid_range"),
    ("economy", {"from": "2026-01-01", "to": "2026-12-31"}, 422, "range_too_long"),
    ("transactions", {"from": "2024-01-01", "to": "2026-12-31"}, 422, "range_too_long"),
    ("transactions", {"min_amount": "10", "max_amount": "5"}, 422, "invalid_amount_range"),
    ("transactions", {"max_amount": "1000000000001"}, 422, "invalid_amount_range"),
    ("transactions", {"min_amount": "-1"}, 400, "validation_error"),
    ("transactions", {"max_amount": "1e3"}, 400, "validation_error"),
    ("transactions", {"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
    ("transactions", {"cursor": "eyJzIjoieCIsInAiOnsib3AiOiJ4In19"}, 400, "invalid_cursor"),
    ("transactions", {"format": "xml"}, 400, "validation_error"),
    ("transactions", {"limit": "0"}, 400, "validation_error"),
    ("transactions", {"type": "spend;drop"}, 400, "validation_error"),
    ("transactions", {"type": "Spend"}, 400, "validation_error"),
    ("transactions", {"user_id": "a b"}, 400, "validation_error"),
])
def test_bad_input_is_a_4xx_with_a_stable_code(economy: Any, path: str, query: Dict[str, str], status: int,
                                               code: str) -> None:
    resp = get(economy, f"{REPORT}/{path}", **query)
    assert (resp.status, resp.code) == (status, code), resp.body
    assert set(resp.body["error"]) == {"code", "message", "details"}
    if code == "validation_error":  # it names the parameter at fault
        assert resp.body["error"]["details"]["field"] in query


def test_a_forged_cursor_inside_the_listing_scope_is_refused(seeded: Seed) -> None:
    from chalicelib.core import cursors, keys

    s = seeded
    first, last = days_of(s)
    scope = keys.join("report-tx", s.e.id, "*", first, last)
    forged = cursors.encode(scope, {"op": "op_" + "Z" * 27})
    resp = get(s.e, f"{REPORT}/transactions", **{"from": first, "to": last, "cursor": forged})
    assert (resp.status, resp.code) == (400, "invalid_cursor"), resp.body


def test_the_cli_export_writes_each_page_with_one_header_and_shows_progress(seeded: Seed, tmp_path: Any) -> None:
    from chalicelib.cli.reports import export

    s = seeded
    first, last = days_of(s)
    rows, pages = _all_pages(s, "json", 3)
    err = io.StringIO()
    path = tmp_path / "out.csv"
    done = export(s.e.id, {"from": first, "to": last}, str(path), 3, err=err)
    assert (done["rows"], done["pages"]) == (len(rows), pages)
    with open(path, newline="", encoding="utf-8") as written:
        lines = list(csv.reader(written))
    assert lines[0][0] == "id" and sum(1 for line in lines if line[0] == "id") == 1
    assert lines[1:] == [[str(r[c]) for c in ("id", "created_at", "type", "user_id", "amount", "available", "held",
                                              "earnings", "ref")] for r in rows]
    shown = err.getvalue()
    assert shown.count("\r") == pages and f"{len(rows):,} rows, {pages:,} pages" in shown


def test_the_cli_economy_report_prints_the_same_figures(seeded: Seed, capsys: Any) -> None:
    import argparse
    import json

    from chalicelib.cli.reports import cmd_report

    s = seeded
    first, last = days_of(s)
    args = argparse.Namespace(action="economy", economy=s.e.id, from_=first, to=last)
    assert cmd_report(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == get(s.e, f"{REPORT}/economy", **{"from": first, "to": last}).body
    bad = argparse.Namespace(action="economy", economy=s.e.id, from_=last, to=first)
    assert cmd_report(bad) == 2 and "invalid_range" in capsys.readouterr().err


def test_a_user_report_stops_at_both_ends_of_its_window(seeded: Seed) -> None:
    s = seeded
    days = sorted(s.flows)
    resp = get(s.e, f"{REPORT}/transactions", **{"from": days[0], "to": days[1], "limit": 500, "user_id": "alice"})
    assert resp.status == 200, resp.body
    want = Counter(r for r in s.rows if r[2] == "alice" and r[0] in days[:2])
    assert _tuples(resp.body["items"]) == want and sum(want.values()) >= 5
    assert any(r[2] == "alice" and r[0] == days[-1] for r in s.rows)  # she had later ones, left out


def test_a_users_cursor_is_refused_on_another_users_report(seeded: Seed) -> None:
    s = seeded
    first, last = days_of(s)
    page = get(s.e, f"{REPORT}/transactions", **{"from": first, "to": last, "limit": 1, "user_id": "bob"})
    cursor = page.body["next_cursor"]
    assert cursor
    other = get(s.e, f"{REPORT}/transactions", **{"from": first, "to": last, "user_id": "alice", "cursor": cursor})
    assert (other.status, other.code) == (400, "invalid_cursor"), other.body


def test_the_smallest_pages_still_see_every_leg_once(seeded: Seed) -> None:
    # A page of one operation reads one entry per shard: the merge across shards must lose none.
    rows, pages = _all_pages(seeded, "json", 1)
    assert _tuples(rows) == Counter(seeded.rows) and pages >= len({r["id"] for r in rows})
