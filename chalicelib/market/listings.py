"""Player listings: a seller offers units of a catalog SKU at a unit price, buyers take them.

A listing's terms are fixed when it is created: the unit price (at least
``PRICE_FLOOR_PCT`` of the SKU's 7-day median, ``pricing.check_floor``), the
fee the seller pays (``pricing.market_fee``: bands around the 7-day average
and a scarcity multiplier), the per-buyer limits and the expiry. States::

    active --cancel (the seller)-------------> cancelled
    active --expires_at passes (job)---------> expired
    (an active listing with nothing left shows as ``sold_out``; a refund puts units back)

Buying takes ``qty`` units in the order's own ledger transaction (see
``orders.place_order``; this module is the listing's *unit source* for
orders): ``units_left`` (stored, and shown, also as ``available``) goes down only while the listing is
active, unexpired and has the units, and the buyer's counter for the listing
goes up only while it stays within ``max_per_buyer``. So under any race the
last unit sells once and no buyer exceeds the limit. ``min_per_buyer`` is the
least one order may take, unless it takes everything that is left.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import iso, new_id, now_iso
from chalicelib.ledger import Outcome, SideWrite, claims
from chalicelib.ledger.limits import check_total
from chalicelib.market import events, orders, pricing
from chalicelib.market.names import LISTING_STATES, valid_listing_id  # noqa: F401 (this module's names)
from chalicelib.market.pricing_config import get_pricing
from chalicelib.market.fulfilment import minecraft
from chalicelib.market.store import catalog as catalog_store
from chalicelib.market.store import counters
from chalicelib.market.store import listings as store
from chalicelib.market.store.listings import Listing
from chalicelib.runtime.due import run_due_index

log = logging.getLogger("coinhall.listings")

DUE_SHARDS = 8
MIN_SECONDS, MAX_SECONDS = 60, 30 * 86_400
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _status(listing: Listing) -> str:
    if listing.status == "active" and listing.units_left == 0:
        return "sold_out"
    return listing.status


def listing_view(listing: Listing) -> Dict[str, Any]:
    """The public shape: ``units_left``, and ``available`` as its alias (the older name; the same number)."""
    return {
        "listing_id": listing.listing_id,
        "seller_id": listing.seller_id,
        "sku": listing.sku,
        "name": listing.name,
        "category": listing.category,
        "fulfilment": listing.fulfilment,
        "status": _status(listing),
        "qty": listing.qty,
        "units_left": listing.units_left,
        "available": listing.units_left,
        "sold": listing.sold,
        "unit_price": listing.unit_price,
        "fee_bps": listing.fee_bps,
        "fee": listing.fee or {},
        "price_floor": listing.price_floor,
        "min_per_buyer": listing.min_per_buyer,
        "max_per_buyer": listing.max_per_buyer,
        "created_at": listing.created_at,
        "expires_at": listing.expires_at,
        "closed_at": listing.closed_at,
        "repriced_at": listing.repriced_at,
        "unsold": listing.units_left if listing.status != "active" else None,
    }


find_listing = store.find_listing


def get_listing(economy: str, listing_id: str) -> Dict[str, Any]:
    """Raises ListingNotFoundError."""
    listing = find_listing(economy, listing_id)
    if listing is None:
        raise errors.ListingNotFoundError(listing_id=listing_id)
    return listing_view(listing)


# -- quoting and creating -------------------------------------------------------------


def listed_units(economy: str, sku: str, now: str, enough: int = pricing.SCARCE_BELOW_UNITS) -> int:
    """Units for sale in the SKU's active listings, counted up to ``enough`` (a few small reads at most)."""
    units = 0
    page_size = 25
    for index, listing in enumerate(store.active_of_sku(pricing.sku_key(economy, sku), page_size=page_size)):
        if listing.expires_at > now:
            units += listing.units_left
        if (index + 1) % page_size == 0 and units >= enough:
            break  # counted at page ends, so no further page is read
    return units


@dataclasses.dataclass(frozen=True)
class _PriceTerms:
    """What a listing at one unit price is charged, as ``quote``, ``create_listing`` and ``reprice_listing`` see it."""

    market: Dict[str, Any]  # pricing.current: the 7-day median (the floor) and average (the fee band)
    floor: Optional[int]
    fee: pricing.FeeQuote

    def seller_net(self, total: int) -> int:
        """The seller's share of ``total`` coins of sales, after the fee (the fee is the rest)."""
        return total * (10_000 - self.fee.fee_bps) // 10_000


