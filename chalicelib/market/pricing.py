"""Market pricing: the price floor, the fee bands, and the rollup that feeds them.

The formula, written once (``market_fee`` and ``floor_price`` below; the
README repeats it with a worked example). ``base`` is ``MARKET_FEE`` in basis
points (0.08 -> 800); ``reference`` is the SKU's 7-day average sale price and
``median`` its 7-day median, both unit-weighted, from the last rollup::

    floor     = ceil(median * PRICE_FLOOR_PCT)        no sales in 7 days -> no floor
    refused   when unit_price < floor                 (422 below_price_floor, details.floor)

    r = unit_price / reference                        no sales in 7 days -> band "no_history", x1
      r <  0.90        undercut   x 3/4
      0.90 <= r <= 1.25 market    x 1
      1.25 <  r <= 2.00 premium   x 3/2
      r >  2.00        far_over   x 2
    scarcity: fewer than 10 units listed for the SKU (this listing included) -> x 5/4
    fee_bps = min(floor(base * band * scarcity), 5000)

Band edges compare exactly (``unit_price * 10000`` against ``bps * reference``),
never through a rounded ratio. The fee is fixed on the listing when it is
created; at settlement ``revenue.split`` pays the seller
``floor(total * (10000 - fee_bps) / 10000)`` and the treasury the rest.

The rollup (job ``pricing-rollup``) never scans: fulfilled orders write a sale
row carrying a sparse ``rollup_shard``; the job (1) drains that index, marking
each SKU's price item due, then (2) recomputes the due SKUs from their last 7
days of sales and schedules the next recompute for when the oldest sale in a
window ages out. Both steps are safe to overlap or die half-way (conditional
writes on the price item's ``rev``).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from chalicelib.core import errors
from chalicelib.core.ids import iso, now_iso
from chalicelib.core.wording import count
from chalicelib.market.store import prices as store
from chalicelib.market.store.prices import PRICE_DUE_SHARDS, SALE_ROLLUP_SHARDS, sku_key  # noqa: F401 (sku_key: the key guards use)
from chalicelib.runtime.due import run_due_index

log = logging.getLogger("coinhall.pricing")

BPS = 10_000
UNDERCUT_BELOW_BPS = 9_000  # r < 0.90
PREMIUM_ABOVE_BPS = 12_500  # r > 1.25
FAR_OVER_ABOVE_BPS = 20_000  # r > 2.00
BANDS = {"undercut": (3, 4), "market": (1, 1), "premium": (3, 2), "far_over": (2, 1), "no_history": (1, 1)}
SCARCE_BELOW_UNITS = 10
SCARCITY = (5, 4)
MAX_FEE_BPS = 5_000

WEEK = timedelta(days=7)
DAY = timedelta(days=1)


# -- the formula (pure) ----------------------------------------------------------


def floor_price(median: Optional[int], floor_bps: int) -> Optional[int]:
    """The lowest unit price allowed: ceil(median * floor_bps / 10000); None without a median."""
    if not median:
        return None
    return -(-median * floor_bps // BPS)


def check_floor(unit_price: int, median: Optional[int], floor_bps: int) -> Optional[int]:
    """Raise BelowPriceFloorError when ``unit_price`` is under the floor; returns the floor (or None)."""
    floor = floor_price(median, floor_bps)
    if floor is not None and unit_price < floor:
        raise errors.BelowPriceFloorError(
            f"The lowest price allowed is {count(floor, 'coin')} ({floor_bps / 100:g}% of the 7-day median {median}).",
            floor=floor, median_7d=median, floor_bps=floor_bps, unit_price=unit_price)
    return floor


@dataclass(frozen=True)
class FeeQuote:
    """The fee a listing pays, and why."""

    fee_bps: int
    base_bps: int
    band: str
    scarce: bool
    reference: Optional[int]
    listed_units: int

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


def band_for(unit_price: int, reference: Optional[int]) -> str:
    """The price band of ``unit_price`` against the 7-day average (exact integer comparisons)."""
    if not reference:
        return "no_history"
    scaled = unit_price * BPS
    if scaled < UNDERCUT_BELOW_BPS * reference:
        return "undercut"
    if scaled <= PREMIUM_ABOVE_BPS * reference:
        return "market"
    if scaled <= FAR_OVER_ABOVE_BPS * reference:
        return "premium"
    return "far_over"


@dataclass(frozen=True)
class Terms:
    """The knobs an economy may turn (``pricing_config.py``): multipliers in basis points (7,500 = x 3/4).

    The defaults are the formula above; with them ``market_fee`` is exactly ``floor(base * 3/4 * 5/4)``
    and so on, since each default multiplier is an exact fraction of 10,000.
    """

    band_undercut_bps: int = BANDS["undercut"][0] * BPS // BANDS["undercut"][1]
    band_market_bps: int = BPS
    band_premium_bps: int = BANDS["premium"][0] * BPS // BANDS["premium"][1]
    band_far_over_bps: int = BANDS["far_over"][0] * BPS // BANDS["far_over"][1]
    scarcity_target_units: int = SCARCE_BELOW_UNITS
    scarcity_alpha_bps: int = SCARCITY[0] * BPS // SCARCITY[1]

    def band_bps(self, band: str) -> int:
        return BPS if band == "no_history" else getattr(self, f"band_{band}_bps")


DEFAULT_TERMS = Terms()


def market_fee(base_bps: int, unit_price: int, reference: Optional[int], listed_units: int,
               terms: Terms = DEFAULT_TERMS) -> FeeQuote:
    """The fee in basis points for a listing at ``unit_price`` (see the module docstring).

    ``listed_units`` counts the units of the SKU in active listings, this one
    included. Raises ValueError for a base outside 0..10,000 or a negative price.
    """
    if not isinstance(base_bps, int) or not 0 <= base_bps <= BPS:
        raise ValueError(f"base_bps must be 0..{BPS}, got {base_bps!r}")
    if unit_price < 0 or listed_units < 0:
        raise ValueError("unit_price and listed_units must not be negative")
    band = band_for(unit_price, reference)
    scarce = listed_units < terms.scarcity_target_units
    alpha = terms.scarcity_alpha_bps if scarce else BPS
    fee = min(base_bps * terms.band_bps(band) * alpha // (BPS * BPS), MAX_FEE_BPS)
    return FeeQuote(fee, base_bps, band, scarce, reference or None, listed_units)


def weighted_median(sales: Iterable[Tuple[int, int]]) -> Optional[int]:
    """The median unit price over the units sold, from (unit_price, qty) pairs.

    An even count of units takes the floor of the mean of the two middle ones.
    """
    ordered = sorted((p, q) for p, q in sales if q > 0)
    units = sum(q for _, q in ordered)
    if units == 0:
        return None
    wanted = [(units - 1) // 2, units // 2]  # 0-based unit positions of the middle
    found: List[int] = []
    seen = 0
    for price, qty in ordered:
        while wanted and wanted[0] < seen + qty:
            found.append(price)
            wanted.pop(0)
        seen += qty
    return (found[0] + found[1]) // 2


@dataclass(frozen=True)
class Stats:
    median_7d: Optional[int]
    avg_7d: Optional[int]
    units_7d: int
    volume_24h: int
    coins_24h: int
    next_due: Optional[str]  # when a sale ages out of a window and the stats change


def summarize(sales: Sequence[Dict[str, Any]], now: datetime) -> Stats:
    """7-day median/average and 24-hour volume of ``sales`` (dicts with sold_at, qty, unit_price)."""
    week_start, day_start = now - WEEK, now - DAY
    week = [s for s in sales if _parse(s["sold_at"]) > week_start]
    day = [s for s in week if _parse(s["sold_at"]) > day_start]
    units = sum(int(s["qty"]) for s in week)
    coins = sum(int(s["qty"]) * int(s["unit_price"]) for s in week)
    ages = [_parse(s["sold_at"]) + WEEK for s in week] + [_parse(s["sold_at"]) + DAY for s in day]
    return Stats(
        median_7d=weighted_median((int(s["unit_price"]), int(s["qty"])) for s in week),
        avg_7d=coins // units if units else None,
        units_7d=units,
        volume_24h=sum(int(s["qty"]) for s in day),
        coins_24h=sum(int(s["qty"]) * int(s["unit_price"]) for s in day),
        next_due=iso(min(ages) + timedelta(milliseconds=1)) if ages else None,
    )


def _parse(moment: str) -> datetime:
    return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


# -- reading what the guards use -----------------------------------------------------


def current(economy: str, sku: str) -> Dict[str, Any]:
    """The last rollup of ``sku``: median_7d, avg_7d (None without sales), units_7d, volume_24h, coins_24h."""
    item = store.find_price(economy, sku)
    return {
        "sku": sku,
        "median_7d": item.get("median_7d"),
        "avg_7d": item.get("avg_7d"),
        "units_7d": item.get("units_7d", 0),
        "volume_24h": item.get("volume_24h", 0),
        "coins_24h": item.get("coins_24h", 0),
        "computed_at": item.get("computed_at"),
    }


def history(economy: str, sku: str, limit: int = 30) -> List[Dict[str, Any]]:
    """The SKU's past rollups, newest first."""
    return [{k: item.get(k) for k in ("computed_at", *store.STATS)} for item in store.history(economy, sku, limit)]


