"""``/coins-setup``: the hub channels and their messages, created or repaired.

Channels: ``#coin-hub`` (public, the pinned hub embed with its buttons),
``#leaderboard`` and ``#shop`` (everyone reads, nobody but the bot writes) and
``#coin-transactions`` (admins only: a line per coin movement made from Discord).

Setup is idempotent: it remembers channel and message ids on the guild record
and, on every run, checks that they still exist before creating anything. A
channel or message that a previous run created but did not get to remember (a
worker that died half-way) is found by name or by its embed title and adopted,
so nothing is ever duplicated. It runs in the queue worker (Discord REST calls
are too slow for the 3-second answer).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from chalicelib.core import errors, keys
from chalicelib.discord import store, views
from chalicelib.discord.rest import get_rest, is_not_found
from chalicelib.discord.guild_setup import ensure_guild
from chalicelib.discord.post_once import nonce, post_once
from chalicelib.operations.leaderboard import Snapshot, get_snapshot
from chalicelib.purchases.packs import list_packs
from chalicelib.runtime.queue import enqueue
from chalicelib.tenancy.guilds import Guild, find_guild, remember

log = logging.getLogger("coinhall.discord.hub")

VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, READ_HISTORY = 1 << 10, 1 << 11, 1 << 14, 1 << 16
BOT_ALLOW = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | READ_HISTORY
ROLE, MEMBER = 0, 1


@dataclass(frozen=True)
class ChannelSpec:
    key: str
    name: str
    topic: str
    everyone_allow: int
    everyone_deny: int


CHANNELS = (
    ChannelSpec("hub", "coin-hub", "Coins: your card, daily rewards, quests and the shop.", VIEW_CHANNEL | READ_HISTORY, 0),
    ChannelSpec("leaderboard", "leaderboard", "The top balances, refreshed every 15 minutes.",
                VIEW_CHANNEL | READ_HISTORY, SEND_MESSAGES),
    ChannelSpec("shop", "shop", "Coin packs on sale.", VIEW_CHANNEL | READ_HISTORY, SEND_MESSAGES),
    ChannelSpec("transactions", "coin-transactions", "Every coin movement made from Discord (admins only).", 0,
                VIEW_CHANNEL),
)

# message key -> (channel key, embed title that identifies it)
MESSAGES = {"hub": ("hub", "Coin Hub"), "leaderboard": ("leaderboard", "Leaderboard"), "shop": ("shop", "Shop")}


def run_setup(guild_id: str, application_id: str) -> Dict[str, List[str]]:
    """Create what is missing, adopt what exists, keep the rest. Returns what happened.

    Raises DiscordApiError when Discord refuses (e.g. the bot lacks Manage Channels).
    """
    guild = ensure_guild(guild_id)
    rest = get_rest()
    report: Dict[str, List[str]] = {"created": [], "adopted": [], "kept": []}
    existing = {c["id"]: c for c in rest.get(f"guilds/{guild_id}/channels") or []}
    channels: Dict[str, str] = {}
    for spec in CHANNELS:
        channels[spec.key] = _ensure_channel(rest, guild, spec, existing, application_id, report)
    packs = _packs(guild.economy)
    for key, (channel_key, title) in MESSAGES.items():
        body = _message_body(key, guild, packs)
        message_id = _ensure_message(rest, guild, key, channels[channel_key], title, body, application_id, report)
        if key == "hub":
            _ensure_pinned(rest, channels[channel_key], message_id)
    return report


def _ensure_channel(rest: Any, guild: Guild, spec: ChannelSpec, existing: Dict[str, Any], application_id: str,
                    report: Dict[str, List[str]]) -> str:
    known = guild.channels.get(spec.key)
    overwrites = _overwrites(guild, spec, application_id)
    if known and known in existing:
        if spec.key == "transactions":  # who may read it follows the role map
            rest.patch(f"channels/{known}", {"permission_overwrites": overwrites}, reason="Coinhall setup (roles)")
        report["kept"].append(f"#{spec.name}")
        return known
    found = next((c for c in existing.values() if c.get("name") == spec.name and c.get("type") == 0), None)
    if found:
        rest.patch(f"channels/{found['id']}", {"permission_overwrites": overwrites}, reason="Coinhall setup (repair)")
        channel_id = found["id"]
        report["adopted"].append(f"#{spec.name}")
    else:
        created = rest.post(f"guilds/{guild.guild_id}/channels", {
            "name": spec.name, "type": 0, "topic": spec.topic, "permission_overwrites": overwrites,
        }, reason="Coinhall setup")
        channel_id = created["id"]
        report["created"].append(f"#{spec.name}")
    remember(guild.guild_id, "channels", spec.key, channel_id)
    return channel_id


def _overwrites(guild: Guild, spec: ChannelSpec, application_id: str) -> List[Dict[str, Any]]:
    rules = [
        {"id": guild.guild_id, "type": ROLE, "allow": str(spec.everyone_allow), "deny": str(spec.everyone_deny)},
        {"id": application_id, "type": MEMBER, "allow": str(BOT_ALLOW), "deny": "0"},
    ]
    if spec.key == "transactions":
        for role_id, app_role in sorted(guild.role_map.items()):
            if app_role in ("ADMIN", "AUDITOR"):
                rules.append({"id": role_id, "type": ROLE, "allow": str(VIEW_CHANNEL | READ_HISTORY), "deny": "0"})
    return rules


def _ensure_message(rest: Any, guild: Guild, key: str, channel_id: str, title: str, body: Dict[str, Any],
                    application_id: str, report: Dict[str, List[str]]) -> str:
    known = guild.messages.get(key)
    if known and guild.channels.get(MESSAGES[key][0]) == channel_id:
        try:
            rest.patch(f"channels/{channel_id}/messages/{known}", body)
            report["kept"].append(f"{key} message")
            return known
        except errors.DiscordApiError as exc:
            if not is_not_found(exc):
                raise
    found = _find_own_message(rest, channel_id, title, application_id)
    if found:
        rest.patch(f"channels/{channel_id}/messages/{found}", body)
        message_id = found
        report["adopted"].append(f"{key} message")
    else:
        message_id = rest.post(f"channels/{channel_id}/messages", body)["id"]
        report["created"].append(f"{key} message")
    remember(guild.guild_id, "messages", key, message_id)
    return message_id


def _find_own_message(rest: Any, channel_id: str, title: str, application_id: str) -> Optional[str]:
    for message in rest.get(f"channels/{channel_id}/messages?limit=50") or []:
        author = (message.get("author") or {}).get("id")
        embeds = message.get("embeds") or []
        if author == application_id and embeds and embeds[0].get("title") == title:
            return message["id"]
    return None


def _ensure_pinned(rest: Any, channel_id: str, message_id: str) -> None:
    message = rest.get(f"channels/{channel_id}/messages/{message_id}")
    if not (message or {}).get("pinned"):
        rest.put(f"channels/{channel_id}/pins/{message_id}", reason="Coinhall hub")


def _packs(economy: str) -> List[Dict[str, Any]]:
    return list_packs(economy)


def _message_body(key: str, guild: Guild, packs: List[Dict[str, Any]]) -> Dict[str, Any]:
    if key == "hub":
        return views.public_hub()
    if key == "shop":
        return views.public_shop(packs)
    snapshot = get_snapshot(guild.economy)
    return views.public_leaderboard(snapshot.top(10), snapshot.players, snapshot.computed_at)


def on_leaderboard_updated(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Queue consumer of ``leaderboard.updated``: show the economy's snapshot in the guild's ``#leaderboard``.

    Reads the guild afresh, so a redelivered message edits the message the
    first delivery posted instead of posting another. Raises DiscordApiError
    (the queue retries).
    """
    guild = find_guild(payload["guild_id"])
    channel = guild.channels.get("leaderboard") if guild else None
    if guild is None or not channel:
        return
    publish_leaderboard(guild.guild_id, channel, guild.messages.get("leaderboard"), get_snapshot(payload["economy"]))


