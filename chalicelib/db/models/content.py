"""The content catalog: what a user can unlock, its price and whose it is.

One item per (economy, content_id). ``creator_share_bps`` is resolved when the
item is written (the economy's default when the operator gives none), so an
unlock reads one item and nothing else; ``version`` orders concurrent edits.
"""
from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class ContentModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "content"

    economy = UnicodeAttribute(hash_key=True)
    content_id = UnicodeAttribute(range_key=True)
    title = UnicodeAttribute()
    price = NumberAttribute()
    creator_id = UnicodeAttribute()
    creator_share_bps = NumberAttribute()
    version = NumberAttribute(default=1)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
