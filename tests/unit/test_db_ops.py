"""db/ops.py: the generic helpers every store uses, on moto (one thread).

Each helper is shown doing its one job exactly: a paged listing returns every
item once across cursors (and refuses another listing's cursor), BatchGetItem
retries what DynamoDB leaves unprocessed and gives up with one error,
put-if-absent and claim-once take a key once, and the update builder never
lets an attribute name be a reserved word.
"""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from chalicelib.core import errors
from chalicelib.db import ops
from chalicelib.db.engine import get_client, table_name

pytestmark = pytest.mark.unit


def _put_entries(partition: str, n: int) -> None:
    client = get_client()
    for i in range(n):
        client.put_item(TableName=table_name("entries"), Item={
            "account_key": {"S": partition}, "sk": {"S": f"{i:012d}"}, "n": {"N": str(i)},
            "kind": {"S": "even" if i % 2 == 0 else "odd"}})


def _listing(partition: str, cursor: Any = None, limit: int = 4, **extra: Any) -> ops.Page:
    return ops.query_page(
        "entries", scope=f"test:{partition}", position=("account_key", "sk"), limit=limit, cursor=cursor,
        KeyConditionExpression="account_key = :p", ExpressionAttributeValues={":p": {"S": partition}, **extra.pop(
            "values", {})}, **extra)


def test_query_page_walks_every_item_once_across_cursors(moto_engine: None) -> None:
    _put_entries("e#a", 10)
    seen: List[int] = []
    page = _listing("e#a")
    pages = 1
    while True:
        seen += [i["n"] for i in page.items]
        if page.next_cursor is None:
            break
        page = _listing("e#a", page.next_cursor)
        pages += 1
    assert seen == list(range(10)) and pages == 3


def test_query_page_with_a_filter_fills_the_page_from_later_pages(moto_engine: None) -> None:
    _put_entries("e#f", 12)
    first = _listing("e#f", limit=3, FilterExpression="kind = :k", values={":k": {"S": "odd"}}, Limit=2)
    assert [i["n"] for i in first.items] == [1, 3, 5] and first.next_cursor
    second = _listing("e#f", first.next_cursor, limit=3, FilterExpression="kind = :k", values={":k": {"S": "odd"}},
                      Limit=2)
    assert [i["n"] for i in second.items] == [7, 9, 11]


def test_query_page_refuses_another_listings_cursor(moto_engine: None) -> None:
    _put_entries("e#a", 5)
    _put_entries("e#b", 5)
    cursor = _listing("e#a", limit=2).next_cursor
    with pytest.raises(errors.InvalidCursorError):
        _listing("e#b", cursor, limit=2)


def test_batch_get_retries_unprocessed_keys_then_returns_everything(moto_engine: None, monkeypatch) -> None:
    _put_entries("e#g", 150)
    client = get_client()
    real = client.batch_get_item
    calls: List[int] = []

    def stingy(RequestItems: Dict[str, Any], **kw: Any) -> Dict[str, Any]:
        # Answer one key per call and leave the rest unprocessed, as a throttled table does.
        (name, request), = RequestItems.items()
        calls.append(len(request["Keys"]))
        first, rest = request["Keys"][:1], request["Keys"][1:]
        answer = real(RequestItems={name: {**request, "Keys": first}}, **kw)
        if rest:
            answer["UnprocessedKeys"] = {name: {**request, "Keys": rest}}
        return answer

    monkeypatch.setattr(client, "batch_get_item", stingy)
    monkeypatch.setattr(ops.time, "sleep", lambda s: None)
    keys = [{"account_key": "e#g", "sk": f"{i:012d}"} for i in range(0, 150, 50)]
    found = ops.batch_get("entries", keys + [{"account_key": "e#g", "sk": "missing"}])
    assert sorted(i["n"] for i in found) == [0, 50, 100] and calls == [4, 3, 2, 1]


def test_batch_get_gives_up_with_one_error(moto_engine: None, monkeypatch) -> None:
    client = get_client()
    monkeypatch.setattr(client, "batch_get_item",
                        lambda RequestItems, **kw: {"Responses": {}, "UnprocessedKeys": RequestItems})
    monkeypatch.setattr(ops.time, "sleep", lambda s: None)
    with pytest.raises(errors.UnavailableError):
        ops.batch_get("entries", [{"account_key": "x", "sk": "y"}], attempts=3)


def test_put_if_absent_and_claim_once_take_a_key_once(moto_engine: None) -> None:
    assert ops.put_if_absent("market_counters", {"counter": "c1", "n": 1}, "counter") is True
    assert ops.put_if_absent("market_counters", {"counter": "c1", "n": 2}, "counter") is False
    assert ops.get("market_counters", {"counter": "c1"})["n"] == 1
    assert ops.claim_once("market_counters", "counter", "notice:1", ttl_seconds=60) is True
    assert ops.claim_once("market_counters", "counter", "notice:1", ttl_seconds=60) is False
    ops.release("market_counters", "counter", "notice:1")
    assert ops.claim_once("market_counters", "counter", "notice:1", ttl_seconds=60) is True


