"""API keys: stored only as a hash, bound to one economy, with scopes and/or an operator role."""
from pynamodb.attributes import UnicodeAttribute, UnicodeSetAttribute

from chalicelib.db.base import CoinhallModel


class ApiKeyModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "api_keys"

    key_id = UnicodeAttribute(hash_key=True)
    key_hash = UnicodeAttribute()
    economy = UnicodeAttribute()
    scopes = UnicodeSetAttribute(null=True)  # absent on a role-only operator key (no empty sets)
    role = UnicodeAttribute(null=True)
    label = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    revoked_at = UnicodeAttribute(null=True)
