"""Entitlements: a user's unlocked content, one item per (user, content item).

Key ``owner`` = ``<economy>#<user_id>`` (economy ids hold no ``#``), range
``content_id``, so a user's unlocks are one query. Written only with
``attribute_not_exists``, inside the unlock's ledger transaction when coins
move, so an entitlement exists exactly when its charge does.
"""
from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


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