def publish_leaderboard(guild_id: str, channel_id: str, message_id: Optional[str], snapshot: Snapshot) -> str:
    """Edit the ``#leaderboard`` message (post a new one if it was deleted). Returns its id."""
    rest = get_rest()
    body = views.public_leaderboard(snapshot.top(10), snapshot.players, snapshot.computed_at)
    if message_id:
        try:
            rest.patch(f"channels/{channel_id}/messages/{message_id}", body)
            return message_id
        except errors.DiscordApiError as exc:
            if not is_not_found(exc):
                raise
    message_id = rest.post(f"channels/{channel_id}/messages", body)["id"]
    remember(guild_id, "messages", "leaderboard", message_id)
    return message_id


def log_transaction(guild: Guild, text: str, dedupe_id: str) -> None:
    """Queue a line for ``#coin-transactions`` (when setup made one). Never fails the caller."""
    channel = guild.channels.get("transactions")
    if not channel:
        return
    try:
        enqueue("discord.log", {"channel_id": channel, "content": text}, dedupe_id=keys.join("log", dedupe_id))
    except Exception:  # the coins moved; a lost log line must not turn that into an error
        log.exception("could not queue a transaction log line for guild %s", guild.guild_id)


def post_log_line(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Queue consumer of ``discord.log``: post one line to ``#coin-transactions``, once per ``dedupe_id``.

    The line is claimed under a lease before posting (``post_once``): a redelivered
    message does not post twice, and one whose worker died holding the claim posts.
    """
    body = {**views.message(payload["content"]), **nonce(dedupe_id)}
    post_once(store.claim_post(dedupe_id),
              lambda: get_rest().post(f"channels/{payload['channel_id']}/messages", body),
              lambda: store.finish_post(dedupe_id), lambda: store.release_post(dedupe_id))
