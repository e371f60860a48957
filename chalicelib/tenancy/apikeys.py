"""API keys: minted once, stored as a SHA-256 hash, bound to one economy.

A key is ``chk_`` + 32 random bytes (base64url), so a hash is as good as a
password hash here: nothing can be brute-forced back. Verified keys are cached
per container for ``COINS_API_KEY_CACHE_SECONDS`` (default 30): a revocation
takes effect everywhere within that window, and a hot path saves a read.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.config import get_settings
from chalicelib.core.ids import now_iso
from chalicelib.tenancy import roles, store
from chalicelib.tenancy.economies import ensure_economy
from chalicelib.tenancy.store import ApiKey

# ``rewards`` is its own scope: a grant mints coins from nothing, so a key that
# may spend users' coins (``write``) may not mint them; grants need a key made
# for it (and each such key has a daily mint budget, ``chalicelib/rewards/budget.py``).
SCOPES = frozenset({"read", "write", "admin", "rewards"})
# An operator key carries one role of ``roles.ROLES``; the role decides the admin routes
# (``roles.may``), the scopes decide the others. A key with the ``admin`` scope and no role
# acts as ``roles.LEGACY_ADMIN_SCOPE_ROLE``.


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key of one economy with some scopes, and maybe an operator role."""

    economy: str
    key_id: str
    scopes: FrozenSet[str]
    role: Optional[str] = None

    @property
    def actor(self) -> str:
        return keys.tag("api_key", self.key_id)

    @property
    def roles(self) -> FrozenSet[str]:
        """What ``roles.may`` reads: the key's role, or ADMIN for a key of the old ``admin`` scope."""
        if self.role:
            return frozenset({self.role})
        return frozenset({roles.LEGACY_ADMIN_SCOPE_ROLE}) if "admin" in self.scopes else frozenset()

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise errors.ForbiddenError(required_scope=scope, key_scopes=sorted(self.scopes))


_cache: Dict[str, Tuple[Principal, float]] = {}
_cache_lock = threading.Lock()
# Read through the module so a test can move time past the TTL instead of waiting for it.
_clock = time.monotonic


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def key_id_for(token: str) -> str:
    return "key_" + _digest(token)[:16]


def new_token() -> str:
    return "chk_" + secrets.token_urlsafe(32)


def create_key(economy: str, scopes: Iterable[str], label: Optional[str] = None, token: Optional[str] = None,
               role: Optional[str] = None) -> Tuple[str, str]:
    """Store a key (a new random token unless one is given); returns (token, key_id).

    A key has scopes, or a role, or both. Raises ValueError on unknown scopes or
    roles. Re-creating the same token is a no-op that keeps its economy (so
    ``make run`` can mint the dev key every start) and sets its scopes and role.
    """
    wanted = set(scopes)
    unknown = wanted - SCOPES
    if unknown or not (wanted or role):
        raise ValueError(f"scopes must be a subset of {sorted(SCOPES)}, non-empty unless a role is given; "
                         f"got {sorted(wanted)}")
    if role is not None and not roles.valid_role(role):
        raise ValueError(f"role must be one of {', '.join(roles.ROLES)}; got {role!r}")
    ensure_economy(economy)
    token = token or new_token()
    key_id = key_id_for(token)
    item = ApiKey(key_id, key_hash=_digest(token), economy=economy, scopes=frozenset(wanted), label=label,
                  created_at=now_iso(), role=role)
    if not store.put_api_key_if_absent(item):
        existing = store.find_api_key(key_id)
        if existing is None or existing.economy != economy:
            raise ValueError("that token already belongs to another economy")
        if existing.revoked_at is None:
            store.set_api_key_scopes(key_id, frozenset(wanted), role)
    return token, key_id


def authenticate(token: Optional[str]) -> Principal:
    """The principal for a bearer token; raises UnauthenticatedError."""
    if not token or len(token) > 256:
        raise errors.UnauthenticatedError()
    digest = _digest(token)
    ttl = get_settings().api_key_cache_seconds
    now = _clock()
    with _cache_lock:
        hit = _cache.get(digest)
    if hit and hit[1] > now:
        return hit[0]
    # The low-level client the ledger already built (the store's): a PynamoDB model
    # here would build a second botocore session on the cold-start path (~150 ms).
    item = store.find_api_key("key_" + digest[:16])
    if item is None or item.revoked_at is not None or not hmac.compare_digest(item.key_hash, digest):
        raise errors.UnauthenticatedError()
    principal = Principal(item.economy, item.key_id, item.scopes, item.role)
    if ttl > 0:
        with _cache_lock:
            _cache[digest] = (principal, now + ttl)
    return principal


def revoke(key_id: str) -> bool:
    """Revoke a key; False when no such key. Cached copies expire within the TTL."""
    item = store.find_api_key(key_id)
    if item is None:
        return False
    if item.revoked_at is None:
        store.revoke_api_key(key_id)
    return True


def list_keys(economy: Optional[str] = None) -> List[dict]:
    """Keys (never their secrets); a scan, fine for an operator's CLI."""
    return [
        {
            "key_id": k.key_id,
            "economy": k.economy,
            "scopes": sorted(k.scopes or ()),
            "role": k.role,
            "label": k.label,
            "created_at": k.created_at,
            "revoked_at": k.revoked_at,
        }
        for k in store.scan_api_keys(economy)
    ]


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
