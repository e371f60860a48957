"""One Discord interaction, parsed from its (already verified) JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from chalicelib import errors

# Interaction types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

_DISCORD_EPOCH_MS = 1420070400000


def snowflake_time(snowflake: str) -> datetime:
    """When Discord made this id (ids carry their creation time)."""
    ms = (int(snowflake) >> 22) + _DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@dataclass(frozen=True)
class Interaction:
    id: str
    type: int
    token: str
    application_id: str
    guild_id: Optional[str]
    channel_id: Optional[str]
    user_id: str
    user_is_bot: bool
    permissions: int  # the member's computed permissions in the channel
    role_ids: Tuple[str, ...]
    data: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, payload: Any) -> "Interaction":
        """Raises ValidationFailedError for a payload that is not an interaction."""
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), int):
            raise errors.ValidationFailedError("Not an interaction.", field="type")
        member = payload.get("member") or {}
        user = member.get("user") or payload.get("user") or {}
        try:
            permissions = int(member.get("permissions") or 0)
        except (TypeError, ValueError):
            permissions = 0
        return cls(
            id=str(payload.get("id") or ""),
            type=payload["type"],
            token=str(payload.get("token") or ""),
            application_id=str(payload.get("application_id") or ""),
            guild_id=payload.get("guild_id"),
            channel_id=payload.get("channel_id"),
            user_id=str(user.get("id") or ""),
            user_is_bot=bool(user.get("bot")),
            permissions=permissions,
            role_ids=tuple(str(r) for r in member.get("roles") or ()),
            data=payload.get("data") or {},
        )

    # --- application commands -------------------------------------------------

    @property
    def command(self) -> str:
        return str(self.data.get("name") or "")

    @property
    def subcommand(self) -> Optional[str]:
        for option in self.data.get("options") or ():
            if option.get("type") in (1, 2):
                return option.get("name")
        return None

    @property
    def options(self) -> Dict[str, Any]:
        """Option name -> value, flattened through a subcommand."""
        found: Dict[str, Any] = {}

        def walk(options: List[Dict[str, Any]]) -> None:
            for option in options or ():
                if option.get("type") in (1, 2):
                    walk(option.get("options") or [])
                else:
                    found[option.get("name")] = option.get("value")

        walk(self.data.get("options") or [])
        return found

    def resolved_user(self, user_id: str) -> Dict[str, Any]:
        return ((self.data.get("resolved") or {}).get("users") or {}).get(user_id) or {}

    # --- components and modals ------------------------------------------------

    @property
    def custom_id(self) -> str:
        return str(self.data.get("custom_id") or "")

    @property
    def values(self) -> List[str]:
        return [str(v) for v in self.data.get("values") or ()]

    @property
    def modal_fields(self) -> Dict[str, str]:
        found: Dict[str, str] = {}
        for row in self.data.get("components") or ():
            for component in row.get("components") or ():
                if component.get("custom_id"):
                    found[component["custom_id"]] = str(component.get("value") or "")
        return found

    @property
    def created_at(self) -> datetime:
        return snowflake_time(self.id)
