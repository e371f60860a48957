"""Leaderboards: a snapshot of each economy's top 100 wallets, with ranks.

Wallets are ranked by their total coins (available + held + earnings), ties by
user id. The accounts table's hash key is the economy, so one paginated Query
(``begins_with(account, "u:")``, a projection of the buckets) reads every
wallet of an economy; the snapshot is one small item that ``/leaderboard``, My
Card and the ``#leaderboard`` message read instead.

The ``leaderboard`` job refreshes the snapshots of Discord guilds whose refresh
is due (the sparse ``leaderboard_due`` index of the guilds table), claiming
each guild with a conditional update first, so overlapping runs never do one
guild twice, and a run that dies leaves the rest due for the next.
"""
from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Dict, List, Optional

from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import iso, now_iso, utc_now
from chalicelib.db import codec

log = logging.getLogger("coinhall.leaderboard")

TOP = 100
DEFAULT_INTERVAL = timedelta(minutes=15)


@dataclass(frozen=True)
class Snapshot:
    economy: str
    entries: List[Dict[str, Any]]  # {"user_id", "total", "rank"}, best first
    players: int
    computed_at: Optional[str]

    def top(self, n: int = 10) -> List[Dict[str, Any]]:
        return self.entries[:n]

    def rank_of(self, user_id: str) -> Optional[int]:
        return next((e["rank"] for e in self.entries if e["user_id"] == user_id), None)


def rank(wallets: List[Dict[str, Any]], top: int = TOP) -> List[Dict[str, Any]]:
    """Wallet rows ({user_id, total}) -> the top ``top`` with ranks; equal totals share a rank."""
    ordered = sorted((w for w in wallets if w["total"] > 0), key=lambda w: (-w["total"], w["user_id"]))[:top]
    ranked: List[Dict[str, Any]] = []
    for position, wallet in enumerate(ordered, start=1):
        same = ranked and ranked[-1]["total"] == wallet["total"]
        ranked.append({"user_id": wallet["user_id"], "total": wallet["total"],
                       "rank": ranked[-1]["rank"] if same else position})
    return ranked


def _wallets(economy: str) -> List[Dict[str, Any]]:
    client = get_client()
    kwargs: Dict[str, Any] = {
        "TableName": table_name("accounts"),
        "KeyConditionExpression": "economy = :e AND begins_with(account, :u)",
        "ExpressionAttributeValues": {":e": {"S": economy}, ":u": {"S": "u:"}},
        "ProjectionExpression": "account, available, held, earnings",
    }
    found: List[Dict[str, Any]] = []
    while True:
        page = client.query(**kwargs)
        for raw in page["Items"]:
            item = codec.decode_item(raw)
            total = item.get("available", 0) + item.get("held", 0) + item.get("earnings", 0)
            found.append({"user_id": item["account"][2:], "total": total})
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def compute(economy: str) -> Snapshot:
    """Rank every wallet of ``economy`` now and store the snapshot."""
    wallets = _wallets(economy)
    snapshot = Snapshot(economy, rank(wallets), len(wallets), now_iso())
    get_client().put_item(
        TableName=table_name("leaderboards"),
        Item=codec.encode_item({"economy": economy, "entries": snapshot.entries, "players": snapshot.players,
                                "computed_at": snapshot.computed_at}),
    )
    return snapshot


def get_snapshot(economy: str, *, compute_if_missing: bool = True) -> Snapshot:
    """The stored snapshot; computed on the spot when the economy has none yet."""
    response = get_client().get_item(TableName=table_name("leaderboards"), Key={"economy": {"S": economy}})
    item = response.get("Item")
    if item:
        data = codec.decode_item(item)
        return Snapshot(economy, list(data.get("entries") or []), data.get("players", 0), data.get("computed_at"))
    if compute_if_missing:
        return compute(economy)
    return Snapshot(economy, [], 0, None)


def refresh_interval(expression: str) -> timedelta:
    """How long until a guild is due again: the ``rate(...)`` of LEADERBOARD_CRON (15 min for a cron)."""
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression.strip())
    if not match:
        return DEFAULT_INTERVAL
    n, unit = int(match.group(1)), match.group(2).rstrip("s")
    return timedelta(**{f"{unit}s": n})


def refresh_leaderboards(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``leaderboard``: refresh due guilds' snapshots and their ``#leaderboard`` messages.

    ``economy`` limits the run to the guilds of one economy (the CLI's ``--economy``).
    """
    from chalicelib.core.config import get_settings
    from chalicelib.tenancy.guilds import LEADERBOARD_SHARDS

    moment = utc_now()
    now = now or iso(moment)
    next_at = iso(moment + refresh_interval(get_settings().leaderboard_cron))
    client = get_client()
    shards = list(range(LEADERBOARD_SHARDS))
    random.shuffle(shards)  # overlapping runs start on different shards
    for shard in shards:
        kwargs: Dict[str, Any] = {
            "TableName": table_name("discord_guilds"),
            "IndexName": "leaderboard_due",
            "KeyConditionExpression": "lb_shard = :s AND lb_next_at <= :now",
            "ExpressionAttributeValues": {":s": {"S": f"lb{shard}"}, ":now": {"S": now}},
        }
        if economy:
            kwargs["FilterExpression"] = "economy = :e"
            kwargs["ExpressionAttributeValues"][":e"] = {"S": economy}
        while not ctx.should_stop():
            kwargs["Limit"] = max(1, min(50, ctx.max_items - ctx.processed))
            page = client.query(**kwargs)
            for raw in page["Items"]:
                if ctx.should_stop():
                    break
                item = codec.decode_item(raw)
                if not _claim(item["guild_id"], item["lb_next_at"], next_at):
                    ctx.count("skipped")  # another run has it
                    continue
                try:
                    _refresh_guild(item)
                except Exception:  # one guild's failure must not stop the others
                    log.exception("leaderboard refresh failed for guild %s", item["guild_id"])
                    ctx.count("failed")
                ctx.count()
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {}


def _claim(guild_id: str, seen: str, next_at: str) -> bool:
    client = get_client()
    try:
        client.update_item(
            TableName=table_name("discord_guilds"),
            Key={"guild_id": {"S": guild_id}},
            UpdateExpression="SET lb_next_at = :n",
            ConditionExpression="lb_next_at = :seen",
            ExpressionAttributeValues={":n": {"S": next_at}, ":seen": {"S": seen}},
        )
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False


def _refresh_guild(item: Dict[str, Any]) -> None:
    snapshot = compute(item["economy"])
    channel = (item.get("channels") or {}).get("leaderboard")
    if channel:
        from chalicelib.discord.hub import publish_leaderboard

        publish_leaderboard(item["guild_id"], channel, (item.get("messages") or {}).get("leaderboard"), snapshot)
