"""Domain errors: each carries its HTTP status and a stable snake_case code.

Features raise these; the HTTP edge (``routes/_http.py``) is the one place that
turns them into ``{"error": {"code", "message", "details"}}``. Nothing here
imports Chalice, so features and the CLI can use them too.
"""
from __future__ import annotations

from typing import Any, Optional


class CoinhallError(Exception):
    """Base of every error a caller is meant to see."""

    status = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: Optional[str] = None, **details: Any) -> None:
        self.message = message or self.message
        self.details = {k: v for k, v in details.items() if v is not None}
        super().__init__(self.message)

    def to_body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


# 400: malformed or invalid input
class ValidationFailedError(CoinhallError):
    """A field is missing, of the wrong type or out of range."""

    status, code, message = 400, "validation_error", "The request body is invalid."


class MalformedJsonError(CoinhallError):
    """The body is not a JSON object."""

    status, code, message = 400, "malformed_json", "The request body must be a JSON object."


class InvalidCursorError(CoinhallError):
    """A pagination cursor was not one this API issued for this listing."""

    status, code, message = 400, "invalid_cursor", "The cursor is not valid for this listing."


class IdempotencyKeyMissingError(CoinhallError):
    """A write that needs an Idempotency-Key header came without one."""

    status, code = 400, "idempotency_key_required"
    message = "This request needs an Idempotency-Key header."


class InvalidIdempotencyKeyError(CoinhallError):
    """The Idempotency-Key header is empty, too long or has odd characters."""

    status, code = 400, "invalid_idempotency_key"
    message = "The Idempotency-Key must be 1-128 printable ASCII characters."


class ReasonRequiredError(CoinhallError):
    """An operator's write came without a reason (the body's ``reason`` or the ``X-Audit-Reason`` header)."""

    status, code = 400, "reason_required"
    message = "Say why: a `reason` in the body, or an X-Audit-Reason header (it goes into the audit trail)."


# 401 / 403
class UnauthenticatedError(CoinhallError):
    """No API key, or one that does not exist or was revoked."""

    status, code, message = 401, "unauthenticated", "A valid API key is required."


class SignatureInvalidError(CoinhallError):
    """A signed request's signature is missing, stale or wrong."""

    status, code, message = 401, "invalid_signature", "The request signature is not valid."


class ForbiddenError(CoinhallError):
    """The key is valid but lacks the scope (or the role) this route needs."""

    status, code, message = 403, "forbidden", "This API key may not do that."


# 404
class NotFoundError(CoinhallError):
    """The thing named does not exist in this economy."""

    status, code, message = 404, "not_found", "Not found."


class NoRouteError(NotFoundError):
    """No route matches the method and path.

    Raised by nobody: API Gateway answers it before our code runs (a gateway
    response in ``infra/stack.py``), and ``scripts/local_api.py`` does locally;
    both send ``to_body()``, so the two cannot drift apart.
    """

    message = "No route matches this method and path; the API is described at GET /openapi.json."


class UserNotFoundError(NotFoundError):
    """The user has no wallet in this economy."""

    code, message = "user_not_found", "This user has no wallet in this economy."


class PackNotFoundError(NotFoundError):
    """No such coin pack in this economy."""

    code, message = "pack_not_found", "No such coin pack."


class EconomyNotFoundError(NotFoundError):
    """No such economy."""

    code, message = "economy_not_found", "No such economy."


# 409: state or idempotency conflicts
class ConflictError(CoinhallError):
    """The request conflicts with the current state."""

    status, code, message = 409, "conflict", "The request conflicts with the current state."


class IdempotencyKeyReusedError(ConflictError):
    """The Idempotency-Key was already used for a different request."""

    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with different parameters."

    def __init__(self, message: Optional[str] = None, *, ledger_key: Optional[str] = None, **details: Any) -> None:
        super().__init__(message, **details)
        # Which ledger key was taken (``api:<k>``, ``hold-resolve:<id>``): for callers, never in the body.
        self.ledger_key = ledger_key


