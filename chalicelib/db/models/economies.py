"""Economies (tenants) and their coin packs."""
from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class EconomyModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "economies"

    economy_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    tunables = MapAttribute(null=True)
    discord_guild_id = UnicodeAttribute(null=True)  # the guild that uses this economy, if any


class PackModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "packs"

    economy = UnicodeAttribute(hash_key=True)
    pack_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    coins = NumberAttribute()
    bonus_coins = NumberAttribute(default=0)
    price_amount = NumberAttribute()
    currency = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    sort_order = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)
