"""The Discord adapter's own table: ``discord_interactions`` (follow-ups and post claims).

* a deferred follow-up: recorded once per interaction id (Discord may deliver an
  interaction twice), its ``status`` ``done`` once the original reply was edited,
  so a redelivered queue message does nothing twice;
* a post claim: the right to post one line to a channel once per dedupe id
  (``db.ops.claim_leased``), given back when the post failed so a retry may post,
  and taken again by a redelivery once its lease lapsed (its worker died holding it).

* a pending gift (``/give``): what to send, until Confirm or Cancel moves its
  ``status`` on; Confirm's move commits with the coins (``gift_done``).

* an operator's history view (``/coins-admin history``): whose statement, shown
  to whom, keyed by the command's interaction id; and one record per page
  past the first holding that page's cursor (a cursor is too long for a
  button's 100-character custom id, so the button carries the page number).

Records expire by TTL after a day (interaction tokens live 15 minutes). Guild
records (channels, hub message ids) are tenancy's: ``tenancy.guilds``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

from chalicelib.core import keys
from chalicelib.core.ids import now_iso, utc_now
from chalicelib.db import ops
from chalicelib.db.ops import BUSY, DONE, TAKEN  # noqa: F401 (a post claim's states, for the adapter)
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import SideWrite

TABLE = "discord_interactions"
KEY = "interaction_id"
RETENTION_SECONDS = 86400


# Raw items through db.ops, one style for the whole table (the claims are raw too);
# ``db/models/discord_interactions.py`` is its schema.


def _record(interaction_id: str, kind: str, economy: str, user_id: str, data: Dict[str, Any]) -> Dict[str, Any]:
    return {KEY: interaction_id, "kind": kind, "economy": economy, "user_id": user_id, "status": "pending",
            "data": data, "created_at": now_iso(), "expires_epoch": int(time.time()) + RETENTION_SECONDS}


def _set_status(interaction_id: str, status: str, condition: str, values: Dict[str, Any]) -> bool:
    """Set ``status`` where ``condition`` holds; False when it did not."""
    client = get_client()
    try:
        client.update_item(
            TableName=table_name(TABLE), Key={KEY: {"S": interaction_id}},
            UpdateExpression="SET #s = :s, updated_at = :t", ConditionExpression=condition,
            ExpressionAttributeNames={"#s": "status", **({"#k": KEY} if "#k" in condition else {})},
            ExpressionAttributeValues={":s": {"S": status}, ":t": {"S": now_iso()}, **values},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def record_followup(interaction_id: str, economy: str, user_id: str, kind: str) -> bool:
    """Remember a pending follow-up; False when this interaction was recorded already (a redelivery)."""
    return ops.put_if_absent(TABLE, _record(interaction_id, "followup", economy, user_id, {"kind": kind}), KEY)


def followup_status(interaction_id: str) -> Optional[str]:
    """``pending``, ``done``, ``expired``; None when there is no record (expired by TTL, or never written)."""
    item = ops.get(TABLE, {KEY: interaction_id})
    return item["status"] if item else None


def mark_followup(interaction_id: str, status: str) -> None:
    """Set a follow-up's status (nothing when its record is gone)."""
    _set_status(interaction_id, status, "attribute_exists(#k)", {})


def claim_post(dedupe_id: str) -> str:
    """Take the right to post the line ``dedupe_id`` once, under a lease: ``TAKEN``, ``DONE`` or ``BUSY``."""
    return ops.claim_leased(TABLE, KEY, dedupe_id, ttl_seconds=RETENTION_SECONDS, now=utc_now().timestamp(),
                            extra={"kind": "log", "economy": "-", "user_id": "-", "status": "done",
                                   "created_at": now_iso()})


def finish_post(dedupe_id: str) -> None:
    """The line is posted: its claim never lapses now."""
    ops.finish_claim(TABLE, KEY, dedupe_id)


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


def put_gift(give_id: str, economy: str, sender: str, data: Dict[str, Any]) -> bool:
    """Record the gift once; False when it was (Discord delivered the /give again).

    A redelivery must not reopen it: a cancelled or sent gift back to pending, or its
    15 minutes started again."""
    return ops.put_if_absent(TABLE, _record(give_id, "give", economy, sender, data), KEY)


def find_gift(give_id: str) -> Optional[Gift]:
    """The gift recorded under ``give_id``, or None (also when the record is another kind)."""
    item = ops.get(TABLE, {KEY: give_id})
    if item is None or item.get("kind") != "give":
        return None
    return Gift(give_id, item["economy"], item["user_id"], item["status"], item["created_at"], dict(item["data"]))


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
    return _set_status(give_id, status, "#s = :pending", {":pending": {"S": "pending"}})


@dataclass(frozen=True)
class HistoryView:
    """A ``/coins-admin history`` view: ``viewer`` reads ``target``'s statement."""

    view_id: str
    economy: str
    viewer: str
    target: str


def put_history(view_id: str, economy: str, viewer: str, target: str) -> None:
    """Record the view once (a redelivered command finds it already there)."""
    ops.put_if_absent(TABLE, _record(view_id, "history", economy, viewer, {"target": target}), KEY)


def find_history(view_id: str) -> Optional[HistoryView]:
    """The view recorded under ``view_id``, or None (expired, never made, or another kind of record)."""
    item = ops.get(TABLE, {KEY: view_id})
    if item is None or item.get("kind") != "history":
        return None
    return HistoryView(view_id, item["economy"], item["user_id"], str(item["data"]["target"]))


def _page_key(view_id: str, page: int) -> str:
    return keys.join("history", view_id, str(page))


def put_page_cursor(view: HistoryView, page: int, cursor: str) -> None:
    """Where page ``page`` starts; the first cursor stored for a page stays (Older and Newer agree)."""
    ops.put_if_absent(TABLE, _record(_page_key(view.view_id, page), "history_page", view.economy, view.viewer,
                                     {"cursor": cursor}), KEY)


def page_cursor(view: HistoryView, page: int) -> Optional[str]:
    """The cursor stored for page ``page`` (> 0) of the view, or None when that page was never reached."""
    item = ops.get(TABLE, {KEY: _page_key(view.view_id, page)})
    if item is None or item.get("kind") != "history_page" or item.get("economy") != view.economy:
        return None
    return str(item["data"]["cursor"])
