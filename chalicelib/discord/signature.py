"""Verifying Discord's Ed25519 signature, before anything reads the body.

Discord signs ``X-Signature-Timestamp + raw body`` with the application's key
and sends the signature in ``X-Signature-Ed25519`` (hex). It also sends bad
signatures on purpose, and removes an endpoint that accepts them: every
failure here is a 401, and nothing is parsed first.

The public key is ``DISCORD_PUBLIC_KEY``; in the ``local`` stage, when it is
unset, the dev key pair that ``make run`` creates (``.local/discord-dev-key.json``)
stands in. With neither, every request is refused.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Dict, Optional

from chalicelib.core import errors

MAX_SKEW_SECONDS = 300  # Discord's requests are fresh; a replayed one is not

_keys: Dict[str, Any] = {}
_keys_lock = threading.Lock()


def public_key_hex() -> Optional[str]:
    """The configured public key (hex), the local dev key's in the local stage, or None."""
    from chalicelib.core.config import get_settings

    settings = get_settings()
    if settings.discord_public_key:
        return settings.discord_public_key
    if settings.is_local:
        from chalicelib.discord.devkey import load_public_key

        return load_public_key()
    return None


def _verify_key(public_hex: str) -> Any:
    from nacl.signing import VerifyKey

    with _keys_lock:
        key = _keys.get(public_hex)
        if key is None:
            key = _keys[public_hex] = VerifyKey(bytes.fromhex(public_hex))
        return key


def verify(headers: Any, raw_body: bytes, *, public_hex: Optional[str] = None, now: Optional[float] = None) -> None:
    """Check the signature of one interaction request.

    ``headers`` is any case-insensitive mapping (Chalice's). Raises
    SignatureInvalidError when a header is missing, the timestamp is not within
    five minutes of now, or the signature does not verify (altered body, other key).
    """
    from nacl.exceptions import BadSignatureError

    signature = headers.get("x-signature-ed25519")
    timestamp = headers.get("x-signature-timestamp")
    if not signature or not timestamp:
        raise errors.SignatureInvalidError(reason="missing_headers")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise errors.SignatureInvalidError(reason="bad_timestamp")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > MAX_SKEW_SECONDS:
        raise errors.SignatureInvalidError(reason="stale_timestamp")
    key_hex = public_hex or public_key_hex()
    if not key_hex:
        raise errors.SignatureInvalidError(reason="no_public_key")
    try:
        sig = bytes.fromhex(signature)
        key = _verify_key(key_hex)
    except ValueError:
        raise errors.SignatureInvalidError(reason="malformed") from None
    if len(sig) != 64:
        raise errors.SignatureInvalidError(reason="malformed")
    try:
        key.verify(timestamp.encode() + (raw_body or b""), sig)
    except BadSignatureError:
        raise errors.SignatureInvalidError(reason="bad_signature") from None


def sign(signing_key_hex: str, raw_body: bytes, timestamp: Optional[str] = None) -> Dict[str, str]:
    """Headers Discord would send for ``raw_body`` (``scripts/discord_send.py`` and tests)."""
    from nacl.signing import SigningKey

    ts = timestamp or str(int(time.time()))
    signed = SigningKey(bytes.fromhex(signing_key_hex)).sign(ts.encode() + raw_body)
    return {"X-Signature-Ed25519": signed.signature.hex(), "X-Signature-Timestamp": ts}
