"""Request and response bodies of the operator event routes (``tenancy/events.py`` has the rules)."""
from __future__ import annotations

from typing import Annotated, List, Literal, Optional

from pydantic import BaseModel, Field, StrictInt, StrictStr, field_validator

from chalicelib.market.names import CATEGORIES, SKU_PATTERN
from chalicelib.routes.models import NOT_BLANK, Reason, _Body
from chalicelib.tenancy.event_names import (DISCOUNT_BOUNDS, KINDS, MAX_SKUS, MULTIPLIER_BOUNDS, REWARD_TYPES,
                                       STATUSES)


def _time(value: Optional[str]) -> Optional[str]:
    from chalicelib.core.ids import parse_iso

    return None if value is None else parse_iso(value)


# The pattern is said in the schema; the validator below gives the message.
_Sku = Annotated[StrictStr, Field(json_schema_extra={"pattern": SKU_PATTERN})]


class EventBody(_Body):
    name: StrictStr = Field(min_length=1, max_length=100, json_schema_extra=NOT_BLANK)
    kind: Literal[KINDS] = Field(description="reward_multiplier: grants pay more; shop_discount: the shop sells "
                                             "for less.")
    multiplier_bps: Optional[StrictInt] = Field(
        default=None, ge=MULTIPLIER_BOUNDS[0], le=MULTIPLIER_BOUNDS[1],
        description="reward_multiplier only: 20000 = x2; a grant pays floor(base * bps / 10000).")
    discount_bps: Optional[StrictInt] = Field(
        default=None, ge=DISCOUNT_BOUNDS[0], le=DISCOUNT_BOUNDS[1],
        description="shop_discount only: 1000 = 10% off; floor(price * bps / 10000) comes off the unit price.")
    rewards: Optional[List[Literal[REWARD_TYPES]]] = Field(
        default=None, min_length=1, max_length=len(REWARD_TYPES),
        description="reward_multiplier only: the grant types it applies to (absent: all).")
    skus: Optional[List[_Sku]] = Field(default=None, min_length=1, max_length=MAX_SKUS,
                                            description="shop_discount only: the SKUs it applies to (absent: all).")
    categories: Optional[List[Literal[CATEGORIES]]] = Field(
        default=None, min_length=1, max_length=len(CATEGORIES),
        description="shop_discount only: the categories it applies to (absent: all).")
    starts_at: Optional[StrictStr] = Field(default=None, description="ISO-8601 with a time zone; default now.",
                                           json_schema_extra={"format": "date-time"})
    ends_at: StrictStr = Field(description="ISO-8601 with a time zone; in the future, at most 90 days after the "
                                           "start.", json_schema_extra={"format": "date-time"})
    reason: Reason = Field(min_length=1, max_length=500, description="Why, for the audit trail (or X-Audit-Reason).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("skus")
    @classmethod
    def _skus(cls, value: Optional[List[str]]) -> Optional[List[str]]:
        from chalicelib.market.names import valid_sku

        if value is not None and not all(valid_sku(v) for v in value):
            raise ValueError(f"every SKU must match {SKU_PATTERN}")
        return value

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _times(cls, value: Optional[str]) -> Optional[str]:
        return _time(value)


class EventAction(_Body):
    """A start or stop: only the reason (or the X-Audit-Reason header)."""

    reason: Reason = Field(min_length=1, max_length=500, description="Why, for the audit trail (or X-Audit-Reason).")


class Event(BaseModel):
    event_id: str
    name: str
    kind: str
    status: Literal[STATUSES]
    multiplier_bps: Optional[int]
    discount_bps: Optional[int]
    rewards: Optional[List[str]]
    skus: Optional[List[str]]
    categories: Optional[List[str]]
    starts_at: str
    ends_at: str
    stopped_at: Optional[str] = Field(description="Set when an operator stopped it; the window ended then.")
    created_by: Optional[str]
    created_at: str
    updated_at: str


class EventList(BaseModel):
    items: List[Event]
    next_cursor: Optional[str] = Field(description="Pass as cursor for the next page; null on the last. A status "
                                                   "filter can leave a page short (even empty) while more follow.")
