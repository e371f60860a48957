"""Per-economy spending rates: the default creator share and the escrow fee.

Stored in the economy's ``tunables`` map (``creator_share_bps``,
``escrow_fee_bps``); an economy that sets none gets the stage defaults
``CREATOR_SHARE_BPS`` (7,000) and ``ESCROW_FEE_BPS`` (1,000). Changing them is
an operator action, audited in the same transaction.

Rates are read on hot paths (a tip, a settle to a recipient), so each container
caches them for ``RATES_CACHE_SECONDS``: a change applies everywhere within that
window, at once in the container that made it.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.config import get_settings
from chalicelib.spending import store
from chalicelib.tenancy.audit import audit_write

RATE_NAMES = ("creator_share_bps", "escrow_fee_bps")
RATES_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Rates:
    creator_share_bps: int
    escrow_fee_bps: int

    def as_dict(self) -> Dict[str, int]:
        return asdict(self)


def _tunables(economy: str) -> Dict[str, Any]:
    return store.read_tunables(economy)


_cache: Dict[Tuple[Any, str], Tuple[Rates, float]] = {}
_cache_lock = threading.Lock()
_clock = time.monotonic  # a seam: the simulation runs it on its own clock


def get_rates(economy: str, *, fresh: bool = False) -> Rates:
    """The economy's rates, its own where set, the stage defaults otherwise (cached unless ``fresh``)."""
    settings = get_settings()
    cache_key = (id(settings), economy)  # new settings (tests, another stage) never see old rates
    now = _clock()
    if not fresh:
        with _cache_lock:
            hit = _cache.get(cache_key)
        if hit and hit[1] > now:
            return hit[0]
    tunables = _tunables(economy)
    rates = Rates(
        creator_share_bps=int(tunables.get("creator_share_bps", settings.creator_share_bps)),
        escrow_fee_bps=int(tunables.get("escrow_fee_bps", settings.escrow_fee_bps)),
    )
    with _cache_lock:
        _cache[cache_key] = (rates, now + RATES_CACHE_SECONDS)
    return rates


def set_rates(economy: str, changes: Mapping[str, int], actor: str) -> Dict[str, Any]:
    """Set some rates of ``economy`` (basis points 0..10,000), audited.

    Only the named rates change (other tunables are left alone). Raises
    EconomyNotFoundError; ValueError for a name outside ``RATE_NAMES``.
    """
    unknown = set(changes) - set(RATE_NAMES)
    if unknown:
        raise ValueError(f"unknown rates {sorted(unknown)}")
    if not store.ensure_tunables(economy):
        raise errors.EconomyNotFoundError(economy_id=economy)
    before = get_rates(economy, fresh=True)
    after = Rates(**{**before.as_dict(), **changes})
    if not changes:
        return {"rates": after.as_dict(), "changed": False}
    row = audit_write(economy, actor, "economy.rates", keys.tag("economy", economy),
                      before=before.as_dict(), after=after.as_dict())
    store.set_tunables(economy, changes, row)
    get_rates(economy, fresh=True)  # this container sees its own change at once
    return {"rates": after.as_dict(), "changed": before != after}
