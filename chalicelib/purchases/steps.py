"""What a ledger step of a purchase is: the rules from facts to the next step, and how one is posted.

The facts (``paid`` on the purchase; refunds and disputes on its payment) say
which step comes next (``next_step``) and what the status is
(``desired_status``). A step posts its money through ``ledger.post`` together
with the purchase update that records its progress (``step_update``),
conditioned on the progress it moves from (``STEP_GUARDS``), so two deliveries
never take one step twice: the loser's transaction fails (``Raced``).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from chalicelib import ledger
from chalicelib.core import keys
from chalicelib.core.observability import emit_metrics
from chalicelib.ledger import Operation, Posted, SideWrite, Sized, claims
from chalicelib.purchases.store import Guard, Payment, Purchase, step_write
from chalicelib.tenancy.audit import audit_write

log = logging.getLogger("coinhall.purchases")


class Raced(Exception):
    """Another delivery moved this purchase first; re-read and carry on."""


class KeyTaken(Exception):
    """The retry's Idempotency-Key was claimed by another request while we worked: look at who took it."""


class Refusal(Exception):
    """A step that cannot be taken until an operator fixes something: ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class Retry:
    """An operator's retry of a blocked step: stamped on the purchase and audited with the step's outcome."""

    key_fp: str
    request_fp: str
    key: str  # the namespaced Idempotency-Key (``api:<k>``), claimed in the retry's own transaction
    actor: str
    reason: str
    before: Dict[str, Any]


# A step: (purchase, its payment, an operator's retry or None) -> the purchase after it.
Step = Callable[[Purchase, Optional[Payment], Optional[Retry]], Purchase]


def alert(kind: str, message: str, **fields: Any) -> None:
    """An ``OPERATOR ALERT`` log line (ERROR) and the ``OperatorAlerts`` metric, dimension ``Alert``."""
    log.error("OPERATOR ALERT: %s", message, extra={"alert": kind, **fields})
    emit_metrics({"OperatorAlerts": (1, "Count")}, {"Alert": kind}, properties=fields)


# What each step's purchase update is conditioned on: the progress it moves from.
STEP_GUARDS: Dict[str, Callable[[Purchase], Guard]] = {
    "credit": lambda p: ("attribute_not_exists(#g)", {"#g": "credited_op"}, {}),
    "dispute_hold": lambda p: ("attribute_not_exists(#g)", {"#g": "dispute_phase"}, {}),
    "clawback": lambda p: ("#g = :old", {"#g": "clawed"}, {":old": int(p.clawed or 0)}),
    "dispute_release": lambda p: ("#g = :held", {"#g": "dispute_phase"}, {":held": "held"}),
    "dispute_lost": lambda p: ("attribute_not_exists(#g) OR #g = :held", {"#g": "dispute_phase"},
                               {":held": "held"}),
}
# Removed by every step that commits: the review it may have answered is over.
REVIEW = ("review_reason", "review_step")


def purchase_write(p: Purchase, step: str, set_values: Dict[str, Any], retry: Optional[Retry],
                   remove: tuple = ()) -> SideWrite:
    """The purchase update guarded by ``step``'s progress (a retry's key and request stamped on it)."""
    if retry is not None:
        set_values = {**set_values, "retry_key": retry.key_fp, "retry_fp": retry.request_fp}
    return step_write(p.purchase_id, set_values, STEP_GUARDS[step](p), remove=remove, on_conflict=Raced())


def step_update(p: Purchase, step: str, updates: Dict[str, Any], retry: Optional[Retry],
                remove: tuple = ()) -> SideWrite:
    """The purchase update a step commits with its money: its progress, guarded, review removed."""
    return purchase_write(p, step, updates, retry, remove=remove + REVIEW)


def post_step(p: Purchase, updates: Dict[str, Any], retry: Optional[Retry], step: str,
              sides: Callable[[Posted], List[SideWrite]], **post_args: Any) -> Purchase:
    """Post one step; the purchase with its new progress (as the step's update wrote it).

    ``sides`` builds the step's purchase update; an operator's retry adds its
    audit row and its key's claim to the same transaction. Raises Raced when
    another delivery committed this step first (its values stand, not ours).
    """

    def side_writes(posted: Posted) -> List[SideWrite]:
        writes = list(sides(posted))
        if retry is not None:
            writes.append(SideWrite(audit_write(
                p.economy, retry.actor, "purchase.retry", keys.join("purchase", p.purchase_id), reason=retry.reason,
                before=retry.before, after={"step": step, "transaction_id": posted.op_id})))
            writes.append(SideWrite(claims.claim_write(p.economy, retry.key, retry.request_fp, "purchase-retry",
                                                       {"purchase_id": p.purchase_id}, created=False),
                                    KeyTaken()))
        return writes

    outcome = ledger.post(Operation(**post_args, side_writes=side_writes))
    if outcome.replayed:
        raise Raced()
    # The step's purchase update removed the review.
    return dataclasses.replace(p, **updates, review_reason=None, review_step=None)


def post_sized_step(p: Purchase, retry: Optional[Retry], step: str,
                    updates_for: Callable[[Sized], Dict[str, Any]], **post_args: Any) -> Purchase:
    """Post a step whose amounts depend on the wallet (``post_args`` carry ``size``).

    The purchase's update is built from what the ledger sized, in the same
    attempt and the same transaction, so the purchase records exactly the
    coins that moved. Raises Raced as ``post_step``.
    """
    chosen: Dict[str, Any] = {}

    def sides(posted: Posted) -> List[SideWrite]:
        assert posted.sized is not None
        chosen.clear()
        chosen.update(updates_for(posted.sized))
        return [step_update(p, step, dict(chosen), retry)]

    return post_step(p, chosen, retry, step, sides, **post_args)


# --- the rules: facts -> next step, status ------------------------------------------------


def clawback_target(p: Purchase, payment: Optional[Payment]) -> int:
    """Coins to take back: all for a lost dispute; ceil(coins x refunded / paid) for refunds.

    Rounded up so that a refund of any amount never leaves the player more coins
    than the money they kept paid for. Integer arithmetic, so exact at any size.
    """
    if payment is None:
        return 0
    total = p.total
    if payment.dispute_status == "lost":
        return total
    paid = int(p.amount)
    refunded = min(int(payment.refunded_amount or 0), paid)
    return -(-total * refunded // paid) if refunded > 0 else 0


def next_step(p: Purchase, payment: Optional[Payment]) -> Optional[str]:
    """The ledger step the facts call for next (a key of ``STEP_GUARDS``), or None."""
    if not p.paid:
        return None
    if not p.credited_op:
        if p.review_reason and clawback_target(p, payment) >= p.total:
            return None  # a refused credit, then all the money went back: nothing is owed
        return "credit"
    dispute = payment.dispute_status if payment else None
    if dispute == "open" and p.dispute_phase is None:
        return "dispute_hold"
    if clawback_target(p, payment) > int(p.clawed or 0):
        return "clawback"
    if dispute == "won" and p.dispute_phase == "held":
        return "dispute_release"
    if dispute == "lost" and p.dispute_phase != "lost":
        return "dispute_lost"  # nothing (more) to claw back, e.g. refunded in full first: still a review
    return None


def desired_status(p: Purchase, payment: Optional[Payment]) -> str:
    """The status the facts and progress imply."""
    dispute = payment.dispute_status if payment else None
    refunded = int(payment.refunded_amount or 0) if payment else 0
    if p.review_reason and next_step(p, payment) is not None:
        return "needs_review"
    if p.credited_op:
        if dispute in ("open", "lost"):
            return "disputed"
        if refunded > 0:
            return "refunded"
        return "credited"
    if p.paid and p.review_reason:
        # The credit was refused and then all the money went back: nothing owed, nothing moved.
        return "disputed" if dispute == "lost" else "refunded"
    if p.failed:
        return "failed"
    if p.expired:
        return "expired"
    return "pending"
