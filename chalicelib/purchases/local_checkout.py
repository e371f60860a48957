"""The local payment page: Stripe Checkout's stand-in when there is no Stripe key.

"Pay" builds the event Stripe would send (``checkout.session.completed``),
signs it with the local webhook secret exactly as Stripe signs, and POSTs it to
this app's own ``/v1/webhooks/stripe``, so the real verification and fulfilment
path runs. "Refund" does the same with ``charge.refunded``.

"Our own" is the configured base URL (``COINS_PUBLIC_URL``, else
``http://127.0.0.1:<COINS_PORT>``), never one built from the request's
``Host`` / ``X-Forwarded-Proto``: those are the caller's to choose, and a
signed event must not go wherever a caller points it.
"""
from __future__ import annotations

import html
import json
import logging
import time
from typing import Any, Dict, Optional

from chalicelib.core import errors
from chalicelib.core.config import get_settings
from chalicelib.core.ids import new_id
from chalicelib.purchases import store
from chalicelib.purchases.pack_limits import format_money
from chalicelib.purchases.store import Purchase
from chalicelib.purchases.stripe_gateway import sign_payload

log = logging.getLogger("coinhall.local_checkout")


def _purchase(purchase_id: str) -> Purchase:
    p = store.load(purchase_id) if 0 < len(purchase_id) <= 64 else None
    if p is None or p.mode != "local":
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    return p


def _page(title: str, body: str, refresh: Optional[int] = None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>{meta}"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
        ".card{border:1px solid #ccc;border-radius:12px;padding:1.5rem}button{font-size:1rem;padding:.6rem 1.2rem;"
        "margin-right:.5rem;border-radius:8px;border:1px solid #888;cursor:pointer}.pay{background:#635bff;"
        "color:#fff;border:none}.note{color:#666;font-size:.85rem}</style></head>"
        f"<body><div class='card'>{body}</div></body></html>"
    )


def checkout_page(purchase_id: str) -> str:
    p = _purchase(purchase_id)
    total = int(p.coins) + int(p.bonus_coins or 0)
    e = html.escape
    bonus = f" (+{int(p.bonus_coins)} bonus)" if p.bonus_coins else ""
    return _page(
        "Coinhall local checkout",
        f"<h1>{e(p.pack_name)}</h1><p><strong>{total:,} coins</strong>{e(bonus)} for "
        f"<strong>{e(format_money(int(p.amount), p.currency))}</strong></p><p>Buyer: {e(p.user_id)} · "
        f"Purchase {e(p.purchase_id)} · status <em>{e(p.status)}</em></p>"
        f"<form method='post' action='{e(p.purchase_id)}/pay' style='display:inline'>"
        "<button class='pay' type='submit'>Pay</button></form>"
        f"<form method='post' action='{e(p.purchase_id)}/cancel' style='display:inline'>"
        "<button type='submit'>Cancel</button></form>"
        "<p class='note'>Local stage: no card is charged. Pay sends a signed Stripe-format event to "
        "/v1/webhooks/stripe.</p>",
    )


def _event(event_type: str, obj: Dict[str, Any]) -> Dict[str, Any]:
    return {"id": new_id("evt_local_"), "object": "event", "type": event_type, "created": int(time.time()),
            "livemode": False, "data": {"object": obj}}


def paid_event(p: Any) -> Dict[str, Any]:
    meta = {"economy": p.economy, "user_id": p.user_id, "pack_id": p.pack_id, "purchase_id": p.purchase_id}
    return _event("checkout.session.completed", {
        "id": p.session_id, "object": "checkout.session", "mode": "payment", "status": "complete",
        "payment_status": "paid", "amount_total": int(p.amount), "currency": p.currency,
        "client_reference_id": p.purchase_id, "metadata": meta, "payment_intent": "pi_local_" + p.purchase_id[4:],
    })


def refund_event(p: Any) -> Dict[str, Any]:
    return _event("charge.refunded", {
        "id": "ch_local_" + p.purchase_id[4:], "object": "charge", "amount": int(p.amount),
        "amount_refunded": int(p.amount), "currency": p.currency, "refunded": True,
        "payment_intent": "pi_local_" + p.purchase_id[4:], "metadata": {"purchase_id": p.purchase_id},
    })


def own_base_url() -> str:
    """Where this app serves itself, from its settings alone."""
    settings = get_settings()
    return (settings.public_url or f"http://127.0.0.1:{settings.port}").rstrip("/")


def deliver(event: Dict[str, Any]) -> None:
    """Sign ``event`` with the local webhook secret and POST it to our own webhook.

    Raises UnavailableError (503) when the webhook cannot be reached or does not answer 200.
    """
    import requests


    payload = json.dumps(event)
    secret = get_settings().stripe_webhook_secrets[0]
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign_payload(payload, secret, int(time.time()))}
    url = f"{own_base_url()}/v1/webhooks/stripe"
    try:
        response = requests.post(url, data=payload.encode(), headers=headers, timeout=15, allow_redirects=False)
    except requests.RequestException as exc:
        log.warning("local payment page could not reach %s: %s", url, exc.__class__.__name__)
        raise errors.UnavailableError(
            f"Could not reach this app's own webhook at {url} (set COINS_PUBLIC_URL or COINS_PORT to where the "
            "app listens).", webhook_url=url) from None
    if response.status_code != 200:
        raise errors.UnavailableError(f"The webhook at {url} answered {response.status_code} to the "
                                      f"{event['type']} event.", webhook_url=url, webhook_status=response.status_code)


def pay(purchase_id: str) -> str:
    """Deliver the paid event; returns where to send the buyer (the success URL)."""
    p = _purchase(purchase_id)
    deliver(paid_event(p))
    return p.success_url


def refund(purchase_id: str) -> str:
    p = _purchase(purchase_id)
    deliver(refund_event(p))
    return p.success_url


def cancel(purchase_id: str) -> str:
    return _purchase(purchase_id).cancel_url


def result_page(purchase_id: str, cancelled: bool) -> str:
    """The success/cancel page for both modes: shows the status, refreshes while pending."""
    p = store.load(purchase_id) if 0 < len(purchase_id) <= 64 else None
    if p is None:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    e = html.escape
    total = int(p.coins) + int(p.bonus_coins or 0)
    if cancelled:
        return _page("Checkout cancelled", f"<h1>Checkout cancelled</h1><p>No money moved for "
                                           f"{e(p.pack_name)}. You can close this page.</p>")
    pending = p.status == "pending"
    extra = ""
    if p.mode == "local" and p.status == "credited":
        extra = (f"<form method='post' action='../local/checkout/{e(p.purchase_id)}/refund'>"
                 "<button type='submit'>Simulate a refund</button></form>")
    headline = {"credited": f"{total:,} coins are in your wallet", "pending": "Waiting for the payment…",
                "refunded": "This purchase was refunded", "disputed": "This payment is disputed",
                "failed": "The payment failed", "expired": "This checkout expired",
                "needs_review": "Payment received; support is reviewing it before the coins arrive"}.get(p.status,
                                                                                                      p.status)
    return _page("Coinhall purchase", f"<h1>{e(headline)}</h1><p>{e(p.pack_name)} · purchase "
                                      f"{e(p.purchase_id)} · status <em>{e(p.status)}</em></p>{extra}",
                 refresh=2 if pending else None)
