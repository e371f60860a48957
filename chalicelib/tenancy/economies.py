"""Economies (tenants): one record each, created on first use. (Their coin packs are ``purchases/packs.py``'s.)"""
from __future__ import annotations

from typing import Optional

from chalicelib.ledger.accounts import valid_economy_id
from chalicelib.tenancy import store

DEFAULT_ECONOMY = "default"


def ensure_economy(economy_id: str, name: Optional[str] = None) -> None:
    """Create the economy record when missing (idempotent). Raises ValueError for an invalid id."""
    if not valid_economy_id(economy_id):
        raise ValueError(f"invalid economy id {economy_id!r}: 1-64 of A-Z a-z 0-9 _ . -")
    store.put_economy_if_absent(economy_id, name or economy_id)


def economy_exists(economy_id: str) -> bool:
    """Whether the economy record exists (a consistent read)."""
    return store.economy_exists(economy_id)