# -- the rollup job ---------------------------------------------------------------------


def rollup_prices(ctx: Any, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``pricing-rollup``: mark SKUs with new sales due, then recompute every due SKU (bounded)."""
    now = now or now_iso()
    _collect_new_sales(ctx, now)
    if not ctx.should_stop():
        _recompute_due(ctx, now)
    return {"now": now}


def _collect_new_sales(ctx: Any, now: str) -> None:
    """Mark each new sale's SKU due and take the sale out of the ``pending`` index (``runtime.due``)."""

    def take(sale: Dict[str, Any]) -> str:
        store.mark_due(sale["economy"], sale["sku"], now)
        store.sale_seen(sale)
        return "sales_seen"

    run_due_index(ctx, table="sales", prefix="r", shards=SALE_ROLLUP_SHARDS, now=now, handle=take, key="sold_key",
                  index="pending", shard_attr="rollup_shard", at_attr="sold_at")


def _recompute_due(ctx: Any, now: str) -> None:
    def one(item: Dict[str, Any]) -> str:
        return "recomputed" if recompute(item["economy"], item["sku"], now) else "skipped"

    run_due_index(ctx, table="prices", prefix="p", shards=PRICE_DUE_SHARDS, now=now, handle=one, key="sku_key",
                  at_attr="due_at")


def recompute(economy: str, sku: str, now: str) -> bool:
    """Recompute one SKU's stats from its sales and write them (and a history row). False when a newer sale raced us."""
    seen = store.find_price(economy, sku)
    at = _parse(now)
    stats = summarize(list(store.sales_since(economy, sku, iso(at - WEEK), now)), at)
    # False: marked due again meanwhile (or another run wrote it): the next run recomputes.
    return store.write_stats(economy, sku, asdict(stats), now, stats.next_due, seen.get("rev"))