def _price_terms(economy: str, sku: str, unit_price: int, now: str, adding: int, *,
                 enforce_floor: bool) -> _PriceTerms:
    """The floor, the fee band and fee for ``unit_price``, from the SKU's rollup and the economy's pricing now.

    ``adding``: the units this listing adds to the SKU's listed units (the
    scarcity multiplier counts them): a new listing's ``qty``; 0 for a reprice,
    whose unsold units are counted already. ``enforce_floor``: raise
    BelowPriceFloorError under the floor (before any listing is counted);
    a quote only reports it.
    """
    market, terms = pricing.current(economy, sku), get_pricing(economy)
    if enforce_floor:
        floor = pricing.check_floor(unit_price, market["median_7d"], terms.price_floor_bps)
    else:
        floor = pricing.floor_price(market["median_7d"], terms.price_floor_bps)
    listed = listed_units(economy, sku, now, terms.terms.scarcity_target_units) + adding
    fee = pricing.market_fee(terms.market_fee_bps, unit_price, market["avg_7d"], listed, terms.terms)
    return _PriceTerms(market=market, floor=floor, fee=fee)


def quote(economy: str, sku: str, unit_price: int, qty: int) -> Dict[str, Any]:
    """What a listing at ``unit_price`` would be charged, and the floor; changes nothing."""
    priced = _price_terms(economy, sku, unit_price, now_iso(), qty, enforce_floor=False)
    floor, fee = priced.floor, priced.fee
    total = unit_price * qty
    seller = priced.seller_net(total)
    return {"sku": sku, "unit_price": unit_price, "qty": qty, "price_floor": floor,
            "below_floor": floor is not None and unit_price < floor, "fee": fee.as_dict(), "fee_bps": fee.fee_bps,
            "seller_gets_if_all_sold": seller, "fee_if_all_sold": total - seller, "market": priced.market}


def _listing_id(economy: str, key: Optional[str]) -> str:
    """A new id, or the one the (namespaced) key names in this economy: one key, one listing, whoever lists."""
    if key is None:
        return new_id("lst_")
    encoded = keys.join(economy, key, sep="|")  # a "|" in the key is escaped
    digest = int.from_bytes(hashlib.sha256(encoded.encode()).digest()[:17], "big")
    return "lst_" + "".join(_ALPHABET[(digest >> (5 * i)) & 31] for i in reversed(range(26)))


