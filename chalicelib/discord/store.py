"""The Discord adapter's own table: ``discord_interactions`` (follow-ups and post claims).

* a deferred follow-up: recorded once per interaction id (Discord may deliver an
  interaction twice), its ``status`` ``done`` once the original reply was edited,
  so a redelivered queue message does nothing twice;
* a post claim: the right to post one line to a channel once per dedupe id
  (``db.ops.claim_once``), given back when the post failed so a retry may post.

* a pending gift (``/give``): what to send, until Confirm or Cancel moves its
  ``status`` on; Confirm's move commits with the coins (``gift_done``).

Records expire by TTL after a day (interaction tokens live 15 minutes). Guild
records (channels, hub message ids) are tenancy's: ``tenancy.guilds``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

from chalicelib.core.ids import now_iso
from chalicelib.db import ops
from chalicelib.db.base import condition_failed
from chalicelib.db.engine import table_name
from chalicelib.db.models.discord_interactions import InteractionModel
from chalicelib.ledger import SideWrite

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


@dataclass(frozen=True)
class Gift:
    """A ``/give`` waiting for its sender's Confirm or Cancel."""

    give_id: str
    economy: str
    sender: str
    status: str  # pending, done, cancelled
    created_at: str
    data: Dict[str, Any]  # to, amount, note


def put_gift(give_id: str, economy: str, sender: str, data: Dict[str, Any]) -> None:
    InteractionModel(give_id, kind="give", economy=economy, user_id=sender, status="pending", data=data,
                     created_at=now_iso(), expires_epoch=int(time.time()) + RETENTION_SECONDS).save()


def find_gift(give_id: str) -> Optional[Gift]:
    """The gift recorded under ``give_id``, or None (also when the record is another kind)."""
    try:
        record = InteractionModel.get(give_id, consistent_read=True)
    except InteractionModel.DoesNotExist:
        return None
    if record.kind != "give":
        return None
    data = record.data.as_dict() if hasattr(record.data, "as_dict") else dict(record.data)
    return Gift(give_id, record.economy, record.user_id, record.status, record.created_at, data)


def gift_done(give_id: str, on_conflict: Exception) -> SideWrite:
    """The gift's move to ``done``, to commit with its coins: a Cancel that won the race stops them."""
    return SideWrite({"Update": {
        "TableName": table_name(TABLE),
        "Key": {KEY: {"S": give_id}},
        "UpdateExpression": "SET #s = :done, updated_at = :t",
        "ConditionExpression": "#s = :pending",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":done": {"S": "done"}, ":pending": {"S": "pending"}, ":t": {"S": now_iso()}},
    }}, on_conflict)


def set_gift_status(give_id: str, status: str) -> bool:
    """Move a pending gift to ``status``; False when it was no longer pending."""
    try:
        InteractionModel(give_id).update(
            actions=[InteractionModel.status.set(status), InteractionModel.updated_at.set(now_iso())],
            condition=InteractionModel.status == "pending",
        )
        return True
    except Exception as exc:
        if not condition_failed(exc):
            raise
        return False
