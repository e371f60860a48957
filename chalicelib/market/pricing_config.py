"""An economy's market pricing: the base fee, the price floor, the fee bands and scarcity.

Stored in the economy's ``tunables`` map under ``pricing_<name>``; what an
economy does not set comes from the stage (``MARKET_FEE``, ``PRICE_FLOOR_PCT``)
or the formula's defaults (``pricing.Terms``). Changing it is an ADMIN's
action (``config.write``), validated and audited in the same transaction. A
listing's fee is fixed when it is created, so a change applies to listings made
after it: everywhere within ``PRICING_CACHE_SECONDS``, at once in the container
that made it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Dict, Mapping, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.config import get_settings
from chalicelib.market.pricing import BPS, Terms
from chalicelib.tenancy import store
from chalicelib.tenancy.audit import audit_write

PRICING_CACHE_SECONDS = 30.0
_PREFIX = "pricing_"
# name -> (lowest, highest) allowed
BOUNDS: Mapping[str, Tuple[int, int]] = {
    "market_fee_bps": (0, BPS),
    "price_floor_bps": (0, BPS),
    "band_undercut_bps": (0, 4 * BPS),
    "band_market_bps": (0, 4 * BPS),
    "band_premium_bps": (0, 4 * BPS),
    "band_far_over_bps": (0, 4 * BPS),
    "scarcity_target_units": (0, 1_000_000),  # 0: nothing is ever scarce
    "scarcity_alpha_bps": (0, 4 * BPS),
}
NAMES = tuple(BOUNDS)
_BAND_ORDER = ("band_undercut_bps", "band_market_bps", "band_premium_bps", "band_far_over_bps")


@dataclass(frozen=True)
class Pricing:
    market_fee_bps: int
    price_floor_bps: int
    terms: Terms

    def as_dict(self) -> Dict[str, int]:
        return {"market_fee_bps": self.market_fee_bps, "price_floor_bps": self.price_floor_bps, **asdict(self.terms)}


_cache: Dict[Tuple[int, str], Tuple[Pricing, float]] = {}
_cache_lock = threading.Lock()
_clock = time.monotonic  # a seam: the simulation runs it on its own clock


def get_pricing(economy: str, *, fresh: bool = False) -> Pricing:
    """The economy's pricing, its own where set (cached unless ``fresh``)."""
    settings = get_settings()
    cache_key = (id(settings), economy)  # new settings (tests, another stage) never see old values
    now = _clock()
    if not fresh:
        with _cache_lock:
            hit = _cache.get(cache_key)
        if hit and hit[1] > now:
            return hit[0]
    stored = {name[len(_PREFIX):]: int(value) for name, value in store.read_tunables(economy).items()
              if name.startswith(_PREFIX) and name[len(_PREFIX):] in BOUNDS}
    term_names = {f.name for f in fields(Terms)}
    pricing = Pricing(
        market_fee_bps=stored.get("market_fee_bps", settings.market_fee_bps),
        price_floor_bps=stored.get("price_floor_bps", settings.price_floor_bps),
        terms=replace(Terms(), **{k: v for k, v in stored.items() if k in term_names}),
    )
    with _cache_lock:
        _cache[cache_key] = (pricing, now + PRICING_CACHE_SECONDS)
    return pricing


def set_pricing(economy: str, changes: Mapping[str, int], actor: str) -> Dict[str, Any]:
    """Set some of ``NAMES``, audited. ValidationFailedError: out of bounds; PricingBandsOutOfOrderError: each
    band's multiplier must be at least the one below it (a higher price never pays a smaller fee);
    EconomyNotFoundError."""
    unknown = set(changes) - set(BOUNDS)
    if unknown:
        raise ValueError(f"unknown pricing names {sorted(unknown)}")
    for name, value in changes.items():
        low, high = BOUNDS[name]
        if not low <= value <= high:
            raise errors.ValidationFailedError(f"{name} must be {low:,}-{high:,}.", field=name)
    before = get_pricing(economy, fresh=True)
    after_values = {**before.as_dict(), **changes}
    for lower, higher in zip(_BAND_ORDER, _BAND_ORDER[1:]):
        if after_values[higher] < after_values[lower]:
            raise errors.PricingBandsOutOfOrderError(field=lower if lower in changes else higher,
                                                     **{lower: after_values[lower], higher: after_values[higher]})
    if not changes or after_values == before.as_dict():
        return {"pricing": before.as_dict(), "changed": False}
    if not store.ensure_tunables(economy):  # after every check: a refused change writes nothing
        raise errors.EconomyNotFoundError(economy_id=economy)
    row = audit_write(economy, actor, "economy.pricing", keys.tag("economy", economy),
                      before=before.as_dict(), after=after_values)
    store.set_tunables(economy, {_PREFIX + name: value for name, value in changes.items()}, row)
    return {"pricing": get_pricing(economy, fresh=True).as_dict(), "changed": True}
