"""The limits on every amount, price and quantity that enters Coinhall, derived from the ledger's bounds.

The ledger refuses a leg over ``MAX_AMOUNT`` (10^12) coins and a bucket over
``MAX_BALANCE`` (10^15). A value that later becomes money must be refused
where it enters (the request body, the Discord modal, the admin route), never
by the ledger at the end of a flow (a 500, or a paid step that cannot finish).
So every cap on a value that is multiplied later is derived here from
``MAX_AMOUNT`` and the cap on its multiplier, and the product is checked
again where both meet (``check_total``), whichever adapter called.

Fees and shares never add to what a payer pays: they are taken out of the
amount (``revenue.split``), so the amount bounds every leg of its settlement.

=========================  ====================================  =====================
value                      limit                                 why
=========================  ====================================  =====================
spend, hold, escrow,       1..MAX_AMOUNT                         one leg
  settle, check-balance
adjust                     -MAX_AMOUNT..MAX_AMOUNT, not 0        one leg
content price              0..MAX_AMOUNT                         the unlock's leg
shop price                 1..MAX_SHOP_PRICE (10^9)              x MAX_ORDER_QTY fits
shop order qty             1..MAX_ORDER_QTY (1,000)              (also daily_limit)
listing unit price         1..MAX_UNIT_PRICE (10^7)              x MAX_LISTING_QTY fits
listing qty                1..MAX_LISTING_QTY (100,000)          (also buy qty, limits)
course reward              1..MAX_AMOUNT                         the grant's leg
reward settings            0..MAX_AMOUNT                         the grant's leg
=========================  ====================================  =====================
"""
from __future__ import annotations

from chalicelib.core import errors
from chalicelib.ledger.accounts import MAX_AMOUNT, MAX_BALANCE

MAX_ORDER_QTY = 1000
MAX_SHOP_PRICE = MAX_AMOUNT // MAX_ORDER_QTY  # any shop order (price x qty) fits one operation
MAX_STOCK = 10**9
MAX_LISTING_QTY = 100_000
MAX_UNIT_PRICE = MAX_AMOUNT // MAX_LISTING_QTY  # any listing (and any buy of it) fits one operation

__all__ = ["MAX_AMOUNT", "MAX_BALANCE", "MAX_LISTING_QTY", "MAX_ORDER_QTY", "MAX_SHOP_PRICE", "MAX_STOCK",
           "MAX_UNIT_PRICE", "check_total"]


def check_total(qty: int, unit_price: int, field: str = "qty") -> int:
    """``qty x unit_price`` when one ledger operation can carry it; ValidationFailedError naming ``field`` else."""
    total = qty * unit_price
    if total > MAX_AMOUNT:
        raise errors.ValidationFailedError(
            f"{qty} x {unit_price} coins is more than one operation may move ({MAX_AMOUNT}).",
            field=field, total=total, max_amount=MAX_AMOUNT)
    return total
