"""The rewards catalog: what the shop sells for coins, per economy.

A SKU has a name, a category (``money``, ``rank``, ``cosmetic``, ``voucher``),
a price in coins, how it is delivered (``api``: we call the game server;
``voucher``: the buyer gets a code to redeem in game), a payload the game
server acts on, and optional limits: units per player per UTC day, stock, an
expiry. Operators write it (``PUT``/``DELETE /v1/admin/rewards/{sku}``), each
write audited in the same transaction; players read the visible part.

Stock is counted on the item by every order's own transaction (``stock_left``
down, ``sold`` up, conditioned so the last unit sells once) and given back by
a refund's. A delete only hides the SKU (``deleted_at``): the item stays, so a
late refund can still return its units; a later PUT brings it back.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.tenancy.audit import audit_write
from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import now_iso
from chalicelib.ledger import Outcome, SideWrite
from chalicelib.db import codec

CATEGORIES = ("money", "rank", "cosmetic", "voucher")
FULFILMENTS = ("api", "voucher")
_SKU = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_ADMIN_FIELDS = ("name", "category", "price", "fulfilment", "payload", "daily_limit", "stock", "visible", "expires_at")


def valid_sku(sku: Any) -> bool:
    return isinstance(sku, str) and bool(_SKU.match(sku))


def reward_view(item: Dict[str, Any], admin: bool = False) -> Dict[str, Any]:
    view = {
        "sku": item["sku"],
        "name": item["name"],
        "category": item["category"],
        "price": int(item["price"]),
        "fulfilment": item["fulfilment"],
        "payload": item.get("payload") or {},
        "daily_limit": item.get("daily_limit"),
        "stock": None if item["unlimited"] else max(0, int(item["stock_left"])),
        "sold": int(item.get("sold", 0)),
        "visible": bool(item["visible"]),
        "expires_at": item.get("expires_at"),
        "updated_at": item["updated_at"],
    }
    if admin:
        view.update({"deleted": item.get("deleted_at") is not None, "deleted_at": item.get("deleted_at"),
                     "version": int(item["version"]), "created_at": item["created_at"]})
    return view


def _admin_state(item: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if item is None:
        return None
    view = reward_view(item, admin=True)
    return {k: view[k] for k in (*_ADMIN_FIELDS, "deleted")}


def find_reward(economy: str, sku: str) -> Optional[Dict[str, Any]]:
    """The raw catalog item (consistent read), deleted or not; None when it never existed."""
    response = get_client().get_item(TableName=table_name("rewards"),
                                     Key={"economy": {"S": economy}, "sku": {"S": sku}}, ConsistentRead=True)
    item = response.get("Item")
    return codec.decode_item(item) if item else None


def on_sale(item: Optional[Dict[str, Any]], now: str) -> bool:
    """Visible, not deleted and not past its expiry."""
    return bool(item and item["visible"] and item.get("deleted_at") is None
                and (item.get("expires_at") is None or item["expires_at"] > now))


def get_reward(economy: str, sku: str, *, admin: bool = False) -> Dict[str, Any]:
    """A SKU: any state for operators, only what is on sale for players. Raises RewardNotFoundError."""
    item = find_reward(economy, sku)
    if item is None or (not admin and not on_sale(item, now_iso())):
        raise errors.RewardNotFoundError(sku=sku)
    return reward_view(item, admin=admin)


def list_rewards(economy: str, category: Optional[str] = None) -> List[Dict[str, Any]]:
    """What is on sale, by SKU. One economy's catalog is small: read it whole (a query, not a scan)."""
    kwargs: Dict[str, Any] = {"TableName": table_name("rewards"), "KeyConditionExpression": "economy = :e",
                              "ExpressionAttributeValues": {":e": {"S": economy}}}
    now = now_iso()
    items: List[Dict[str, Any]] = []
    client = get_client()
    while True:
        page = client.query(**kwargs)
        for raw in page["Items"]:
            item = codec.decode_item(raw)
            if on_sale(item, now) and (category is None or item["category"] == category):
                items.append(reward_view(item))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def put_reward(economy: str, sku: str, fields: Mapping[str, Any], actor: str) -> Tuple[Dict[str, Any], bool]:
    """Create or replace a SKU's terms (and undelete it), audited in the same transaction.

    ``fields``: name, category, price, fulfilment, payload, daily_limit, stock
    (None: unlimited; a number sets the units left now), visible, expires_at.
    Units sold so far are kept. Returns (admin view, created). Raises
    ContentionError when concurrent edits keep winning.
    """
    client = get_client()
    for _ in range(20):
        before = find_reward(economy, sku)
        now = now_iso()
        stock = fields.get("stock")
        after = {
            "economy": economy, "sku": sku, "name": fields["name"], "category": fields["category"],
            "price": fields["price"], "fulfilment": fields["fulfilment"], "payload": fields.get("payload"),
            "daily_limit": fields.get("daily_limit"), "unlimited": stock is None,
            "stock_left": 0 if stock is None else stock, "sold": (before or {}).get("sold", 0),
            "visible": fields.get("visible", True), "expires_at": fields.get("expires_at"),
            "version": (before or {}).get("version", 0) + 1,
            "created_at": (before or {}).get("created_at", now), "updated_at": now,
        }
        sets = {k: v for k, v in after.items() if k not in ("economy", "sku", "sold") and v is not None}
        removes = [k for k in ("payload", "daily_limit", "expires_at") if after[k] is None] + ["deleted_at"]
        names = {f"#f{i}": k for i, k in enumerate(sets)}
        values = {f":f{i}": codec.encode(v) for i, v in enumerate(sets.values())}
        if before is None:
            condition = "attribute_not_exists(sku)"
        else:
            condition = "version = :seen"
            values[":seen"] = {"N": str(before["version"])}
        # ``sold`` is counted by orders; an edit must not reset it.
        update = {"Update": {
            "TableName": table_name("rewards"),
            "Key": {"economy": {"S": economy}, "sku": {"S": sku}},
            "UpdateExpression": "SET " + ", ".join(f"{n} = :f{i}" for i, n in enumerate(names))
                                + ", sold = if_not_exists(sold, :zero) REMOVE " + ", ".join(removes),
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {**values, ":zero": {"N": "0"}},
        }}
        row = audit_write(economy, actor, "reward.put", keys.tag("reward", sku), before=_admin_state(before),
                          after=_admin_state(after))
        try:
            client.transact_write_items(TransactItems=[update, row])
        except client.exceptions.TransactionCanceledException:
            continue
        return reward_view(after, admin=True), before is None
    raise errors.ContentionError(sku=sku)


