"""Coin packs: what an economy sells for money, their terms checked where they enter (``pack_limits``)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Mapping, Optional

from chalicelib.core import errors, keys
from chalicelib.purchases import store
from chalicelib.purchases.pack_limits import pack_problems
from chalicelib.purchases.store import Pack
from chalicelib.tenancy.audit import audit_write

# The packs every new local economy starts with (price in minor units, USD).
DEFAULT_PACKS = (
    {"pack_id": "coins_100", "name": "100 coins", "coins": 100, "bonus_coins": 0, "price_amount": 999},
    {"pack_id": "coins_500", "name": "500 coins +10%", "coins": 500, "bonus_coins": 50, "price_amount": 4499},
    {"pack_id": "coins_1000", "name": "1,000 coins +20%", "coins": 1000, "bonus_coins": 200, "price_amount": 7999},
    {"pack_id": "coins_5000", "name": "5,000 coins +30%", "coins": 5000, "bonus_coins": 1500, "price_amount": 34999},
)


def seed_packs(economy_id: str, packs: Iterable[Mapping[str, Any]] = DEFAULT_PACKS, currency: str = "usd") -> int:
    """Put the default packs where missing; returns how many were written."""
    written = 0
    for order, pack in enumerate(packs):
        if store.put_pack_if_absent(economy_id, {"currency": currency, "sort_order": order, "active": True, **pack}):
            written += 1
    return written


def pack_view(pack: Pack) -> Dict[str, Any]:
    """The pack's JSON view."""
    return {
        "id": pack.pack_id,
        "name": pack.name,
        "coins": int(pack.coins),
        "bonus_coins": int(pack.bonus_coins or 0),
        "total_coins": int(pack.coins) + int(pack.bonus_coins or 0),
        "price": {"amount": int(pack.price_amount), "currency": pack.currency},
        "active": bool(pack.active),
    }


def find_pack(economy_id: str, pack_id: str) -> Optional[Pack]:
    """The pack (an eventually consistent read), or None."""
    return store.find_pack(economy_id, pack_id)


def list_packs(economy_id: str, include_inactive: bool = False) -> List[Dict[str, Any]]:
    """The economy's packs on sale (or all of them), in their sort order."""
    packs = sorted(store.query_packs(economy_id), key=lambda p: (p.sort_order or 0, p.pack_id))
    return [pack_view(p) for p in packs if include_inactive or p.active]


def put_pack(economy_id: str, pack_id: str, fields: Dict[str, Any], actor: str) -> Dict[str, Any]:
    """Create or replace a pack, with its audit row in the same transaction.

    Raises PackTermsInvalidError for a pack on sale whose terms could not be
    charged or credited (``pack_limits``); one off sale may keep them, so a pack
    stored before the limits can still be taken off sale.
    """
    if fields.get("active", True):
        problems = pack_problems(fields.get("coins"), fields.get("bonus_coins", 0), fields.get("price_amount"),
                                 fields.get("currency"))
        if problems:
            raise errors.PackTermsInvalidError(pack_id=pack_id, problems=problems)
    stored = store.find_pack(economy_id, pack_id, consistent=True)
    before = _flat(pack_view(stored)) if stored is not None else None
    pack, put = store.pack_put(economy_id, pack_id, fields)
    after = pack_view(pack)
    row = audit_write(economy_id, actor, "pack.put", keys.tag("pack", pack_id), before=before, after=_flat(after))
    store.transact([put, row])
    return after


def deactivate_pack(economy_id: str, pack_id: str, actor: str) -> Dict[str, Any]:
    """Take a pack off sale (purchases already made keep their terms). Raises PackNotFoundError."""
    pack = store.find_pack(economy_id, pack_id, consistent=True)
    if pack is None:
        raise errors.PackNotFoundError(pack_id=pack_id)
    fields = {k: getattr(pack, k) for k in ("name", "coins", "bonus_coins", "price_amount", "currency", "sort_order")}
    return put_pack(economy_id, pack_id, {**fields, "active": False}, actor)


def _flat(view: Dict[str, Any]) -> Dict[str, Any]:
    price = view["price"]
    return {**{k: v for k, v in view.items() if k != "price"}, "price_amount": price["amount"],
            "currency": price["currency"]}


def get_pack(economy_id: str, pack_id: str) -> Dict[str, Any]:
    """The pack's view. Raises PackNotFoundError."""
    pack = store.find_pack(economy_id, pack_id)
    if pack is None:
        raise errors.PackNotFoundError(pack_id=pack_id)
    return pack_view(pack)
