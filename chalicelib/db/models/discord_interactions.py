"""Discord interactions we must remember for a while.

* a ``/give`` waiting for its Confirm click (who, to whom, how much, the note);
* a deferred follow-up: ``status`` becomes ``done`` once the original message
  was edited, so a redelivered queue message does nothing twice;
* an operator's ``/coins-admin history`` view and its pages' cursors.

Interaction tokens live 15 minutes; the records expire by TTL after a day.
"""
from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class InteractionModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "discord_interactions"
        ttl_attribute = "expires_epoch"

    interaction_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # give | followup | log | history | history_page
    economy = UnicodeAttribute()
    user_id = UnicodeAttribute()
    data = MapAttribute(null=True)
    status = UnicodeAttribute()  # pending | done | cancelled
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    expires_epoch = NumberAttribute()
