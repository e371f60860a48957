"""Holds and job escrows: coins reserved in a wallet's ``held`` bucket.

One item per hold, key (economy, hold_id); a job escrow is a hold with
``kind = "escrow"``, a payee (the freelancer) and the fee fixed at creation.
The balances live in the ledger; this item is the hold's state machine
(active -> settled | released | expired, escrows active -> released | refunded),
changed only inside the ledger transaction that moves its coins.

Two sparse-or-not indexes:
* ``by_owner`` (``owner`` = ``<economy>#<payer>``, ``created_at``): a user's holds;
* ``due`` (``due_shard``, ``expires_at``): only *active* holds carry
  ``due_shard`` (``h0``..``h7`` for holds, ``e0``..``e7`` for escrows; sharded
  so no partition takes every write), and resolving a hold removes it, so the
  expiry jobs query what is due and never scan.
"""
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db.base import CoinhallModel


class HoldsByOwner(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_owner"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class HoldsDue(GlobalSecondaryIndex):
    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class HoldModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "holds"

    economy = UnicodeAttribute(hash_key=True)
    hold_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # hold | escrow
    user_id = UnicodeAttribute()  # the payer (the client of an escrow)
    owner = UnicodeAttribute()
    amount = NumberAttribute()
    purpose = UnicodeAttribute()
    ref = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    due_shard = UnicodeAttribute(null=True)  # present only while active
    payee_id = UnicodeAttribute(null=True)  # escrow: the freelancer
    fee_bps = NumberAttribute(null=True)  # escrow: the platform fee, fixed at creation
    op_id = UnicodeAttribute()  # the ledger operation that placed it
    resolved_at = UnicodeAttribute(null=True)
    resolution = UnicodeAttribute(null=True)  # settle | release | expire | escrow-release | escrow-auto | escrow-refund
    resolution_op = UnicodeAttribute(null=True)
    settled_amount = NumberAttribute(null=True)
    returned_amount = NumberAttribute(null=True)
    to_user_id = UnicodeAttribute(null=True)
    creator_amount = NumberAttribute(null=True)
    platform_amount = NumberAttribute(null=True)

    by_owner = HoldsByOwner()
    due = HoldsDue()
