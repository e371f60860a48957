"""Talking to Stripe: Checkout Sessions and Refunds out, signed webhooks in.

The stripe library is imported inside the functions that need it (cold start).
``STRIPE_API_BASE`` points the client elsewhere (the tests' local stand-in for
Stripe's API); unset, it talks to Stripe.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable, Dict, List, Optional

from chalicelib.core import errors
from chalicelib.core.config import get_settings

log = logging.getLogger("coinhall.stripe")

# Stripe's signature tolerance; a delivery signed further from now, either way, is refused.
TOLERANCE_S = 300
# What "now" is for the tolerance check (tests pin it).
clock: Callable[[], float] = time.time
# The stripe library's network (an ``stripe.HTTPClient``); None: its default (requests, an 80 s timeout).
# The simulation gives it one that scripts each try and lets the library's backoff pass at once.
http_client: Optional[Any] = None
# Tries after the first that the library makes itself on a dropped connection, a timeout or a 5xx
# (under the same idempotency key, so a try that ran at Stripe is answered again, not made twice).
MAX_NETWORK_RETRIES = 2


def _client() -> Any:
    import stripe

    settings = get_settings()
    bases = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(settings.stripe_secret_key, base_addresses=bases,
                               max_network_retries=MAX_NETWORK_RETRIES, http_client=http_client)


def create_checkout_session(params: Dict[str, Any], idempotency_key: str) -> Dict[str, Any]:
    """Create a Checkout Session; Stripe's own idempotency key makes a retry return the same one.

    Raises UnavailableError when Stripe cannot be reached or refuses.
    """
    import stripe

    try:
        session = _client().v1.checkout.sessions.create(params=params, options={"idempotency_key": idempotency_key})
    except stripe.StripeError as exc:
        log.error("stripe checkout session failed: %s", exc.__class__.__name__)
        raise errors.UnavailableError("The payment provider did not answer; retry with the same Idempotency-Key.",
                                      provider="stripe") from None
    data = session.to_dict()
    return {"id": data["id"], "url": data["url"], "expires_at": data.get("expires_at"),
            "payment_intent": data.get("payment_intent")}


def create_refund(payment_intent: str, amount: Optional[int], idempotency_key: str,
                  metadata: Dict[str, str]) -> Dict[str, Any]:
    """Refund ``amount`` (minor units; None: all that is left) of a PaymentIntent's charge.

    Stripe's idempotency key makes a retry answer the same refund. Raises
    UnavailableError (503) when Stripe cannot be reached or answers 5xx / 429
    (retry with the same key), RefundRefusedError (409, ``details.stripe_code``)
    when Stripe refuses the refund itself (already refunded, amount too large, a
    disputed charge...).
    """
    import stripe

    params: Dict[str, Any] = {"payment_intent": payment_intent, "metadata": metadata,
                              "reason": "requested_by_customer"}
    if amount is not None:
        params["amount"] = amount
    try:
        refund = _client().v1.refunds.create(params=params, options={"idempotency_key": idempotency_key})
    except (stripe.InvalidRequestError, stripe.IdempotencyError) as exc:
        # The one family that means "this refund, never": a retry would be refused the same way.
        code = getattr(exc, "code", None) or "invalid_request"
        log.warning("stripe refused a refund of %s: %s", payment_intent, code)
        raise errors.RefundRefusedError(f"Stripe refused the refund: {exc.user_message or code}",
                                        stripe_code=code) from None
    except stripe.StripeError as exc:
        log.error("stripe refund failed: %s", exc.__class__.__name__)
        raise errors.UnavailableError("The payment provider did not answer; retry with the same Idempotency-Key.",
                                      provider="stripe") from None
    data = refund.to_dict()
    return {"id": data["id"], "amount": data["amount"], "status": data.get("status"),
            "currency": data.get("currency")}


def verify_event(raw_body: bytes, signature_header: str, now: Optional[float] = None) -> Any:
    """The decoded JSON body, once its signature verifies against one of the configured secrets
    and its timestamp is within ``TOLERANCE_S`` of ``now`` (default: ``clock()``), either side.

    The stripe library only refuses timestamps too far in the past; a signature
    dated ahead would stay replayable until that date, so the future side is
    refused here too. Raises StripeSignatureError (400: Stripe's convention for
    a refused delivery) or MalformedJsonError. The shape of the event is
    ``stripe_events.parse_event``'s business.
    """
    import stripe

    secrets: List[str] = get_settings().stripe_webhook_secrets
    payload = raw_body.decode("utf-8", errors="replace")
    for secret in secrets:
        try:
            # tolerance=None: the signature only; the window is checked below, on our clock.
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance=None)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise errors.StripeSignatureError()
    moment = clock() if now is None else now
    signed_at = _timestamp(signature_header)
    if signed_at is None or abs(moment - signed_at) > TOLERANCE_S:
        raise errors.StripeSignatureError(
            f"The Stripe-Signature timestamp is more than {TOLERANCE_S} s from now.", tolerance_s=TOLERANCE_S)
    try:
        return json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
        raise errors.MalformedJsonError() from None


def _timestamp(header: str) -> Optional[int]:
    """The header's ``t`` (the first one, as the stripe library reads it), or None."""
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            return int(value) if value.isascii() and value.isdigit() and len(value) <= 12 else None
    return None


def sign_payload(payload: str, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header for ``payload`` (the local payment page and tests)."""
    import stripe

    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
