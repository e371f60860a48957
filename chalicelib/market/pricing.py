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
import random
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from chalicelib.core import errors
from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import iso, now_iso
from chalicelib.db import codec

log = logging.getLogger("coinhall.pricing")

BPS = 10_000
UNDERCUT_BELOW_BPS = 9_000  # r < 0.90
PREMIUM_ABOVE_BPS = 12_500  # r > 1.25
FAR_OVER_ABOVE_BPS = 20_000  # r > 2.00
BANDS = {"undercut": (3, 4), "market": (1, 1), "premium": (3, 2), "far_over": (2, 1), "no_history": (1, 1)}
SCARCE_BELOW_UNITS = 10
SCARCITY = (5, 4)
MAX_FEE_BPS = 5_000

SALE_ROLLUP_SHARDS = 8
PRICE_DUE_SHARDS = 8
SALE_TTL_DAYS = 30
HISTORY_TTL_DAYS = 90
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
            f"The lowest price allowed is {floor} coins ({floor_bps / 100:g}% of the 7-day median {median}).",
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


def market_fee(base_bps: int, unit_price: int, reference: Optional[int], listed_units: int) -> FeeQuote:
    """The fee in basis points for a listing at ``unit_price`` (see the module docstring).

    ``listed_units`` counts the units of the SKU in active listings, this one
    included. Raises ValueError for a base outside 0..10,000 or a negative price.
    """
    if not isinstance(base_bps, int) or not 0 <= base_bps <= BPS:
        raise ValueError(f"base_bps must be 0..{BPS}, got {base_bps!r}")
    if unit_price < 0 or listed_units < 0:
        raise ValueError("unit_price and listed_units must not be negative")
    band = band_for(unit_price, reference)
    num, den = BANDS[band]
    scarce = listed_units < SCARCE_BELOW_UNITS
    if scarce:
        num, den = num * SCARCITY[0], den * SCARCITY[1]
    fee = min(base_bps * num // den, MAX_FEE_BPS)
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


def sku_key(economy: str, sku: str) -> str:
    return f"{economy}#{sku}"


def current(economy: str, sku: str) -> Dict[str, Any]:
    """The last rollup of ``sku``: median_7d, avg_7d (None without sales), units_7d, volume_24h, coins_24h."""
    response = get_client().get_item(TableName=table_name("prices"), Key={"sku_key": {"S": sku_key(economy, sku)}},
                                     ConsistentRead=True)
    item = codec.decode_item(response.get("Item") or {})
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
    page = get_client().query(
        TableName=table_name("price_history"),
        KeyConditionExpression="sku_key = :k",
        ExpressionAttributeValues={":k": {"S": sku_key(economy, sku)}},
        ScanIndexForward=False,
        Limit=limit,
    )
    out = []
    for raw in page["Items"]:
        item = codec.decode_item(raw)
        out.append({k: item.get(k) for k in ("computed_at", "median_7d", "avg_7d", "units_7d", "volume_24h",
                                             "coins_24h")})
    return out


def sale_put(economy: str, sku: str, order_id: str, kind: str, qty: int, unit_price: int,
             sold_at: str) -> Dict[str, Any]:
    """The TransactWriteItems element recording one fulfilled order as a sale (written with the settle)."""
    row = {
        "sku_key": sku_key(economy, sku),
        "sold_key": f"{sold_at}#{order_id}",
        "economy": economy,
        "sku": sku,
        "order_id": order_id,
        "kind": kind,
        "qty": qty,
        "unit_price": unit_price,
        "sold_at": sold_at,
        "rollup_shard": f"r{random.randrange(SALE_ROLLUP_SHARDS)}",
        "expires_epoch": int(time.time()) + SALE_TTL_DAYS * 86_400,
    }
    return {"Put": {"TableName": table_name("sales"), "Item": codec.encode_item(row),
                    "ConditionExpression": "attribute_not_exists(sold_key)"}}


# -- the rollup job ---------------------------------------------------------------------


def rollup_prices(ctx: Any, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``pricing-rollup``: mark SKUs with new sales due, then recompute every due SKU (bounded)."""
    now = now or now_iso()
    _collect_new_sales(ctx, now)
    _recompute_due(ctx, now)
    return {"now": now}


def _shards(prefix: str, count: int) -> List[str]:
    shards = [f"{prefix}{i}" for i in range(count)]
    random.shuffle(shards)  # overlapping runs start on different shards
    return shards


def _collect_new_sales(ctx: Any, now: str) -> None:
    client = get_client()
    for shard in _shards("r", SALE_ROLLUP_SHARDS):
        while not ctx.should_stop():
            page = client.query(
                TableName=table_name("sales"), IndexName="pending",
                KeyConditionExpression="rollup_shard = :s AND sold_at <= :now",
                ExpressionAttributeValues={":s": {"S": shard}, ":now": {"S": now}},
                Limit=max(1, min(100, ctx.max_items - ctx.processed)),
            )
            for raw in page["Items"]:
                if ctx.should_stop():
                    return
                sale = codec.decode_item(raw)
                _mark_due(sale["economy"], sale["sku"], now)
                try:
                    client.update_item(
                        TableName=table_name("sales"),
                        Key={"sku_key": {"S": sale["sku_key"]}, "sold_key": {"S": sale["sold_key"]}},
                        UpdateExpression="REMOVE rollup_shard", ConditionExpression="attribute_exists(rollup_shard)",
                    )
                except client.exceptions.ConditionalCheckFailedException:
                    pass  # an overlapping run took it
                ctx.count("sales_seen")
                ctx.count()
            # Rows leave the index as they are taken: the next query starts over.
            if not page["Items"] or "LastEvaluatedKey" not in page:
                break
        if ctx.should_stop():
            return


def _mark_due(economy: str, sku: str, at: str) -> None:
    get_client().update_item(
        TableName=table_name("prices"),
        Key={"sku_key": {"S": sku_key(economy, sku)}},
        UpdateExpression="SET economy = :e, sku = :sku, due_shard = :shard, due_at = :at ADD rev :one",
        ExpressionAttributeValues={
            ":e": {"S": economy}, ":sku": {"S": sku}, ":at": {"S": at}, ":one": {"N": "1"},
            ":shard": {"S": f"p{random.randrange(PRICE_DUE_SHARDS)}"},
        },
    )


def _recompute_due(ctx: Any, now: str) -> None:
    client = get_client()
    for shard in _shards("p", PRICE_DUE_SHARDS):
        kwargs: Dict[str, Any] = {
            "TableName": table_name("prices"), "IndexName": "due",
            "KeyConditionExpression": "due_shard = :s AND due_at <= :now",
            "ExpressionAttributeValues": {":s": {"S": shard}, ":now": {"S": now}},
        }
        while not ctx.should_stop():
            kwargs["Limit"] = max(1, min(100, ctx.max_items - ctx.processed))
            page = client.query(**kwargs)
            for raw in page["Items"]:
                if ctx.should_stop():
                    return
                item = codec.decode_item(raw)
                ctx.count("recomputed" if recompute(item["economy"], item["sku"], now) else "skipped")
                ctx.count()
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def recompute(economy: str, sku: str, now: str) -> bool:
    """Recompute one SKU's stats from its sales and write them (and a history row). False when a newer sale raced us."""
    client = get_client()
    key = {"sku_key": {"S": sku_key(economy, sku)}}
    seen = codec.decode_item(client.get_item(TableName=table_name("prices"), Key=key,
                                             ConsistentRead=True).get("Item") or {})
    at = _parse(now)
    sales = list(_sales_since(economy, sku, iso(at - WEEK), now))
    stats = summarize(sales, at)
    values = {":m": stats.median_7d, ":a": stats.avg_7d, ":u": stats.units_7d, ":v": stats.volume_24h,
              ":c": stats.coins_24h, ":t": now, ":rev": seen.get("rev", 0)}
    update = "SET median_7d = :m, avg_7d = :a, units_7d = :u, volume_24h = :v, coins_24h = :c, computed_at = :t"
    if stats.next_due:
        update += ", due_at = :due"
        values[":due"] = stats.next_due
    else:
        update += " REMOVE due_shard, due_at"
    condition = "rev = :rev" if "rev" in seen else "attribute_not_exists(rev) OR rev = :rev"
    history_row = {"sku_key": sku_key(economy, sku), "computed_at": now, "median_7d": stats.median_7d,
                   "avg_7d": stats.avg_7d, "units_7d": stats.units_7d, "volume_24h": stats.volume_24h,
                   "coins_24h": stats.coins_24h, "expires_epoch": int(time.time()) + HISTORY_TTL_DAYS * 86_400}
    try:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": table_name("prices"), "Key": key, "UpdateExpression": update,
                        "ConditionExpression": condition,
                        "ExpressionAttributeValues": {k: codec.encode(v) for k, v in values.items()}}},
            {"Put": {"TableName": table_name("price_history"), "Item": codec.encode_item(history_row)}},
        ])
    except client.exceptions.TransactionCanceledException:
        return False  # marked due again meanwhile (or another run wrote it): the next run recomputes
    return True


def _sales_since(economy: str, sku: str, since: str, until: str) -> Iterable[Dict[str, Any]]:
    kwargs: Dict[str, Any] = {
        "TableName": table_name("sales"),
        "KeyConditionExpression": "sku_key = :k AND sold_key BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":k": {"S": sku_key(economy, sku)}, ":a": {"S": since}, ":b": {"S": until + "~"}},
        "ProjectionExpression": "sold_at, qty, unit_price",
    }
    client = get_client()
    while True:
        page = client.query(**kwargs)
        for raw in page["Items"]:
            yield codec.decode_item(raw)
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
