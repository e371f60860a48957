"""Request and response bodies of the HTTP API (pydantic; also the OpenAPI schemas)."""
from __future__ import annotations

from typing import Annotated, Dict, List, Optional

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationInfo, field_validator,
    model_validator,
)

from chalicelib.ledger.accounts import MAX_AMOUNT
from chalicelib.ledger.freezes import NAME_PATTERN
from chalicelib.purchases.pack_limits import MAX_PRICE_AMOUNT, price_problems

Amount = StrictInt


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _space_class() -> str:
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    return "".join(f"\\u{ord(c):04x}" for c in spaces)


# What ``_not_blank`` refuses, for the OpenAPI document: a string of Python's whitespace only. JSON Schema's
# ``\s`` is not Python's (it lacks U+001C-U+001F and U+0085, and has U+FEFF), so the class is spelled out.
NOT_BLANK = {"pattern": f"[^{_space_class()}]"}

# A reason a person will read in a statement or the audit trail: never blank.
Reason = Annotated[StrictStr, AfterValidator(_not_blank), Field(json_schema_extra=NOT_BLANK)]


def some_of(schema: Dict[str, object]) -> None:
    """A body of optional settings, at least one given: absent means "leave it", and null is not a value."""
    schema["minProperties"] = 1
    for prop in schema.get("properties", {}).values():  # type: ignore[union-attr]
        prop.pop("default", None)


class _Body(BaseModel):
    # Unknown fields are refused: a typo must not silently mean "default".
    # Schemas are built on first use, not at import: cold starts stay cheap.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class _SomeOf(_Body):
    """A body of optional settings (``some_of``) that must name at least one: ``{}`` would change nothing."""

    @model_validator(mode="after")
    def _at_least_one(self) -> "_SomeOf":
        if not self.model_fields_set:
            raise ValueError("name at least one setting")
        return self


class SpendBody(_Body):
    amount: Amount = Field(gt=0, le=MAX_AMOUNT, description="Coins to spend (integer, 1..10^12).")
    reason: Reason = Field(min_length=1, max_length=200, description="Why, shown in the statement.")
    ref: Optional[StrictStr] = Field(default=None, min_length=1, max_length=200, description="Your reference.")
    creator_id: Optional[StrictStr] = Field(
        default=None, pattern=r"^[A-Za-z0-9_.:@|-]{1,128}$",
        description="A tip or gift: this user's earnings get the economy's creator share, the treasury the rest.")


class AdjustBody(_Body):
    amount: Amount = Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, description="Signed coins: + credits, - debits; never 0.",
                           json_schema_extra={"not": {"const": 0}})
    reason: Reason = Field(min_length=1, max_length=500)

    @field_validator("amount")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class FreezeBody(_Body):
    reason: Reason = Field(min_length=1, max_length=500)


