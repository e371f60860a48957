"""The ``vouchers`` table: a voucher's code hash, opened with its order and closed with its resolution."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

from chalicelib.core import errors
from chalicelib.db import codec, ops
from chalicelib.db.engine import table_name
from chalicelib.ledger import SideWrite

TABLE = "vouchers"


@dataclass(frozen=True)
class Voucher:
    code_hash: str
    economy: str
    order_id: str
    status: str  # pending | redeemed | void
    created_at: str
    closed_at: Optional[str] = None
    redeemed_by: Optional[str] = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "Voucher":
        return cls(code_hash=item["code_hash"], economy=item["economy"], order_id=item["order_id"],
                   status=item["status"], created_at=item["created_at"], closed_at=item.get("closed_at"),
                   redeemed_by=item.get("redeemed_by"))


def find_voucher(hashed: str) -> Optional[Voucher]:
    item = ops.get(TABLE, {"code_hash": hashed})
    return Voucher.from_item(item) if item else None


def voucher_put(economy: str, order_id: str, hashed: str, now: str) -> SideWrite:
    """Open the voucher with its order (ConflictError if the hash is taken)."""
    item = {"code_hash": hashed, "economy": economy, "order_id": order_id, "status": "pending", "created_at": now}
    return SideWrite({"Put": {"TableName": table_name(TABLE), "Item": codec.encode_item(item),
                              "ConditionExpression": "attribute_not_exists(code_hash)"}},
                     errors.ConflictError("The voucher code is taken; retry."))


def voucher_close(hashed: str, status: str, at: str, player_id: Optional[str] = None) -> SideWrite:
    """Mark the voucher ``redeemed`` (by ``player_id``) or ``void``; written with the order's resolution."""
    changes = {"status": status, "closed_at": at}
    if player_id is not None:
        changes["redeemed_by"] = player_id
    expression, names, values = ops.update_expression(changes)
    return SideWrite({"Update": {"TableName": table_name(TABLE), "Key": {"code_hash": {"S": hashed}},
                                 "UpdateExpression": expression, "ConditionExpression": "attribute_exists(code_hash)",
                                 "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}})
