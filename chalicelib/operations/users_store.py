"""The admin user views' table access: operators' notes (ours) and the per-user reads of the activity timeline.

Every activity source is read newest first from ``before`` (an ISO time, inclusive) down, ``limit`` items at
most. What each read costs is in README "Finding users": holds, orders, unlocks and notes have a per-user
index keyed by time (purchases' is keyed by the user id across economies, filtered to this one); audit rows
have none per user, so that read filters the economy's newest rows (bounded by ``limit`` matches, not by
rows read).
"""
from __future__ import annotations

import itertools
from typing import Any, Dict, List, Mapping, Optional

from chalicelib.core import keys
from chalicelib.db import codec, ops
from chalicelib.db.engine import table_name
from chalicelib.ledger.accounts import entry_partition, user

Item = Dict[str, Any]
NOTES = "user_notes"


def note_prefix(user_id: str) -> str:
    # join escapes ':' inside the id, so "<id>:" starts this user's keys and no other's.
    return keys.join(user_id, "")


def note_put(row: Mapping[str, Any]) -> Dict[str, Any]:
    """The TransactWriteItems Put of a new note (committed with its audit row)."""
    return {"Put": {"TableName": table_name(NOTES), "Item": codec.encode_item(row),
                    "ConditionExpression": "attribute_not_exists(note_key)"}}


def transact(items: List[Dict[str, Any]]) -> bool:
    return ops.transact(items)


def find_note(economy: str, user_id: str, note_id: str) -> Optional[Item]:
    return ops.get(NOTES, {"economy": economy, "note_key": keys.join(user_id, note_id)})


def note_count(economy: str, user_id: str) -> int:
    """How many notes the user has (reads their keys only; notes are few per user)."""
    return sum(1 for _ in ops.query_all(
        NOTES, KeyConditionExpression="economy = :e AND begins_with(note_key, :p)", ProjectionExpression="note_key",
        ExpressionAttributeValues={":e": {"S": economy}, ":p": {"S": note_prefix(user_id)}}))


def note_page(economy: str, user_id: str, limit: int, cursor: Any) -> ops.Page:
    prefix = note_prefix(user_id)
    return ops.query_page(
        NOTES, scope=keys.join("notes", economy, user_id), position=("note_key",), limit=limit, cursor=cursor,
        valid=lambda at: at["note_key"].startswith(prefix), start_key=lambda at: {"economy": economy, **at},
        KeyConditionExpression="economy = :e AND begins_with(note_key, :p)", ScanIndexForward=False,
        ExpressionAttributeValues={":e": {"S": economy}, ":p": {"S": prefix}},
    )


def _newest(table: str, limit: int, **kwargs: Any) -> List[Item]:
    return list(itertools.islice(ops.query_all(table, ScanIndexForward=False, Limit=max(limit, 25), **kwargs), limit))


def entries_before(economy: str, user_id: str, before: str, limit: int) -> List[Item]:
    # The partition is ordered by seq, and time grows with seq: the filter skips only entries newer than `before`.
    return _newest("entries", limit, KeyConditionExpression="account_key = :p", FilterExpression="created_at <= :b",
                   ExpressionAttributeValues={":p": {"S": entry_partition(economy, user(user_id).key)},
                                              ":b": {"S": before}})


def _by_owner_time(table: str, index: str, time_attr: str, who: str, before: str, limit: int) -> List[Item]:
    return _newest(table, limit, IndexName=index, KeyConditionExpression=f"#o = :o AND {time_attr} <= :b",
                   ExpressionAttributeNames={"#o": "owner"},
                   ExpressionAttributeValues={":o": {"S": who}, ":b": {"S": before}})


def holds_before(economy: str, user_id: str, before: str, limit: int) -> List[Item]:
    return _by_owner_time("holds", "by_owner", "created_at", f"{economy}#{user_id}", before, limit)


def orders_before(economy: str, user_id: str, before: str, limit: int) -> List[Item]:
    return _by_owner_time("orders", "by_buyer", "created_at", f"{economy}#{user_id}", before, limit)


def unlocks_before(economy: str, user_id: str, before: str, limit: int) -> List[Item]:
    return _by_owner_time("entitlements", "by_time", "unlocked_at", f"{economy}#{user_id}", before, limit)


def purchases_before(economy: str, user_id: str, before: str, limit: int) -> List[Item]:
    return _newest("purchases", limit, IndexName="by_user",
                   KeyConditionExpression="user_id = :u AND created_at <= :b", FilterExpression="economy = :e",
                   ExpressionAttributeValues={":e": {"S": economy}, ":b": {"S": before}, ":u": {"S": user_id}})


def audit_before(economy: str, user_id: str, before: str, limit: int) -> List[Item]:
    return _newest("audit", limit, KeyConditionExpression="economy = :e",
                   FilterExpression="target = :t AND created_at <= :b",
                   ExpressionAttributeValues={":e": {"S": economy}, ":t": {"S": keys.tag("user", user_id)},
                                              ":b": {"S": before}})
