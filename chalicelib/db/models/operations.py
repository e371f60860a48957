"""Operation records: the idempotency key of every money movement.

Written in the same transaction as the balances with ``attribute_not_exists``, so
a key is applied at most once; it keeps the request fingerprint and the response
to replay. Records are kept for good: they double as the transaction headers
that ledger entries point to. GSI ``by_op_id`` (keys only) finds an operation's
record from the id its entries and answers name (``transaction_id``): an
operator's reversal starts from there. A reversed record keeps ``reversed`` (coins
reversed so far) and ``reversed_by`` (the reversing ids), its only later change.
"""
from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.db.base import CoinhallModel


class OperationsById(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_op_id"
        projection = KeysOnlyProjection()

    op_id = UnicodeAttribute(hash_key=True)


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
    reversed = NumberAttribute(null=True)
    by_op_id = OperationsById()
