"""The Discord adapter's own table: ``discord_interactions`` (follow-ups and post claims).

* a deferred follow-up: recorded once per interaction id (Discord may deliver an
  interaction twice), its ``status`` ``done`` once the original reply was edited,
  so a redelivered queue message does nothing twice;
* a post claim: the right to post one line to a channel once per dedupe id
  (``db.ops.claim_once``), given back when the post failed so a retry may post.

Records expire by TTL after a day (interaction tokens live 15 minutes). The
``/give`` confirmations on the same table belong to the giving flow. Guild
records (channels, hub message ids) are tenancy's: ``tenancy.guilds``.
"""
from __future__ import annotations

import time
from typing import Optional

from chalicelib.core.ids import now_iso
from chalicelib.db import ops
from chalicelib.db.base import condition_failed
from chalicelib.db.models.discord_interactions import InteractionModel

TABLE = "discord_interactions"
KEY = "interaction_id"
RETENTION_SECONDS = 86400


def record_followup(interaction_id: str, economy: str, user_id: str, kind: str) -> bool:
    """Remember a pending follow-up; False when this interaction was recorded already (a redelivery)."""
    try:
        InteractionModel(interaction_id, kind="followup", economy=economy, user_id=user_id, status="pending",
                         data={"kind": kind}, created_at=now_iso(),
                         expires_epoch=int(time.time()) + RETENTION_SECONDS,
                         ).save(condition=InteractionModel.interaction_id.does_not_exist())
    except Exception as exc:  # PynamoDB wraps the condition failure; anything else is the engine's
        if not condition_failed(exc):
            raise
        return False
    return True


def followup_status(interaction_id: str) -> Optional[str]:
    """``pending``, ``done``, ``expired``; None when there is no record (expired by TTL, or never written)."""
    try:
        return InteractionModel.get(interaction_id, consistent_read=True).status
    except InteractionModel.DoesNotExist:
        return None


def mark_followup(interaction_id: str, status: str) -> None:
    """Set a follow-up's status (nothing when its record is gone)."""
    try:
        InteractionModel(interaction_id).update(
            actions=[InteractionModel.status.set(status), InteractionModel.updated_at.set(now_iso())],
            condition=InteractionModel.interaction_id.exists(),
        )
    except Exception as exc:
        if not condition_failed(exc):
            raise


def claim_post(dedupe_id: str) -> bool:
    """Take the right to post the line ``dedupe_id`` once; False when it was posted (or is being posted)."""
    return ops.claim_once(TABLE, KEY, dedupe_id, ttl_seconds=RETENTION_SECONDS,
                          extra={"kind": "log", "economy": "-", "user_id": "-", "status": "done",
                                 "created_at": now_iso()})


def release_post(dedupe_id: str) -> None:
    """Give a post claim back (the post failed), so a redelivery may post."""
    ops.release(TABLE, KEY, dedupe_id)
