"""Entitlements: a user's unlocked content, one item per (user, content item).

Key ``owner`` = ``<economy>#<user_id>`` (economy ids hold no ``#``), range
``content_id``, so a user's unlocks are one query. Written only with
``attribute_not_exists``, inside the unlock's ledger transaction when coins
move, so an entitlement exists exactly when its charge does.
"""
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db.base import CoinhallModel


class EntitlementsByTime(GlobalSecondaryIndex):
    """A user's unlocks newest first, for the admin activity timeline (the table's range is the content id).
    Cheap: an entitlement is written once and never changes."""

    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    owner = UnicodeAttribute(hash_key=True)
    unlocked_at = UnicodeAttribute(range_key=True)


class EntitlementModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "entitlements"

    owner = UnicodeAttribute(hash_key=True)
    content_id = UnicodeAttribute(range_key=True)
    economy = UnicodeAttribute()
    user_id = UnicodeAttribute()
    price = NumberAttribute()
    creator_id = UnicodeAttribute()
    creator_amount = NumberAttribute(default=0)
    platform_amount = NumberAttribute(default=0)
    transaction_id = UnicodeAttribute(null=True)
    basis = UnicodeAttribute()  # paid | free | creator
    unlocked_at = UnicodeAttribute()

    by_time = EntitlementsByTime()
