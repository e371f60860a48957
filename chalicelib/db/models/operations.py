"""Operation records: the idempotency key of every money movement.

Written in the same transaction as the balances with ``attribute_not_exists``, so
a key is applied at most once; it keeps the request fingerprint and the response
to replay. Records are kept for good: they double as the transaction headers
that ledger entries point to.
"""
from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class OperationModel(CoinhallModel):
    class Meta(CoinhallModel.Meta):
        base_name = "operations"

    op_key = UnicodeAttribute(hash_key=True)
    op_id = UnicodeAttribute()
    economy = UnicodeAttribute()
    type = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    created = BooleanAttribute(null=True)  # the operation made something (the edge answers 201)
    status_code = NumberAttribute(null=True)  # records written before ``created``: 201 meant created
    result = UnicodeAttribute()
    legs = UnicodeAttribute()
    created_at = UnicodeAttribute()
