"""Leaderboards: a snapshot of each economy's top 100 wallets, with ranks.

Wallets are ranked by their total coins (available + held + earnings), ties by
user id. The accounts table's hash key is the economy, so one paginated Query
(``begins_with(account, "u:")``, a projection of the buckets) reads every
wallet of an economy; the snapshot is one small item that ``/leaderboard``, My
Card and the ``#leaderboard`` message read instead.

The ``leaderboard`` job refreshes the snapshots of Discord guilds whose refresh
is due (the sparse ``leaderboard_due`` index of the guilds table, walked by
``runtime.due``), claiming each guild with a conditional update first, so
overlapping runs never do one guild twice, and a run that dies leaves the rest
due for the next. A guild with a ``#leaderboard`` channel then gets a
``leaderboard.updated`` message on the queue; the Discord adapter consumes it
and edits the channel's message (this feature knows nothing of Discord).
"""
from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any, Dict, List, Optional

from chalicelib.core import keys
from chalicelib.core.config import get_settings
from chalicelib.core.ids import iso, now_iso, utc_now
from chalicelib.operations import store
from chalicelib.operations.store import Snapshot
from chalicelib.runtime.due import run_due_index
from chalicelib.runtime.queue import enqueue
from chalicelib.tenancy.guilds import LEADERBOARD_SHARDS

log = logging.getLogger("coinhall.leaderboard")

TOP = 100
DEFAULT_INTERVAL = timedelta(minutes=15)
UPDATED_TOPIC = "leaderboard.updated"

__all__ = ["Snapshot", "compute", "get_snapshot", "rank", "refresh_interval", "refresh_leaderboards"]


def rank(wallets: List[Dict[str, Any]], top: int = TOP) -> List[Dict[str, Any]]:
    """Wallet rows ({user_id, total}) -> the top ``top`` with ranks; equal totals share a rank."""
    ordered = sorted((w for w in wallets if w["total"] > 0), key=lambda w: (-w["total"], w["user_id"]))[:top]
    ranked: List[Dict[str, Any]] = []
    for position, wallet in enumerate(ordered, start=1):
        same = ranked and ranked[-1]["total"] == wallet["total"]
        ranked.append({"user_id": wallet["user_id"], "total": wallet["total"],
                       "rank": ranked[-1]["rank"] if same else position})
    return ranked


def compute(economy: str) -> Snapshot:
    """Rank every wallet of ``economy`` now and store the snapshot."""
    wallets = [{"user_id": w.user_id, "total": w.total} for w in store.user_wallets(economy)]
    snapshot = Snapshot(economy, rank(wallets), len(wallets), now_iso())
    store.put_snapshot(snapshot)
    return snapshot


def get_snapshot(economy: str, *, compute_if_missing: bool = True) -> Snapshot:
    """The stored snapshot; computed on the spot when the economy has none yet."""
    snapshot = store.get_snapshot(economy)
    if snapshot is not None:
        return snapshot
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
    """Job ``leaderboard``: refresh due guilds' snapshots and queue their ``#leaderboard`` messages.

    ``economy`` limits the run to the guilds of one economy (the CLI's ``--economy``).
    A guild another run claimed first counts as ``skipped``; one whose refresh
    fails as ``failed`` (logged; the others go on).
    """
    moment = utc_now()
    now = now or iso(moment)
    next_at = iso(moment + refresh_interval(get_settings().leaderboard_cron))

    def handle(item: Dict[str, Any]) -> Optional[str]:
        if not store.claim_leaderboard_refresh(item["guild_id"], item["lb_next_at"], next_at):
            return "skipped"  # another run has it
        try:
            _refresh_guild(item)
        except Exception as exc:  # one guild's failure must not stop the others
            log.exception("leaderboard refresh failed for guild %s", item["guild_id"])
            ctx.note_failure(item["guild_id"], f"{type(exc).__name__}: {exc}")
            return "failed"
        return None

    run_due_index(ctx, table="discord_guilds", prefix="lb", shards=LEADERBOARD_SHARDS, now=now, handle=handle,
                  key="guild_id", economy=economy, index="leaderboard_due", page_size=50,
                  shard_attr="lb_shard", at_attr="lb_next_at", uncounted={"skipped"})
    return {}


def _refresh_guild(item: Dict[str, Any]) -> None:
    snapshot = compute(item["economy"])
    if (item.get("channels") or {}).get("leaderboard"):
        enqueue(UPDATED_TOPIC, {"guild_id": item["guild_id"], "economy": item["economy"]},
                dedupe_id=keys.join("leaderboard", item["guild_id"], snapshot.computed_at or ""))
