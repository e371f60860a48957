"""Daily digests: one summary per (economy, UTC day), written once.

``figures`` holds the day's coin flows (bought, spent, granted, fees, ...),
``top_earners`` the leaders; ``posted`` becomes true once the digest was
queued for ``#coin-transactions``, so a run that died in between posts it next
time (the queue consumer dedupes the post itself).
"""
from pynamodb.attributes import BooleanAttribute, ListAttribute, MapAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class DigestModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "digests"

    economy = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)  # YYYY-MM-DD (UTC)
    figures = MapAttribute()
    top_earners = ListAttribute(null=True)
    posted = BooleanAttribute(null=True)
    created_at = UnicodeAttribute()
