"""Request and response bodies of the rewards routes: grants, the course registry, reward settings."""
from __future__ import annotations

from typing import Annotated, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator, model_validator

from chalicelib.ledger.accounts import MAX_AMOUNT, USER_ID_PATTERN
from chalicelib.rewards.names import _COURSE_ID
from chalicelib.routes.models import NOT_BLANK, Balance, _Body, _SomeOf, some_of


class GrantBody(_Body):
    # referral and course_completion need a ref (chalicelib.rewards.grants), in the document too.
    model_config = ConfigDict(json_schema_extra={"allOf": [
        {"if": {"properties": {"type": {"const": kind}}},
         "then": {"required": ["ref"], "properties": {"ref": {"type": "string", "pattern": pattern}}}}
        for kind, pattern in (("referral", USER_ID_PATTERN), ("course_completion", _COURSE_ID.pattern))]})

    type: Literal["daily", "quest", "referral", "course_completion"] = Field(
        description="daily and quest: once per user per UTC day; referral: once per referred user (ref = the "
                    "referred user's id; both users need a wallet); course_completion: once per user and course "
                    "(ref = a course id of the course registry; pays the course's reward).")
    ref: Optional[StrictStr] = Field(default=None, min_length=1, max_length=128,
                                     description="Required for referral and course_completion; 1-128 printable "
                                                 "ASCII, no spaces.",
                                     json_schema_extra={"pattern": r"^[\x21-\x7e]{1,128}$"})


class GrantEvent(BaseModel):
    event_id: str
    name: str
    multiplier_bps: int


class Grant(BaseModel):
    transaction_id: str
    user_id: str
    type: str
    amount: int
    ref: Optional[str] = None
    granted_by: Optional[str] = Field(default=None, description="Who granted it: api_key:<key id> or "
                                                                "discord:<user id> (the player's own claim).")
    balance: Balance
    seq: int
    created_at: str
    already_claimed: bool = Field(description="True when this repeats an earlier grant (nothing new was paid).")
    streak: Optional[int] = None
    badges: Optional[List[str]] = None
    new_badges: Optional[List[str]] = None
    next_claim_at: Optional[str] = None
    next_quest_at: Optional[str] = None
    date: Optional[str] = None
    course_title: Optional[str] = None
    base_amount: Optional[int] = Field(default=None, description="Set when an event multiplied the grant: the "
                                                                 "amount before it.")
    event: Optional[GrantEvent] = Field(default=None, description="The reward_multiplier event that applied.")


# -- the course registry (operators) ----------------------------------------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


class CourseBody(_Body):
    title: StrictStr = Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK)
    reward: StrictInt = Field(ge=1, le=MAX_AMOUNT, description="Coins paid once per user who completes it.")

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return _not_blank(value)


class Course(BaseModel):
    course_id: str
    title: str
    reward: int
    created_at: str
    updated_at: str


class CourseList(BaseModel):
    items: List[Course]


# -- reward settings (operators) ------------------------------------------------------

# Absent means "leave it"; an explicit null is not an amount (400). At least one is set.
_Setting = StrictInt


class RewardSettingsBody(_Body):
    model_config = ConfigDict(json_schema_extra=some_of)

    daily_base: _Setting = Field(default=None, ge=0, le=MAX_AMOUNT)
    daily_streak_bonus: _Setting = Field(default=None, ge=0, le=MAX_AMOUNT)
    daily_cap: _Setting = Field(default=None, ge=0, le=MAX_AMOUNT)
    quest_reward: _Setting = Field(default=None, ge=0, le=MAX_AMOUNT)
    referral_reward: _Setting = Field(default=None, ge=0, le=MAX_AMOUNT)
    grant_daily_budget: _Setting = Field(default=None, ge=0, le=MAX_AMOUNT,
                                         description="Coins each API key may grant per UTC day; 0 = grants off.")

    @model_validator(mode="after")
    def _something(self) -> "RewardSettingsBody":
        if not self.model_dump(exclude_none=True):
            raise ValueError("set at least one reward setting")
        return self


class RewardSettingsValues(BaseModel):
    daily_base: int
    daily_streak_bonus: int
    daily_cap: int
    quest_reward: int
    referral_reward: int
    grant_daily_budget: int


class RewardSettings(BaseModel):
    settings: RewardSettingsValues
    changed: bool


# -- the quest's question set (operators) ------------------------------------------------

_Choice = Annotated[StrictStr, Field(min_length=1, max_length=100, json_schema_extra=NOT_BLANK)]


class QuestionBody(_Body):
    question: StrictStr = Field(min_length=1, max_length=256, json_schema_extra=NOT_BLANK)
    answer: _Choice
    wrong: List[_Choice] = Field(min_length=1, max_length=4, description="1-4 wrong choices, all different.",
                                 json_schema_extra={"uniqueItems": True})


class QuestionPatch(_SomeOf):
    # Absent means "leave it"; an explicit null is not a value (400). At least one is set.
    model_config = ConfigDict(json_schema_extra=some_of)

    question: StrictStr = Field(default=None, min_length=1, max_length=256,  # type: ignore[assignment]
                                json_schema_extra=NOT_BLANK)
    answer: _Choice = Field(default=None)  # type: ignore[assignment]
    wrong: List[_Choice] = Field(default=None, min_length=1, max_length=4,  # type: ignore[assignment]
                                 json_schema_extra={"uniqueItems": True})
    active: StrictBool = Field(default=None, description="false: no longer asked.")  # type: ignore[assignment]


class Question(BaseModel):
    question_id: str
    question: str
    answer: str
    wrong: List[str]
    active: bool
    created_at: Optional[str] = Field(description="null for a built-in default that was never stored.")
    updated_at: Optional[str]


class QuestionList(BaseModel):
    items: List[Question]
    defaults: bool = Field(description="True when nothing is stored: these are the built-in defaults, and the "
                                       "first write stores them before making its change.")
