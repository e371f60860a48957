"""Game servers: each redeems vouchers of one economy, signing with its own secret.

A game server is registered by an operator (``python -m chalicelib.cli
game-server create --economy E`` or ``POST /v1/admin/game-servers``) and gets
an id (``gs_...``) and a secret, shown once. It signs each redeem webhook with
``chalicelib.core.signing`` under that secret and names itself in
``X-Coinhall-Server``; ``verify_redeem`` looks the server up, verifies the
signature over the raw body (before anything is parsed) and returns the one
economy whose vouchers the request may see.

Rotation: ``rotate`` makes a new secret; the one it replaces keeps verifying
for a grace period (default a day, at most a week, 0 = at once), so a fleet
can switch over without a gap. Revocation removes every secret: the server's
requests are refused from then on. Every change is written with its audit row
in one transaction.

The secrets are kept as they are (an HMAC needs its key; a hash would not do),
in this table only: no listing, audit row, log line or error ever shows one.

Deprecated: a redeem without ``X-Coinhall-Server`` is verified with the
deployment-wide ``REDEMPTION_WEBHOOK_SECRET`` and sees the ``default``
economy's vouchers only; each such request logs a warning.
"""
from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from datetime import timedelta
from typing import Any, Dict, List, Mapping, Optional, Tuple

from chalicelib.core import errors, keys, signing
from chalicelib.core.config import get_settings
from chalicelib.core.ids import iso, new_id, now_iso, utc_now
from chalicelib.tenancy import store
from chalicelib.tenancy.audit import audit_write
from chalicelib.tenancy.economies import economy_exists

log = logging.getLogger("coinhall.game_servers")

SERVER_HEADER = "X-Coinhall-Server"
LEGACY_ECONOMY = "default"  # the only economy the deprecated global secret may redeem for
DEFAULT_GRACE_SECONDS = 86_400
MAX_GRACE_SECONDS = 7 * 86_400
MAX_LABEL = 100
_SERVER_ID = re.compile(r"^gs_[0-9A-Z]{26}$")
_ATTEMPTS = 20


def valid_server_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_SERVER_ID.match(value))


def _new_secret() -> str:
    return "gss_" + secrets.token_urlsafe(32)


def server_view(item: Mapping[str, Any]) -> Dict[str, Any]:
    """What operators see of a server: never a secret."""
    return {
        "server_id": item["server_id"],
        "economy": item["economy"],
        "label": item.get("label"),
        "status": "revoked" if item.get("revoked_at") else "active",
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
        "secret_created_at": item.get("secret_created_at"),
        "previous_secret_expires_at": item.get("previous_expires_at") if item.get("previous_secret") else None,
        "revoked_at": item.get("revoked_at"),
    }


def find_server(server_id: str) -> Optional[Dict[str, Any]]:
    """The server's record, secrets included (a consistent read), or None."""
    return store.find_server(server_id)


def _load(server_id: str, economy: Optional[str]) -> Dict[str, Any]:
    """The server, if it is ``economy``'s (any economy's when None); GameServerNotFoundError otherwise."""
    item = find_server(server_id) if valid_server_id(server_id) else None
    if item is None or (economy is not None and item["economy"] != economy):
        raise errors.GameServerNotFoundError(server_id=server_id[:64])
    return item


def get_server(economy: str, server_id: str) -> Dict[str, Any]:
    """Raises GameServerNotFoundError."""
    return server_view(_load(server_id, economy))


def list_servers(economy: Optional[str] = None) -> List[Dict[str, Any]]:
    """An economy's servers (index query), or every server (a scan: the operator CLI only)."""
    found = [server_view(item) for item in store.query_servers(economy)]
    return sorted(found, key=lambda s: (s["economy"], s["server_id"]))


def create_server(economy: str, actor: str, label: Optional[str] = None,
                  reason: Optional[str] = None) -> Dict[str, Any]:
    """Register a game server for ``economy``: its view plus ``secret`` (shown this once).

    Raises EconomyNotFoundError.
    """
    if not economy_exists(economy):
        raise errors.EconomyNotFoundError(economy=economy)
    now, secret = now_iso(), _new_secret()
    item = {"server_id": new_id("gs_"), "economy": economy, "label": label, "secret": secret,
            "secret_created_at": now, "version": 1, "created_at": now, "updated_at": now}
    view = server_view(item)
    row = audit_write(economy, actor, "game_server.create", keys.join("game_server", item["server_id"]), reason=reason,
                      after=view)
    store.transact([store.server_put(item), row])
    return {**view, "secret": secret}


def rotate_server(server_id: str, actor: str, grace_seconds: int = DEFAULT_GRACE_SECONDS,
                  economy: Optional[str] = None, reason: Optional[str] = None) -> Dict[str, Any]:
    """A new secret for the server; the current one keeps verifying for ``grace_seconds`` (0: stops now).

    Returns the view plus ``secret`` (shown this once). Raises GameServerNotFoundError,
    GameServerRevokedError (a revoked server stays revoked), ValueError (grace out of range),
    ContentionError.
    """
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValueError(f"the grace period is 0 to {MAX_GRACE_SECONDS} seconds")

    def change(before: Dict[str, Any], now: str) -> Dict[str, Any]:
        secret = _new_secret()
        after = {**before, "secret": secret, "secret_created_at": now, "previous_secret": None,
                 "previous_expires_at": None}
        if grace_seconds > 0:
            after["previous_secret"] = before["secret"]
            after["previous_expires_at"] = iso(utc_now() + timedelta(seconds=grace_seconds))
        return after

    after = _change(server_id, economy, actor, "game_server.rotate", reason, change)
    return {**server_view(after), "secret": after["secret"]}


