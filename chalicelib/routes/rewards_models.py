"""Request and response bodies of the rewards route."""
from __future__ import annotations

from typing import List, Literal, Optional

from pydantic import BaseModel, Field, StrictStr

from chalicelib.routes.models import Balance, _Body


class RewardBody(_Body):
    type: Literal["daily", "quest", "referral", "course_completion"] = Field(
        description="daily and quest: once per user per UTC day; referral: once per referred user (ref = the "
                    "referred user's id); course_completion: once per user and course (ref = the course id).")
    ref: Optional[StrictStr] = Field(default=None, min_length=1, max_length=128,
                                     description="Required for referral and course_completion.")


class Reward(BaseModel):
    transaction_id: str
    user_id: str
    type: str
    amount: int
    ref: Optional[str] = None
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
