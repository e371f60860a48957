"""Economies (tenants) and their coin packs."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from chalicelib.core import errors, keys
from chalicelib.db.base import condition_failed
from chalicelib.core.ids import now_iso
from chalicelib.ledger.accounts import valid_economy_id
from chalicelib.purchases.pack_limits import pack_problems

DEFAULT_ECONOMY = "default"

# The packs every new local economy starts with (price in minor units, USD).
DEFAULT_PACKS = (
    {"pack_id": "coins_100", "name": "100 coins", "coins": 100, "bonus_coins": 0, "price_amount": 999},
    {"pack_id": "coins_500", "name": "500 coins +10%", "coins": 500, "bonus_coins": 50, "price_amount": 4499},
    {"pack_id": "coins_1000", "name": "1,000 coins +20%", "coins": 1000, "bonus_coins": 200, "price_amount": 7999},
    {"pack_id": "coins_5000", "name": "5,000 coins +30%", "coins": 5000, "bonus_coins": 1500, "price_amount": 34999},
)


def ensure_economy(economy_id: str, name: Optional[str] = None) -> None:
    """Create the economy record when missing (idempotent)."""
    from chalicelib.db.models.economies import EconomyModel

    if not valid_economy_id(economy_id):
        raise ValueError(f"invalid economy id {economy_id!r}: 1-64 of A-Z a-z 0-9 _ . -")
    try:
        EconomyModel(economy_id, name=name or economy_id, created_at=now_iso()).save(
            condition=EconomyModel.economy_id.does_not_exist()
        )
    except Exception as exc:
        if not condition_failed(exc):
            raise


def seed_packs(economy_id: str, packs=DEFAULT_PACKS, currency: str = "usd") -> int:
    """Put the default packs where missing; returns how many were written."""
    from chalicelib.db.models.economies import PackModel

    written = 0
    for order, pack in enumerate(packs):
        item = PackModel(economy_id, currency=currency, sort_order=order, active=True, updated_at=now_iso(), **pack)
        try:
            item.save(condition=PackModel.pack_id.does_not_exist())
            written += 1
        except Exception as exc:
            if not condition_failed(exc):
                raise
    return written


def pack_view(pack: Any) -> Dict[str, Any]:
    return {
        "id": pack.pack_id,
        "name": pack.name,
        "coins": int(pack.coins),
        "bonus_coins": int(pack.bonus_coins or 0),
        "total_coins": int(pack.coins) + int(pack.bonus_coins or 0),
        "price": {"amount": int(pack.price_amount), "currency": pack.currency},
        "active": bool(pack.active),
    }


def list_packs(economy_id: str, include_inactive: bool = False) -> List[Dict[str, Any]]:
    from chalicelib.db.models.economies import PackModel

    packs = sorted(PackModel.query(economy_id), key=lambda p: (p.sort_order or 0, p.pack_id))
    return [pack_view(p) for p in packs if include_inactive or p.active]


def put_pack(economy_id: str, pack_id: str, fields: Dict[str, Any], actor: str) -> Dict[str, Any]:
    """Create or replace a pack, with its audit row in the same transaction.

    Raises PackTermsInvalidError for a pack on sale whose terms could not be
    charged or credited (``pack_limits``); one off sale may keep them, so a pack
    stored before the limits can still be taken off sale.
    """
    from chalicelib.tenancy.audit import audit_write
    from chalicelib.db.models.economies import PackModel
    from chalicelib.db.engine import get_client

    if fields.get("active", True):
        problems = pack_problems(fields.get("coins"), fields.get("bonus_coins", 0), fields.get("price_amount"),
                                 fields.get("currency"))
        if problems:
            raise errors.PackTermsInvalidError(pack_id=pack_id, problems=problems)
    before = None
    try:
        before = _flat(pack_view(PackModel.get(economy_id, pack_id, consistent_read=True)))
    except PackModel.DoesNotExist:
        pass
    item = PackModel(economy_id, pack_id, updated_at=now_iso(), **fields)
    after = pack_view(item)
    put = {"Put": {"TableName": PackModel.Meta.table_name, "Item": item.serialize()}}
    row = audit_write(economy_id, actor, "pack.put", keys.tag("pack", pack_id), before=before, after=_flat(after))
    get_client().transact_write_items(TransactItems=[put, row])
    return after


def deactivate_pack(economy_id: str, pack_id: str, actor: str) -> Dict[str, Any]:
    """Take a pack off sale (purchases already made keep their terms). Raises PackNotFoundError."""
    from chalicelib.db.models.economies import PackModel

    try:
        pack = PackModel.get(economy_id, pack_id, consistent_read=True)
    except PackModel.DoesNotExist:
        raise errors.PackNotFoundError(pack_id=pack_id) from None
    fields = {k: getattr(pack, k) for k in ("name", "coins", "bonus_coins", "price_amount", "currency", "sort_order")}
    return put_pack(economy_id, pack_id, {**fields, "active": False}, actor)


def _flat(view: Dict[str, Any]) -> Dict[str, Any]:
    price = view["price"]
    return {**{k: v for k, v in view.items() if k != "price"}, "price_amount": price["amount"],
            "currency": price["currency"]}


def get_pack(economy_id: str, pack_id: str) -> Dict[str, Any]:
    from chalicelib.db.models.economies import PackModel

    try:
        return pack_view(PackModel.get(economy_id, pack_id))
    except PackModel.DoesNotExist:
        raise errors.PackNotFoundError(pack_id=pack_id) from None