class ContentionError(ConflictError):
    """The ledger gave up retrying a write that kept losing races; safe to retry."""

    code = "contention"
    message = "The wallet is too busy right now; retry with the same Idempotency-Key."


# 422: a business rule says no
class BusinessRuleError(CoinhallError):
    """Valid input that a rule of the economy refuses."""

    status, code, message = 422, "rule_violation", "The economy's rules refuse this."


class InvalidEventError(BusinessRuleError):
    """An event's fields are each valid but do not make an event together (its kind's own field missing, the
    other kind's given, a window in the past or too long, a filter listed twice)."""

    code, message = "invalid_event", "These fields do not make an event."


class AnswerAmongWrongError(BusinessRuleError):
    """A quest's answer is also one of its wrong choices (each is valid alone; together they make no quest)."""

    code, message = "answer_among_wrong", "The answer cannot also be one of the wrong choices."


class InsufficientFundsError(BusinessRuleError):
    """The wallet's bucket does not hold enough coins."""

    code, message = "insufficient_funds", "The wallet does not hold enough coins."


class AccountFrozenError(BusinessRuleError):
    """The wallet is frozen and cannot send coins."""

    code, message = "account_frozen", "This wallet is frozen."


class BalanceLimitError(BusinessRuleError):
    """The change would take a balance past the largest amount we store."""

    code, message = "balance_limit", "The balance would exceed the largest amount allowed."


# 429 / 503
class RateLimitedError(CoinhallError):
    """Too many requests; the caller should wait ``retry_after`` seconds."""

    status, code, message = 429, "rate_limited", "Too many requests."


class UnavailableError(CoinhallError):
    """A dependency (DynamoDB, a provider) did not answer."""

    status, code, message = 503, "unavailable", "A dependency is not answering."


class StripeSignatureError(CoinhallError):
    """A Stripe webhook whose signature is missing, stale or wrong (Stripe expects 400)."""

    status, code, message = 400, "invalid_signature", "The Stripe-Signature header does not verify."


class PurchaseNotFoundError(NotFoundError):
    """No such purchase in this economy."""

    code, message = "purchase_not_found", "No such purchase."


class PackInactiveError(BusinessRuleError):
    """The pack exists but is not on sale."""

    code, message = "pack_inactive", "This pack is not on sale."


class PackTermsInvalidError(BusinessRuleError):
    """A stored pack's coins or price are outside what can be charged and credited; ``details.problems`` says how."""

    code, message = "pack_terms_invalid", "This pack's terms cannot be sold; an operator must fix the pack."


class PurchaseNotInReviewError(ConflictError):
    """The purchase has no blocked step to retry; ``details.status`` is its state."""

    code, message = "purchase_not_in_review", "This purchase is not waiting for review."


class PurchaseNotPendingError(ConflictError):
    """The local payment page's Pay or Cancel on a purchase no longer pending; ``details.status`` is its state."""

    code, message = "purchase_not_pending", "This purchase is no longer pending."


class PurchaseNotRefundableError(ConflictError):
    """A refund of a purchase that was never paid and credited, or is disputed; ``details.status`` is its state."""

    code, message = "purchase_not_refundable", "Only a paid, credited purchase that is not disputed can be refunded."


class PurchaseFullyRefundedError(ConflictError):
    """Every minor unit of the purchase's payment was refunded (or is being refunded) already."""

    code, message = "purchase_fully_refunded", "This purchase has been refunded in full already."


class RefundAmountTooLargeError(BusinessRuleError):
    """A refund above what is left unrefunded; ``details.remaining`` is what may still be refunded."""

    code, message = "refund_exceeds_remaining", "The refund is more than what is left unrefunded."


class RefundRefusedError(ConflictError):
    """Stripe refused the refund; ``details.stripe_code`` is Stripe's reason (``charge_already_refunded``...)."""

    code, message = "refund_refused", "The payment provider refused the refund."


class NoDebtError(ConflictError):
    """The wallet owes nothing."""

    code, message = "no_debt", "This wallet has no debt to settle."


# --- spending: content, unlocks, holds, escrow ---------------------------------
class ContentNotFoundError(NotFoundError):
    """No such item in this economy's content catalog."""

    code, message = "content_not_found", "No such content item."


