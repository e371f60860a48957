"""The ``listings`` table: player listings, the unit writes orders commit with their money, the pages.

A listing's units for sale are ``units_left`` here (stored, and shown, as
``available`` too: that word is also a wallet bucket).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from chalicelib.core import cursors, errors
from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import SideWrite

TABLE = "listings"


@dataclass(frozen=True)
class Listing:
    """One listing as stored."""

    economy: str
    listing_id: str
    seller_id: str
    sku: str
    sku_key: str
    state_key: str
    status: str  # active | cancelled | expired (sold_out is derived)
    qty: int
    units_left: int
    sold: int
    unit_price: int
    fee_bps: int
    name: str
    category: str
    fulfilment: str
    created_at: str
    expires_at: str
    fee: Dict[str, Any] = field(default_factory=dict)
    payload: Dict[str, Any] = field(default_factory=dict)
    price_floor: Optional[int] = None
    min_per_buyer: Optional[int] = None
    max_per_buyer: Optional[int] = None
    fingerprint: Optional[str] = None
    closed_at: Optional[str] = None
    guild_id: Optional[str] = None
    due_shard: Optional[str] = None
    repriced_at: Optional[str] = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "Listing":
        def opt_int(name: str) -> Optional[int]:
            return int(item[name]) if item.get(name) is not None else None

        return cls(
            economy=item["economy"], listing_id=item["listing_id"], seller_id=item["seller_id"], sku=item["sku"],
            sku_key=item["sku_key"], state_key=item["state_key"], status=item["status"], qty=int(item["qty"]),
            units_left=int(item["available"]), sold=int(item["sold"]), unit_price=int(item["unit_price"]),
            fee_bps=int(item["fee_bps"]), name=item["name"], category=item["category"],
            fulfilment=item["fulfilment"], created_at=item["created_at"], expires_at=item["expires_at"],
            fee=item.get("fee") or {}, payload=item.get("payload") or {}, price_floor=opt_int("price_floor"),
            min_per_buyer=opt_int("min_per_buyer"), max_per_buyer=opt_int("max_per_buyer"),
            fingerprint=item.get("fingerprint"), closed_at=item.get("closed_at"), guild_id=item.get("guild_id"),
            due_shard=item.get("due_shard"), repriced_at=item.get("repriced_at"),
        )

    def to_item(self) -> Dict[str, Any]:
        item = dataclasses.asdict(self)
        item["available"] = item.pop("units_left")
        return item


def _key(economy: str, listing_id: str) -> Dict[str, Any]:
    return {"economy": {"S": economy}, "listing_id": {"S": listing_id}}


def find_listing(economy: str, listing_id: str) -> Optional[Listing]:
    item = ops.get(TABLE, {"economy": economy, "listing_id": listing_id})
    return Listing.from_item(item) if item else None


def listing_put(listing: Listing) -> Dict[str, Any]:
    """The Put element of a new listing (refused if its id is taken)."""
    return {"Put": {"TableName": table_name(TABLE), "Item": codec.encode_item(listing.to_item()),
                    "ConditionExpression": "attribute_not_exists(listing_id)"}}


def put_listing(listing: Listing) -> None:
    """Write a new listing on its own. Raises the engine's ConditionalCheckFailedException if its id is taken."""
    get_client().put_item(**listing_put(listing)["Put"])


def active_of_sku(sku_key: str, page_size: int = 25, max_pages: int = 4) -> Iterator[Listing]:
    """The SKU's active listings (``by_sku``), a page of ``page_size`` at a time, at most ``max_pages`` pages."""
    items = ops.query_all(TABLE, IndexName="by_sku", Limit=page_size,
                          KeyConditionExpression="sku_key = :k AND begins_with(state_key, :a)",
                          ExpressionAttributeValues={":k": {"S": sku_key}, ":a": {"S": "active#"}})
    for index, item in enumerate(items):
        if index == page_size * max_pages:
            return
        yield Listing.from_item(item)