def delete_reward(economy: str, sku: str, actor: str) -> Dict[str, Any]:
    """Take a SKU off sale for good (hidden from players, refused to buyers), audited.

    Pending orders still complete. Raises RewardNotFoundError (missing or
    already deleted), ContentionError.
    """
    client = get_client()
    for _ in range(20):
        before = find_reward(economy, sku)
        if before is None or before.get("deleted_at") is not None:
            raise errors.RewardNotFoundError(sku=sku)
        now = now_iso()
        after = {**before, "deleted_at": now, "updated_at": now, "version": before["version"] + 1}
        update = {"Update": {
            "TableName": table_name("rewards"),
            "Key": {"economy": {"S": economy}, "sku": {"S": sku}},
            "UpdateExpression": "SET deleted_at = :t, updated_at = :t, version = :v",
            "ConditionExpression": "version = :seen",
            "ExpressionAttributeValues": {":t": {"S": now}, ":v": {"N": str(after["version"])},
                                          ":seen": {"N": str(before["version"])}},
        }}
        row = audit_write(economy, actor, "reward.delete", keys.tag("reward", sku), before=_admin_state(before),
                          after=_admin_state(after))
        try:
            client.transact_write_items(TransactItems=[update, row])
        except client.exceptions.TransactionCanceledException:
            continue
        return reward_view(after, admin=True)
    raise errors.ContentionError(sku=sku)


# -- the order's writes on the catalog item -------------------------------------------


