"""Issue #16 "Users": find users (search filters, each and combined, paged), one user's page, the merged
activity timeline, notes; another economy's users stay invisible, and bad input is a 4xx that changes nothing.
"""
from __future__ import annotations

import base64
import json
import uuid
from typing import Any, Dict, List, Optional

import pytest

from tests import purchase_helpers as ph
from tests.conftest import Economy
from tests.edge_helpers import changed_tables, economy_records, make_economy
from tests.integration.spending_helpers import place_hold, put_content
from tests.market_helpers import buy, plugin, put_reward  # noqa: F401 (plugin is a fixture)

pytestmark = pytest.mark.integration


def ids(resp: Any) -> List[str]:
    assert resp.status == 200, resp.body
    return [row["user_id"] for row in resp.body["items"]]


def in_debt(e: Economy, user: str) -> None:
    """``user`` owes 70: a refund clawed back coins it had spent (and the debt froze it)."""
    purchase = e.api.post("/v1/checkout", {"user_id": user, "pack_id": "coins_100"}).body
    assert ph.deliver(e.api, ph.completed(purchase)).body["outcome"] == "paid"
    assert e.api.post(f"/v1/users/{user}/spend", {"amount": 70, "reason": "sword"}, key=uuid.uuid4().hex,
                      token=e.write_token).status == 200
    assert ph.deliver(e.api, ph.refunded(purchase, purchase["price"]["amount"])).status == 200


def freeze(e: Economy, user: str) -> None:
    assert e.api.post(f"/v1/admin/users/{user}/freeze", {"reason": "looks stolen"}).status == 200


@pytest.fixture
def town(shop: Economy) -> Economy:
    """alice 500; alina 40, frozen by an operator; bob 200; debtor owes 70 (frozen for the debt), has 0."""
    e = shop
    e.credit("alice", 500)
    e.credit("alina", 40)
    freeze(e, "alina")
    e.credit("bob", 200)
    in_debt(e, "debtor")
    return e


def search(e: Economy, query: str) -> List[str]:
    return ids(e.api.get(f"/v1/admin/users?{query}"))


def test_each_filter_alone(town: Economy) -> None:
    e = town
    assert search(e, "") == ["alice", "alina", "bob", "debtor"]
    assert search(e, "prefix=al") == ["alice", "alina"]
    assert search(e, "prefix=alic") == ["alice"]
    assert search(e, "prefix=zed") == []
    assert search(e, "frozen=true") == ["alina", "debtor"]
    assert search(e, "frozen=false") == ["alice", "bob"]
    assert search(e, "has_debt=true") == ["debtor"]
    assert search(e, "has_debt=false") == ["alice", "alina", "bob"]
    assert search(e, "min_available=200") == ["alice", "bob"]
    assert search(e, "max_available=40") == ["alina", "debtor"]
    assert search(e, "min_available=40&max_available=200") == ["alina", "bob"]
    row = e.api.get("/v1/admin/users?has_debt=true").body["items"][0]
    assert (row["debt"], row["frozen"], row["freeze_reasons"], row["available"]) == (70, True, ["debt"], 0)


def test_filters_combined(town: Economy) -> None:
    e = town
    assert search(e, "prefix=al&frozen=false") == ["alice"]
    assert search(e, "prefix=al&frozen=true") == ["alina"]
    assert search(e, "frozen=true&has_debt=true") == ["debtor"]
    assert search(e, "frozen=true&has_debt=false") == ["alina"]
    assert search(e, "has_debt=true&min_available=1") == []
    assert search(e, "frozen=false&min_available=300") == ["alice"]
    assert search(e, "prefix=b&has_debt=false&max_available=200&min_available=200") == ["bob"]


def test_the_indexes_follow_the_flags(town: Economy) -> None:
    # Lifting the freeze takes the wallet out of the sparse index; settling the debt takes the debtor out.
    e = town
    lifted = e.api.post("/v1/admin/users/alina/unfreeze", {"reason": "checked"})
    assert lifted.status == 200, lifted.body
    assert search(e, "frozen=true") == ["debtor"]
    e.credit("debtor", 100)
    settled = e.api.post("/v1/admin/users/debtor/settle-debt", {"reason": "paid"}, key=uuid.uuid4().hex)
    assert settled.status == 200, settled.body
    assert search(e, "has_debt=true") == []
    assert search(e, "frozen=true") == []
    assert search(e, "has_debt=false") == ["alice", "alina", "bob", "debtor"]


