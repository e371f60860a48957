"""Posting to Discord once per dedupe id, through a redelivering queue and dying workers.

SQS delivers a message at least once, and a worker can die anywhere. The claim is
a lease (``db.ops.claim_leased``): a second delivery while the first is at work
is told to come back later (``BUSY`` -> the queue retries it), one after the first
died holding the claim takes it again once the lease lapses (before, that line was
lost for good), one after the post is done does nothing. The one window left, a
worker dying after Discord made the message and before the claim was marked
done, is closed at Discord's side: a channel message carries a nonce made from
the dedupe id with ``enforce_nonce``, so Discord answers the message it already
made instead of a second one.
"""
from __future__ import annotations

import base64
import hashlib
from typing import Any, Callable, Dict

from chalicelib.discord.store import BUSY, DONE
from chalicelib.runtime.queue import MessageFailedError


def nonce(dedupe_id: str) -> Dict[str, Any]:
    """The fields that make Discord create a channel message at most once (a nonce is 25 characters at most)."""
    digest = base64.b32encode(hashlib.sha256(dedupe_id.encode()).digest()).decode().lower()
    return {"nonce": digest[:25], "enforce_nonce": True}


def post_once(state: str, post: Callable[[], Any], finish: Callable[[], None], give_back: Callable[[], None]) -> bool:
    """Run ``post`` under the claim ``state`` says was taken; True when it ran.

    ``DONE``: said already, nothing to do. ``BUSY``: raises MessageFailedError (the
    queue delivers it again later). A failing ``post`` gives the claim back and raises.
    """
    if state == DONE:
        return False
    if state == BUSY:
        raise MessageFailedError("another delivery of this message holds its post")
    try:
        post()
    except Exception:  # a worker that dies runs no handler: its lease lapses instead
        give_back()
        raise
    finish()
    return True
