"""One Discord interaction, parsed from its (already verified) JSON.

The parts we read are validated by pydantic models as strict as Discord's own
documentation (ids are snowflake strings, ``permissions`` a decimal string,
``custom_id`` 1-100 characters, options nested at most as group > subcommand >
value, ...). A body that fails them was signed by Discord's key but is not an
interaction we can answer: ``Interaction.parse`` raises ValidationFailedError
naming the field, and the endpoint answers 400 (Discord only needs a non-2xx
for a broken body; an ephemeral message would need an interaction we could
read). Fields we do not read are ignored, so Discord adding one breaks nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any, Dict, List, Optional, Tuple, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from chalicelib.core import errors

# Interaction types
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5

_DISCORD_EPOCH_MS = 1420070400000

Snowflake = Annotated[StrictStr, Field(pattern=r"^[0-9]{1,20}$")]
CustomId = Annotated[StrictStr, Field(min_length=1, max_length=100)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class UserPart(_Part):
    id: Snowflake
    bot: Optional[StrictBool] = None
    username: Optional[StrictStr] = Field(default=None, max_length=100)


class MemberPart(_Part):
    user: Optional[UserPart] = None
    roles: List[Snowflake] = Field(default_factory=list, max_length=250)
    permissions: Optional[StrictStr] = Field(default=None, pattern=r"^[0-9]{1,30}$")


OptionValue = Union[StrictBool, StrictInt, StrictFloat, Annotated[StrictStr, Field(max_length=6000)]]


class ValueOption(_Part):
    """An option that carries a value (the innermost level)."""

    name: StrictStr = Field(min_length=1, max_length=32)
    type: StrictInt = Field(ge=1, le=11)
    value: Optional[OptionValue] = None
    focused: Optional[StrictBool] = None
    options: None = Field(default=None, description="Nothing nests below a value (Discord: 3 levels at most).")


class SubcommandOption(ValueOption):
    options: Optional[List[ValueOption]] = Field(default=None, max_length=25)  # type: ignore[assignment]


class TopOption(ValueOption):
    options: Optional[List[SubcommandOption]] = Field(default=None, max_length=25)  # type: ignore[assignment]


class ResolvedPart(_Part):
    users: Dict[Snowflake, UserPart] = Field(default_factory=dict, max_length=25)


class TextInputPart(_Part):
    type: StrictInt = Field(ge=1, le=100)
    custom_id: Optional[CustomId] = None
    value: Optional[StrictStr] = Field(default=None, max_length=4000)


class ActionRowPart(_Part):
    type: StrictInt = Field(ge=1, le=100)
    components: List[TextInputPart] = Field(default_factory=list, max_length=5)


class DataPart(_Part):
    id: Optional[Snowflake] = None
    name: Optional[StrictStr] = Field(default=None, min_length=1, max_length=32)
    type: Optional[StrictInt] = Field(default=None, ge=1, le=20)
    options: Optional[List[TopOption]] = Field(default=None, max_length=25)
    resolved: Optional[ResolvedPart] = None
    custom_id: Optional[CustomId] = None
    component_type: Optional[StrictInt] = Field(default=None, ge=1, le=100)
    values: Optional[List[Annotated[StrictStr, Field(max_length=100)]]] = Field(default=None, max_length=25)
    components: Optional[List[ActionRowPart]] = Field(default=None, max_length=5)


class InteractionBody(_Part):
    """What we read of an interaction other than PING (which is answered before it is parsed)."""

    id: Snowflake
    type: StrictInt = Field(ge=2, le=5)
    token: StrictStr = Field(pattern=r"^[\x21-\x7e]{1,1000}$")  # printable ASCII: Discord documents no alphabet
    application_id: Snowflake
    guild_id: Optional[Snowflake] = None
    channel_id: Optional[Snowflake] = None
    member: Optional[MemberPart] = None
    user: Optional[UserPart] = None
    data: DataPart

    @model_validator(mode="after")
    def _parts_of_its_type(self) -> "InteractionBody":
        if (self.member is None or self.member.user is None) and self.user is None:
            raise ValueError("an interaction names its user (member.user or user)")
        if self.type in (APPLICATION_COMMAND, AUTOCOMPLETE) and self.data.name is None:
            raise ValueError("a command names itself (data.name)")
        if self.type in (MESSAGE_COMPONENT, MODAL_SUBMIT) and self.data.custom_id is None:
            raise ValueError("a component or modal has a data.custom_id")
        return self


def snowflake_time(snowflake: str) -> datetime:
    """When Discord made this id (ids carry their creation time)."""
    ms = (int(snowflake) >> 22) + _DISCORD_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def is_ping(payload: Any) -> bool:
    """Discord's endpoint check: answered with PONG before anything else is read."""
    return isinstance(payload, dict) and type(payload.get("type")) is int and payload["type"] == PING


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
        """Raises ValidationFailedError (naming the field) for a payload that is not an interaction we can read."""
        from chalicelib.core import inputs

        if not isinstance(payload, dict):
            raise errors.ValidationFailedError("Not an interaction.", field="type")
        body = inputs.validate(InteractionBody, payload)
        member = body.member
        user = (member.user if member is not None else None) or body.user
        assert user is not None  # the model's own rule
        return cls(
            id=body.id,
            type=body.type,
            token=body.token,
            application_id=body.application_id,
            guild_id=body.guild_id,
            channel_id=body.channel_id,
            user_id=user.id,
            user_is_bot=bool(user.bot),
            permissions=int(member.permissions or 0) if member is not None else 0,
            role_ids=tuple(member.roles) if member is not None else (),
            data=body.data.model_dump(exclude_none=True),
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
