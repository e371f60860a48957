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
from typing import Any, Dict, Optional, Tuple

from chalicelib.core import errors
from chalicelib.core.config import get_settings
from chalicelib.core.ids import new_id
from chalicelib.ledger import freezes
from chalicelib.purchases import store
from chalicelib.purchases.pack_limits import format_money
from chalicelib.purchases.store import Payment, Purchase
from chalicelib.purchases.stripe_gateway import sign_payload

log = logging.getLogger("coinhall.local_checkout")


def _purchase(purchase_id: str) -> Purchase:
    p = store.load(purchase_id) if 0 < len(purchase_id) <= 64 else None
    if p is None or p.mode != "local":
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    return p


# The pending success page refreshes every POLL_SECONDS, at most MAX_POLLS times (~30 s), counted in its
# query string (``poll``); then it says so and stops, instead of refreshing forever.
POLL_SECONDS = 2
MAX_POLLS = 15


def page(title: str, body: str, refresh: Optional[str] = None) -> str:
    """A whole page: ``body`` in a card, then the way back to the app (``COINS_APP_URL``, else ``/``)."""
    meta = f'<meta http-equiv="refresh" content="{html.escape(refresh)}">' if refresh else ""
    back = html.escape(get_settings().app_url or "/")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>{meta}"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}"
        ".card{border:1px solid #ccc;border-radius:12px;padding:1.5rem}button{font-size:1rem;padding:.6rem 1.2rem;"
        "margin-right:.5rem;border-radius:8px;border:1px solid #888;cursor:pointer}.pay{background:#635bff;"
        "color:#fff;border:none}.note{color:#666;font-size:.85rem}</style></head>"
        f"<body><div class='card'>{body}</div><p><a id='back' href='{back}'>Back to the app</a></p></body></html>"
    )


def coins_text(p: Purchase) -> str:
    """``6,500 coins (5,000 + 1,500 bonus)``: the total first, then what it is made of."""
    total, bonus = int(p.coins) + int(p.bonus_coins or 0), int(p.bonus_coins or 0)
    return f"{total:,} coins ({int(p.coins):,} + {bonus:,} bonus)" if bonus else f"{total:,} coins"


def state_of(p: Purchase) -> str:
    """What the pages show: the status, with two cases it does not name.

    ``processing``: pending but the payment is recorded (its credit is under
    way); ``cancelled``: expired by the local page's Cancel (``failure_reason``).
    """
    if p.status == "pending":
        return "processing" if p.paid else "pending"
    if p.status == "expired" and p.failure_reason == "cancelled":
        return "cancelled"
    return p.status


def _headline(p: Purchase, state: str) -> str:
    return {
        "pending": "Waiting for the payment…",
        "processing": f"Payment received: crediting {coins_text(p)}…",
        "credited": f"Already paid: {coins_text(p)} credited",
        "cancelled": "This checkout was cancelled",
        "expired": "This checkout expired",
        "failed": "The payment failed",
        "refunded": "This purchase was refunded",
        "disputed": "This payment is disputed",
        "needs_review": "Payment received; support is reviewing it before the coins arrive",
    }.get(state, state)


def _start_again() -> str:
    return "No money moved. To buy coins, start a new purchase from the app (link below)."


def _taken_back(p: Purchase) -> Tuple[str, int]:
    """What debts.clawback recorded: coins taken back, and what was already spent (debt, which freezes)."""
    clawed, debt = int(p.clawed or 0), int(p.debt or 0)
    text = f"{clawed:,} of its {p.total:,} coins were taken back: {clawed - debt:,} from the wallet"
    if debt:
        return (f"{text}, and {debt:,} the buyer had already spent are owed as debt. The wallet is frozen "
                f"(reason {freezes.DEBT}) until the debt is settled from coins it gets later."), debt
    return f"{text}. None had been spent: nothing is owed", 0


def _refund_text(p: Purchase, payment: Optional[Payment]) -> str:
    refunded = int(payment.refunded_amount or 0) if payment else 0
    money = f"{format_money(refunded, p.currency)} of {format_money(int(p.amount), p.currency)} was refunded."
    if not p.credited_op:
        return f"{money} No coins had been credited for it, so none were taken back and nothing is owed."
    taken, debt = _taken_back(p)
    return f"{money} {taken}" if debt else f"{money} {taken}, and the refund did not freeze the wallet."


def _dispute_text(p: Purchase, payment: Optional[Payment]) -> str:
    if payment is not None and payment.dispute_status == "lost":
        taken, debt = _taken_back(p)
        return (f"The dispute was lost: {taken}{'' if debt else '.'} The wallet stays frozen for an operator's "
                f"review (reason {freezes.dispute_lost(p.purchase_id)}).")
    return (f"The wallet is frozen (reason {freezes.dispute(p.purchase_id)}) and "
            f"{int(p.dispute_hold or 0):,} of this purchase's coins are held until the dispute closes: won, they "
            "return to the wallet; lost, all its coins are taken back.")


def _detail(p: Purchase, state: str) -> str:
    """The sentence under the headline (plain text: escaped by the caller)."""
    if state in ("cancelled", "expired", "failed"):
        return _start_again()
    if state == "credited":
        return f"{p.pack_name} for {format_money(int(p.amount), p.currency)}, in {p.user_id}'s wallet."
    if state == "refunded":
        return _refund_text(p, store.load_payment(p.payment_intent))
    if state == "disputed":
        return _dispute_text(p, store.load_payment(p.payment_intent))
    return f"{p.pack_name}: {coins_text(p)} for {format_money(int(p.amount), p.currency)}."


