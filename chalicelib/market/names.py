"""The market's ids and states, for the edge to validate paths and document queries with.

A leaf (nothing of ours but nothing at all): routes import it at cold start
without loading the market, which loads on the first market call.
"""
from __future__ import annotations

import re
from typing import Any

CATEGORIES = ("money", "rank", "cosmetic", "voucher")
LISTING_STATES = ("active", "sold_out", "cancelled", "expired")
ORDER_STATES = ("pending", "fulfilled", "refunded", "cancelled")

SKU_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
_SKU = re.compile(SKU_PATTERN)
_LISTING_ID = re.compile(r"^lst_[0-9A-Z]{26}$")
_ORDER_ID = re.compile(r"^ord_[0-9A-Z]{26}$")


def valid_sku(sku: Any) -> bool:
    return isinstance(sku, str) and bool(_SKU.match(sku))


def valid_listing_id(listing_id: Any) -> bool:
    return isinstance(listing_id, str) and bool(_LISTING_ID.match(listing_id))


def valid_order_id(order_id: Any) -> bool:
    return isinstance(order_id, str) and bool(_ORDER_ID.match(order_id))
