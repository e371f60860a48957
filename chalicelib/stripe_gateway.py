"""Talking to Stripe: Checkout Sessions out, signed webhooks in.

The stripe library is imported inside the functions that need it (cold start).
``STRIPE_API_BASE`` points the client elsewhere (the tests' local stand-in for
Stripe's API); unset, it talks to Stripe.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, List

from chalicelib import errors
from chalicelib.config import get_settings

log = logging.getLogger("coinhall.stripe")


def _client() -> Any:
    import stripe

    settings = get_settings()
    bases = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
    return stripe.StripeClient(settings.stripe_secret_key, base_addresses=bases, max_network_retries=2)


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


def verify_event(raw_body: bytes, signature_header: str) -> Dict[str, Any]:
    """The event, once its signature verifies against one of the configured secrets.

    Raises StripeSignatureError (400: Stripe's convention for a refused delivery).
    """
    import stripe

    secrets: List[str] = get_settings().stripe_webhook_secrets
    payload = raw_body.decode("utf-8", errors="replace")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, signature_header, secret, tolerance=300)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise errors.StripeSignatureError()
    try:
        event = json.loads(payload)
    except ValueError:
        raise errors.MalformedJsonError() from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise errors.ValidationFailedError("Not a Stripe event.", field="type")
    return event


def sign_payload(payload: str, secret: str, timestamp: int) -> str:
    """A ``Stripe-Signature`` header for ``payload`` (the local payment page and tests)."""
    import stripe

    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
