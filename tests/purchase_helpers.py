"""Building Stripe events and deliveries the way Stripe does, for the purchase tests."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Dict, Optional

import stripe

LOCAL_SECRET = "whsec_local_dev_only"


def event(event_type: str, obj: Dict[str, Any], event_id: Optional[str] = None) -> Dict[str, Any]:
    return {"id": event_id or f"evt_{uuid.uuid4().hex}", "object": "event", "type": event_type,
            "created": int(time.time()), "livemode": False, "data": {"object": obj}}


def signature(payload: str, secret: str = LOCAL_SECRET, timestamp: Optional[int] = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp or int(time.time()))


def deliver(api: Any, evt: Dict[str, Any], secret: str = LOCAL_SECRET, timestamp: Optional[int] = None,
            header: Optional[str] = None, payload: Optional[str] = None) -> Any:
    body = payload if payload is not None else json.dumps(evt)
    sig = header if header is not None else signature(body if payload is None else json.dumps(evt), secret, timestamp)
    headers = {"Stripe-Signature": sig} if sig else {}
    return api.post("/v1/webhooks/stripe", raw=body, token="", headers=headers)


def deliver_signed(api: Any, body: str, secret: str = LOCAL_SECRET, timestamp: Optional[int] = None) -> Any:
    """POST ``body`` exactly as given, signed by Stripe's scheme: a body Stripe might (not) send, validly signed."""
    return api.post("/v1/webhooks/stripe", raw=body, token="",
                    headers={"Stripe-Signature": signature(body, secret, timestamp)})


def payment_intent(purchase: Dict[str, Any]) -> str:
    return "pi_" + purchase["purchase_id"][4:]


def completed(purchase: Dict[str, Any], **overrides: Any) -> Dict[str, Any]:
    obj = {
        "id": purchase["session_id"], "object": "checkout.session", "mode": "payment", "status": "complete",
        "payment_status": "paid", "amount_total": purchase["price"]["amount"],
        "currency": purchase["price"]["currency"], "client_reference_id": purchase["purchase_id"],
        "metadata": {"purchase_id": purchase["purchase_id"]}, "payment_intent": payment_intent(purchase),
    }
    obj.update(overrides)
    return event("checkout.session.completed", obj)


def session_event(event_type: str, purchase: Dict[str, Any], **overrides: Any) -> Dict[str, Any]:
    evt = completed(purchase, **overrides)
    evt["type"] = event_type
    return evt


def refunded(purchase: Dict[str, Any], amount_refunded: int, with_metadata: bool = True) -> Dict[str, Any]:
    return event("charge.refunded", {
        "id": "ch_" + purchase["purchase_id"][4:], "object": "charge", "amount": purchase["price"]["amount"],
        "amount_refunded": amount_refunded, "currency": purchase["price"]["currency"],
        "payment_intent": payment_intent(purchase),
        "metadata": {"purchase_id": purchase["purchase_id"]} if with_metadata else {},
    })


def dispute(purchase: Dict[str, Any], closed: Optional[str] = None) -> Dict[str, Any]:
    obj = {"id": "dp_" + purchase["purchase_id"][4:], "object": "dispute", "amount": purchase["price"]["amount"],
           "charge": "ch_" + purchase["purchase_id"][4:], "payment_intent": payment_intent(purchase),
           "status": closed or "needs_response", "metadata": {}}
    return event("charge.dispute.closed" if closed else "charge.dispute.created", obj)
