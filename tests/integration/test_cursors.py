"""Every listing's cursor goes through ``chalicelib.core.cursors``: junk and forged cursors are ``invalid_cursor``.

A cursor is not signed, so a caller can build one with the right scope and any
position. Each listing here gets a real cursor first (it pages on), then forged
ones: positions that are too long, not printable, of other fields, of another
user's listing, or outside the listing's own key condition (which DynamoDB
would refuse with a ValidationException: a 500 before this was checked).
"""
from __future__ import annotations

import base64
import json
from typing import Any, Callable, Dict, List

import pytest

from chalicelib.ledger.accounts import entry_partition, user
from tests.conftest import Economy
from tests.edge_helpers import changed_tables, economy_records
from tests.integration.spending_helpers import place_hold, put_content
from tests.market_helpers import buy, list_item, plugin, put_reward  # noqa: F401 (plugin is a fixture)

pytestmark = pytest.mark.integration


def forge(scope: str, position: Any) -> str:
    raw = json.dumps({"s": scope, "p": position}, separators=(",", ":"), sort_keys=True).encode("utf-8",
                                                                                                "surrogatepass")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def books(economy: Economy, plugin) -> Economy:
    e = economy
    e.credit("alice", 5000)
    for n in range(3):
        put_content(e, f"ch-{n}", 10)
        assert e.api.post("/v1/users/alice/unlocks", {"content_id": f"ch-{n}"}, token=e.write_token).status == 201
        place_hold(e, "alice", 10)
    put_reward(e, "pet", price=5, fulfilment="voucher", category="cosmetic")
    for _ in range(3):
        buy(e, "alice", "pet")
        list_item(e, "alice", "pet", qty=1, unit_price=5)
    return e


Listing = Dict[str, Any]


def listings(e: Economy) -> List[Listing]:
    """(path, scope, a valid position, forged positions) of each listing."""
    who = f"{e.id}#alice"
    return [
        {"path": "/v1/users/alice/transactions", "scope": f"entries:{entry_partition(e.id, user('alice').key)}",
         "bad": [{"sk": "abc"}, {"sk": "1" * 13}, {"sk": "９" * 12}, {"seq": "000000000001"}]},
        {"path": "/v1/users/alice/unlocks", "scope": f"unlocks:{who}",
         "bad": [{"content_id": "x" * 300}, {"content_id": "a\x00b"}, {"content_id": "\ud800"}, {"sku": "x"}]},
        {"path": "/v1/users/alice/holds?status=active", "scope": f"holds:{who}:active",
         "bad": [{"hold_id": "h", "created_at": "\x7f"}, {"hold_id": "h"}, {"hold_id": 1, "created_at": "x"}]},
        {"path": "/v1/users/alice/orders?status=pending", "scope": f"orders:{who}:pending",
         "bad": [{"order_id": "", "created_at": "x"}, {"order_id": "o", "created_at": "x" * 257}]},
        {"path": "/v1/listings?sku=pet&status=active", "scope": f"listings:{e.id}:pet:active",
         "bad": [{"listing_id": "l", "state_key": "cancelled#2020-01-01T00:00:00.000Z"},  # outside begins_with
                 {"listing_id": "l", "state_key": "zzz"}, {"listing_id": "l"}]},
        {"path": "/v1/listings", "scope": f"listings:{e.id}:*:*",
         "bad": [{"listing_id": "l\n"}, {"listing_id": ["l"]}, {}]},
    ]


def _get(e: Economy, path: str, cursor: str) -> Any:
    sep = "&" if "?" in path else "?"
    return e.api.get(f"{path}{sep}limit=1&cursor={cursor}", token=e.read_token)


def test_real_cursors_page_on_and_forged_ones_are_invalid_cursor(books: Economy) -> None:
    e = books
    before = economy_records(e.id)
    for listing in listings(e):
        path, scope = listing["path"], listing["scope"]
        sep = "&" if "?" in path else "?"
        first = e.api.get(f"{path}{sep}limit=1", token=e.read_token)
        assert first.status == 200 and first.body["next_cursor"], (path, first.body)
        second = _get(e, path, first.body["next_cursor"])
        assert second.status == 200 and second.body["items"] and second.body["items"] != first.body["items"], path
        other = scope.replace("alice", "bob").replace(":pet:", ":dog:").replace(":*:*", ":pet:*")
        assert other != scope
        real = json.loads(base64.urlsafe_b64decode(first.body["next_cursor"] + "=="))["p"]
        for position in listing["bad"] + [real]:
            for forged_scope in ([scope, other] if position is not real else [other]):
                resp = _get(e, path, forge(forged_scope, position))
                assert resp.status == 400 and resp.code == "invalid_cursor", (path, position, resp.body)
    assert changed_tables(before, economy_records(e.id)) == {}
    e.check()


@pytest.mark.parametrize("cursor", ["", "=", "x" * 2049, "AAAA" * 600, "ü", "%00"])
def test_junk_cursors_are_invalid_or_ignored_never_a_500(books: Economy, cursor: str) -> None:
    resp = _get(books, "/v1/users/alice/transactions", cursor)
    assert (resp.status, resp.code) in ((200, None), (400, "invalid_cursor")), resp.body
    assert resp.status == 200 or cursor  # an empty cursor means the first page


def test_every_decoder_is_the_one_bounded_helper() -> None:
    """No module decodes a cursor by hand: only ``chalicelib/core/cursors.py`` base64-decodes one."""
    import pathlib

    import chalicelib

    root = pathlib.Path(chalicelib.__file__).parent
    by_hand: Callable[[pathlib.Path], bool] = lambda p: "b64decode" in p.read_text() and "cursor" in p.read_text()
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if by_hand(p)) == ["core/cursors.py"]
