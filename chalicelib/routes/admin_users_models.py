"""Bodies of the admin "Users" routes: search, one user, activity, notes (pydantic; also the OpenAPI schemas)."""
from __future__ import annotations

from typing import List, Optional

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.routes.models import Reason, _Body


class NoteBody(_Body):
    text: Reason = Field(min_length=1, max_length=2000, description="The note; it is also the audit row's reason.")


class Note(BaseModel):
    note_id: str
    text: str
    actor: str
    role: Optional[str]
    created_at: str


class NotePage(BaseModel):
    items: List[Note]
    next_cursor: Optional[str]


class UserRow(BaseModel):
    user_id: str
    available: int
    held: int
    earnings: int
    debt: int
    frozen: bool
    freeze_reasons: List[str]
    created_at: Optional[str]
    updated_at: Optional[str]


class UserPage(BaseModel):
    items: List[UserRow]
    next_cursor: Optional[str]


class WalletFigures(BaseModel):
    available: int
    held: int
    earnings: int
    debt: int


class Flags(BaseModel):
    frozen: bool
    freeze_reasons: List[str]


class AdminUser(BaseModel):
    user_id: str
    wallet: WalletFigures
    flags: Flags
    notes: List[Note] = Field(description="The latest notes, newest first.")
    last_activity_at: Optional[str] = Field(description="The time of the wallet's latest statement entry.")
    created_at: Optional[str]


class ActivityItem(BaseModel):
    # Each kind adds its own summary fields (amount, status, sku, action, ...).
    model_config = ConfigDict(extra="allow")

    at: str
    kind: str = Field(description="entry | reward | hold | order | purchase | unlock | audit")
    id: str


class ActivityPage(BaseModel):
    items: List[ActivityItem]
    next_cursor: Optional[str]