def create_listing(
    economy: str,
    seller_id: str,
    sku: str,
    qty: int,
    unit_price: int,
    expires_in: int,
    min_per_buyer: Optional[int],
    max_per_buyer: Optional[int],
    idempotency_key: Optional[str],
    guild_id: Optional[str] = None,
    *,
    key_namespace: str = "api",
) -> Tuple[Dict[str, Any], bool]:
    """List ``qty`` units of ``sku`` for sale; returns (listing, created).

    With a key (``key_namespace``: ``api`` for an Idempotency-Key, ``discord``
    for a modal) the listing claims it (``ledger/claims.py``) in the same
    transaction: a retry returns the same listing, and a key another request
    took, on any route or for another seller, is refused. ``guild_id``: the
    Discord guild it was listed from (its ``#shop`` gets the card). Raises
    RewardNotFoundError, BelowPriceFloorError, ValidationFailedError (limits
    that contradict each other), FulfilmentUnavailableError,
    IdempotencyKeyReusedError.
    """
    ledger.user(seller_id)  # ValueError for an id the ledger would refuse
    check_total(qty, unit_price)  # selling all of it must fit one operation
    if min_per_buyer is not None and max_per_buyer is not None and min_per_buyer > max_per_buyer:
        raise errors.ValidationFailedError("min_per_buyer cannot be more than max_per_buyer.", field="min_per_buyer")
    if min_per_buyer is not None and min_per_buyer > qty:
        raise errors.ValidationFailedError("min_per_buyer cannot be more than qty.", field="min_per_buyer")
    fp = ledger.fingerprint("listing", economy, seller_id, sku, qty, unit_price, expires_in, min_per_buyer,
                            max_per_buyer)
    key = keys.tag(key_namespace, idempotency_key) if idempotency_key is not None else None
    claim = claims.find(economy, key) if key is not None else None
    if claim is not None:
        return _replayed(economy, claims.replayed_ref(claim, fp, key)["listing_id"])
    listing_id = _listing_id(economy, key)
    item = catalog_store.find_item(economy, sku)
    if item is None or item.deleted_at is not None:
        raise errors.RewardNotFoundError(sku=sku)
    if item.fulfilment == "api":
        minecraft.ensure_configured()
    now = now_iso()
    priced = _price_terms(economy, sku, unit_price, now, qty, enforce_floor=True)
    floor, fee = priced.floor, priced.fee
    created = datetime.strptime(now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    listing = Listing(
        economy=economy, listing_id=listing_id, seller_id=seller_id, sku=sku,
        sku_key=pricing.sku_key(economy, sku), state_key=f"active#{now}", status="active",
        qty=qty, units_left=qty, sold=0, unit_price=unit_price, fee_bps=fee.fee_bps,
        fee=fee.as_dict(), price_floor=floor, min_per_buyer=min_per_buyer, max_per_buyer=max_per_buyer,
        name=item.name, category=item.category, fulfilment=item.fulfilment,
        payload=item.payload or {}, fingerprint=fp, created_at=now,
        expires_at=iso(created + timedelta(seconds=expires_in)), due_shard=f"l{random.randrange(DUE_SHARDS)}",
        guild_id=guild_id,
    )
    if key is None:
        store.put_listing(listing)
    elif not claims.commit([store.listing_put(listing),
                            claims.claim_write(economy, key, fp, "listing", {"listing_id": listing_id})]):
        claim = claims.find(economy, key)  # a racing twin with the same key, or another request's key
        if claim is None:
            raise errors.ConflictError("The listing id is taken; retry with another key.")
        return _replayed(economy, claims.replayed_ref(claim, fp, key)["listing_id"])
    _publish_listing(economy, "listing.created", listing)
    return listing_view(listing), True


def _replayed(economy: str, listing_id: str) -> Tuple[Dict[str, Any], bool]:
    """The listing a key made, as it stands now."""
    existing = find_listing(economy, listing_id)
    if existing is None:  # written in the same transaction as its claim: cannot happen
        raise errors.ConflictError("The listing this key made is missing.", listing_id=listing_id)
    return listing_view(existing), False


# -- listing them -------------------------------------------------------------------------


def list_listings(economy: str, sku: Optional[str], status: Optional[str], limit: int = 25,
                  cursor: Optional[str] = None) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Listings of one SKU (``by_sku`` index: by state, newest first within it) or of the economy (newest first).

    Optionally in one status.

    Raises InvalidCursorError.
    """
    scope = keys.join("listings", economy, sku or "*", status or "*")
    stored = "active" if status in ("active", "sold_out") else status
    found, next_cursor = store.page(economy, pricing.sku_key(economy, sku) if sku else None, stored,
                                    lambda listing: status is None or _status(listing) == status, scope, limit,
                                    cursor)
    return [listing_view(listing) for listing in found], next_cursor


# -- closing ----------------------------------------------------------------------------


# -- repricing -----------------------------------------------------------------------------


_REPRICE_ATTEMPTS = 4


def reprice_listing(economy: str, listing_id: str, unit_price: int,
                    audit: Callable[[Listing, Listing], Mapping[str, Any]]) -> Tuple[Dict[str, Any], bool]:
    """Set an active listing's unit price under today's guards; returns (listing, changed).

    The price floor is checked against the SKU's 7-day median now, and the fee is
    worked out again for the new price (its band) as a new listing's would be:
    later sales pay it; orders already placed keep the terms they were placed at.
    The change commits only while the listing is active at the price it was read
    with, with ``audit(before, after)``'s row; a buy that read the old price is
    refused with 409 price_changed by its own condition, so no order is ever
    placed at a price the listing no longer asks. The same price again changes
    nothing (and writes no audit row). Raises ListingNotFoundError,
    ListingNotActiveError, BelowPriceFloorError, ValidationFailedError (qty x price too large), ContentionError.
    """
    for _ in range(_REPRICE_ATTEMPTS):
        listing = find_listing(economy, listing_id)
        if listing is None:
            raise errors.ListingNotFoundError(listing_id=listing_id)
        now = now_iso()
        if listing.status != "active" or listing.expires_at <= now:
            state = "expired" if listing.status == "active" else _status(listing)
            raise errors.ListingNotActiveError(f"This listing is {state}.", listing=listing_view(listing))
        if listing.unit_price == unit_price:
            return listing_view(listing), False
        check_total(listing.qty, unit_price, field="unit_price")  # refunds can bring every unit back
        # The listing's own unsold units are in the count already: they do not add again.
        priced = _price_terms(economy, listing.sku, unit_price, now, 0, enforce_floor=True)
        floor, fee = priced.floor, priced.fee
        after = dataclasses.replace(listing, unit_price=unit_price, fee_bps=fee.fee_bps, fee=fee.as_dict(),
                                    price_floor=floor, repriced_at=now)
        repriced = store.reprice(economy, listing, unit_price, fee.fee_bps, fee.as_dict(), floor, now,
                                 audit(listing, after))
        if repriced is not None:
            _publish_listing(economy, "listing.repriced", repriced, dedupe=keys.join(listing_id, now))
            return listing_view(repriced), True
    raise errors.ContentionError("The listing is being changed by others right now; try again.",
                                 listing_id=listing_id)


def _close(economy: str, listing: Listing, status: str, now: str,
           along: Optional[Callable[[], Mapping[str, Any]]] = None) -> Optional[Listing]:
    """Move an active listing to ``status``; None when it was no longer active. ``along``: see ``store.close``."""
    closed = store.close(economy, listing, status, now, along)
    if closed is not None:
        _publish_listing(economy, f"listing.{status}", closed)
    return closed


def cancel_listing(economy: str, listing_id: str, seller_id: Optional[str],
                   audit: Optional[Callable[[Listing], Mapping[str, Any]]] = None) -> Dict[str, Any]:
    """Withdraw an active listing; the unsold units stay the seller's. Orders already placed go on.

    ``audit(listing)``: an operator's audit row, committed with the cancel. Raises ListingNotFoundError,
    NotListingSellerError, ListingNotActiveError.
    """
    item = find_listing(economy, listing_id)
    if item is None:
        raise errors.ListingNotFoundError(listing_id=listing_id)
    if seller_id is not None and seller_id != item.seller_id:
        raise errors.NotListingSellerError(listing_id=listing_id)
    closed = _close(economy, item, "cancelled", now_iso(), (lambda: audit(item)) if audit else None)
    if closed is None:
        current = find_listing(economy, listing_id) or item
        raise errors.ListingNotActiveError(f"This listing is already {_status(current)}.",
                                           listing=listing_view(current))
    return listing_view(closed)


def expire_due_listings(ctx: Any, economy: Optional[str] = None, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``expire-listings``: close active listings past ``expires_at``; their unsold units return to the seller.

    Queries the sparse ``due`` index shard by shard (never a scan), bounded by
    ``ctx``; a closed listing leaves the index, so overlapping runs are harmless.
    """
    now = now or now_iso()

    def expire_one(item: Dict[str, Any]) -> str:
        closed = _close(item["economy"], Listing.from_item(item), "expired", now)
        if closed:
            ctx.count("units_returned", closed.units_left)
        return "expired" if closed else "already_closed"

    return run_due_index(ctx, table="listings", prefix="l", shards=DUE_SHARDS, now=now, handle=expire_one,
                         key="listing_id", economy=economy)


# -- buying ---------------------------------------------------------------------------------


def buy(
    economy: str,
    listing_id: str,
    buyer_id: str,
    qty: int,
    player_id: Optional[str],
    idempotency_key: str,
    *,
    key_namespace: str = "api",
    discord: Optional[Dict[str, str]] = None,
    unit_price: Optional[int] = None,
) -> Outcome:
    """Buy ``qty`` units: the coins go to escrow and the units are taken, in one transaction.

    Refusals are decided by the conditional writes themselves (so a retry of a
    purchase that went through replays it, whatever the listing's state now).
    ``unit_price`` is the price the buyer was shown: the order is placed only
    while the listing still asks it (else PriceChangedError, nothing charged);
    without it, at the price read here.
    Raises ListingNotFoundError, SelfPaymentError, ListingNotActiveError,
    OutOfStockError, BelowMinimumQuantityError, LimitReachedError,
    InsufficientFundsError, AccountFrozenError, UserNotFoundError,
    IdempotencyKeyReusedError, FulfilmentUnavailableError, ContentionError.
    """
    listing = find_listing(economy, listing_id)
    if listing is None:
        raise errors.ListingNotFoundError(listing_id=listing_id)
    if buyer_id == listing.seller_id:
        raise errors.SelfPaymentError("A seller cannot buy their own listing.", user_id=buyer_id, field="buyer_id")
    now = now_iso()
    minimum, maximum = listing.min_per_buyer, listing.max_per_buyer
    price = listing.unit_price if unit_price is None else unit_price
    reserve = [_take_write(economy, listing, qty, now, minimum, price)]
    taken: Tuple[str, ...] = ()
    if maximum is not None:
        counter = _buyer_counter(economy, listing_id, buyer_id)
        ttl = int(datetime.strptime(listing.expires_at, "%Y-%m-%dT%H:%M:%S.%fZ")
                  .replace(tzinfo=timezone.utc).timestamp()) + 40 * 86_400
        reserve.append(counters.counter_take(counter, qty, maximum, ttl,
                                             {"scope": "listing", "listing_id": listing_id, "buyer_id": buyer_id}))
        taken = (counter,)
    payload = {"sku": listing.sku, "qty": qty, "category": listing.category, "seller_id": listing.seller_id,
               "listing_id": listing_id, "data": listing.payload or {}}
    terms = orders.Terms(
        kind="listing", buyer_id=buyer_id, player_id=player_id or buyer_id, sku=listing.sku, name=listing.name,
        category=listing.category, qty=qty, unit_price=price, fee_bps=listing.fee_bps,
        fulfilment=listing.fulfilment, action="transfer_item", payload=payload, seller_id=listing.seller_id,
        listing_id=listing_id, counters=taken, reserve=tuple(reserve),
    )
    # The price the buyer confirmed is part of the request, as a shop order's (one key, one price); without
    # one the request is what it always was, so keys claimed before still replay.
    request = ("listing-order", listing_id, buyer_id, qty, player_id) + (() if unit_price is None else (unit_price,))
    return orders.place_order(economy, terms, idempotency_key=idempotency_key, key_namespace=key_namespace,
                              request=request, discord=discord)


def _buyer_counter(economy: str, listing_id: str, buyer_id: str) -> str:
    return keys.join("l", economy, listing_id, buyer_id)


def quantity_range(economy: str, listing: Mapping[str, Any], buyer_id: str) -> Tuple[int, int]:
    """The least and the most units one order of ``buyer_id`` may take now, as ``buy`` decides them.

    ``listing`` is its view. The most is what is left, within what the buyer's
    ``max_per_buyer`` still allows; the least is ``min_per_buyer`` unless fewer
    are left (then all of them). Nothing to buy: least > most (most may be 0).
    A snapshot: ``buy`` decides again under its conditional writes.
    """
    left = int(listing["units_left"])
    most = left
    if listing.get("max_per_buyer") is not None:
        bought = counters.counter_value(_buyer_counter(economy, listing["listing_id"], buyer_id))
        most = min(most, int(listing["max_per_buyer"]) - bought)
    least = min(int(listing.get("min_per_buyer") or 1), left) if left else 1
    return least, max(most, 0)


def _take_write(economy: str, listing: Listing, qty: int, now: str, minimum: Optional[int], price: int) -> SideWrite:
    # Under the minimum an order must take exactly what is left.
    exact = minimum is not None and qty < minimum

    def refuse(old: Optional[Listing]) -> errors.CoinhallError:
        current = old or listing
        if current.status != "active" or current.expires_at <= now:
            state = "expired" if current.status == "active" else _status(current)
            return errors.ListingNotActiveError(f"This listing is {state}.", listing=listing_view(current))
        if current.unit_price != price:
            return errors.PriceChangedError(f"This listing's price is now {current.unit_price:,} a unit.",
                                            price=current.unit_price, unit_price=current.unit_price,
                                            listing=listing_view(current))
        left = current.units_left
        if exact and left > qty:
            return errors.BelowMinimumQuantityError(
                f"Buy at least {minimum} units (or all {left} left).", min_per_buyer=minimum,
                available=left, units_left=left, requested=qty)
        return errors.OutOfStockError(available=left, units_left=left, requested=qty,
                                      listing_id=listing.listing_id)

    return store.listing_reserve(economy, listing.listing_id, qty, now, exact, price, refuse)


# -- the listing as an order's unit source ----------------------------------------------------


def _release(economy: str, order: Mapping[str, Any]) -> List[SideWrite]:
    """A refund puts the units back on the listing, whatever its state (the counter is given back by ``orders``)."""
    return [store.listing_release(economy, order["listing_id"], int(order["qty"]))]


orders.register_unit_source("listing", orders.UnitSource(release=_release))


def _publish_listing(economy: str, event: str, listing: Listing, dedupe: Optional[str] = None) -> None:
    events.publish(economy, event, listing_view(listing), dedupe or listing.listing_id, guild_id=listing.guild_id)
