"""Purchases of coin packs, what Stripe told us about their payments, and the
Stripe events already handled.

Two indexes on purchases:
* ``due`` (``due_shard``, ``expires_at``), sparse: only a *pending* purchase
  carries ``due_shard`` (``p0``..``p7``), and every step that takes it out of
  pending removes it, so the ``expire-purchases`` job queries what is due and
  never scans;
* ``by_economy`` (``economy``, ``created_at``), keys only: an economy's
  purchases for reconciliation, export and the admin listing, without a scan;
* ``by_user`` (``user_id``, ``created_at``), all attributes: one user's
  purchases for the admin listing (filtered to the economy; a user id names
  one player per economy, so another economy's rows are few).
"""
from pynamodb.attributes import BooleanAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection

from chalicelib.db.base import CoinhallModel


class PurchasesDue(GlobalSecondaryIndex):
    class Meta:
        index_name = "due"
        projection = IncludeProjection(["economy"])

    due_shard = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class PurchasesByEconomy(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_economy"
        projection = KeysOnlyProjection()

    economy = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class PurchasesByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


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
    failure_reason = UnicodeAttribute(null=True)  # "mismatch": a paid session that did not match
    # A step converge() could not take for a reason that will not pass by itself
    # (e.g. balance_limit): it waits for an operator (status needs_review). Every
    # committed step removes both.
    review_reason = UnicodeAttribute(null=True)
    review_step = UnicodeAttribute(null=True)  # credit | dispute_hold | clawback | dispute_release
    # The last operator retry (POST /v1/admin/purchases/{id}/retry-credit): its key and request, for replays.
    retry_key = UnicodeAttribute(null=True)
    retry_fp = UnicodeAttribute(null=True)
    credited_op = UnicodeAttribute(null=True)
    credited_at = UnicodeAttribute(null=True)
    clawed = NumberAttribute(default=0)
    debt = NumberAttribute(default=0)
    dispute_hold = NumberAttribute(default=0)
    dispute_phase = UnicodeAttribute(null=True)  # held | released
    froze_wallet = BooleanAttribute(null=True)
    # Operators' refunds through the admin API: the minor units asked of the provider so far (a
    # reservation, so two refunds never both take what is left), and each refund by its
    # Idempotency-Key's ref (amount, status, the provider's refund id). Stripe's cumulative
    # amount_refunded still arrives on the payment, by webhook, and drives the claw-back.
    refund_requested = NumberAttribute(default=0)
    refunds = MapAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)  # present only while pending (the ``due`` index)

    due = PurchasesDue()
    by_economy = PurchasesByEconomy()
    by_user = PurchasesByUser()


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
