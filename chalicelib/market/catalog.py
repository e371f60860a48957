"""The shop's catalog: what an economy sells for coins (catalog items, by SKU).

A SKU has a name, a category (``money``, ``rank``, ``cosmetic``, ``voucher``),
a price in coins, how it is delivered (``api``: we call the game server;
``voucher``: the buyer gets a code to redeem in game), a payload the game
server acts on, and optional limits: units per player per UTC day, stock, an
expiry. Operators write it (``PUT``/``DELETE /v1/admin/rewards/{sku}``: the
public paths keep their old noun), each write audited in the same
transaction; players read the visible part.

Stock is counted on the item by every order's own transaction (``stock_left``
down, ``sold`` up, conditioned so the last unit sells once) and given back by
a refund's: this module is the shop's *unit source* for orders
(``orders.register_unit_source("shop", ...)``). A delete only hides the SKU
(``deleted_at``): the item stays, so a late refund can still return its
units; a later PUT brings it back.

While an operator's ``shop_discount`` event applies to a SKU
(``tenancy/events.py``), players see and pay the discounted unit price
(``price``; ``list_price`` and ``event`` say why) and the order records
``event_id``, ``discount_bps`` and ``list_price``. A buyer's ``expected_price``
is compared with the discounted price.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.ledger import Outcome, SideWrite
from chalicelib.market import orders
from chalicelib.market.names import CATEGORIES, valid_sku  # noqa: F401 (this module's names)
from chalicelib.market.store import catalog as store
from chalicelib.market.store import counters
from chalicelib.market.store.catalog import CatalogItem
from chalicelib.tenancy import events
from chalicelib.tenancy.events import Event
from chalicelib.tenancy.audit import audit_write

FULFILMENTS = ("api", "voucher")
_ADMIN_FIELDS = ("name", "category", "price", "fulfilment", "payload", "daily_limit", "stock", "visible", "expires_at")
_EDIT_ATTEMPTS = 20

find_item = store.find_item


def item_view(item: CatalogItem, admin: bool = False, event: Optional[Event] = None) -> Dict[str, Any]:
    """The SKU as shown; with a player's ``event``, at its discounted price (and the price before it)."""
    view = {
        "sku": item.sku,
        "name": item.name,
        "category": item.category,
        "price": item.price,
        "fulfilment": item.fulfilment,
        "payload": item.payload or {},
        "daily_limit": item.daily_limit,
        "stock": None if item.unlimited else max(0, item.stock_left),
        "sold": item.sold,
        "visible": item.visible,
        "expires_at": item.expires_at,
        "updated_at": item.updated_at,
    }
    if event is not None:
        view.update({"price": event.discounted(item.price), "list_price": item.price, "event": event.tag()})
    if admin:
        view.update({"deleted": item.deleted_at is not None, "deleted_at": item.deleted_at,
                     "version": item.version, "created_at": item.created_at})
    return view


def _admin_state(item: Optional[CatalogItem]) -> Optional[Dict[str, Any]]:
    if item is None:
        return None
    view = item_view(item, admin=True)
    return {k: view[k] for k in (*_ADMIN_FIELDS, "deleted")}


def on_sale(item: Optional[CatalogItem], now: str) -> bool:
    """Visible, not deleted and not past its expiry."""
    return item is not None and item.on_sale(now)


def get_item(economy: str, sku: str, *, admin: bool = False) -> Dict[str, Any]:
    """A SKU: any state for operators, only what is on sale for players. Raises RewardNotFoundError."""
    item = find_item(economy, sku)
    if item is None or (not admin and not on_sale(item, now_iso())):
        raise errors.RewardNotFoundError(sku=sku)
    return item_view(item, admin=admin, event=None if admin else _discount(economy, item))


def _discount(economy: str, item: CatalogItem) -> Optional[Event]:
    """The shop discount event that applies to ``item`` now (tenancy/events.py: cached, one Query a window)."""
    return events.active_for_item(economy, item.sku, item.category)


def list_items(economy: str, category: Optional[str] = None) -> List[Dict[str, Any]]:
    """What is on sale, by SKU. One economy's catalog is small: read it whole (a query, not a scan)."""
    now = now_iso()
    return [item_view(item, event=_discount(economy, item)) for item in store.items_of(economy)
            if on_sale(item, now) and (category is None or item.category == category)]


def _audited_edit(economy: str, sku: str, actor: str, action: str,
                  change: Callable[[Optional[CatalogItem], str], Tuple[CatalogItem, Dict[str, Any]]]) -> CatalogItem:
    """Read the item, make ``change(before, now) -> (after, write)``, commit it with its audit row; again if raced.

    ``change`` raises to refuse. Raises ContentionError when concurrent edits keep winning.
    """
    for _ in range(_EDIT_ATTEMPTS):
        before = find_item(economy, sku)
        after, write = change(before, now_iso())
        row = audit_write(economy, actor, action, keys.tag("reward", sku), before=_admin_state(before),
                          after=_admin_state(after))
        if store.write_with([write, row]):
            return after
    raise errors.ContentionError(sku=sku)


