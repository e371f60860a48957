"""An order's row in the ``holds`` table: its pending transfer's record (``kind = "order"``, id ``ord_...``).

Orders keep the row plain holds and escrows keep, so a payer's holds listing
and ``GET /v1/holds/{id}`` show them as they always did, and the expiry jobs
find them in the same sparse ``due`` index (shards ``o*`` for API orders,
``v*`` for vouchers). The money is ``ledger.pending``'s; this row only
records it, written in the same transactions.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Dict, Mapping, Optional

from chalicelib.core import errors
from chalicelib.db import codec, ops
from chalicelib.db.engine import table_name
from chalicelib.ledger import SideWrite

TABLE = "holds"
DUE_SHARDS = 8  # the holds table's due shards per prefix


def find_order_hold(economy: str, order_id: str) -> Optional[Dict[str, Any]]:
    return ops.get(TABLE, {"economy": economy, "hold_id": order_id})


def order_hold_record(economy: str, order_id: str, buyer_id: str, amount: int, sku: str, created_at: str,
                      expires_at: str, op_id: str, due_prefix: str) -> Dict[str, Any]:
    """The row of a new order's hold, in the shape every hold row has."""
    return {
        "economy": economy, "hold_id": order_id, "kind": "order", "user_id": buyer_id,
        "owner": f"{economy}#{buyer_id}", "amount": amount, "purpose": f"order {sku}", "ref": order_id,
        "status": "active", "created_at": created_at, "expires_at": expires_at,
        "due_shard": f"{due_prefix}{random.randrange(DUE_SHARDS)}", "op_id": op_id,
    }


def order_hold_put(record: Mapping[str, Any]) -> SideWrite:
    """Write the row (ConflictError if its id is taken)."""
    return SideWrite({"Put": {"TableName": table_name(TABLE), "Item": codec.encode_item(dict(record)),
                              "ConditionExpression": "attribute_not_exists(hold_id)"}},
                     errors.ConflictError("The hold id is taken; retry."))


def order_hold_resolve(economy: str, order_id: str, fields: Mapping[str, Any],
                       conflict: Callable[[Optional[Dict[str, Any]]], errors.CoinhallError]) -> SideWrite:
    """Set ``fields`` (None ones left out) on the still active row; it leaves the due index.

    ``conflict(old row)`` when it is not active any more.
    """
    expression, names, values = ops.update_expression({k: v for k, v in fields.items() if v is not None},
                                                      remove=["due_shard"])
    return SideWrite({"Update": {
        "TableName": table_name(TABLE), "Key": {"economy": {"S": economy}, "hold_id": {"S": order_id}},
        "UpdateExpression": expression, "ConditionExpression": "#st = :active",
        "ExpressionAttributeNames": {**names, "#st": "status"},
        "ExpressionAttributeValues": {**values, ":active": {"S": "active"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}, conflict)