def test_update_expression_names_every_attribute_and_value(moto_engine: None) -> None:
    expr, names, values = ops.update_expression({"status": "done", "size": 3}, remove=["due_shard"],
                                                add={"count": 1}, if_not_exists={"created_at": "now"})
    assert expr == ("SET #u0 = :u0, #u1 = :u1, #u2 = if_not_exists(#u2, :u2) REMOVE #u3 ADD #u4 :u3")
    assert names == {"#u0": "status", "#u1": "size", "#u2": "created_at", "#u3": "due_shard", "#u4": "count"}
    assert values == {":u0": {"S": "done"}, ":u1": {"N": "3"}, ":u2": {"S": "now"}, ":u3": {"N": "1"}}
    get_client().update_item(TableName=table_name("market_counters"), Key={"counter": {"S": "u"}},
                             UpdateExpression=expr, ExpressionAttributeNames=names, ExpressionAttributeValues=values)
    assert ops.get("market_counters", {"counter": "u"}) == {"counter": "u", "status": "done", "size": 3,
                                                            "created_at": "now", "count": 1}
    with pytest.raises(ValueError):
        ops.update_expression({})


def test_transact_commits_all_or_answers_false(moto_engine: None) -> None:
    put = {"Put": {"TableName": table_name("market_counters"), "Item": {"counter": {"S": "t1"}, "n": {"N": "1"}},
                   "ConditionExpression": "attribute_not_exists(#c)", "ExpressionAttributeNames": {"#c": "counter"}}}
    other = {"Put": {"TableName": table_name("market_counters"), "Item": {"counter": {"S": "t2"}, "n": {"N": "2"}}}}
    assert ops.transact([put, other]) is True
    assert ops.transact([put, {"Put": {**other["Put"], "Item": {"counter": {"S": "t3"}, "n": {"N": "3"}}}}]) is False
    assert ops.get("market_counters", {"counter": "t1"})["n"] == 1
    assert ops.get("market_counters", {"counter": "t3"}) is None


def test_versioned_change_replaces_only_what_it_read_and_reads_again_when_another_change_won(moto_engine: None) -> None:
    client = get_client()
    key = {"economy": "vc", "course_id": "c1"}
    calls: List[int] = []

    def read() -> Any:
        return ops.get("courses", key)

    def write(before: Any) -> Any:
        calls.append(before["version"] if before else 0)
        if len(calls) == 2 and before is None:
            raise AssertionError("the second attempt must see the racing write")
        after = {**key, "title": "t", "version": (before or {}).get("version", 0) + 1}
        if len(calls) == 1:  # a racing writer commits between our read and our write
            client.put_item(TableName=table_name("courses"), Item={
                "economy": {"S": "vc"}, "course_id": {"S": "c1"}, "title": {"S": "theirs"}, "version": {"N": "1"}})
        return after, [ops.versioned_write("courses", key, before, after, put=True)]

    before, after = ops.versioned_change(read, write, attempts=3, contention=lambda: errors.ContentionError())
    assert calls == [0, 1]
    assert before is not None and before["title"] == "theirs"
    assert after == {**key, "title": "t", "version": 2}
    assert ops.get("courses", key) == after


def test_versioned_change_gives_up_with_the_callers_error(moto_engine: None) -> None:
    key = {"economy": "vc", "course_id": "c2"}

    def write(before: Any) -> Any:
        get_client().put_item(TableName=table_name("courses"), Item={
            "economy": {"S": "vc"}, "course_id": {"S": "c2"}, "version": {"N": str(len(seen) + 1)}})
        seen.append(before)
        return {**key, "version": 1}, [ops.versioned_write("courses", key, None, {**key, "version": 1})]

    seen: List[Any] = []
    with pytest.raises(errors.ContentionError):
        ops.versioned_change(lambda: None, write, attempts=2, contention=lambda: errors.ContentionError())
    assert len(seen) == 2


def test_scan_raw_walks_every_page(moto_engine: None) -> None:
    client = get_client()
    for i in range(7):
        client.put_item(TableName=table_name("market_counters"), Item={"counter": {"S": f"scan-{i}"}, "n": {"N": "1"}})
    found = [raw["counter"]["S"] for raw in ops.scan_raw("market_counters", Limit=2)]
    assert sorted(c for c in found if c.startswith("scan-")) == [f"scan-{i}" for i in range(7)]


def test_ensure_map_creates_it_once_and_only_on_an_existing_item(moto_engine: None) -> None:
    client = get_client()
    client.put_item(TableName=table_name("economies"), Item={"economy_id": {"S": "em"}, "name": {"S": "x"}})
    assert ops.ensure_map("economies", {"economy_id": "em"}, "tunables", must_exist="economy_id") is True
    client.update_item(TableName=table_name("economies"), Key={"economy_id": {"S": "em"}},
                       UpdateExpression="SET tunables.#k = :v", ExpressionAttributeNames={"#k": "fee"},
                       ExpressionAttributeValues={":v": {"N": "5"}})
    assert ops.ensure_map("economies", {"economy_id": "em"}, "tunables", must_exist="economy_id") is True
    assert ops.get("economies", {"economy_id": "em"})["tunables"] == {"fee": 5}  # kept, not reset
    assert ops.ensure_map("economies", {"economy_id": "ghost"}, "tunables", must_exist="economy_id") is False
    assert ops.get("economies", {"economy_id": "ghost"}) is None
