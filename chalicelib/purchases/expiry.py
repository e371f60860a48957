"""Pending purchases past their checkout's expiry: the ``expire-purchases`` job.

A checkout session lives ``CHECKOUT_EXPIRES_MIN`` minutes. Stripe normally
tells us it expired (``checkout.session.expired``); this job is the backstop
when that event never comes (local payments, a lost webhook). For each pending
purchase whose ``expires_at`` has passed (the sparse ``due`` index):

* not paid: record the fact ``expired`` and the status ``expired`` in one
  conditional update (still pending, never credited, not paid), leaving the index;
* paid (the credit never happened, e.g. a worker died after recording the
  payment): ``purchases.converge`` credits it, through the ledger under
  ``purchase:<id>``, as the webhook would have.

A payment that arrives later still credits (facts only grow: ``paid`` after
``expired`` converges to ``credited``). Overlapping runs race on the
conditional update or on the ledger key; the loser counts ``already``.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from chalicelib.core.ids import now_iso
from chalicelib.purchases import store
from chalicelib.purchases.converge import converge
from chalicelib.runtime.due import run_due_index

log = logging.getLogger("coinhall.purchases.expiry")


def expire_purchase(purchase_id: str, now: str) -> str:
    """Resolve one pending purchase due at ``now``; returns what happened.

    ``expired`` | ``credited`` (it was paid) | ``needs_review`` (it was paid,
    and the credit was refused) | ``already`` (not pending any more, or another
    run got there first) | ``not_due``. Raises ContentionError
    (converge could not settle it; the next run tries again).
    """
    p = store.load(purchase_id)
    if p is None:
        return "already"
    if p.status != "pending" or p.credited_op:
        if p.due_shard is not None:  # left pending without leaving the index: tidy up
            store.leave_due_index(purchase_id)
        return "already"
    if p.expires_at and p.expires_at > now:
        return "not_due"
    if p.paid:
        if converge(purchase_id)["status"] == "needs_review":
            return "needs_review"  # the credit was refused: converge alerted, an operator takes it from here
        log.warning("purchase %s was paid but never credited; credited by the expiry job", purchase_id)
        return "credited"
    if not store.expire_unpaid(purchase_id):
        return "already"  # paid, credited or expired meanwhile: that write stands
    return "expired"


def expire_due_purchases(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``expire-purchases``: mark pending purchases past their expiry ``expired`` (or credit paid ones)."""
    at = now or now_iso()
    return run_due_index(
        ctx, table="purchases", prefix="p", shards=store.DUE_SHARDS, now=at, key="purchase_id", economy=economy,
        handle=lambda item: expire_purchase(item["purchase_id"], at),
    )
