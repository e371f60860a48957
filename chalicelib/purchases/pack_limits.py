"""What a coin pack may be: every limit a later step enforces, stated once.

A pack's terms travel. The checkout copies them into the purchase, Stripe
charges the price, and the paid webhook credits coins + bonus as one ledger
leg. Each of those steps refuses values outside its own bounds, and a refusal
*after* the customer paid is the worst place to learn about it. So the same
rules are checked where a pack enters (``PUT /v1/admin/packs`` and
``packs.put_pack``), at checkout (a pack stored before these rules), and,
for the coins, once more before the credit (a purchase stored before them).

* coins: a whole number, 1..``MAX_AMOUNT``; bonus: 0..``MAX_AMOUNT``; and
  coins + bonus <= ``MAX_AMOUNT`` (the ledger's largest leg);
* price: a currency Stripe publishes a minimum charge for (lower-case ISO
  4217), an amount in its minor units from that minimum to 99,999,999 (Stripe
  takes amounts of at most eight digits).
"""
from __future__ import annotations

from typing import Any, Dict

from chalicelib.ledger.accounts import MAX_AMOUNT

# Stripe: "The amount value supports up to eight digits" (99999999 = $999,999.99).
MAX_PRICE_AMOUNT = 99_999_999

# Stripe's published minimum charge per currency, in minor units
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MIN_CHARGE: Dict[str, int] = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50, "czk": 1500,
    "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50, "jpy": 50, "mxn": 1000,
    "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}

# Currencies whose minor unit is the unit (Stripe's zero-decimal list, of those above).
ZERO_DECIMAL = frozenset({"jpy"})


def whole(value: Any) -> bool:
    """An integer as stored or sent: not a bool, not a float that happens to be round."""
    return isinstance(value, int) and not isinstance(value, bool)


def coin_problems(coins: Any, bonus_coins: Any) -> Dict[str, str]:
    """Field -> what is wrong with the coins a pack (or a purchase) would credit; empty when creditable."""
    problems: Dict[str, str] = {}
    if not whole(coins) or not 1 <= coins <= MAX_AMOUNT:
        problems["coins"] = f"must be a whole number from 1 to {MAX_AMOUNT}"
    if not whole(bonus_coins) or not 0 <= bonus_coins <= MAX_AMOUNT:
        problems["bonus_coins"] = f"must be a whole number from 0 to {MAX_AMOUNT}"
    if not problems and coins + bonus_coins > MAX_AMOUNT:
        problems["bonus_coins"] = f"coins + bonus_coins must be at most {MAX_AMOUNT} (one ledger credit)"
    return problems


def price_problems(amount: Any, currency: Any) -> Dict[str, str]:
    """Field -> what is wrong with a price Stripe would be asked to charge; empty when chargeable."""
    if not isinstance(currency, str) or currency not in MIN_CHARGE:
        return {"currency": "must be one of " + ", ".join(sorted(MIN_CHARGE)) + " (lower case)"}
    low = MIN_CHARGE[currency]
    if not whole(amount) or not low <= amount <= MAX_PRICE_AMOUNT:
        return {"amount": f"must be a whole number of minor units from {low} (Stripe's minimum for "
                          f"{currency}) to {MAX_PRICE_AMOUNT}"}
    return {}


def pack_problems(coins: Any, bonus_coins: Any, amount: Any, currency: Any) -> Dict[str, str]:
    """Every problem of a pack's terms (``price.amount`` / ``price.currency`` for the price)."""
    problems = coin_problems(coins, bonus_coins)
    problems.update({f"price.{k}": v for k, v in price_problems(amount, currency).items()})
    return problems


def format_money(amount: int, currency: str) -> str:
    """``4499, "usd"`` -> ``44.99 USD``; ``500, "jpy"`` -> ``500 JPY``."""
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount:,} {currency.upper()}"
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)  # integer arithmetic: money is never a float here
    return f"{sign}{units:,}.{cents:02d} {currency.upper()}"
