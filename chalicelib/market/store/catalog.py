"""The ``rewards`` table: the shop's catalog items, and the stock writes orders commit with their money.

(The table keeps its old name; in the market the thing it holds is a *catalog
item*, so that "reward" means only a payout.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional

from chalicelib.core import errors
from chalicelib.db import ops
from chalicelib.db.engine import table_name
from chalicelib.ledger import SideWrite

TABLE = "rewards"
_OPTIONAL = ("payload", "daily_limit", "expires_at")


@dataclass(frozen=True)
class CatalogItem:
    """One SKU of an economy's shop, as stored."""

    economy: str
    sku: str
    name: str
    category: str
    price: int
    fulfilment: str
    unlimited: bool
    stock_left: int
    visible: bool
    version: int
    created_at: str
    updated_at: str
    sold: int = 0
    payload: Dict[str, Any] = field(default_factory=dict)
    daily_limit: Optional[int] = None
    expires_at: Optional[str] = None
    deleted_at: Optional[str] = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "CatalogItem":
        return cls(
            economy=item["economy"], sku=item["sku"], name=item["name"], category=item["category"],
            price=int(item["price"]), fulfilment=item["fulfilment"], unlimited=bool(item["unlimited"]),
            stock_left=int(item["stock_left"]), visible=bool(item["visible"]), version=int(item["version"]),
            created_at=item["created_at"], updated_at=item["updated_at"], sold=int(item.get("sold", 0)),
            payload=item.get("payload") or {},
            daily_limit=int(item["daily_limit"]) if item.get("daily_limit") is not None else None,
            expires_at=item.get("expires_at"), deleted_at=item.get("deleted_at"),
        )

    def on_sale(self, now: str) -> bool:
        """Visible, not deleted and not past its expiry."""
        return self.visible and self.deleted_at is None and (self.expires_at is None or self.expires_at > now)


def find_item(economy: str, sku: str) -> Optional[CatalogItem]:
    """The stored item (consistent read), deleted or not; None when it never existed."""
    item = ops.get(TABLE, {"economy": economy, "sku": sku})
    return CatalogItem.from_item(item) if item else None


def items_of(economy: str) -> Iterator[CatalogItem]:
    """Every item of the economy's catalog (small: a query, not a scan)."""
    for item in ops.query_all(TABLE, KeyConditionExpression="economy = :e",
                              ExpressionAttributeValues={":e": {"S": economy}}):
        yield CatalogItem.from_item(item)


def _key(economy: str, sku: str) -> Dict[str, Any]:
    return {"economy": {"S": economy}, "sku": {"S": sku}}


def _seen(seen_version: Optional[int]) -> Dict[str, Any]:
    """The condition that nobody wrote the item since ``seen_version`` (None: it must not exist)."""
    if seen_version is None:
        return {"ConditionExpression": "attribute_not_exists(sku)"}
    return {"ConditionExpression": "version = :seen", "ExpressionAttributeValues": {":seen": {"N": str(seen_version)}}}


def terms_write(after: CatalogItem, seen_version: Optional[int]) -> Dict[str, Any]:
    """Set ``after``'s terms (and undelete it) if nobody wrote the item since ``seen_version``.

    ``sold`` is counted by orders: an edit keeps it (starts it at 0).
    """
    sets = {"name": after.name, "category": after.category, "price": after.price, "fulfilment": after.fulfilment,
            "unlimited": after.unlimited, "stock_left": after.stock_left, "visible": after.visible,
            "version": after.version, "created_at": after.created_at, "updated_at": after.updated_at}
    optional = {"payload": after.payload or None, "daily_limit": after.daily_limit, "expires_at": after.expires_at}
    sets.update({k: v for k, v in optional.items() if v is not None})
    removes = [k for k in _OPTIONAL if optional[k] is None] + ["deleted_at"]
    expression, names, values = ops.update_expression(sets, remove=removes, if_not_exists={"sold": 0})
    seen = _seen(seen_version)
    return {"Update": {"TableName": table_name(TABLE), "Key": _key(after.economy, after.sku),
                       "UpdateExpression": expression, "ConditionExpression": seen["ConditionExpression"],
                       "ExpressionAttributeNames": names,
                       "ExpressionAttributeValues": {**values, **seen.get("ExpressionAttributeValues", {})}}}


def delete_write(economy: str, sku: str, at: str, version: int, seen_version: int) -> Dict[str, Any]:
    """Mark the item deleted at ``at`` (it stays, so a late refund can return its units)."""
    expression, names, values = ops.update_expression({"deleted_at": at, "updated_at": at, "version": version})
    return {"Update": {"TableName": table_name(TABLE), "Key": _key(economy, sku), "UpdateExpression": expression,
                       "ConditionExpression": "version = :seen", "ExpressionAttributeNames": names,
                       "ExpressionAttributeValues": {**values, ":seen": {"N": str(seen_version)}}}}


def write_with(writes: List[Dict[str, Any]]) -> bool:
    """Commit an edit and its audit row together; False when a condition failed (someone wrote first)."""
    return ops.transact(writes)


def stock_reserve(economy: str, sku: str, qty: int, price: int, now: str) -> SideWrite:
    """Take ``qty`` units at ``price`` if the SKU is on sale at that price and has them.

    Refused with RewardUnavailableError, PriceChangedError or OutOfStockError,
    decided from the item as it was.
    """
    update = {"Update": {
        "TableName": table_name(TABLE), "Key": _key(economy, sku),
        "UpdateExpression": "ADD stock_left :neg, sold :q",
        "ConditionExpression": (
            "attribute_exists(sku) AND visible = :t AND attribute_not_exists(deleted_at) AND price = :p "
            "AND (attribute_not_exists(expires_at) OR expires_at > :now) AND (unlimited = :t OR stock_left >= :q)"
        ),
        "ExpressionAttributeValues": {":neg": {"N": str(-qty)}, ":q": {"N": str(qty)}, ":t": {"BOOL": True},
                                      ":p": {"N": str(price)}, ":now": {"S": now}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}

    def explain(old: Optional[Dict[str, Any]]) -> errors.CoinhallError:
        item = CatalogItem.from_item(old) if old else None
        if item is None or not item.on_sale(now):
            return errors.RewardUnavailableError(sku=sku)
        if item.price != price:
            return errors.PriceChangedError(sku=sku, price=item.price, expected_price=price)
        left = max(0, item.stock_left)
        return errors.OutOfStockError(sku=sku, available=left, units_left=left, requested=qty)

    return SideWrite(update, explain)


def price_refusal(economy: str, sku: str, price: int, expected_price: int) -> SideWrite:
    """A check no item passes: PriceChangedError (``price`` now, not what the buyer confirmed), decided inside the
    order's transaction so that a retry of an order already placed replays it instead."""
    check = {"ConditionCheck": {
        "TableName": table_name(TABLE), "Key": _key(economy, sku),
        "ConditionExpression": "attribute_not_exists(sku) AND attribute_exists(sku)",
    }}
    return SideWrite(check, lambda old: errors.PriceChangedError(sku=sku, price=price, expected_price=expected_price))


def stock_release(economy: str, sku: str, qty: int) -> SideWrite:
    """Give ``qty`` units back (a refund). The item is never removed, so this always applies."""
    return SideWrite({"Update": {
        "TableName": table_name(TABLE), "Key": _key(economy, sku),
        "UpdateExpression": "ADD stock_left :q, sold :neg",
        "ConditionExpression": "attribute_exists(sku)",
        "ExpressionAttributeValues": {":q": {"N": str(qty)}, ":neg": {"N": str(-qty)}},
    }})
