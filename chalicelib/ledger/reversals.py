"""What the ledger knows of reversals: an operation read back by its id, and the counter of how much of it was reversed.

An operation's record (``operations`` table, keyed by its idempotency key) keeps
its legs; GSI ``by_op_id`` finds it from the id every entry and answer names.
The record is never rewritten, except for ``reversed`` (coins of it reversed so
far) and ``reversed_by`` (the reversing operation ids), changed only by
``mark``: a side write of the reversing operation itself, conditioned on the
counter as it was read. Two reversals racing on one original therefore cannot
both commit on the same count, so their sum never passes the original.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from chalicelib.core import errors
from chalicelib.db import codec
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger.operation import Outcome, SideWrite

OP_ID = re.compile(r"^op_[0-9A-HJKMNP-TV-Z]{26}$")


@dataclass(frozen=True)
class Recorded:
    """One committed operation as its record keeps it."""

    op_key: str
    op_id: str
    type: str
    created_at: str
    legs: Dict[str, Dict[str, int]]  # account key -> bucket -> signed delta
    reversed: int = 0
    reversed_by: Tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The idempotency key the operation was posted under (without the economy)."""
        return self.op_key.split("#", 1)[1]


def valid_op_id(value: Any) -> bool:
    return isinstance(value, str) and bool(OP_ID.match(value))


def find_operation(economy: str, op_id: str) -> Optional[Recorded]:
    """The operation ``op_id`` of ``economy``, or None (another economy's is not found either)."""
    client = get_client()
    page = client.query(
        TableName=table_name("operations"), IndexName="by_op_id",
        KeyConditionExpression="op_id = :i", ExpressionAttributeValues={":i": {"S": op_id}},
    )
    for found in page.get("Items", []):
        op_key = found["op_key"]["S"]
        if not op_key.startswith(f"{economy}#"):
            continue
        item = client.get_item(TableName=table_name("operations"), Key={"op_key": {"S": op_key}},
                               ConsistentRead=True).get("Item")
        if not item:
            continue
        record = codec.decode_item(item)
        if record.get("alias_of"):
            continue  # the caller's key bound to the operation: the legs live on the operation's own record
        return _recorded(record)
    return None


def _recorded(record: Dict[str, Any]) -> Recorded:
    legs = {account: {b: int(d) for b, d in buckets.items()} for account, buckets in json.loads(record["legs"]).items()}
    return Recorded(record["op_key"], record["op_id"], record["type"], record["created_at"], legs,
                    int(record.get("reversed") or 0), tuple(record.get("reversed_by") or ()))


def mark(original: Recorded, reversed_after: int, reversal_id: str,
         on_conflict: Callable[[Optional[Dict[str, Any]]], BaseException]) -> SideWrite:
    """Raise the original's counter from what was read to ``reversed_after``, in the reversing operation's transaction.

    ``on_conflict`` is given the record as it is now (another reversal committed first).
    """
    seen = {":seen": {"N": str(original.reversed)}} if original.reversed else {}
    condition = "attribute_exists(op_key) AND " + ("reversed = :seen" if original.reversed
                                                   else "attribute_not_exists(reversed)")
    return SideWrite({
        "Update": {
            "TableName": table_name("operations"),
            "Key": {"op_key": {"S": original.op_key}},
            "UpdateExpression": "SET reversed = :after, reversed_by = list_append(if_not_exists(reversed_by, :none), :me)",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {
                ":after": {"N": str(reversed_after)}, ":none": {"L": []}, ":me": {"L": [{"S": reversal_id}]}, **seen,
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }, lambda item: on_conflict(_recorded(item) if item else None))



def answered(economy: str, key: str, request_fingerprint: str) -> Optional[Outcome]:
    """The stored answer of the operation posted under ``key``, or None when none was.

    A reversal reads the original before it posts (to size and authorise it); a
    retried request must get its first answer, not a refusal of what it did itself.
    Raises IdempotencyKeyReusedError when the key answered another request.
    """
    item = get_client().get_item(TableName=table_name("operations"), Key={"op_key": {"S": f"{economy}#{key}"}},
                                 ConsistentRead=True).get("Item")
    if not item:
        return None
    record = codec.decode_item(item)
    if record["fingerprint"] != request_fingerprint:
        raise errors.IdempotencyKeyReusedError(ledger_key=key)
    return Outcome.replay(record)
