"""The audit trail: who did what to whom, with the state before and after."""
from pynamodb.attributes import MapAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class AuditModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "audit"

    economy = UnicodeAttribute(hash_key=True)
    audit_id = UnicodeAttribute(range_key=True)
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)  # the role the actor used (absent: a job, the CLI, Discord before roles)
    before = MapAttribute(null=True)
    after = MapAttribute(null=True)
    created_at = UnicodeAttribute()
