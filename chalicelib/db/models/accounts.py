"""Accounts: user wallets and the shards of system accounts.

Only ``chalicelib.ledger`` writes this table. A user wallet is one item with its
three buckets, a ``version`` for optimistic concurrency and ``seq``, the number of
its last ledger entry. A system account is N shard items (``sys:treasury#3``)
whose single ``available`` bucket moves by ``ADD`` and may go negative.
"""
from pynamodb.attributes import BooleanAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db.base import CoinhallModel


# Sparse: a wallet is in ``frozen`` only while frozen and in ``owing`` only while it owes, so the admin
# search for either reads those few wallets, never the economy's every wallet. The ledger sets the
# attribute (the economy id) with the flag and removes it with the flag; the index is written only then.
class FrozenWallets(GlobalSecondaryIndex):
    class Meta:
        index_name = "frozen"
        projection = AllProjection()

    frozen_in = UnicodeAttribute(hash_key=True)
    account = UnicodeAttribute(range_key=True)


class OwingWallets(GlobalSecondaryIndex):
    class Meta:
        index_name = "owing"
        projection = AllProjection()

    owing_in = UnicodeAttribute(hash_key=True)
    account = UnicodeAttribute(range_key=True)


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
    frozen_in = UnicodeAttribute(null=True)  # the economy, while frozen (the ``frozen`` index)
    owing_in = UnicodeAttribute(null=True)  # the economy, while debt > 0 (the ``owing`` index)

    frozen_index = FrozenWallets()
    owing_index = OwingWallets()
