"""Deferred interactions: answer "thinking..." now, finish in the queue worker.

Discord wants an answer within 3 seconds; Discord REST calls and Stripe may
take longer, and on Lambda nothing runs after the response is returned. So the
view answers with a deferred ephemeral response (type 5) and enqueues a
``discord.followup`` message; the consumer (SQS on AWS, a thread locally) does
the work and edits the original response through the interaction webhook
(``PATCH webhooks/{application_id}/{token}/messages/@original``, no bot token).

Idempotent by interaction id: the follow-up record turns ``done`` once the edit
went through, and a redelivery of a done message does nothing. Each kind of work
is idempotent on its own too (setup repairs, a checkout is keyed by the
interaction id), so a worker that died half-way just runs again. The token
lives 15 minutes: older work is dropped.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any, Callable, Dict

from chalicelib.core import errors
from chalicelib.db.base import condition_failed
from chalicelib.discord import views
from chalicelib.discord.interaction import Interaction, snowflake_time
from chalicelib.tenancy.guilds import Guild
from chalicelib.core.ids import now_iso, utc_now

log = logging.getLogger("coinhall.discord.worker")

TOPIC = "discord.followup"
TOKEN_LIFETIME = timedelta(minutes=15)


def defer(ix: Interaction, guild: Guild, kind: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """Record and enqueue the work; returns the deferred ephemeral response."""
    from chalicelib.db.models.discord_interactions import InteractionModel
    from chalicelib.runtime.queue import enqueue

    if kind not in KINDS:
        raise ValueError(f"unknown follow-up kind {kind!r}")
    try:
        InteractionModel(ix.id, kind="followup", economy=guild.economy, user_id=ix.user_id, status="pending",
                         data={"kind": kind}, created_at=now_iso(), expires_epoch=int(time.time()) + 86400,
                         ).save(condition=InteractionModel.interaction_id.does_not_exist())
    except Exception as exc:
        if not condition_failed(exc):
            raise
        return views.deferred()  # Discord delivered this interaction twice: it is queued already
    payload = {
        "interaction_id": ix.id,
        "application_id": ix.application_id,
        "token": ix.token,
        "guild_id": guild.guild_id,
        "economy": guild.economy,
        "user_id": ix.user_id,
        "kind": kind,
        "args": args,
    }
    enqueue(TOPIC, payload, dedupe_id=ix.id)
    return views.deferred()


def handle_followup(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Queue consumer of ``discord.followup``. Raises (so the queue retries) when Discord fails."""
    from chalicelib.db.models.discord_interactions import InteractionModel
    from chalicelib.discord.rest import get_rest

    interaction_id = payload["interaction_id"]
    try:
        record = InteractionModel.get(interaction_id, consistent_read=True)
        if record.status == "done":
            return
    except InteractionModel.DoesNotExist:
        pass  # expired by TTL or never written: the work itself is idempotent
    if utc_now() - snowflake_time(interaction_id) > TOKEN_LIFETIME:
        log.warning("dropping follow-up %s: its token expired", interaction_id)
        _mark_done(interaction_id, "expired")
        return
    try:
        body = KINDS[payload["kind"]](payload)
    except errors.CoinhallError as exc:
        body = views.error(exc.message)["data"]
    path = f"webhooks/{payload['application_id']}/{payload['token']}/messages/@original"
    get_rest().patch(path, body, auth=False)
    _mark_done(interaction_id, "done")


def _mark_done(interaction_id: str, status: str) -> None:
    from chalicelib.db.models.discord_interactions import InteractionModel

    try:
        InteractionModel(interaction_id).update(
            actions=[InteractionModel.status.set(status), InteractionModel.updated_at.set(now_iso())],
            condition=InteractionModel.interaction_id.exists(),
        )
    except Exception as exc:
        if not condition_failed(exc):
            raise


def _setup(payload: Dict[str, Any]) -> Dict[str, Any]:
    from chalicelib.discord.hub import run_setup

    report = run_setup(payload["guild_id"], payload["application_id"])
    fields = [(title.capitalize(), ", ".join(items) or "-", False) for title, items in report.items()]
    return views.message(embeds=[views.embed("Coin hub ready", "Running /coins-setup again repairs anything that "
                                             "goes missing.", views.GREEN, fields)], ephemeral=True)


def _checkout(payload: Dict[str, Any]) -> Dict[str, Any]:
    from chalicelib.discord.shop import checkout

    return checkout(payload["economy"], payload["user_id"], payload["args"]["pack_id"], payload["interaction_id"])


KINDS: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {"setup": _setup, "checkout": _checkout}
