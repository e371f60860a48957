"""Accounts: user wallets and the shards of system accounts.

Only ``chalicelib.ledger`` writes this table. A user wallet is one item with its
three buckets, a ``version`` for optimistic concurrency and ``seq``, the number of
its last ledger entry. A system account is N shard items (``sys:treasury#3``)
whose single ``available`` bucket moves by ``ADD`` and may go negative.
"""
from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class AccountModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "accounts"

    economy = UnicodeAttribute(hash_key=True)
    account = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute(default="user")  # user | system
    available = NumberAttribute(default=0)
    held = NumberAttribute(default=0)
    earnings = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    seq = NumberAttribute(default=0)
    frozen = BooleanAttribute(default=False)  # derived: true iff freeze_reasons is non-empty
    freeze_reasons = ListAttribute(of=UnicodeAttribute, null=True)  # ledger/freezes.py; absent when none
    created_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
