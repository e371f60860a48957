"""Purchases of coin packs, what Stripe told us about their payments, and the
Stripe events already handled."""
from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.db.base import CoinhallModel


class PurchaseModel(CoinhallModel):
    """One checkout: the pack's terms frozen at creation, then facts and progress.

    Facts (``paid``, ``failed``, ``expired``) only ever become true; progress
    (``credited_op``, ``clawed``, ``dispute_hold``) only moves forward, each step
    committed with its ledger operation. That is what makes any order of Stripe
    events converge on one state.
    """

    class Meta(CoinhallModel.Meta):
        base_name = "purchases"

    purchase_id = UnicodeAttribute(hash_key=True)
    economy = UnicodeAttribute()
    user_id = UnicodeAttribute()
    pack_id = UnicodeAttribute()
    pack_name = UnicodeAttribute()
    coins = NumberAttribute()
    bonus_coins = NumberAttribute(default=0)
    amount = NumberAttribute()
    currency = UnicodeAttribute()
    mode = UnicodeAttribute()  # stripe | local
    status = UnicodeAttribute()
    fingerprint = UnicodeAttribute(null=True)
    session_id = UnicodeAttribute(null=True)
    checkout_url = UnicodeAttribute(null=True)
    payment_intent = UnicodeAttribute(null=True)
    success_url = UnicodeAttribute(null=True)
    cancel_url = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)
    paid = BooleanAttribute(null=True)
    failed = BooleanAttribute(null=True)
    expired = BooleanAttribute(null=True)
    failure_reason = UnicodeAttribute(null=True)
    credited_op = UnicodeAttribute(null=True)
    credited_at = UnicodeAttribute(null=True)
    clawed = NumberAttribute(default=0)
    debt = NumberAttribute(default=0)
    dispute_hold = NumberAttribute(default=0)
    dispute_phase = UnicodeAttribute(null=True)  # held | released
    froze_wallet = BooleanAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)


class PaymentModel(CoinhallModel):
    """Charge-level facts by PaymentIntent: refunds and disputes.

    Refund and dispute events name the PaymentIntent, and may arrive before the
    checkout completion that tells us which purchase it belongs to; their facts
    wait here until the purchase links them.
    """

    class Meta(CoinhallModel.Meta):
        base_name = "payments"

    payment_intent = UnicodeAttribute(hash_key=True)
    purchase_id = UnicodeAttribute(null=True)
    charge_amount = NumberAttribute(null=True)
    refunded_amount = NumberAttribute(default=0)
    dispute_id = UnicodeAttribute(null=True)
    dispute_status = UnicodeAttribute(null=True)  # open | won | lost
    updated_at = UnicodeAttribute(null=True)


class StripeEventModel(CoinhallModel):
    """Stripe event ids already handled; kept 35 days (Stripe retries for 3)."""

    class Meta(CoinhallModel.Meta):
        base_name = "stripe_events"
        ttl_attribute = "expires_epoch"

    event_id = UnicodeAttribute(hash_key=True)
    type = UnicodeAttribute()
    purchase_id = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)
    received_at = UnicodeAttribute()
    expires_epoch = NumberAttribute()
