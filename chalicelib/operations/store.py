"""The operations package's table access: leaderboards, digests, health, and what the jobs read.

Typed records in and out; every read and write goes through ``db.ops`` (one
consistent Get, a paged Query, put-if-absent, update expressions), so no other
operations module sees the wire format. The export/restore tool's raw table
access is in ``backup_store.py`` (it copies items as they are stored);
reconciliation's own tables are in ``reconcile/store.py``.

Tables: ``leaderboards`` and ``digests`` are ours; ``accounts`` (the ledger's)
and ``discord_guilds``/``economies`` (tenancy's) are only read here, except
the guild's ``lb_next_at``, which the leaderboard job moves forward to claim a
refresh (a conditional write on the sparse ``leaderboard_due`` index).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, Iterator, List, Optional

from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name


# -- wallets (read only: the ledger owns the accounts table) -----------------------


@dataclass(frozen=True)
class WalletRow:
    """One user wallet as the leaderboard and the digest read it."""

    user_id: str
    available: int
    held: int
    earnings: int
    updated_at: str

    @property
    def total(self) -> int:
        return self.available + self.held + self.earnings

    @classmethod
    def from_item(cls, item: Dict[str, Any]) -> "WalletRow":
        return cls(item["account"][2:], item.get("available", 0), item.get("held", 0), item.get("earnings", 0),
                   item.get("updated_at", ""))


def user_wallets(economy: str) -> Iterator[WalletRow]:
    """Every user wallet of ``economy`` (one paginated Query of its partition, projected to the buckets)."""
    for item in ops.query_all(
        "accounts",
        KeyConditionExpression="economy = :e AND begins_with(account, :u)",
        ExpressionAttributeValues={":e": {"S": economy}, ":u": {"S": "u:"}},
        ProjectionExpression="account, available, held, earnings, updated_at",
    ):
        yield WalletRow.from_item(item)


# -- leaderboards -------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """An economy's stored ranking: the top wallets with ranks, and how many players there are."""

    economy: str
    entries: List[Dict[str, Any]]  # {"user_id", "total", "rank"}, best first
    players: int
    computed_at: Optional[str]

    def top(self, n: int = 10) -> List[Dict[str, Any]]:
        return self.entries[:n]

    def rank_of(self, user_id: str) -> Optional[int]:
        return next((e["rank"] for e in self.entries if e["user_id"] == user_id), None)

    @classmethod
    def from_item(cls, item: Dict[str, Any]) -> "Snapshot":
        return cls(item["economy"], list(item.get("entries") or []), item.get("players", 0), item.get("computed_at"))

    def to_item(self) -> Dict[str, Any]:
        return {"economy": self.economy, "entries": self.entries, "players": self.players,
                "computed_at": self.computed_at}


def put_snapshot(snapshot: Snapshot) -> None:
    """Store (replace) the economy's snapshot."""
    get_client().put_item(TableName=table_name("leaderboards"), Item=_encode(snapshot.to_item()))


def get_snapshot(economy: str) -> Optional[Snapshot]:
    """The stored snapshot, or None (an eventually consistent read: a snapshot is minutes old anyway)."""
    item = ops.get("leaderboards", {"economy": economy}, consistent=False)
    return Snapshot.from_item(item) if item else None


def claim_leaderboard_refresh(guild_id: str, seen: str, next_at: str) -> bool:
    """Move the guild's ``lb_next_at`` from ``seen`` to ``next_at``; False when another run moved it first."""
    client = get_client()
    expression, names, values = ops.update_expression({"lb_next_at": next_at})
    try:
        client.update_item(
            TableName=table_name("discord_guilds"), Key={"guild_id": {"S": guild_id}},
            UpdateExpression=expression, ConditionExpression="#u0 = :seen",
            ExpressionAttributeNames=names, ExpressionAttributeValues={**values, ":seen": {"S": seen}},
        )
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


# -- digests ------------------------------------------------------------------------


