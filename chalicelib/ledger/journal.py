"""The economy's journal: system-account entries read by time, without a scan.

Every operation that touches a system account writes one entry per system
shard it touches, keyed ``<economy>#sys:<name>#NN`` / ``op_<ULID>``, and that
entry carries the whole operation's legs (JSON). ULIDs sort by their
millisecond timestamp, so "everything between two moments" is one Query per
shard partition with ``sk BETWEEN op_<floor(start)> AND op_<floor(end)>``.

An operation id is made on the writer's clock before its first attempt to
commit, so ids of operations still in flight may trail "now" by up to the
ledger's retry budget: readers keep a margin (``SETTLE_SECONDS``).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence

from chalicelib.core import keys
from chalicelib.db.engine import table_name
from chalicelib.ledger.invariants import query_all
from chalicelib.ledger.accounts import entry_partition

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# How long after its id was made an operation may still commit (the ledger's
# retry budget is at most 60 s; an operation makes its id once, before its first attempt).
SETTLE_SECONDS = 300


def ulid_floor(moment: datetime) -> str:
    """The smallest ULID of ``moment``'s millisecond (random bits all zero)."""
    value = int(moment.astimezone(timezone.utc).timestamp() * 1000) << 80
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def op_floor(moment: datetime) -> str:
    """The smallest operation id (``op_<ULID>``) made at ``moment``."""
    return "op_" + ulid_floor(moment)


def ulid_time(ulid: str) -> datetime:
    """When a ULID (with or without a ``xx_`` prefix) was made."""
    body = ulid.rsplit("_", 1)[-1]
    value = 0
    for char in body[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def system_shards(economy: str, names: Optional[Sequence[str]] = None) -> List[str]:
    """The system shard accounts (``sys:<name>#NN``) that exist in ``economy``.

    Read from the accounts table rather than computed from today's shard
    count, so shards written under an earlier ``COINS_SYSTEM_SHARDS`` count too.
    """
    items = query_all(
        TableName=table_name("accounts"),
        KeyConditionExpression="economy = :e AND begins_with(account, :p)",
        ExpressionAttributeValues={":e": {"S": economy}, ":p": {"S": "sys:"}},
        ProjectionExpression="account",
        ConsistentRead=True,
    )
    shards = [i["account"] for i in items]
    if names is not None:
        wanted = {keys.tag("sys", n) for n in names}
        shards = [s for s in shards if s.split("#", 1)[0] in wanted]
    return sorted(shards)


def shard_entries(economy: str, shard: str, start: Optional[str] = None, end: Optional[str] = None,
                  consistent: bool = True) -> Iterator[Dict[str, Any]]:
    """One shard's entries with ``start <= sk < end`` (operation ids), oldest first."""
    kwargs: Dict[str, Any] = {
        "TableName": table_name("entries"),
        "ConsistentRead": consistent,
        "ExpressionAttributeValues": {":p": {"S": entry_partition(economy, shard)}},
    }
    if start is not None and end is not None:
        kwargs["KeyConditionExpression"] = "account_key = :p AND sk BETWEEN :a AND :b"
        kwargs["ExpressionAttributeValues"].update({":a": {"S": start}, ":b": {"S": end}})
    elif start is not None:
        kwargs["KeyConditionExpression"] = "account_key = :p AND sk >= :a"
        kwargs["ExpressionAttributeValues"][":a"] = {"S": start}
    elif end is not None:
        kwargs["KeyConditionExpression"] = "account_key = :p AND sk <= :b"
        kwargs["ExpressionAttributeValues"][":b"] = {"S": end}
    else:
        kwargs["KeyConditionExpression"] = "account_key = :p"
    for entry in query_all(**kwargs):
        if end is not None and entry["sk"] >= end:
            continue  # BETWEEN is inclusive; ``end`` is exclusive here
        yield entry


def operations_between(economy: str, start: datetime, end: datetime,
                       names: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Each operation with a system leg made in ``[start, end)``, once, oldest first.

    Returns ``{"op_id", "type", "created_at", "legs": {account: {bucket: delta}}}``.
    An operation touching two system accounts appears in two partitions: it is
    kept once, by op id.
    """
    lo, hi = op_floor(start), op_floor(end)
    seen: Dict[str, Dict[str, Any]] = {}
    for shard in system_shards(economy, names):
        for entry in shard_entries(economy, shard, lo, hi, consistent=False):
            if entry["op_id"] in seen:
                continue
            legs = json.loads(entry["legs"]) if entry.get("legs") else {shard.split("#", 1)[0]: {
                "available": entry.get("d_available", 0)}}
            seen[entry["op_id"]] = {"op_id": entry["op_id"], "type": entry.get("type"),
                                    "created_at": entry.get("created_at"), "ref": entry.get("ref"), "legs": legs}
    return sorted(seen.values(), key=lambda op: op["op_id"])
