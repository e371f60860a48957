"""The ``orders`` table: the order record (what was bought, and how it ended), its writes and its listing."""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional

from chalicelib.core import errors, keys
from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import SideWrite

TABLE = "orders"
OrderItem = Dict[str, Any]  # a decoded order item; ``orders.order_view`` is its public shape


def _key(economy: str, order_id: str) -> Dict[str, Any]:
    return {"economy": {"S": economy}, "order_id": {"S": order_id}}


def find_order(economy: str, order_id: str) -> Optional[OrderItem]:
    return ops.get(TABLE, {"economy": economy, "order_id": order_id})


def owner(economy: str, buyer_id: str) -> str:
    return f"{economy}#{buyer_id}"


def buyer_page(economy: str, buyer_id: str, status: Optional[str], limit: int, cursor: Optional[str]) -> ops.Page:
    """A buyer's orders, newest first (``by_buyer``), optionally in one ``status``. Raises InvalidCursorError."""
    who = owner(economy, buyer_id)
    kwargs: Dict[str, Any] = {
        "IndexName": "by_buyer", "KeyConditionExpression": "#o = :o", "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":o": {"S": who}}, "ScanIndexForward": False,
        # A status filter can leave pages short: read more per page.
        "Limit": limit if status is None else max(limit, 50),
    }
    if status is not None:
        kwargs["FilterExpression"] = "#s = :s"
        kwargs["ExpressionAttributeNames"]["#s"] = "status"
        kwargs["ExpressionAttributeValues"][":s"] = {"S": status}

    def start(position: Dict[str, str]) -> Mapping[str, Any]:
        return {"economy": economy, "order_id": position["order_id"], "owner": who,
                "created_at": position["created_at"]}

    return ops.query_page(TABLE, scope=keys.join("orders", who, status or "*"), position=("order_id", "created_at"),
                          limit=limit, cursor=cursor, start_key=start, **kwargs)


def economy_page(economy: str, status: Optional[str], limit: int, cursor: Optional[str]) -> ops.Page:
    """Every order of the economy, newest first (its own partition: order ids sort by time), optionally in one
    ``status``. Raises InvalidCursorError."""
    kwargs: Dict[str, Any] = {
        "KeyConditionExpression": "economy = :e", "ExpressionAttributeValues": {":e": {"S": economy}},
        "ScanIndexForward": False, "Limit": limit if status is None else max(limit, 50),
    }
    if status is not None:
        kwargs["FilterExpression"] = "#s = :s"
        kwargs["ExpressionAttributeNames"] = {"#s": "status"}
        kwargs["ExpressionAttributeValues"][":s"] = {"S": status}
    return ops.query_page(TABLE, scope=keys.join("admin-orders", economy, status or "*"), position=("order_id",),
                          limit=limit, cursor=cursor, start_key=lambda at: {"economy": economy, **at}, **kwargs)


def order_put(record: Mapping[str, Any]) -> SideWrite:
    """Write a new order (ConflictError if its id is taken)."""
    return SideWrite({"Put": {"TableName": table_name(TABLE), "Item": codec.encode_item(dict(record)),
                              "ConditionExpression": "attribute_not_exists(order_id)"}},
                     errors.ConflictError("The order id is taken; retry."))


def order_resolve(economy: str, order_id: str, fields: Mapping[str, Any],
                  conflict: Callable[[Any], errors.CoinhallError]) -> SideWrite:
    """Set ``fields`` (None ones left out) on a still pending order; ``conflict`` when it is not."""
    expression, names, values = ops.update_expression({k: v for k, v in fields.items() if v is not None})
    return SideWrite({"Update": {
        "TableName": table_name(TABLE), "Key": _key(economy, order_id), "UpdateExpression": expression,
        "ConditionExpression": "#st = :pending",
        "ExpressionAttributeNames": {**names, "#st": "status"},
        "ExpressionAttributeValues": {**values, ":pending": {"S": "pending"}},
    }}, conflict)


def note_attempt(economy: str, order_id: str, attempt: int, error: Optional[str] = None,
                 unknown: Optional[bool] = None) -> None:
    """Record a delivery try on a pending order; nothing when it was resolved meanwhile."""
    changes: Dict[str, Any] = {"attempts": attempt}
    if error is not None:
        changes["last_error"] = error[:300]
    if unknown is not None:
        changes["delivery_unknown"] = unknown
    expression, names, values = ops.update_expression(changes)
    try:
        get_client().update_item(TableName=table_name(TABLE), Key=_key(economy, order_id),
                                 UpdateExpression=expression, ConditionExpression="#st = :pending",
                                 ExpressionAttributeNames={**names, "#st": "status"},
                                 ExpressionAttributeValues={**values, ":pending": {"S": "pending"}})
    except Exception as exc:  # botocore raises dynamically built classes
        if not ops.condition_failed(exc):
            raise


def flag_late_delivery(economy: str, order_id: str) -> None:
    """Mark an order the game server delivered after it was resolved (for an operator)."""
    expression, names, values = ops.update_expression({"delivered_after_resolution": True})
    get_client().update_item(TableName=table_name(TABLE), Key=_key(economy, order_id), UpdateExpression=expression,
                             ExpressionAttributeNames=names, ExpressionAttributeValues=values)