def page(economy: str, sku_key: Optional[str], stored: Optional[str], keep: Callable[[Listing], bool],
         scope: str, limit: int, cursor: Optional[str]) -> Tuple[List[Listing], Optional[str]]:
    """A page of the SKU's listings (``by_sku``: by state, newest first) or the economy's (newest first).

    ``stored``: the stored status to read (None: all); ``keep`` picks the
    listings to return from those (a derived status such as ``sold_out`` is
    not in the table, so ``db.ops.query_page`` cannot filter it). Raises
    InvalidCursorError.
    """
    if sku_key:
        fields: Tuple[str, ...] = ("listing_id", "state_key")
        condition = "sku_key = :k" + (" AND begins_with(state_key, :st)" if stored else "")
        values: Dict[str, Any] = {":k": {"S": sku_key}}
        if stored:
            values[":st"] = {"S": f"{stored}#"}
        kwargs: Dict[str, Any] = {"TableName": table_name(TABLE), "IndexName": "by_sku",
                                  "KeyConditionExpression": condition, "ExpressionAttributeValues": values,
                                  "ScanIndexForward": False}
    else:
        fields = ("listing_id",)
        kwargs = {"TableName": table_name(TABLE), "KeyConditionExpression": "economy = :e",
                  "ExpressionAttributeValues": {":e": {"S": economy}}, "ScanIndexForward": False}
        if stored:
            kwargs["FilterExpression"] = "#s = :st"
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
            kwargs["ExpressionAttributeValues"][":st"] = {"S": stored}
    if cursor:
        # With a state, the start key must lie inside begins_with(state_key, ...) or DynamoDB refuses the query.
        inside = (lambda p: p["state_key"].startswith(f"{stored}#")) if sku_key and stored else None
        position = cursors.decode(cursor, scope, fields, inside)
        start = {"economy": {"S": economy}, "listing_id": {"S": position["listing_id"]}}
        if sku_key:
            start.update({"sku_key": {"S": sku_key}, "state_key": {"S": position["state_key"]}})
        kwargs["ExclusiveStartKey"] = start
    found: List[Listing] = []
    client = get_client()
    for _ in range(10):  # filters can leave pages empty: bounded, then a cursor
        kwargs["Limit"] = max(limit, 50)
        response = client.query(**kwargs)
        raw_items = response["Items"]
        for index, raw in enumerate(raw_items):
            item = codec.decode_item(raw)
            listing = Listing.from_item(item)
            if keep(listing):
                found.append(listing)
            if len(found) == limit:
                more = index < len(raw_items) - 1 or "LastEvaluatedKey" in response
                return found, (cursors.encode(scope, {f: item[f] for f in fields}) if more else None)
        if "LastEvaluatedKey" not in response:
            return found, None
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    last = kwargs["ExclusiveStartKey"]
    return found, cursors.encode(scope, {f: last[f]["S"] for f in fields})


def _guarded_update(economy: str, listing_id: str, changes: Mapping[str, Any], remove: List[str],
                    condition: str, names: Mapping[str, str], values: Mapping[str, Any]) -> Dict[str, Any]:
    """The Update element of a listing's ``changes`` (and ``remove``), made only while ``condition`` holds.

    ``names``/``values``: the condition's own placeholders (the changes' are ``#uN``/``:uN``).
    """
    expression, change_names, change_values = ops.update_expression(changes, remove=remove)
    return {"Update": {"TableName": table_name(TABLE), "Key": _key(economy, listing_id),
                       "UpdateExpression": expression, "ConditionExpression": condition,
                       "ExpressionAttributeNames": {**change_names, **names},
                       "ExpressionAttributeValues": {**change_values, **values}}}


def _commit_with(economy: str, listing_id: str, update: Dict[str, Any],
                 along: Mapping[str, Any]) -> Optional[Listing]:
    """Commit a listing's guarded ``update`` and ``along`` (an audit row) in one transaction, or neither.

    The listing as it is then; None when the transaction was cancelled (a
    condition failed, or a concurrent write: the caller reads again).
    """
    if not ops.transact([update, along]):
        return None
    return find_listing(economy, listing_id)


