"""The daily digest: one summary per economy and UTC day, kept and posted.

Read from the journal (``journal.operations_between``: every operation with a
system leg that day, once each, without a scan) and the wallets:

* ``bought``: coins that entered through purchases (out of ``issuance``);
* ``granted``: coins minted as rewards (out of ``rewards``);
* ``spent``: coins users paid for things (spend, unlock, settled holds,
  market orders): what reached ``burn``, the ``treasury`` and creators'
  ``earnings`` in those operations;
* ``fees``: what reached the ``treasury`` (fees and the platform's share), any type;
* ``burned``, ``clawed_back``, ``adjusted`` (net operator credits), ``paid_out``;
* ``held``: coins in ``held`` buckets when the digest is made (a stock, not a flow);
* ``active_users``: users in the day's journal, plus wallets whose last change
  fell on that day (an operation with no system leg, such as a user-to-user
  transfer, is only seen through the second);
* ``top_earners``: the five users who gained most in ``earnings`` plus rewards.

Written once per (economy, day) with ``attribute_not_exists``, so overlapping
runs write one record; ``posted`` turns true once the post to
``#coin-transactions`` was queued (``discord.log``, deduped by the digest's
id), for each Discord guild of the economy that has that channel, when a bot
token is configured.
"""
from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional

from chalicelib.core import keys
from chalicelib.core.config import get_settings
from chalicelib.core.ids import iso, now_iso, utc_now
from chalicelib.ledger.journal import operations_between
from chalicelib.operations import store
from chalicelib.operations.reconcile.job import list_economies
from chalicelib.runtime.jobs import JobArgumentError
from chalicelib.runtime.queue import enqueue

log = logging.getLogger("coinhall.digest")

SPEND_TYPES = frozenset({"spend", "unlock", "settle", "order"})
TOP = 5


