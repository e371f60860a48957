"""The parts of Stripe's events that we read, parsed as strictly as our own API bodies.

A valid signature says Stripe sent the body, not that the body has the shape
the handlers assume. So after ``stripe_gateway.verify_event`` the event is
parsed here, before anything is read from or written to the tables:

* the envelope (``id``, ``type``) of every event;
* for the types we handle, exactly the fields of ``data.object`` that the
  handlers read, with strict types (no int from a string, no bool for an int,
  no list where an object belongs) and bounded ids: Stripe's own prefix, its
  alphabet (letters, digits, ``_``) and at most 255 characters.

Anything else is refused with ``ValidationFailedError`` (400
``validation_error``, ``details.field`` naming the path): nothing was recorded
and nothing changed. Fields we do not read are ignored (Stripe adds fields
without notice); unknown event types are not parsed past the envelope.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Dict, Optional, Type, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator

from chalicelib.core import errors



def _stripe_id(prefix: str) -> Any:
    """A Stripe id: its prefix and ``_``, then letters, digits and ``_``; 255 characters at most."""
    return Annotated[StrictStr, Field(pattern=rf"^{prefix}_[A-Za-z0-9_]{{1,{254 - len(prefix)}}}$")]


EventId = _stripe_id("evt")
SessionId = _stripe_id("cs")
PaymentIntentId = _stripe_id("pi")
DisputeId = Annotated[StrictStr, Field(pattern=r"^(du|dp)_[A-Za-z0-9_]{1,252}$")]
# Our reference on a session or charge (client_reference_id, metadata.purchase_id): Stripe
# caps client_reference_id at 200 characters; we also refuse blanks and control characters.
Reference = Annotated[StrictStr, Field(pattern=r"^[\x21-\x7e]{1,200}$")]
# An enum value of Stripe's (payment_status, dispute status): lower-case words.
StripeEnum = Annotated[StrictStr, Field(pattern=r"^[a-z_]{1,40}$")]
# Minor units. Stripe's largest amounts have 12 digits (IDR); ours at most 8.
Money = Annotated[StrictInt, Field(ge=0, le=10**12)]
Currency = Annotated[StrictStr, Field(pattern=r"^[A-Za-z]{3}$")]

# A purchase id this app issued (``purchases._purchase_id`` / ``ids.new_id``). A
# well-formed reference that is not one names someone else's session: not ours, not an error.
_OUR_PURCHASE_ID = re.compile(r"^pur_[0-9A-Z]{26}$")


def our_purchase_id(ref: Optional[str]) -> Optional[str]:
    """``ref`` when it is a purchase id this app issued, else None (someone else's, or none)."""
    return ref if ref is not None and _OUR_PURCHASE_ID.match(ref) else None


class _Stripe(BaseModel):
    # Strict types, unknown fields ignored (we read a handful of Stripe's many).
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, defer_build=True)


class Metadata(_Stripe):
    purchase_id: Optional[Reference] = None


class Session(_Stripe):
    """A Checkout Session, as the expired and async-failed events carry it."""

    id: SessionId
    client_reference_id: Optional[Reference] = None
    metadata: Optional[Metadata] = None
    payment_intent: Optional[PaymentIntentId] = None

    def purchase_ref(self) -> Optional[str]:
        """Our purchase id, from the metadata first; None when the session is not one of ours."""
        return our_purchase_id((self.metadata.purchase_id if self.metadata else None) or self.client_reference_id)


class PaidSession(Session):
    """A completed (or async-succeeded) session: what the credit is checked against."""

    payment_status: StripeEnum
    amount_total: Money
    currency: Currency


class Charge(_Stripe):
    """A charge, as ``charge.refunded`` carries it."""

    payment_intent: Optional[PaymentIntentId] = None
    amount: Money
    amount_refunded: Money
    metadata: Optional[Metadata] = None

    @model_validator(mode="after")
    def _refund_within_charge(self) -> "Charge":
        if self.amount_refunded > self.amount:
            raise ValueError("amount_refunded is more than the charge's amount")
        return self


class Dispute(_Stripe):
    """A dispute, as ``charge.dispute.created`` / ``.closed`` carry it."""

    id: DisputeId
    payment_intent: Optional[PaymentIntentId] = None
    status: StripeEnum
    metadata: Optional[Metadata] = None


StripeObject = Union[Session, PaidSession, Charge, Dispute]


class _Envelope(_Stripe):
    id: EventId
    type: Annotated[StrictStr, Field(pattern=r"^[a-z0-9_.]{1,100}$")]


class _SessionData(_Stripe):
    object: Session


class _PaidSessionData(_Stripe):
    object: PaidSession


class _ChargeData(_Stripe):
    object: Charge


class _DisputeData(_Stripe):
    object: Dispute


class SessionEvent(_Envelope):
    data: _SessionData


class PaidSessionEvent(_Envelope):
    data: _PaidSessionData


class ChargeEvent(_Envelope):
    data: _ChargeData


class DisputeEvent(_Envelope):
    data: _DisputeData


# The event types we handle -> the event with the shape of its data.object.
EVENTS: Dict[str, Type[_Envelope]] = {
    "checkout.session.completed": PaidSessionEvent,
    "checkout.session.async_payment_succeeded": PaidSessionEvent,
    "checkout.session.async_payment_failed": SessionEvent,
    "checkout.session.expired": SessionEvent,
    "charge.refunded": ChargeEvent,
    "charge.dispute.created": DisputeEvent,
    "charge.dispute.closed": DisputeEvent,
}


@dataclass(frozen=True)
class StripeEvent:
    """A parsed event: ``obj`` is None for a type we do not handle."""

    id: str
    type: str
    obj: Optional[StripeObject]


def parse_event(raw: Any) -> StripeEvent:
    """The event decoded from a verified body, or ValidationFailedError (400) naming the bad field."""
    if not isinstance(raw, dict):
        raise errors.ValidationFailedError("A Stripe event is a JSON object.", field="body")
    envelope = _validate(_Envelope, raw)
    model = EVENTS.get(envelope.type)
    if model is None:
        return StripeEvent(envelope.id, envelope.type, None)
    parsed = _validate(model, raw)
    return StripeEvent(envelope.id, envelope.type, parsed.data.object)


def _validate(model: Type[BaseModel], raw: Dict[str, Any]) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"], "type": e["type"]}
                    for e in exc.errors(include_url=False, include_input=False)]
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        raise errors.ValidationFailedError(f"Not a Stripe event we can read: '{first['field']}' {first['message']}.",
                                           field=first["field"], problems=problems) from None