def get_digest(economy: str, day: date) -> Optional[Dict[str, Any]]:
    """The stored digest of (economy, UTC day), or None."""
    return ops.get("digests", {"economy": economy, "day": day.isoformat()})


def put_digest_once(digest: Dict[str, Any]) -> bool:
    """Write the digest unless one of its (economy, day) exists; False when one did."""
    return ops.put_if_absent("digests", digest, "day")


def mark_digest_posted(economy: str, day: str) -> None:
    expression, names, values = ops.update_expression({"posted": True})
    get_client().update_item(TableName=table_name("digests"), Key={"economy": {"S": economy}, "day": {"S": day}},
                             UpdateExpression=expression, ExpressionAttributeNames=names,
                             ExpressionAttributeValues=values)


@dataclass(frozen=True)
class GuildChannels:
    """A Discord guild's economy and its channels (``channels`` key -> channel id)."""

    guild_id: str
    economy: str
    channels: Dict[str, str]


def guild_channels() -> Iterator[GuildChannels]:
    """Every Discord guild with its channels: one Scan of the guilds table (one small item per server), projected."""
    for item in _scan("discord_guilds", ProjectionExpression="guild_id, economy, channels"):
        yield GuildChannels(item["guild_id"], item.get("economy", ""), dict(item.get("channels") or {}))


# -- economies and the engine ------------------------------------------------------


def economy_ids() -> List[str]:
    """Every economy id, sorted: a Scan of the economies table (tenants number in the thousands at most)."""
    return sorted(item["economy_id"] for item in _scan("economies", ProjectionExpression="economy_id"))


def engine_answers() -> None:
    """Ask DynamoDB about the accounts table; raises whatever the engine (or the network) raises."""
    get_client().describe_table(TableName=table_name("accounts"))


def _scan(table: str, **kwargs: Any) -> Iterator[Dict[str, Any]]:
    return (codec.decode_item(raw) for raw in ops.scan_raw(table, **kwargs))


def _encode(item: Dict[str, Any]) -> Dict[str, Any]:
    return codec.encode_item(item)


# -- reports (read only: the ledger's entries and accounts) ---------------------------


def entries_desc(partition: str, *, below: str, floor: Optional[str], limit: int) -> List[Dict[str, Any]]:
    """Up to ``limit`` entries of one partition with ``floor <= sk < below``, newest first (one Query).

    One bounded page, not ``query_all``: a report page reads a known number of
    entries per partition, however long the partition is.
    """
    values: Dict[str, Any] = {":p": {"S": partition}, ":b": {"S": below}}
    condition = "account_key = :p AND sk < :b"
    if floor is not None:
        condition = "account_key = :p AND sk BETWEEN :a AND :b"
        values[":a"] = {"S": floor}
    page = get_client().query(TableName=table_name("entries"), KeyConditionExpression=condition,
                              ExpressionAttributeValues=values, ScanIndexForward=False, Limit=limit + 1)
    # BETWEEN includes ``below``; it is the last key of the previous page, so it is dropped here.
    items = [codec.decode_item(i) for i in page["Items"]]
    return [i for i in items if i["sk"] < below][:limit]


@dataclass(frozen=True)
class Supply:
    """Coins in every user wallet of an economy now, by bucket, and the debt owed."""

    available: int
    held: int
    earnings: int
    debt: int
    wallets: int


def supply(economy: str) -> Supply:
    """One paginated Query of the economy's wallets (its accounts partition), projected to the buckets."""
    available = held = earnings = debt = wallets = 0
    for item in ops.query_all(
        "accounts",
        KeyConditionExpression="economy = :e AND begins_with(account, :u)",
        ExpressionAttributeValues={":e": {"S": economy}, ":u": {"S": "u:"}},
        ProjectionExpression="available, held, earnings, debt",
    ):
        available += item.get("available", 0)
        held += item.get("held", 0)
        earnings += item.get("earnings", 0)
        debt += item.get("debt", 0)
        wallets += 1
    return Supply(available, held, earnings, debt, wallets)