_ACTIVE = ("#st = :active", {"#st": "status"}, {":active": {"S": "active"}})


def close(economy: str, listing: Listing, status: str, now: str,
          along: Optional[Callable[[], Mapping[str, Any]]] = None) -> Optional[Listing]:
    """Move an active listing to ``status`` (it leaves the due index); None when it was no longer active.

    ``along()``: one more TransactWriteItems element (an audit row) committed with the change, or not at all.
    """
    condition, names, values = _ACTIVE
    update = _guarded_update(
        economy, listing.listing_id, {"status": status, "state_key": f"{status}#{listing.created_at}",
                                      "closed_at": now}, ["due_shard"], condition, names, values)
    if along is not None:
        return _commit_with(economy, listing.listing_id, update, along())
    try:
        response = get_client().update_item(**update["Update"], ReturnValues="ALL_NEW")
    except Exception as exc:  # botocore raises dynamically built classes
        if ops.condition_failed(exc):
            return None
        raise
    return Listing.from_item(codec.decode_item(response["Attributes"]))


def reprice(economy: str, listing: Listing, unit_price: int, fee_bps: int, fee: Mapping[str, Any],
            price_floor: Optional[int], now: str, along: Mapping[str, Any]) -> Optional[Listing]:
    """Give an active listing new price terms, only while it is active, unexpired and at the price it was read with.

    ``along``: one more TransactWriteItems element (the audit row) committed with it. None when the
    listing was closed or repriced meanwhile (the caller reads again).
    """
    changes: Dict[str, Any] = {"unit_price": unit_price, "fee_bps": fee_bps, "fee": dict(fee), "repriced_at": now}
    remove = []
    if price_floor is None:
        remove.append("price_floor")
    else:
        changes["price_floor"] = price_floor
    active, names, values = _ACTIVE
    update = _guarded_update(
        economy, listing.listing_id, changes, remove, f"{active} AND #up = :was AND expires_at > :now",
        {**names, "#up": "unit_price"},
        {**values, ":was": {"N": str(listing.unit_price)}, ":now": {"S": now}})
    return _commit_with(economy, listing.listing_id, update, along)


def listing_reserve(economy: str, listing_id: str, qty: int, now: str, exact: bool, unit_price: int,
                    refuse: Callable[[Optional[Listing]], errors.CoinhallError]) -> SideWrite:
    """Take ``qty`` units while the listing is active and unexpired, has them (``exact``: exactly that many),
    and still asks ``unit_price`` (the price the order is placed at: an operator may have repriced it).

    ``refuse`` makes the error from the listing as it was (None if it is gone).
    """
    update = {"Update": {
        "TableName": table_name(TABLE), "Key": _key(economy, listing_id),
        "UpdateExpression": "ADD available :neg, sold :q",
        "ConditionExpression": "#s = :active AND expires_at > :now AND unit_price = :price AND " + (
            "available = :q" if exact else "available >= :q"),
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":neg": {"N": str(-qty)}, ":q": {"N": str(qty)}, ":now": {"S": now},
                                      ":active": {"S": "active"}, ":price": {"N": str(unit_price)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}
    return SideWrite(update, lambda old: refuse(Listing.from_item(old) if old else None))


def listing_release(economy: str, listing_id: str, qty: int) -> SideWrite:
    """Put ``qty`` units back on the listing (a refund), whatever its state."""
    return SideWrite({"Update": {
        "TableName": table_name(TABLE), "Key": _key(economy, listing_id),
        "UpdateExpression": "ADD available :q, sold :neg",
        "ConditionExpression": "attribute_exists(listing_id)",
        "ExpressionAttributeValues": {":q": {"N": str(qty)}, ":neg": {"N": str(-qty)}},
    }})