def reserve_write(economy: str, sku: str, qty: int, price: int, now: str) -> Dict[str, Any]:
    """Take ``qty`` units at ``price`` if the SKU is on sale at that price and has them (an Update element)."""
    return {"Update": {
        "TableName": table_name("rewards"),
        "Key": {"economy": {"S": economy}, "sku": {"S": sku}},
        "UpdateExpression": "ADD stock_left :neg, sold :q",
        "ConditionExpression": (
            "attribute_exists(sku) AND visible = :t AND attribute_not_exists(deleted_at) AND price = :p "
            "AND (attribute_not_exists(expires_at) OR expires_at > :now) AND (unlimited = :t OR stock_left >= :q)"
        ),
        "ExpressionAttributeValues": {":neg": {"N": str(-qty)}, ":q": {"N": str(qty)}, ":t": {"BOOL": True},
                                      ":p": {"N": str(price)}, ":now": {"S": now}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}


def reserve_conflict(sku: str, qty: int, price: int, now: str):
    """The error for a failed ``reserve_write``, from the item as it was."""

    def explain(item: Optional[Dict[str, Any]]) -> errors.CoinhallError:
        if not on_sale(item, now):
            return errors.RewardUnavailableError(sku=sku)
        assert item is not None
        if int(item["price"]) != price:
            return errors.PriceChangedError(sku=sku, price=int(item["price"]), expected_price=price)
        return errors.OutOfStockError(sku=sku, available=max(0, int(item["stock_left"])), requested=qty)

    return explain


def release_write(economy: str, sku: str, qty: int) -> Dict[str, Any]:
    """Give ``qty`` units back (a refund). Unconditional: the item is never removed."""
    return {"Update": {
        "TableName": table_name("rewards"),
        "Key": {"economy": {"S": economy}, "sku": {"S": sku}},
        "UpdateExpression": "ADD stock_left :q, sold :neg",
        "ConditionExpression": "attribute_exists(sku)",
        "ExpressionAttributeValues": {":q": {"N": str(qty)}, ":neg": {"N": str(-qty)}},
    }}


# -- buying from the shop -------------------------------------------------------------


def buy(
    economy: str,
    buyer_id: str,
    sku: str,
    qty: int,
    player_id: Optional[str],
    expected_price: Optional[int],
    idempotency_key: str,
    *,
    key_namespace: str = "api",
    discord: Optional[Dict[str, str]] = None,
) -> Outcome:
    """Buy ``qty`` units of ``sku``: coins to escrow, stock and the daily limit taken, in one transaction.

    ``expected_price`` (what the buyer confirmed) defaults to the price now; a
    different current price is 409 price_changed. Refusals come from the
    conditional writes, so a retry of a purchase that went through replays it.
    Raises RewardNotFoundError, RewardUnavailableError, PriceChangedError,
    OutOfStockError, LimitReachedError, InsufficientFundsError,
    AccountFrozenError, UserNotFoundError, IdempotencyKeyReusedError,
    FulfilmentUnavailableError, ContentionError.
    """
    import time

    from chalicelib.market import orders

    item = find_reward(economy, sku)
    if item is None:
        raise errors.RewardNotFoundError(sku=sku)
    now = now_iso()
    price = int(item["price"]) if expected_price is None else expected_price
    reserve = [SideWrite(reserve_write(economy, sku, qty, price, now), reserve_conflict(sku, qty, price, now))]
    counters: Tuple[str, ...] = ()
    if item.get("daily_limit") is not None:
        counter = keys.join("d", economy, sku, buyer_id, now[:10])
        reserve.append(orders.counter_take(counter, qty, int(item["daily_limit"]), int(time.time()) + 3 * 86_400,
                                           {"scope": "daily", "sku": sku, "day": now[:10]}))
        counters = (counter,)
    payload = {"sku": sku, "qty": qty, "category": item["category"], "data": item.get("payload") or {}}
    terms = orders.Terms(
        kind="shop", buyer_id=buyer_id, player_id=player_id or buyer_id, sku=sku, name=item["name"],
        category=item["category"], qty=qty, unit_price=price, fee_bps=0, fulfilment=item["fulfilment"],
        action=f"grant_{item['category']}", payload=payload, counters=counters, reserve=tuple(reserve),
    )
    return orders.place_order(economy, terms, idempotency_key=idempotency_key, key_namespace=key_namespace,
                              request=("shop-order", buyer_id, sku, qty, player_id, expected_price), discord=discord)