def pages(e: Economy, query: str, limit: int) -> List[List[str]]:
    out, cursor = [], None
    for _ in range(20):
        path = f"/v1/admin/users?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        resp = e.api.get(path)
        out.append(ids(resp))
        cursor = resp.body["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("the cursor never ran out")


def test_pages_with_a_cursor(economy: Economy) -> None:
    e = economy
    for n in range(7):
        e.credit(f"p-{n}", 10 + n)
    for n in (1, 4, 5):
        freeze(e, f"p-{n}")
    e.credit("q-0", 10)
    assert pages(e, "prefix=p-", 3) == [["p-0", "p-1", "p-2"], ["p-3", "p-4", "p-5"], ["p-6"]]
    assert sum(pages(e, "frozen=true", 1), []) == ["p-1", "p-4", "p-5"]
    # A filter on the table's pages: every match once, in order, whatever the page size.
    assert sum(pages(e, "frozen=false&min_available=12", 2), []) == ["p-2", "p-3", "p-6"]


def test_a_cursor_of_another_search_is_refused(economy: Economy) -> None:
    e = economy
    for n in range(3):
        e.credit(f"p-{n}", 10)
    cursor = e.api.get("/v1/admin/users?prefix=p-&limit=1").body["next_cursor"]
    assert cursor
    for query in ("prefix=q", "prefix=p-&frozen=false", ""):
        resp = e.api.get(f"/v1/admin/users?{query}&cursor={cursor}")
        assert (resp.status, resp.code) == (400, "invalid_cursor"), (query, resp.body)


def test_one_user(town: Economy) -> None:
    e = town
    page = e.api.get("/v1/admin/users/debtor")
    assert page.status == 200, page.body
    body = page.body
    assert body["wallet"] == {"available": 0, "held": 0, "earnings": 0, "debt": 70}
    assert body["flags"] == {"frozen": True, "freeze_reasons": ["debt"]}
    latest = e.api.get("/v1/users/debtor/transactions?limit=1").body["items"][0]
    assert body["last_activity_at"] == latest["created_at"]
    assert body["notes"] == []
    for n in range(7):
        assert e.api.post("/v1/admin/users/debtor/notes", {"text": f"note {n}"}).status == 201
    notes = e.api.get("/v1/admin/users/debtor").body["notes"]
    assert [n["text"] for n in notes] == ["note 6", "note 5", "note 4", "note 3", "note 2"]


def test_notes_add_and_list_with_the_audit_row(town: Economy) -> None:
    e = town
    # The note is its own reason: no header needed.
    added = e.api.post("/v1/admin/users/alice/notes", {"text": "asked about a refund"},
                       headers={"X-Audit-Reason": None})
    assert added.status == 201, added.body
    note = added.body
    assert note["text"] == "asked about a refund" and note["role"] == "SUPERADMIN"
    audit = e.api.get("/v1/admin/audit?user_id=alice&limit=5").body["items"]
    row = next(r for r in audit if r["action"] == "users.note")
    assert (row["target"], row["reason"], row["role"]) == ("user:alice", "asked about a refund", "SUPERADMIN")
    assert row["after"]["note_id"] == note["note_id"]
    for n in range(4):
        assert e.api.post("/v1/admin/users/alice/notes", {"text": f"n{n}"}).status == 201
    first = e.api.get("/v1/admin/users/alice/notes?limit=3")
    assert [n["text"] for n in first.body["items"]] == ["n3", "n2", "n1"]
    rest = e.api.get(f"/v1/admin/users/alice/notes?limit=3&cursor={first.body['next_cursor']}")
    assert [n["text"] for n in rest.body["items"]] == ["n0", "asked about a refund"]
    assert rest.body["next_cursor"] is None
    assert e.api.get("/v1/admin/users/bob/notes").body["items"] == []


def key(item: Dict[str, Any]) -> tuple:
    return item["at"], item["kind"], item["id"]


def timeline(e: Economy, user: str, limit: int) -> List[Dict[str, Any]]:
    out, cursor = [], None
    for _ in range(100):
        resp = e.api.get(f"/v1/admin/users/{user}/activity?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert resp.status == 200, resp.body
        out.extend(resp.body["items"])
        cursor = resp.body["next_cursor"]
        if not cursor:
            return out
    raise AssertionError("the cursor never ran out")


def test_activity_merges_every_kind_newest_first(shop: Economy, plugin) -> None:  # noqa: F811
    e = shop
    e.credit("alice", 1000)
    put_content(e, "ch-1", 10)
    assert e.api.post("/v1/users/alice/unlocks", {"content_id": "ch-1"}, token=e.write_token).status == 201
    assert place_hold(e, "alice", 25).status == 201
    put_reward(e, "pet", price=5, fulfilment="voucher", category="cosmetic")
    assert buy(e, "alice", "pet").status in (200, 201)
    purchase = e.api.post("/v1/checkout", {"user_id": "alice", "pack_id": "coins_100"}).body
    assert ph.deliver(e.api, ph.completed(purchase)).body["outcome"] == "paid"
    granted = e.api.post("/v1/users/alice/rewards", {"type": "daily"}, key=uuid.uuid4().hex, token=e.rewards_token)
    assert granted.status in (200, 201), granted.body
    assert e.api.post("/v1/admin/users/alice/notes", {"text": "vip"}).status == 201
    e.credit("bob", 5)  # another user's rows stay out

    everything = timeline(e, "alice", 100)
    kinds = {i["kind"] for i in everything}
    assert kinds == {"entry", "reward", "unlock", "hold", "order", "purchase", "audit"}, kinds
    assert [key(i) for i in everything] == sorted((key(i) for i in everything), reverse=True)
    assert len({key(i) for i in everything}) == len(everything)
    assert everything[0]["kind"] == "audit" and everything[0]["action"] == "users.note"
    statement = e.api.get("/v1/users/alice/transactions?limit=100").body["items"]
    assert len([i for i in everything if i["kind"] in ("entry", "reward")]) == len(statement)
    assert next(i for i in everything if i["kind"] == "purchase")["id"] == purchase["purchase_id"]
    assert next(i for i in everything if i["kind"] == "unlock")["id"] == "ch-1"
    # Small pages give the same timeline: nothing skipped or repeated at page edges.
    for size in (1, 2, 3):
        assert [key(i) for i in timeline(e, "alice", size)] == [key(i) for i in everything], size


def test_another_economys_user_is_invisible(town: Economy, chalice_client: Any) -> None:
    other = make_economy(chalice_client)
    other.credit("stranger", 10)
    for path in ("/v1/admin/users/stranger", "/v1/admin/users/stranger/activity", "/v1/admin/users/stranger/notes"):
        resp = town.api.get(path)
        assert (resp.status, resp.code) == (404, "user_not_found"), (path, resp.body)
    assert "stranger" not in search(town, "")
    assert search(other, "") == ["stranger"]
    before = economy_records(other.id)
    resp = town.api.post("/v1/admin/users/stranger/notes", {"text": "x"})
    assert (resp.status, resp.code) == (404, "user_not_found")
    assert changed_tables(before, economy_records(other.id)) == {}
    # A cursor of the other economy's search is refused, not followed.
    other.credit("stranger2", 10)
    cursor = other.api.get("/v1/admin/users?limit=1").body["next_cursor"]
    assert (town.api.get(f"/v1/admin/users?limit=1&cursor={cursor}").code) == "invalid_cursor"


def forge(scope: str, position: Any) -> str:
    raw = json.dumps({"s": scope, "p": position}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_SEARCHES = [
    ("frozen=yes", "frozen"), ("frozen=1", "frozen"), ("has_debt=True", "has_debt"),
    ("min_available=-1", "min_available"), ("min_available=abc", "min_available"),
    ("max_available=1e3", "max_available"), (f"max_available={10**15 + 1}", "max_available"),
    ("prefix=a%20b", "prefix"),
    (f"prefix={'x' * 129}", "prefix"), ("limit=0", "limit"), ("limit=101", "limit"), ("limit=%C2%B2", "limit"),
]


@pytest.mark.parametrize("query,field", BAD_SEARCHES, ids=[q for q, _ in BAD_SEARCHES])
def test_bad_filters(town: Economy, query: str, field: str) -> None:
    resp = town.api.get(f"/v1/admin/users?{query}")
    assert (resp.status, resp.code) == (400, "validation_error"), resp.body
    assert resp.body["error"]["details"]["field"] == field


def test_a_range_upside_down_is_a_422(town: Economy) -> None:
    # Each bound is valid on its own (the document says so): together they are not a range.
    resp = town.api.get("/v1/admin/users?min_available=10&max_available=5")
    assert (resp.status, resp.code) == (422, "invalid_balance_range"), resp.body
    assert resp.body["error"]["details"]["field"] == "min_available"


def bad_cursors(e: Economy) -> List[str]:
    return ["junk", "x" * 3000, forge("wallets:other", {"account": "u:alice"}),
            forge(f"wallets:{e.id}:table:al:None:None:None:None", {"account": "u:bob"}),  # outside its prefix
            forge(f"activity:{e.id}:alice", {"at": "yesterday", "kind": "entry", "id": "x"}),
            forge(f"activity:{e.id}:alice", {"at": "2026-01-01T00:00:00Z", "kind": "nope", "id": "x"}),
            forge(f"activity:{e.id}:bob", {"at": "2026-01-01T00:00:00Z", "kind": "entry", "id": "x"}),
            forge(f"notes:{e.id}:alice", {"note_key": "bob:note_1"})]


READS = ["/v1/admin/users?prefix=al&", "/v1/admin/users/alice/activity?", "/v1/admin/users/alice/notes?"]


def test_bad_cursors_on_every_listing(town: Economy) -> None:
    e = town
    for path in READS:
        for cursor in bad_cursors(e):
            resp = e.api.get(f"{path}cursor={cursor}")
            assert (resp.status, resp.code) == (400, "invalid_cursor"), (path, cursor[:80], resp.body)


BAD_IDS = ["a%20b", "x" * 129, "%E2%98%83", "a%00b"]


def test_bad_ids_and_bodies_change_nothing(town: Economy) -> None:
    e = town
    before = economy_records(e.id)
    for bad in BAD_IDS:
        for path in ("/v1/admin/users/{}", "/v1/admin/users/{}/activity", "/v1/admin/users/{}/notes"):
            resp = e.api.get(path.format(bad))
            assert (resp.status, resp.code) == (400, "validation_error"), (path, bad, resp.body)
        resp = e.api.post(f"/v1/admin/users/{bad}/notes", {"text": "x"})
        assert (resp.status, resp.code) == (400, "validation_error"), (bad, resp.body)
    for body, code in (({}, "reason_required"), ({"text": "   "}, "reason_required"),
                       ({"text": "x" * 2001}, "validation_error"), ({"text": 5}, "validation_error"),
                       ({"text": "x", "extra": 1}, "validation_error"), ({"text": "x", "reason": "y"}, "validation_error")):
        resp = e.api.post("/v1/admin/users/alice/notes", body, headers={"X-Audit-Reason": None})
        assert (resp.status, resp.code) == (400, code), (body, resp.body)
    resp = e.api.post("/v1/admin/users/alice/notes", raw="{not json")
    assert (resp.status, resp.code) == (400, "malformed_json"), resp.body
    assert e.api.post("/v1/admin/users/nobody/notes", {"text": "x"}).code == "user_not_found"
    for path in ("/v1/admin/users/nobody", "/v1/admin/users/nobody/activity", "/v1/admin/users/nobody/notes"):
        assert e.api.get(path).code == "user_not_found", path
    for path in ("/v1/admin/users/alice/activity?limit=0", "/v1/admin/users/alice/notes?limit=500"):
        assert e.api.get(path).code == "validation_error", path
    assert changed_tables(before, economy_records(e.id)) == {}


def test_a_read_key_cannot_search(town: Economy) -> None:
    resp = town.api.get("/v1/admin/users", token=town.read_token)
    assert resp.status == 403, resp.body


def test_activity_pages_through_many_items_at_one_time(economy: Economy, monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows of one operation can share a millisecond; a page edge inside such a run must skip and repeat nothing.
    from chalicelib.operations import users

    e = economy
    e.credit("alice", 1)
    rows = {"entry": [{"at": "2026-01-01T00:00:05.000Z", "id": f"a{n}"} for n in range(6)],
            "hold": [{"at": f"2026-01-01T00:00:0{n}.000Z", "id": f"b{n}"} for n in range(5)]}

    def source(kind: str) -> users.Source:
        def read(economy: str, user_id: str, before: str, limit: int) -> List[Dict[str, Any]]:
            found = [dict(r, kind=kind) for r in rows[kind] if r["at"] <= before]
            return sorted(found, key=key, reverse=True)[:limit]
        return read, dict

    monkeypatch.setattr(users, "SOURCES", (source("entry"), source("hold")))
    everything = sorted((dict(r, kind=k) for k, kind_rows in rows.items() for r in kind_rows), key=key, reverse=True)
    for size in (1, 2, 5):
        assert [key(i) for i in timeline(e, "alice", size)] == [key(i) for i in everything], size