class HoldNotFoundError(NotFoundError):
    """No such hold in this economy."""

    code, message = "hold_not_found", "No such hold."


class EscrowNotFoundError(NotFoundError):
    """No such job escrow in this economy."""

    code, message = "escrow_not_found", "No such escrow."


class HoldNotActiveError(ConflictError):
    """The hold was already settled, released or expired; ``details.hold`` is its state."""

    code, message = "hold_not_active", "This hold is already resolved."


class EscrowNotActiveError(ConflictError):
    """The escrow was already released or refunded; ``details.escrow`` is its state."""

    code, message = "escrow_not_active", "This escrow is already resolved."


class HoldIsEscrowError(ConflictError):
    """A job escrow was addressed through the holds API; it resolves through /v1/escrows."""

    code, message = "hold_is_escrow", "This hold is a job escrow: release or refund it through /v1/escrows."


class AmountExceedsHoldError(BusinessRuleError):
    """A settle asked for more coins than the hold reserves."""

    code, message = "amount_exceeds_hold", "The amount is more than the hold reserves."


class SelfPaymentError(BusinessRuleError):
    """The payer and the recipient are the same user."""

    code, message = "self_payment", "A user cannot pay themselves."


# --- rewards and Discord ------------------------------------------------------
class RewardAlreadyClaimedError(ConflictError):
    """The reward was already granted (a referred user credited to another referrer, today's quest answered)."""

    code, message = "reward_already_claimed", "This reward was already claimed."


class SelfReferralError(BusinessRuleError):
    """A user named themselves as the user they referred."""

    code, message = "self_referral", "A user cannot refer themselves."


class CourseNotFoundError(NotFoundError):
    """No such course in this economy's course registry (never registered, or deleted)."""

    code, message = "course_not_found", "No such course."


class GrantBudgetExceededError(RateLimitedError):
    """The API key's daily mint budget for grants would be exceeded; it refills at midnight UTC (``retry_after``)."""

    code, message = "grant_budget_exceeded", "This API key has granted all the coins it may today."


class GrantsDisabledError(BusinessRuleError):
    """The economy's grant budget is 0: no API key may grant rewards."""

    code, message = "grants_disabled", "Rewards cannot be granted through the API in this economy."


class InvalidRecipientError(BusinessRuleError):
    """Coins cannot go to this recipient (a bot, or no such user)."""

    code, message = "invalid_recipient", "Coins cannot be sent to this recipient."


class NotAllowedError(ForbiddenError):
    """A Discord member whose roles do not allow the action."""

    code, message = "not_allowed", "You are not allowed to do that."


class InteractionExpiredError(ConflictError):
    """A Discord confirmation was clicked after it expired, or by someone else."""

    code, message = "interaction_expired", "This confirmation has expired; run the command again."


class DiscordApiError(CoinhallError):
    """Discord's REST API refused a call or did not answer after retries."""

    status, code, message = 502, "discord_api_error", "Discord's API did not accept the call."


# --- market: rewards catalog, orders, listings, fulfilment ------------------------
class RewardNotFoundError(NotFoundError):
    """No such SKU in this economy's rewards catalog."""

    code, message = "reward_not_found", "No such reward."


class OrderNotFoundError(NotFoundError):
    """No such order in this economy."""

    code, message = "order_not_found", "No such order."


class ListingNotFoundError(NotFoundError):
    """No such player listing in this economy."""

    code, message = "listing_not_found", "No such listing."


class VoucherNotFoundError(NotFoundError):
    """No voucher has this code."""

    code, message = "voucher_not_found", "No voucher has this code."


class GameServerNotFoundError(NotFoundError):
    """No such game server in this economy (or it belongs to another)."""

    code, message = "game_server_not_found", "No such game server."


class RewardUnavailableError(BusinessRuleError):
    """The SKU is hidden, deleted or past its expiry: it cannot be bought or listed."""

    code, message = "reward_unavailable", "This reward is not available."


