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
from datetime import timedelta
from typing import Any, Callable, Dict

from chalicelib.core import errors
from chalicelib.core.ids import utc_now
from chalicelib.discord import packs, store, views
from chalicelib.discord.followups import KIND_NAMES, TOPIC, defer
from chalicelib.discord.hub import run_setup
from chalicelib.discord.interaction import snowflake_time
from chalicelib.discord.rest import get_rest

log = logging.getLogger("coinhall.discord.worker")

__all__ = ["TOPIC", "defer", "handle_followup"]

TOKEN_LIFETIME = timedelta(minutes=15)


def handle_followup(payload: Dict[str, Any], dedupe_id: str) -> None:
    """Queue consumer of ``discord.followup``. Raises (so the queue retries) when Discord fails."""
    interaction_id = payload["interaction_id"]
    # No record: expired by TTL or never written; the work itself is idempotent.
    if store.followup_status(interaction_id) == "done":
        return
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
    store.mark_followup(interaction_id, status)


def _setup(payload: Dict[str, Any]) -> Dict[str, Any]:
    report = run_setup(payload["guild_id"], payload["application_id"])
    fields = [(title.capitalize(), ", ".join(items) or "-", False) for title, items in report.items()]
    return views.message(embeds=[views.embed("Coin hub ready", "Running /coins-setup again repairs anything that "
                                             "goes missing.", views.GREEN, fields)], ephemeral=True)


def _checkout(payload: Dict[str, Any]) -> Dict[str, Any]:
    return packs.checkout(payload["economy"], payload["user_id"], payload["args"]["pack_id"], payload["interaction_id"])


KINDS: Dict[str, Callable[[Dict[str, Any]], Dict[str, Any]]] = {"setup": _setup, "checkout": _checkout}
assert set(KINDS) == set(KIND_NAMES), "followups.KIND_NAMES must name every kind handled here"