def put_item(economy: str, sku: str, fields: Mapping[str, Any], actor: str) -> Tuple[Dict[str, Any], bool]:
    """Create or replace a SKU's terms (and undelete it), audited in the same transaction.

    ``fields``: name, category, price, fulfilment, payload, daily_limit, stock
    (None: unlimited; a number sets the units left now), visible, expires_at.
    Units sold so far are kept. Returns (admin view, created). Raises
    ContentionError when concurrent edits keep winning.
    """
    created = False

    def change(before: Optional[CatalogItem], now: str) -> Tuple[CatalogItem, Dict[str, Any]]:
        nonlocal created
        created = before is None
        stock = fields.get("stock")
        after = CatalogItem(
            economy=economy, sku=sku, name=fields["name"], category=fields["category"], price=fields["price"],
            fulfilment=fields["fulfilment"], payload=fields.get("payload") or {},
            daily_limit=fields.get("daily_limit"), unlimited=stock is None, stock_left=0 if stock is None else stock,
            sold=before.sold if before else 0, visible=fields.get("visible", True),
            expires_at=fields.get("expires_at"), version=(before.version if before else 0) + 1,
            created_at=before.created_at if before else now, updated_at=now,
        )
        return after, store.terms_write(after, before.version if before else None)

    after = _audited_edit(economy, sku, actor, "reward.put", change)
    return item_view(after, admin=True), created


def delete_item(economy: str, sku: str, actor: str) -> Dict[str, Any]:
    """Take a SKU off sale for good (hidden from players, refused to buyers), audited.

    Pending orders still complete. Raises RewardNotFoundError (missing or
    already deleted), ContentionError.
    """
    def change(before: Optional[CatalogItem], now: str) -> Tuple[CatalogItem, Dict[str, Any]]:
        if before is None or before.deleted_at is not None:
            raise errors.RewardNotFoundError(sku=sku)
        after = dataclasses.replace(before, deleted_at=now, updated_at=now, version=before.version + 1)
        return after, store.delete_write(economy, sku, now, after.version, before.version)

    return item_view(_audited_edit(economy, sku, actor, "reward.delete", change), admin=True)


# -- the shop as an order's unit source ---------------------------------------------------


def _release(economy: str, order: Mapping[str, Any]) -> List[SideWrite]:
    """A refund gives the units back to the stock (the daily counter is given back by ``orders``)."""
    return [store.stock_release(economy, order["sku"], int(order["qty"]))]


orders.register_unit_source("shop", orders.UnitSource(release=_release))


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
    item = find_item(economy, sku)
    if item is None:
        raise errors.RewardNotFoundError(sku=sku)
    now = now_iso()
    event = _discount(economy, item)
    discount = None
    if event is None:
        price = item.price if expected_price is None else expected_price
        reserve = [store.stock_reserve(economy, sku, qty, price, now)]
    else:
        # The buyer confirms the discounted price; the stock write still checks the list price it was read at.
        price = event.discounted(item.price)
        reserve = [store.stock_reserve(economy, sku, qty, item.price, now)]
        if expected_price is not None and expected_price != price:
            # Refused inside the transaction, not here: a retry of an order placed during the event replays.
            reserve.append(store.price_refusal(economy, sku, price, expected_price))
        discount = {"event_id": event.event_id, "discount_bps": event.bps, "list_price": item.price}
    taken: Tuple[str, ...] = ()
    if item.daily_limit is not None:
        counter = keys.join("d", economy, sku, buyer_id, now[:10])
        reserve.append(counters.counter_take(counter, qty, item.daily_limit, int(time.time()) + 3 * 86_400,
                                             {"scope": "daily", "sku": sku, "day": now[:10]}))
        taken = (counter,)
    payload = {"sku": sku, "qty": qty, "category": item.category, "data": item.payload or {}}
    terms = orders.Terms(
        kind="shop", buyer_id=buyer_id, player_id=player_id or buyer_id, sku=sku, name=item.name,
        category=item.category, qty=qty, unit_price=price, fee_bps=0, fulfilment=item.fulfilment,
        action=f"grant_{item.category}", payload=payload, counters=taken, reserve=tuple(reserve),
        discount=discount,
    )
    return orders.place_order(economy, terms, idempotency_key=idempotency_key, key_namespace=key_namespace,
                              request=("shop-order", buyer_id, sku, qty, player_id, expected_price), discord=discord)