def revoke_server(server_id: str, actor: str, economy: Optional[str] = None,
                  reason: Optional[str] = None) -> Dict[str, Any]:
    """Refuse the server's requests from now on (its secrets are deleted). Idempotent.

    Raises GameServerNotFoundError, ContentionError.
    """
    before = _load(server_id, economy)
    if before.get("revoked_at"):
        return server_view(before)

    def change(current: Dict[str, Any], now: str) -> Dict[str, Any]:
        return {**current, "secret": None, "secret_created_at": None, "previous_secret": None,
                "previous_expires_at": None, "revoked_at": now}

    return server_view(_change(server_id, economy, actor, "game_server.revoke", reason, change))


def _change(server_id: str, economy: Optional[str], actor: str, action: str, reason: Optional[str],
            change: Any) -> Dict[str, Any]:
    """Apply ``change(before, now) -> after`` to an active server with its audit row, under its version.

    Raises GameServerNotFoundError, GameServerRevokedError, ContentionError.
    """

    def write(before: Optional[Dict[str, Any]]) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
        assert before is not None  # _load raises for a missing server
        if before.get("revoked_at"):
            raise errors.GameServerRevokedError(server_id=server_id)
        now = now_iso()
        after = {**change(before, now), "version": before["version"] + 1, "updated_at": now}
        row = audit_write(before["economy"], actor, action, keys.join("game_server", server_id), reason=reason,
                          before=server_view(before), after=server_view(after))
        return after, [store.versioned_write("game_servers", {"server_id": server_id}, before, after), row]

    _, after = store.versioned_change(lambda: _load(server_id, economy), write, attempts=_ATTEMPTS,
                                      contention=lambda: errors.ContentionError(server_id=server_id))
    assert after is not None
    _forget(server_id)
    return after


def _keys(item: Mapping[str, Any], now: str) -> List[str]:
    keys = [item["secret"]] if item.get("secret") else []
    if item.get("previous_secret") and (item.get("previous_expires_at") or "") > now:
        keys.append(item["previous_secret"])
    return keys


# server_id -> (record, monotonic expiry): a redeem costs no extra read while warm.
# Kept as long as API keys are (COINS_API_KEY_CACHE_SECONDS): a revocation takes
# effect everywhere within that window (at once in the process that made it);
# a signature the cached record does not verify is checked once more against a
# fresh read, so a rotated secret works at once.
_cache: Dict[str, Tuple[Dict[str, Any], float]] = {}
_cache_lock = threading.Lock()
_clock = time.monotonic  # a seam: the simulation runs it on its own clock


def _forget(server_id: str) -> None:
    with _cache_lock:
        _cache.pop(server_id, None)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _record(server_id: str, fresh: bool) -> Optional[Dict[str, Any]]:
    now = _clock()
    if not fresh:
        with _cache_lock:
            hit = _cache.get(server_id)
        if hit and hit[1] > now:
            return hit[0]
    item = find_server(server_id)
    ttl = get_settings().api_key_cache_seconds
    if item is not None and ttl > 0:
        with _cache_lock:
            _cache[server_id] = (item, now + ttl)
    return item


def verify_redeem(headers: Any, raw_body: bytes, now: Optional[float] = None) -> str:
    """The economy a signed redeem request may act on; SignatureInvalidError (401) when it may act on none.

    ``headers`` is a case-insensitive mapping (Chalice's). Nothing of the body is read.
    """
    timestamp = headers.get(signing.TIMESTAMP_HEADER.lower())
    signature = headers.get(signing.SIGNATURE_HEADER.lower())
    server_id = headers.get(SERVER_HEADER.lower())
    if server_id is None:
        signing.verify(get_settings().redemption_secrets, raw_body, timestamp, signature, now=now)
        log.warning("deprecated: a redeem signed with the global REDEMPTION_WEBHOOK_SECRET (no %s header); "
                    "it sees only the %r economy's vouchers: register the game server "
                    "(`python -m chalicelib.cli game-server create --economy E`)", SERVER_HEADER, LEGACY_ECONOMY)
        return LEGACY_ECONOMY
    if not valid_server_id(server_id):
        raise _unknown()
    for fresh in (False, True):
        item = _record(server_id, fresh)
        if item is None or item.get("revoked_at"):
            raise _unknown()
        try:
            signing.verify(_keys(item, now_iso()), raw_body, timestamp, signature, now=now)
        except errors.SignatureInvalidError as exc:
            if fresh or exc.details.get("reason") != "mismatch":
                raise
            continue  # the cached record may predate a rotation
        return item["economy"]
    raise _unknown()  # not reached: the fresh pass returns or raises


def _unknown() -> errors.SignatureInvalidError:
    return errors.SignatureInvalidError(f"{SERVER_HEADER} does not name an active game server.",
                                        reason="unknown_server")
