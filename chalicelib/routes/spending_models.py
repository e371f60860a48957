"""Request and response bodies of the spending routes: content, unlocks, holds, escrow."""
from __future__ import annotations

from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator

from chalicelib.spending.names import HOLD_STATES, MAX_ESCROW_SECONDS, MAX_HOLD_SECONDS
from chalicelib.ledger.accounts import MAX_AMOUNT
from chalicelib.routes.models import NOT_BLANK, Balance, _Body, some_of

_ID = r"^[A-Za-z0-9_.:@|-]{1,128}$"
Bps = StrictInt


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class ContentBody(_Body):
    title: StrictStr = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    price: StrictInt = Field(ge=0, le=MAX_AMOUNT, description="Coins; 0 = free.")
    creator_id: StrictStr = Field(pattern=_ID, description="Who earns the creator share.")
    creator_share_bps: Optional[Bps] = Field(
        default=None, ge=0, le=10_000, description="The creator's share in basis points; default: the economy's.")

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return _not_blank(value)


class UnlockBody(_Body):
    content_id: StrictStr = Field(pattern=_ID)


class CheckBalanceBody(_Body):
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT)


class HoldBody(_Body):
    user_id: StrictStr = Field(pattern=_ID)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT)
    purpose: StrictStr = Field(min_length=1, max_length=100, description="What it is for (e.g. call, stream).",
                              json_schema_extra=NOT_BLANK)
    ref: Optional[StrictStr] = Field(default=None, min_length=1, max_length=200)
    expires_in: StrictInt = Field(ge=1, le=MAX_HOLD_SECONDS, description="Seconds until it is released by itself.")

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        return _not_blank(value)


class SettleBody(_Body):
    amount: Optional[StrictInt] = Field(default=None, gt=0, le=MAX_AMOUNT, description="Default: all of the hold.")
    to_user_id: Optional[StrictStr] = Field(
        default=None, pattern=_ID, description="Pay this user's earnings (creator split); default: the treasury.")


class EscrowBody(_Body):
    client_id: StrictStr = Field(pattern=_ID)
    freelancer_id: StrictStr = Field(pattern=_ID)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT)
    job_ref: StrictStr = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    auto_release_after: Optional[StrictInt] = Field(
        default=None, ge=1, le=MAX_ESCROW_SECONDS, description="Seconds; default ESCROW_TIMEOUT_MIN minutes.")

    @field_validator("job_ref")
    @classmethod
    def _job_ref(cls, value: str) -> str:
        return _not_blank(value)


class RatesBody(_Body):
    # Absent means "leave it"; an explicit null is not a rate (400). At least one is set.
    model_config = ConfigDict(json_schema_extra=some_of)

    creator_share_bps: Bps = Field(default=None, ge=0, le=10_000)  # type: ignore[assignment]
    escrow_fee_bps: Bps = Field(default=None, ge=0, le=10_000)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _something(self) -> "RatesBody":
        if self.creator_share_bps is None and self.escrow_fee_bps is None:
            raise ValueError("set creator_share_bps, escrow_fee_bps or both")
        return self


# -- responses ------------------------------------------------------------------


class Content(BaseModel):
    content_id: str
    title: str
    price: int
    creator_id: str
    creator_share_bps: int
    free: bool
    created_at: str
    updated_at: str


class Entitlement(BaseModel):
    user_id: str
    content_id: str
    basis: str = Field(description="paid, free, or creator (a creator's own content)")
    price: int
    creator_id: str
    creator_amount: int
    platform_amount: int
    transaction_id: Optional[str]
    unlocked_at: str


class UnlockResult(Entitlement):
    already_unlocked: bool = Field(description="True when this call found an earlier unlock and charged nothing.")


class UnlockStatus(BaseModel):
    user_id: str
    content_id: str
    unlocked: bool
    entitlement: Optional[Entitlement]


class EntitlementPage(BaseModel):
    items: List[Entitlement]
    next_cursor: Optional[str]


class BalanceCheck(BaseModel):
    user_id: str
    amount: int
    sufficient: bool
    available: int
    held: int
    frozen: bool


class Hold(BaseModel):
    hold_id: str
    kind: str = Field(description="hold, or escrow (a job escrow seen as the hold it is)")
    user_id: str
    amount: int
    purpose: str
    ref: Optional[str]
    status: str = Field(description=", ".join(HOLD_STATES) + "; escrows: active, released, refunded")
    created_at: str
    expires_at: str
    resolved_at: Optional[str]
    settled_amount: Optional[int]
    returned_amount: Optional[int]
    to_user_id: Optional[str]
    creator_amount: Optional[int]
    platform_amount: Optional[int]
    payee_id: Optional[str] = None
    transaction_id: Optional[str] = Field(default=None, description="On writes: the ledger operation.")
    balance: Optional[Balance] = Field(default=None, description="On writes: the payer's buckets after.")


class HoldPage(BaseModel):
    items: List[Hold]
    next_cursor: Optional[str]


class Escrow(BaseModel):
    escrow_id: str
    client_id: str
    freelancer_id: str
    amount: int
    job_ref: Optional[str]
    fee_bps: int
    status: str = Field(description="active, released, refunded")
    created_at: str
    auto_release_at: str
    resolved_at: Optional[str]
    resolution: Optional[str] = Field(description="escrow-release, escrow-auto or escrow-refund")
    freelancer_amount: Optional[int]
    fee_amount: Optional[int]
    refunded_amount: Optional[int]
    transaction_id: Optional[str] = None
    balance: Optional[Balance] = Field(default=None, description="On writes: the client's buckets after.")


class Rates(BaseModel):
    creator_share_bps: int
    escrow_fee_bps: int


class RatesResult(BaseModel):
    rates: Rates
    changed: bool