def _state_body(p: Purchase, state: str, refund_action: str) -> str:
    """A purchase that is no longer payable, as it is; a credited local one offers the simulated refund."""
    e = html.escape
    extra = ""
    if p.mode == "local" and state == "credited":
        extra = (f"<form method='post' action='{e(refund_action)}'>"
                 "<button id='refund' type='submit'>Simulate a refund</button></form>")
    return (f"<h1>{e(_headline(p, state))}</h1><p id='detail'>{e(_detail(p, state))}</p>"
            f"<p class='note'>Purchase {e(p.purchase_id)} · status <em>{e(p.status)}</em></p>{extra}")


def checkout_page(purchase_id: str) -> str:
    p = _purchase(purchase_id)
    e = html.escape
    state = state_of(p)
    if state != "pending":
        return page("Coinhall local checkout", _state_body(p, state, f"{p.purchase_id}/refund"))
    return page(
        "Coinhall local checkout",
        f"<h1>{e(p.pack_name)}</h1><p><strong>{e(coins_text(p))}</strong> for "
        f"<strong>{e(format_money(int(p.amount), p.currency))}</strong></p><p>Buyer: {e(p.user_id)} · "
        f"Purchase {e(p.purchase_id)} · status <em>{e(p.status)}</em></p>"
        f"<form method='post' action='{e(p.purchase_id)}/pay' style='display:inline'>"
        "<button id='pay' class='pay' type='submit'>Pay</button></form>"
        f"<form method='post' action='{e(p.purchase_id)}/cancel' style='display:inline'>"
        "<button id='cancel' type='submit'>Cancel</button></form>"
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


def refund_event(p: Any, refunded: Optional[int] = None) -> Dict[str, Any]:
    """``charge.refunded`` with the charge's cumulative ``amount_refunded`` (default: all of it), as Stripe sends."""
    total = int(p.amount) if refunded is None else refunded
    return _event("charge.refunded", {
        "id": "ch_local_" + p.purchase_id[4:], "object": "charge", "amount": int(p.amount),
        "amount_refunded": total, "currency": p.currency, "refunded": total >= int(p.amount),
        # The PaymentIntent its payment recorded (the local page's own, or one a test delivered).
        "payment_intent": p.payment_intent or "pi_local_" + p.purchase_id[4:],
        "metadata": {"purchase_id": p.purchase_id},
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


def _not_pending(p: Purchase, what: str) -> errors.PurchaseNotPendingError:
    headline = _headline(p, state_of(p)).rstrip("…")
    return errors.PurchaseNotPendingError(f"{headline}. {what}", purchase_id=p.purchase_id, status=p.status)


def pay(purchase_id: str) -> str:
    """Deliver the paid event; returns where to send the buyer (the success URL).

    Only a pending, unpaid purchase: anything else (paid, cancelled, expired...)
    is refused with PurchaseNotPendingError (409) before any event is sent.
    """
    p = _purchase(purchase_id)
    if state_of(p) != "pending":
        raise _not_pending(p, "It can no longer be paid; nothing was charged.")
    deliver(paid_event(p))
    return p.success_url


def refund(purchase_id: str) -> str:
    p = _purchase(purchase_id)
    if p.status not in ("credited", "needs_review"):
        raise _not_pending(p, "Only a paid purchase that is credited (or in review) can be refunded here; "
                              "nothing was refunded.")
    deliver(refund_event(p))
    return p.success_url


def cancel(purchase_id: str) -> str:
    """End a pending checkout as the expiry job would (``expired``, no money), marked ``cancelled``.

    Pressing Cancel twice lands on the cancel page again; a purchase that is
    paid (or otherwise settled) is refused with PurchaseNotPendingError (409).
    """
    p = _purchase(purchase_id)
    if state_of(p) == "pending":
        if store.expire_unpaid(p.purchase_id, reason="cancelled"):
            log.info("local purchase %s cancelled by the buyer (expired, no money moved)", p.purchase_id)
            return p.cancel_url
        p = _purchase(purchase_id)  # it moved meanwhile (paid?): say what it is now
    if state_of(p) != "cancelled":
        raise _not_pending(p, "It can no longer be cancelled.")
    return p.cancel_url


def result_page(purchase_id: str, cancelled: bool, poll: int = 0) -> str:
    """The success/cancel page for both modes: the purchase as it is, polling a bounded number of times while pending.

    ``poll`` is how many times this page has refreshed itself already.
    """
    p = store.load(purchase_id) if 0 < len(purchase_id) <= 64 else None
    if p is None:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    e = html.escape
    state = state_of(p)
    refund_action = f"../local/checkout/{p.purchase_id}/refund"
    if state not in ("pending", "processing"):
        return page("Coinhall purchase", _state_body(p, state, refund_action))
    facts = f"<p class='note'>Purchase {e(p.purchase_id)} · status <em>{e(p.status)}</em></p>"
    if cancelled and state == "pending":
        # Stripe's page sends the buyer here on "back"; the session stays open until it expires.
        back = (f"<p><a id='checkout' href='{e(p.checkout_url)}'>Return to the checkout</a></p>"
                if p.checkout_url else "")
        return page("Checkout not completed", "<h1>Checkout not completed</h1><p id='detail'>Nothing was paid. "
                    f"This checkout stays open until {e(p.expires_at or 'it expires')}.</p>{facts}{back}")
    if poll >= MAX_POLLS:
        return page("Coinhall purchase", f"<h1>{e(_headline(p, state))}</h1><p id='detail'>Still processing — "
                    "this page will not refresh again; reload later.</p>" + facts)
    again = f"{POLL_SECONDS};url=?purchase_id={p.purchase_id}&poll={poll + 1}"
    return page("Coinhall purchase", f"<h1>{e(_headline(p, state))}</h1><p id='detail'>This page checks again "
                f"every {POLL_SECONDS} s (check {poll + 1} of {MAX_POLLS}).</p>" + facts, refresh=again)
