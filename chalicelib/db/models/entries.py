"""Ledger entries: one immutable row per account touched by an operation.

Key: ``account_key`` = ``<economy>#<account>``; ``sk`` is the zero-padded ``seq``
for a user wallet (a gap-free statement) and the operation id for a system shard
(no seq: shards take concurrent ``ADD``s). Deltas are stored per bucket; the
``*_after`` values exist for user wallets only.
"""
from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class EntryModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "entries"

    account_key = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    economy = UnicodeAttribute()
    account = UnicodeAttribute()
    op_id = UnicodeAttribute()
    type = UnicodeAttribute()
    d_available = NumberAttribute(default=0)
    d_held = NumberAttribute(default=0)
    d_earnings = NumberAttribute(default=0)
    seq = NumberAttribute(null=True)
    available_after = NumberAttribute(null=True)
    held_after = NumberAttribute(null=True)
    earnings_after = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    ref = UnicodeAttribute(null=True)
    meta = MapAttribute(null=True)
    legs = UnicodeAttribute(null=True)  # system entries: the operation's legs (JSON)
    created_at = UnicodeAttribute()
