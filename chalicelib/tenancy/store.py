"""The tenancy tables: economies, api_keys, audit, discord_guilds, game_servers.

Raw items through the low-level client, one style for each table (the
PynamoDB models in ``db/models`` are their schema only, and stay off the cold
path: a request authenticates with the client the ledger already built).
Audited edits of versioned items go through ``db.ops.versioned_change`` (the
one read-modify-write loop) with ``db.ops.versioned_write``.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, Iterator, List, Mapping, Optional

from chalicelib.core import cursors, keys
from chalicelib.core.ids import now_iso, parse_iso
from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.db.ops import versioned_change, versioned_write  # noqa: F401  (re-exported for the tenancy modules)
from chalicelib.tenancy.event_names import valid_event_id

Item = Dict[str, Any]


def transact(items: List[Dict[str, Any]]) -> None:
    """One TransactWriteItems of these items (raises what DynamoDB raises)."""
    get_client().transact_write_items(TransactItems=items)


# --- economies ---------------------------------------------------------------


def put_economy_if_absent(economy_id: str, name: str) -> bool:
    """Create the economy record unless it exists; False when it did."""
    return ops.put_if_absent("economies", {"economy_id": economy_id, "name": name, "created_at": now_iso()},
                             "economy_id")


def economy_exists(economy_id: str) -> bool:
    return ops.get_raw("economies", {"economy_id": economy_id}, projection="economy_id") is not None


def link_economy_guild(economy_id: str, guild_id: str) -> None:
    """Remember the economy's Discord guild (the first one linked stays)."""
    expr, names, values = ops.update_expression(if_not_exists={"discord_guild_id": guild_id})
    get_client().update_item(TableName=table_name("economies"), Key={"economy_id": {"S": economy_id}},
                             UpdateExpression=expr, ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def linked_guild_id(economy_id: str) -> Optional[str]:
    """The guild an operator linked to the economy, if any."""
    item = ops.get_raw("economies", {"economy_id": economy_id}, projection="discord_guild_id") or {}
    return (item.get("discord_guild_id") or {}).get("S")


# --- api keys ----------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: its hash, never the token."""

    key_id: str
    key_hash: str
    economy: str
    scopes: FrozenSet[str]
    created_at: str
    label: Optional[str] = None
    revoked_at: Optional[str] = None
    role: Optional[str] = None

    @classmethod
    def from_item(cls, raw: Mapping[str, Any]) -> "ApiKey":
        item = codec.decode_item(raw)
        return cls(key_id=item["key_id"], key_hash=item["key_hash"], economy=item["economy"],
                   scopes=frozenset(item.get("scopes") or ()), created_at=item.get("created_at", ""),
                   label=item.get("label"), revoked_at=item.get("revoked_at"), role=item.get("role"))

    def to_item(self) -> Dict[str, Any]:
        item = codec.encode_item({"key_id": self.key_id, "key_hash": self.key_hash, "economy": self.economy,
                                  "label": self.label, "created_at": self.created_at, "revoked_at": self.revoked_at,
                                  "role": self.role})
        if self.scopes:  # DynamoDB has no empty set: a role-only key stores no scopes
            item["scopes"] = {"SS": sorted(self.scopes)}
        return item


def find_api_key(key_id: str) -> Optional[ApiKey]:
    raw = ops.get_raw("api_keys", {"key_id": key_id})
    return ApiKey.from_item(raw) if raw else None


def put_api_key_if_absent(key: ApiKey) -> bool:
    """Store a new key; False when its id is taken."""
    client = get_client()
    try:
        client.put_item(TableName=table_name("api_keys"), Item=key.to_item(),
                        ConditionExpression="attribute_not_exists(key_id)")
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def set_api_key_scopes(key_id: str, scopes: FrozenSet[str], role: Optional[str] = None) -> None:
    sets, values = [], {}
    names = {"#s": "scopes", "#r": "role"}
    if scopes:
        sets.append("#s = :s")
        values[":s"] = {"SS": sorted(scopes)}
    if role:
        sets.append("#r = :r")
        values[":r"] = {"S": role}
    removes = [name for name, kept in (("#s", scopes), ("#r", role)) if not kept]
    expression = " ".join(part for part in (
        "SET " + ", ".join(sets) if sets else "", "REMOVE " + ", ".join(removes) if removes else "") if part)
    kwargs = {"ExpressionAttributeValues": values} if values else {}
    get_client().update_item(TableName=table_name("api_keys"), Key={"key_id": {"S": key_id}},
                             UpdateExpression=expression, ExpressionAttributeNames=names, **kwargs)


def revoke_api_key(key_id: str) -> None:
    expr, names, values = ops.update_expression({"revoked_at": now_iso()})
    get_client().update_item(TableName=table_name("api_keys"), Key={"key_id": {"S": key_id}},
                             UpdateExpression=expr, ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def scan_api_keys(economy: Optional[str] = None) -> Iterator[ApiKey]:
    """Every key (of one economy): a scan, for an operator's CLI."""
    kwargs: Dict[str, Any] = {}
    if economy:
        kwargs.update(FilterExpression="#e = :e", ExpressionAttributeNames={"#e": "economy"},
                      ExpressionAttributeValues={":e": {"S": economy}})
    return (ApiKey.from_item(raw) for raw in ops.scan_raw("api_keys", **kwargs))


# --- audit -------------------------------------------------------------------


def audit_put(row: Mapping[str, Any]) -> Dict[str, Any]:
    """The TransactWriteItems Put of an audit row (its id must be new)."""
    return {"Put": {"TableName": table_name("audit"), "Item": codec.encode_item(row),
                    "ConditionExpression": "attribute_not_exists(audit_id)"}}


def audit_rows(economy: str, limit: int, target: Optional[str] = None) -> List[Item]:
    """At most ``limit`` audit rows of the economy, newest first (only those about ``target`` when given)."""
    kwargs: Dict[str, Any] = {"KeyConditionExpression": "economy = :e",
                              "ExpressionAttributeValues": {":e": {"S": economy}}, "ScanIndexForward": False}
    if target:
        kwargs["FilterExpression"] = "target = :t"
        kwargs["ExpressionAttributeValues"][":t"] = {"S": target}
    # A generator: pages are read only until ``limit`` rows are found.
    return list(itertools.islice(ops.query_all("audit", **kwargs), limit))


# --- discord guilds ------------------------------------------------------------


def find_guild_item(guild_id: str) -> Optional[Item]:
    return ops.get("discord_guilds", {"guild_id": guild_id})


def put_guild_if_absent(item: Mapping[str, Any]) -> bool:
    return ops.put_if_absent("discord_guilds", item, "guild_id")


def guild_map_write(guild_id: str, attr: str, name: str, value: Optional[str]) -> Dict[str, Any]:
    """The Update that sets (or, with None, removes) ``attr.name`` of a guild's map, stamping ``updated_at``."""
    if value is None:
        update, values = f"REMOVE {attr}.#n SET updated_at = :t", {":t": {"S": now_iso()}}
    else:
        update, values = f"SET {attr}.#n = :v, updated_at = :t", {":v": {"S": value}, ":t": {"S": now_iso()}}
    return {"Update": {"TableName": table_name("discord_guilds"), "Key": {"guild_id": {"S": guild_id}},
                       "UpdateExpression": update, "ConditionExpression": f"attribute_exists({attr})",
                       "ExpressionAttributeNames": {"#n": name}, "ExpressionAttributeValues": values}}


def update_guild_map(guild_id: str, attr: str, name: str, value: Optional[str]) -> None:
    get_client().update_item(**guild_map_write(guild_id, attr, name, value)["Update"])


# --- game servers --------------------------------------------------------------


def find_server(server_id: str) -> Optional[Item]:
    return ops.get("game_servers", {"server_id": server_id})


def query_servers(economy: Optional[str] = None) -> Iterator[Item]:
    """An economy's servers (index query), or every server (a scan: the operator CLI only)."""
    if economy is not None:
        yield from ops.query_all("game_servers", IndexName="by_economy", KeyConditionExpression="economy = :e",
                                 ExpressionAttributeValues={":e": {"S": economy}})
        return
    kwargs: Dict[str, Any] = {"TableName": table_name("game_servers")}
    client = get_client()
    while True:
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            yield codec.decode_item(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def server_put(item: Mapping[str, Any]) -> Dict[str, Any]:
    """The TransactWriteItems Put of a new game server."""
    return {"Put": {"TableName": table_name("game_servers"), "Item": codec.encode_item(item),
                    "ConditionExpression": "attribute_not_exists(server_id)"}}


# -- an economy's ``tunables`` map (each capability's settings: rates, reward amounts, market pricing) --


def read_tunables(economy: str) -> Dict[str, Any]:
    """The economy's tunables (consistent read); empty when none are set or the economy is unknown."""
    item = ops.get("economies", {"economy_id": economy}, projection="tunables") or {}
    return item.get("tunables") or {}


def ensure_tunables(economy: str) -> bool:
    """Create the economy's empty ``tunables`` map if missing; False when the economy does not exist."""
    return ops.ensure_map("economies", {"economy_id": economy}, "tunables", must_exist="economy_id")


def tunables_write(economy: str, changes: Mapping[str, int]) -> Dict[str, Any]:
    """The TransactWriteItems Update that sets these names inside the economy's ``tunables`` (which must exist)."""
    # Nested paths (``tunables.#t0``): ops.update_expression names top-level attributes only.
    names = {f"#t{i}": name for i, name in enumerate(changes)}
    values = {f":t{i}": {"N": str(int(changes[name]))} for i, name in enumerate(changes)}
    return {"Update": {
        "TableName": table_name("economies"),
        "Key": {"economy_id": {"S": economy}},
        "UpdateExpression": "SET " + ", ".join(f"tunables.{n} = {v}" for n, v in zip(names, values)),
        "ConditionExpression": "attribute_exists(economy_id)",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }}


def set_tunables(economy: str, changes: Mapping[str, int], audit_row: Mapping[str, Any]) -> None:
    """Set some tunables with the audit row that describes the change, in one transaction."""
    get_client().transact_write_items(TransactItems=[tunables_write(economy, changes), dict(audit_row)])


# -- operator events (``events``) ------------------------------------------------------------

EVENT_GUARD = "#guard"  # the per-economy item every event write bumps (db/models/events.py)


EVENTS_BY_END = "by_end"  # sparse (economy, ends_at): the guard has no ends_at (db/models/events.py)


def query_events(economy: str, *, ending_after: str, consistent: bool = False) -> List[Item]:
    """The economy's events whose ``ends_at`` is later than ``ending_after``.

    By default a key condition on the ``by_end`` index: it reads only the events
    that have not ended, however many the economy had, but an index is
    eventually consistent (a write of a moment ago may be missing). With
    ``consistent`` it is a consistent read of the table instead, filtered: every
    event the economy ever had is read, and none written before is missed.
    """
    values = {":e": {"S": economy}, ":now": {"S": ending_after}}
    if consistent:
        return list(ops.query_all(
            "events", KeyConditionExpression="economy = :e AND begins_with(event_id, :p)",
            FilterExpression="ends_at > :now", ExpressionAttributeValues={**values, ":p": {"S": "evt_"}},
            ConsistentRead=True))
    return list(ops.query_all("events", IndexName=EVENTS_BY_END,
                              KeyConditionExpression="economy = :e AND ends_at > :now", ExpressionAttributeValues=values))


# How each status of ``tenancy.events.Event.status(now)`` reads on ``by_end``: (key condition on ends_at, filter).
# A live status (not yet ended) is bounded by the key condition; ``stopped`` filters the whole index.
_STATUS_READS: Dict[Optional[str], Any] = {
    None: (None, None),
    "scheduled": ("ends_at > :now", "starts_at > :now AND attribute_not_exists(stopped_at)"),
    "active": ("ends_at > :now", "starts_at <= :now AND attribute_not_exists(stopped_at)"),
    "ended": ("ends_at <= :now", "attribute_not_exists(stopped_at)"),
    "stopped": (None, "attribute_exists(stopped_at)"),
}


def page_events(economy: str, status: Optional[str], now: str, limit: int, cursor: Optional[str]) -> ops.Page:
    """One page of the economy's events (those in ``status`` at ``now``, if given), latest ``ends_at`` first.

    A status is a key condition and a filter on ``by_end`` (``_STATUS_READS``):
    a filter can leave a page short, and ``next_cursor`` then still goes on.
    The cursor is bound to the economy and the status. Raises InvalidCursorError.
    """
    bound, condition = _STATUS_READS[status]
    scope = keys.join("events", economy, status or "")
    position = ("event_id", "ends_at")

    def valid(at: Dict[str, str]) -> bool:
        try:
            canonical = parse_iso(at["ends_at"]) == at["ends_at"]
        except ValueError:
            return False
        # An ended event stays ended: a cursor of that listing past now was not issued by it.
        return valid_event_id(at["event_id"]) and canonical and (status != "ended" or at["ends_at"] <= now)

    if cursor and bound == "ends_at > :now":
        # A page of live events read a while ago: when its last one has ended since, so has every later
        # one (they end earlier), and the start key would fall outside the key condition (DynamoDB refuses).
        if cursors.decode(cursor, scope, position, valid)["ends_at"] <= now:
            return ops.Page([], None)
    kwargs: Dict[str, Any] = {
        "IndexName": EVENTS_BY_END, "ScanIndexForward": False,
        "KeyConditionExpression": "economy = :e" + (f" AND {bound}" if bound else ""),
        # DynamoDB refuses a value no expression uses (``stopped`` and no status do not compare times).
        "ExpressionAttributeValues": {":e": {"S": economy},
                                      **({":now": {"S": now}} if ":now" in f"{bound}{condition}" else {})},
    }
    # One more than a page, so that a full last page says it is the last; with a filter, read past what it drops.
    kwargs["Limit"] = max(limit, 50) if condition else limit + 1
    if condition:
        kwargs["FilterExpression"] = condition
    return ops.query_page("events", scope=scope, position=position, limit=limit, cursor=cursor, valid=valid,
                          start_key=lambda at: {"economy": economy, **at}, **kwargs)


def find_event(economy: str, event_id: str) -> Optional[Item]:
    return ops.get("events", {"economy": economy, "event_id": event_id})


def event_guard_version(economy: str) -> Optional[int]:
    """The guard's version (None: no event was ever written in this economy)."""
    item = ops.get("events", {"economy": economy, "event_id": EVENT_GUARD})
    return int(item["version"]) if item else None


def event_writes(economy: str, guard_seen: Optional[int], before: Optional[Item], after: Item) -> List[Dict[str, Any]]:
    """Bump the guard past ``guard_seen`` and replace ``before`` with ``after``; both only if unchanged since read."""
    guard_before = None if guard_seen is None else {"version": guard_seen}
    guard_after = {"economy": economy, "event_id": EVENT_GUARD, "version": (guard_seen or 0) + 1}
    key = {"economy": economy, "event_id": after["event_id"]}
    return [versioned_write("events", {"economy": economy, "event_id": EVENT_GUARD}, guard_before, guard_after,
                            put=True),
            versioned_write("events", key, before, after, put=True)]
