"""Operator events: a time window in which grants pay more or the shop sells for less.

One item per (economy, event_id): the kind (``reward_multiplier`` or
``shop_discount``), its ``bps``, optional filters, the window
(``starts_at``/``ends_at``) and, once stopped early, ``stopped_at``. One more
item per economy, ``event_id = "#guard"``, carries only a ``version``: every
event write bumps it in the same transaction, so two operators creating
overlapping events at once cannot both pass the overlap check.

One index, ``by_end`` (``economy``, ``ends_at``), all attributes, sparse: the
guard has no ``ends_at``, so only events are in it. The live read (events that
have not ended: ``ends_at > now``) is a key condition on it instead of a filter
over every event the economy ever had, and the admin listing pages it latest
end first. An index is eventually consistent: the overlap check reads the table
(``tenancy/events.py`` ``_refuse_overlap`` says why).
"""
from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.db.base import CoinhallModel


class EventsByEnd(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_end"
        projection = AllProjection()

    economy = UnicodeAttribute(hash_key=True)
    ends_at = UnicodeAttribute(range_key=True)


class EventModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "events"

    economy = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute(range_key=True)
    version = NumberAttribute(default=1)
    name = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    bps = NumberAttribute(null=True)
    rewards = ListAttribute(null=True)
    skus = ListAttribute(null=True)
    categories = ListAttribute(null=True)
    starts_at = UnicodeAttribute(null=True)
    ends_at = UnicodeAttribute(null=True)
    stopped_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    by_end = EventsByEnd()