def day_bounds(day: date) -> tuple:
    start = datetime.combine(day, dtime.min, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def compute(economy: str, day: date) -> Dict[str, Any]:
    """The figures of ``economy`` for UTC ``day`` (reads only)."""
    start, end = day_bounds(day)
    operations = operations_between(economy, start, end)
    figures = Counter({k: 0 for k in ("bought", "granted", "spent", "fees", "burned", "clawed_back", "adjusted",
                                      "paid_out", "operations", "purchases", "rewards")})
    earned: Counter = Counter()
    active = set()
    for op in operations:
        legs: Dict[str, Dict[str, int]] = op["legs"]
        system = {k[4:]: v.get("available", 0) for k, v in legs.items() if k.startswith("sys:")}
        users = {k[2:]: v for k, v in legs.items() if k.startswith("u:")}
        active.update(users)
        figures["operations"] += 1
        kind = op.get("type")
        if kind == "purchase":
            figures["bought"] += -system.get("issuance", 0)
            figures["purchases"] += 1
        if kind == "reward":
            figures["rewards"] += 1
        figures["granted"] += -system.get("rewards", 0)
        figures["fees"] += system.get("treasury", 0)
        figures["burned"] += system.get("burn", 0)
        figures["clawed_back"] += system.get("clawback", 0)
        figures["adjusted"] += -system.get("adjustments", 0)
        figures["paid_out"] += system.get("payouts", 0)
        if kind in SPEND_TYPES:
            creators = sum(max(0, d.get("earnings", 0)) for d in users.values())
            figures["spent"] += system.get("burn", 0) + system.get("treasury", 0) + creators
        for user_id, deltas in users.items():
            gained = max(0, deltas.get("earnings", 0))
            if kind == "reward":
                gained += max(0, deltas.get("available", 0))
            if gained:
                earned[user_id] += gained
    held, changed = _wallets(economy, iso(start), iso(end))
    active.update(changed)
    result = dict(figures)
    result["held"] = held
    result["active_users"] = len(active)
    top = sorted(earned.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return {"economy": economy, "day": day.isoformat(), "figures": result,
            "top_earners": [{"user_id": u, "earned": n} for u, n in top]}


def _wallets(economy: str, start: str, end: str) -> tuple:
    """(coins held now, users whose wallet last changed within [start, end))."""
    held, changed = 0, set()
    for wallet in store.user_wallets(economy):
        held += wallet.held
        if start <= wallet.updated_at < end:
            changed.add(wallet.user_id)
    return held, changed


def get_digest(economy: str, day: date) -> Optional[Dict[str, Any]]:
    """The stored digest of (economy, UTC day), or None."""
    return store.get_digest(economy, day)


def make_digest(economy: str, day: date) -> Dict[str, Any]:
    """The stored digest of (economy, day), computing and writing it once if missing."""
    existing = get_digest(economy, day)
    if existing is not None:
        return existing
    digest = {**compute(economy, day), "created_at": now_iso()}
    if not store.put_digest_once(digest):
        return get_digest(economy, day) or digest  # an overlapping run wrote it first: theirs stands
    return digest


def render(digest: Dict[str, Any]) -> str:
    """The digest as a Discord message (well under the 2,000 character limit)."""
    f = digest["figures"]
    lines = [
        f"**Daily digest {digest['day']}** (UTC)",
        f"Bought {f['bought']:,} coins in {f['purchases']:,} purchases · granted {f['granted']:,}"
        f" · spent {f['spent']:,}",
        f"Fees {f['fees']:,} · burned {f['burned']:,} · held now {f['held']:,} · clawed back {f['clawed_back']:,}",
        f"{f['active_users']:,} active users · {f['operations']:,} operations",
    ]
    if digest.get("top_earners"):
        # Discord user ids are snowflakes: mention them; a host app's ids are shown as they are.
        names = [(f"<@{e['user_id']}>" if e["user_id"].isdigit() else e["user_id"], e["earned"])
                 for e in digest["top_earners"]]
        lines.append("Top earners: " + ", ".join(f"{name} {earned:,}" for name, earned in names))
    return "\n".join(lines)


def guild_channels(economies: Iterable[str]) -> Dict[str, List[str]]:
    """economy -> its guilds' ``#coin-transactions`` channel ids.

    One Scan of the guilds table per run (one small item per Discord server,
    like the economies table), projected to three attributes.
    """
    wanted = set(economies)
    found: Dict[str, List[str]] = {}
    for guild in store.guild_channels():
        channel = guild.channels.get("transactions")
        if guild.economy in wanted and channel:
            found.setdefault(guild.economy, []).append(channel)
    return found


def post(digest: Dict[str, Any], channels: List[str]) -> int:
    """Queue the digest for each channel (deduped per digest and channel) and mark it posted. Returns posts queued."""
    text = render(digest)
    for channel in channels:
        enqueue("discord.log", {"channel_id": channel, "content": text},
                dedupe_id=keys.join("digest", digest["economy"], digest["day"], channel))
    store.mark_digest_posted(digest["economy"], digest["day"])
    return len(channels)


def daily_digests(ctx: Any, economy: Optional[str] = None, day: Optional[str] = None) -> Dict[str, Any]:
    """Job ``digest``: yesterday's (or ``day``'s, YYYY-MM-DD) digest of every economy (or ``economy``).

    Raises JobArgumentError (a ValueError) for a malformed ``day`` or one that has
    not ended yet (a digest is written once, so it is only made of a whole day).
    """
    today = utc_now().date()
    try:
        target = date.fromisoformat(day) if day else today - timedelta(days=1)
    except ValueError:
        raise JobArgumentError(f"day {day!r} is not YYYY-MM-DD") from None
    if target >= today:
        raise JobArgumentError(f"day {target.isoformat()} has not ended yet (UTC); a digest covers a whole day")
    economies = [economy] if economy else list_economies()
    discord = bool(get_settings().discord_bot_token)
    channels = guild_channels(economies) if discord else {}
    written: List[str] = []
    for name in economies:
        if ctx.should_stop():
            break
        digest = make_digest(name, target)
        written.append(name)
        if discord and channels.get(name) and not digest.get("posted"):
            ctx.count("posted", post(digest, channels[name]))
        ctx.count()
    log.info("digests for %s: %d economies", target.isoformat(), len(written),
             extra={"day": target.isoformat(), "economies": len(written)})
    return {"day": target.isoformat(), "economies": written, "discord": discord}