class OutOfStockError(BusinessRuleError):
    """Fewer units are left (in the shop or on the listing) than asked for; ``details.available`` says how many."""

    code, message = "out_of_stock", "Not enough units are left."


class LimitReachedError(BusinessRuleError):
    """A per-player-per-day or per-buyer limit would be exceeded; ``details`` has the limit and what was bought."""

    code, message = "limit_reached", "This would exceed your purchase limit."


class BelowMinimumQuantityError(BusinessRuleError):
    """The listing sells at least ``min_per_buyer`` units per order (or all that are left)."""

    code, message = "below_min_per_buyer", "This listing sells a larger minimum quantity."


class BelowPriceFloorError(BusinessRuleError):
    """The unit price is below PRICE_FLOOR_PCT of the SKU's 7-day median; ``details.floor`` is the lowest allowed."""

    code, message = "below_price_floor", "The price is below the market's price floor."


class NotListingSellerError(BusinessRuleError):
    """Only the listing's seller may do that (e.g. cancel it)."""

    code, message = "not_listing_seller", "Only the seller can do that."


class PriceChangedError(ConflictError):
    """The SKU's price is not the one the buyer confirmed; ``details.price`` is the current one."""

    code, message = "price_changed", "The price changed; confirm the new price."


class ListingNotActiveError(ConflictError):
    """The listing was cancelled, expired or sold out; ``details.listing`` is its state."""

    code, message = "listing_not_active", "This listing is no longer active."


class OrderNotPendingError(ConflictError):
    """The order is already fulfilled, refunded or cancelled; ``details.order`` is its state."""

    code, message = "order_not_pending", "This order is already settled."


class InvalidBalanceRangeError(CoinhallError):
    """A search's ``min_available`` is above its ``max_available`` (each valid on its own)."""

    status, code = 422, "invalid_balance_range"
    message = "'min_available' must not exceed 'max_available'."


class PricingBandsOutOfOrderError(CoinhallError):
    """A pricing change would make a higher price pay a smaller fee (``details.field``: the band to fix)."""

    status, code = 422, "pricing_bands_out_of_order"
    message = "The bands must not fall as the price rises: undercut <= market <= premium <= far_over."


class OrderNotRequeueableError(ConflictError):
    """Only an order the game server delivers (``fulfilment: api``) can have its delivery queued again."""

    code, message = "order_not_requeueable", "Only an order the game server delivers can be queued again."


class OrderNotCancellableError(ConflictError):
    """Only a voucher order that was not redeemed can be cancelled (a game server call may be in flight)."""

    code, message = "order_not_cancellable", "This order cannot be cancelled."


class GameServerRevokedError(ConflictError):
    """The game server was revoked: it cannot be rotated (register a new one)."""

    code, message = "game_server_revoked", "This game server was revoked."


class VoucherNotRedeemableError(ConflictError):
    """The voucher's order was refunded or cancelled (or expired); ``details.status`` says which."""

    code, message = "voucher_not_redeemable", "This voucher can no longer be redeemed."


class FulfilmentUnavailableError(UnavailableError):
    """Direct game-server delivery is not configured (MINECRAFT_API_URL / MINECRAFT_API_KEY)."""

    code, message = "fulfilment_unavailable", "Delivery to the game server is not configured."


# --- quests and events (operators) ----------------------------------------------
class QuestionNotFoundError(NotFoundError):
    """No such quest question in this economy's question set."""

    code, message = "question_not_found", "No such quest question."


class EventNotFoundError(NotFoundError):
    """No such event in this economy."""

    code, message = "event_not_found", "No such event."


class EventOverlapError(ConflictError):
    """Another event of the same kind is (or will be) running in that window; ``details.event_id`` names it."""

    code, message = "event_overlap", "Another event of this kind runs in that window."


class EventStateError(ConflictError):
    """The event cannot do that in its state (start: only scheduled; stop: scheduled or active)."""

    code, message = "event_state_conflict", "The event cannot do that now."


class LastActiveQuestionError(BusinessRuleError):
    """Deactivating this question would leave the economy's quest with no question to ask."""

    code, message = "last_active_question", "The quest needs at least one active question."
