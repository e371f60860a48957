"""Deferring an interaction: record it, queue a ``discord.followup``, answer "thinking..." now.

The half of the deferred flow that runs inside the request; ``worker.py`` is
the queue consumer that does the work and edits the reply. Split so that the
flows that defer (``packs``, ``/coins-setup``) and the worker that calls them
back do not import each other.
"""
from __future__ import annotations

from typing import Any, Dict

from chalicelib.discord import store, views
from chalicelib.discord.interaction import Interaction
from chalicelib.runtime.queue import enqueue
from chalicelib.tenancy.guilds import Guild

TOPIC = "discord.followup"
KIND_NAMES = ("setup", "checkout")  # what worker.KINDS handles


def defer(ix: Interaction, guild: Guild, kind: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """Record and enqueue the work; returns the deferred ephemeral response. Raises ValueError (unknown kind)."""
    if kind not in KIND_NAMES:
        raise ValueError(f"unknown follow-up kind {kind!r}")
    if not store.record_followup(ix.id, guild.economy, ix.user_id, kind):
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