class UnfreezeBody(FreezeBody):
    lift: List[Annotated[StrictStr, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list, max_length=10,
        description="Other freeze reasons to lift with the operator's own: a kind (`dispute_lost`, `debt`, "
                    "`dispute`) or one reason (`dispute_lost:<purchase_id>`). Unnamed reasons stay.")


class Balance(BaseModel):
    available: int
    held: int
    earnings: int


class Wallet(BaseModel):
    user_id: str
    available: int
    held: int
    earnings: int
    total: int
    frozen: bool
    freeze_reasons: List[str] = Field(
        description="Why it is frozen (frozen iff non-empty): operator, debt, dispute:<purchase_id>, "
                    "dispute_lost:<purchase_id>.")
    debt: int = Field(description="Coins owed after a refund or lost dispute took back more than the wallet held.")
    seq: int
    created_at: Optional[str]
    updated_at: Optional[str]


class Posting(BaseModel):
    transaction_id: str
    user_id: str
    amount: int
    reason: str
    ref: Optional[str] = None
    creator_id: Optional[str] = Field(default=None, description="Spend with a recipient only.")
    creator_amount: Optional[int] = None
    platform_amount: Optional[int] = None
    creator_share_bps: Optional[int] = None
    balance: Balance
    seq: int
    created_at: str


class Entry(BaseModel):
    id: str
    type: str
    seq: int
    amount: int = Field(description="Signed change of `available`.")
    balance_after: int = Field(description="`available` after this entry.")
    held_change: Optional[int] = None
    held_after: Optional[int] = None
    earnings_change: Optional[int] = None
    earnings_after: Optional[int] = None
    reason: Optional[str] = None
    ref: Optional[str] = None
    details: Optional[Dict[str, object]] = None
    granted_by: Optional[str] = Field(default=None, description="Rewards: who granted it (api_key:<key id>, "
                                                                "or discord:<user id> for a player's own claim).")
    created_at: str


class EntryPage(BaseModel):
    items: List[Entry]
    next_cursor: Optional[str]


class Price(BaseModel):
    amount: int = Field(description="Minor units (cents).")
    currency: str


class Pack(BaseModel):
    id: str
    name: str
    coins: int
    bonus_coins: int
    total_coins: int
    price: Price
    active: bool


class PackList(BaseModel):
    items: List[Pack]


class FreezeResult(BaseModel):
    user_id: str
    frozen: bool = Field(description="Still true after an unfreeze while other reasons remain.")
    freeze_reasons: List[str]
    changed: bool
    reason: str


class Health(BaseModel):
    status: str


class Index(BaseModel):
    name: str
    stage: str
    links: Dict[str, str]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Dict[str, object]


class ErrorBody(BaseModel):
    error: ErrorDetail


_URL = r"^https?://[^\s]{1,2000}$"
_ID = r"^[A-Za-z0-9_.:@|-]{1,128}$"


class CheckoutBody(_Body):
    user_id: StrictStr = Field(pattern=_ID)
    pack_id: StrictStr = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    success_url: Optional[StrictStr] = Field(default=None, pattern=_URL)
    cancel_url: Optional[StrictStr] = Field(default=None, pattern=_URL)


class Checkout(BaseModel):
    purchase_id: str
    session_id: Optional[str]
    checkout_url: Optional[str]
    status: str
    total_coins: int
    price: Price
    expires_at: Optional[str]


class Purchase(BaseModel):
    purchase_id: str
    user_id: str
    pack_id: str
    pack_name: str
    coins: int
    bonus_coins: int
    total_coins: int
    price: Price
    status: str = Field(description="pending, credited, failed, expired, refunded, disputed, needs_review")
    session_id: Optional[str]
    checkout_url: Optional[str]
    created_at: str
    expires_at: Optional[str]
    credited_at: Optional[str]
    clawed_back_coins: int
    debt_coins: int
    refunded_amount: Optional[int] = None
    dispute_status: Optional[str] = None
    failure_reason: Optional[str] = Field(
        default=None, description="Why it was not credited: mismatch, cancelled (expired by the local payment "
                                  "page's Cancel), or a needs_review reason (balance_limit, ...).")
    review_step: Optional[str] = Field(
        default=None, description="needs_review only: the step that waits (credit, dispute_hold, clawback, "
                                  "dispute_release).")


def _price_schema(schema: Dict[str, object]) -> None:
    from chalicelib.purchases.pack_limits import MIN_CHARGE

    # The currency's minimum charge, in the document as in price_problems.
    schema["properties"]["currency"]["enum"] = sorted(MIN_CHARGE)  # type: ignore[index]
    schema["allOf"] = [{"if": {"properties": {"currency": {"const": currency}}},
                        "then": {"properties": {"amount": {"minimum": low}}}}
                       for currency, low in sorted(MIN_CHARGE.items())]


class PriceBody(_Body):
    model_config = ConfigDict(json_schema_extra=_price_schema)

    amount: StrictInt = Field(gt=0, le=MAX_PRICE_AMOUNT,
                              description="Minor units, from Stripe's minimum charge for the currency to 99,999,999.")
    currency: StrictStr = Field(pattern=r"^[a-z]{3}$",
                                description="ISO 4217, lower case: one Stripe publishes a minimum charge for.")

    @model_validator(mode="after")
    def _chargeable(self) -> "PriceBody":
        # One rule for the pack's entry, the checkout and the credit (chalicelib.purchases.pack_limits).
        problems = price_problems(self.amount, self.currency)
        if problems:
            field, problem = next(iter(problems.items()))
            raise ValueError(f"{field} {problem}")
        return self


class PackBody(_Body):
    name: Reason = Field(min_length=1, max_length=100)
    coins: StrictInt = Field(gt=0, le=MAX_AMOUNT)
    bonus_coins: StrictInt = Field(default=0, ge=0, le=MAX_AMOUNT,
                                   description="coins + bonus_coins is at most 10^12: one ledger credit.")
    price: PriceBody
    active: bool = True
    sort_order: StrictInt = Field(default=0, ge=0, le=10_000)

    @field_validator("bonus_coins")
    @classmethod
    def _one_credit(cls, value: int, info: ValidationInfo) -> int:
        coins = info.data.get("coins")
        if isinstance(coins, int) and coins + value > MAX_AMOUNT:
            raise ValueError(f"coins + bonus_coins must be at most {MAX_AMOUNT} (one ledger credit)")
        return value


class RetryBody(_Body):
    reason: Reason = Field(min_length=1, max_length=500, description="Why, for the audit trail.")


class RefundBody(_Body):
    amount: Optional[StrictInt] = Field(
        default=None, gt=0, le=MAX_PRICE_AMOUNT,
        description="Minor units of the purchase's currency; absent: all that is left unrefunded.")
    reason: Reason = Field(min_length=1, max_length=500, description="Why, for the audit trail.")


class RefundLine(BaseModel):
    refund_ref: str = Field(description="Our id of the refund (one per Idempotency-Key).")
    amount: int
    status: str = Field(description="requested (the provider has not answered yet), succeeded, pending, refused")
    refund_id: Optional[str] = Field(default=None, description="The provider's refund id (re_...).")
    reason: Optional[str] = None
    actor: Optional[str] = None
    requested_at: Optional[str] = None
    stripe_code: Optional[str] = Field(default=None, description="refused only: Stripe's reason.")


class AdminPurchase(Purchase):
    mode: str = Field(description="stripe | local")
    payment_intent: Optional[str]
    refund_requested: int = Field(description="Minor units refunded or being refunded, as far as we know.")
    refunds: List[RefundLine] = Field(description="Refunds made through the admin API, oldest first.")


class AdminPurchasePage(BaseModel):
    items: List[AdminPurchase]
    next_cursor: Optional[str]


class Refund(BaseModel):
    refund_ref: str
    purchase_id: str
    amount: int
    currency: str
    status: str
    refund_id: Optional[str]
    reason: Optional[str]
    requested_at: Optional[str]


class RefundResult(BaseModel):
    refund: Refund
    purchase: AdminPurchase = Field(description="As it stands: the claw-back follows from the provider's "
                                                "charge.refunded event.")


class SettleDebtResult(BaseModel):
    transaction_id: str
    user_id: str
    paid: int
    debt: int
    frozen: bool
    freeze_reasons: List[str]
    balance: Balance


class ReportRow(BaseModel):
    """One wallet leg of one operation (a CSV row has these columns, in this order)."""

    id: str = Field(description="The operation (transaction) id.")
    created_at: str
    type: str
    user_id: str
    amount: int = Field(description="The wallet's net change: available + held + earnings.")
    available: int
    held: int
    earnings: int
    ref: str


class TransactionReport(BaseModel):
    items: List[ReportRow]
    next_cursor: Optional[str] = Field(description="Also in the X-Next-Cursor header (the CSV page's only way).")


class ReportSupply(BaseModel):
    circulation: int = Field(description="Coins in user wallets now: available + held + earnings.")
    available: int
    held: int
    earnings: int
    debt: int
    wallets: int


class ReportDay(BaseModel):
    day: str
    issued: int = Field(description="bought + rewarded + adjusted (net operator credits).")
    bought: int
    rewarded: int
    adjusted: int
    burned: int
    fees: int
    clawed_back: int
    paid_out: int
    spent: int
    purchases: int
    refunds: int
    operations: int
    active_wallets: int


class ReportTop(BaseModel):
    user_id: str
    earned: Optional[int] = None
    spent: Optional[int] = None


class EconomyReport(BaseModel):
    economy: str
    from_: str = Field(alias="from")
    to: str
    supply: ReportSupply
    totals: Dict[str, int]
    velocity: float = Field(description="Coins spent in the range / coins in circulation now.")
    days: List[ReportDay]
    top_earners: List[ReportTop]
    top_spenders: List[ReportTop]

class ReverseBody(_Body):
    reason: Reason = Field(min_length=1, max_length=500)
    amount: Optional[Amount] = Field(default=None, gt=0, le=MAX_AMOUNT,
                                     description="Coins of the original to reverse; omitted: all that is left.")
    keep_entitlement: StrictBool = Field(default=False, description="An unlock reversed in full keeps its entitlement.")


class Reversal(BaseModel):
    transaction_id: str = Field(description="The reversing operation.")
    reverses: str = Field(description="The original operation.")
    type: str = Field(description="The original's type.")
    amount: int = Field(description="Coins of the original reversed by this call.")
    reversed: int = Field(description="Coins of the original reversed so far, this call included.")
    original_amount: int
    unreversed: int
    fully_reversed: bool
    changes: Dict[str, int] = Field(description="Account -> signed coins this reversal moved (before any debt).")
    debt: Dict[str, int] = Field(description="User -> coins recorded as debt (they were gone); those wallets froze.")
    frozen: List[str]
    entitlement_revoked: bool
    balances: Dict[str, Balance]
    reason: str
    created_at: str
