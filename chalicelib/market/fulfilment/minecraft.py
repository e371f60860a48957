"""The outbound call to a Minecraft plugin: one signed POST per try.

Request (the README's "fulfilment contract" is the plugin author's copy)::

    POST <MINECRAFT_API_URL>
    Content-Type: application/json
    Idempotency-Key: <order_id>
    X-Coinhall-Timestamp: <unix seconds>
    X-Coinhall-Signature: sha256=<hex HMAC-SHA256(MINECRAFT_API_KEY, "<timestamp>.<body>")>

    {"action": "...", "order_id": "ord_...", "payload": {...}, "player_id": "..."}

How an answer is taken: 2xx delivered (also for an order id the plugin already
delivered: it must answer as the first time); 408, 425, 429, any 5xx, a
timeout or a network error: try again later; any other 4xx: the plugin refuses
the order for good (unknown player, bad payload) and it is refunded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

from chalicelib.core import errors, signing
from chalicelib.core.config import get_settings

USER_AGENT = "Coinhall-Fulfilment/1.0"
_RETRY_4XX = {408, 425, 429}


@dataclass(frozen=True)
class Delivery:
    """What one try came to."""

    outcome: str  # delivered | refused | retry
    status: Optional[int]
    detail: str


def request_body(order: Dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed) for ``order``."""
    body = {"order_id": order["order_id"], "player_id": order["player_id"], "action": order["action"],
            "payload": order.get("payload") or {}}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def configured() -> bool:
    """Whether direct delivery can be tried: MINECRAFT_API_URL and MINECRAFT_API_KEY are set."""
    settings = get_settings()
    return bool(settings.minecraft_api_url and settings.minecraft_api_key)


def ensure_configured() -> None:
    """Raise FulfilmentUnavailableError unless MINECRAFT_API_URL and MINECRAFT_API_KEY are set."""
    if not configured():
        settings = get_settings()
        names = (("MINECRAFT_API_URL", settings.minecraft_api_url), ("MINECRAFT_API_KEY", settings.minecraft_api_key))
        raise errors.FulfilmentUnavailableError(missing=[name for name, value in names if not value])


def classify(status: int) -> str:
    """delivered | refused | retry for an HTTP status from the plugin."""
    if 200 <= status < 300:
        return "delivered"
    if status in _RETRY_4XX or status >= 500:
        return "retry"
    if 400 <= status < 500:
        return "refused"
    return "retry"  # 1xx/3xx: a proxy or a misconfiguration; not the plugin's answer


def deliver(order: Dict[str, Any]) -> Delivery:
    """POST ``order`` to the plugin once (timeout ``MINECRAFT_TIMEOUT_S``). Raises FulfilmentUnavailableError."""
    import requests

    ensure_configured()
    settings = get_settings()
    body = request_body(order)
    headers = {"Content-Type": "application/json", "Idempotency-Key": order["order_id"], "User-Agent": USER_AGENT,
               **signing.signed_headers(settings.minecraft_api_key or "", body)}
    try:
        response = requests.post(settings.minecraft_api_url, data=body, headers=headers,
                                 timeout=settings.minecraft_timeout_s, allow_redirects=False)
    except requests.Timeout:
        return Delivery("retry", None, "timeout")
    except requests.RequestException as exc:
        return Delivery("retry", None, type(exc).__name__)
    return Delivery(classify(response.status_code), response.status_code, response.text[:200])
