"""What the market publishes: one queued message per event, after its transaction committed.

The money path only enqueues (``publish``) and swallows a queue failure: a
lost line must never turn a sale into an error. The topics and their payloads
(the consumers live in the Discord adapter, ``chalicelib/discord/notices.py``):

* ``market.log``    ``{economy, event, data, guild_id}``: every order and listing event
  (``order.placed``, ``order.fulfilled``, ``order.refunded``, ``order.cancelled``,
  ``listing.created``, ``listing.repriced``, ``listing.cancelled``, ``listing.expired``), ``data`` the
  public view without ``balance``;
* ``market.notify`` ``{economy, event, order_id}``: an order's outcome, for its buyer;
* ``market.shop``   ``{economy, guild_id, listing}``: a new listing, for a ``#shop`` card.

``claim``/``said``/``unclaim`` are the consumers' claim-once dedupe (a leased
conditional put kept a week in ``market_counters``): SQS delivers at least once,
a notice is said once, and a worker dying holding the claim does not lose it.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from chalicelib.core import keys
from chalicelib.core.ids import utc_now
from chalicelib.market.store import counters
from chalicelib.runtime import queue

log = logging.getLogger("coinhall.market.events")

LOG_TOPIC = "market.log"
NOTIFY_TOPIC = "market.notify"
SHOP_TOPIC = "market.shop"
_OUTCOMES = ("order.fulfilled", "order.refunded", "order.cancelled")


def publish(economy: str, event: str, data: Dict[str, Any], dedupe: str, guild_id: Optional[str] = None) -> None:
    """Queue the event's line (and, for an order's outcome, the buyer's notice). Never raises."""
    data = {k: v for k, v in data.items() if k != "balance"}
    try:
        queue.enqueue(LOG_TOPIC, {"economy": economy, "event": event, "data": data, "guild_id": guild_id},
                      dedupe_id=keys.join("market", event, dedupe))
        if event in _OUTCOMES:
            queue.enqueue(NOTIFY_TOPIC, {"economy": economy, "event": event, "order_id": data["order_id"]},
                          dedupe_id=keys.join("notice", data["order_id"]))
        if event == "listing.created":
            queue.enqueue(SHOP_TOPIC, {"economy": economy, "guild_id": guild_id, "listing": data},
                          dedupe_id=keys.join("shop", data["listing_id"]))
    except Exception:  # the coins moved; the line is the lesser loss
        log.exception("could not queue market event %s", event)


def claim(dedupe_id: str) -> str:
    """Take the right to say something once (kept a week), under a lease: ``TAKEN``, ``DONE`` or ``BUSY``."""
    return counters.claim_notice(dedupe_id, utc_now().timestamp())


def said(dedupe_id: str) -> None:
    """It was said: the claim never lapses now."""
    counters.finish_notice(dedupe_id)


def unclaim(dedupe_id: str) -> None:
    """Give the right back after a failed attempt, so the queue's retry can say it."""
    counters.release_notice(dedupe_id)
