"""Discord guilds as economies: created on first use, linked, role-mapped.

A guild is economy ``discord-<guild_id>`` unless an operator linked it to an
existing economy (``python -m chalicelib.cli discord link``), so a host app and
its community server can share one economy. The first interaction from a new
guild creates its economy with the default packs and quest questions.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional

from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.tenancy import store
from chalicelib.tenancy.audit import audit_write
from chalicelib.tenancy.economies import ensure_economy

ECONOMY_PREFIX = "discord-"
LEADERBOARD_SHARDS = 4
APP_ROLES_MAPPABLE = ("ADMIN", "OPERATOR", "SUPPORT", "AUDITOR")
_SNOWFLAKE = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True)
class Guild:
    guild_id: str
    economy: str
    role_map: Dict[str, str] = field(default_factory=dict)
    channels: Dict[str, str] = field(default_factory=dict)
    messages: Dict[str, str] = field(default_factory=dict)


def valid_snowflake(value: Any) -> bool:
    return isinstance(value, str) and bool(_SNOWFLAKE.match(value))


def economy_id_for(guild_id: str) -> str:
    return f"{ECONOMY_PREFIX}{guild_id}"


def leaderboard_shard(guild_id: str) -> str:
    digest = hashlib.sha256(guild_id.encode()).digest()
    return f"lb{digest[0] % LEADERBOARD_SHARDS}"


def _from_item(item: Dict[str, Any]) -> Guild:
    return Guild(
        guild_id=item["guild_id"],
        economy=item["economy"],
        role_map=dict(item.get("role_map") or {}),
        channels=dict(item.get("channels") or {}),
        messages=dict(item.get("messages") or {}),
    )


def find_guild(guild_id: str) -> Optional[Guild]:
    """The guild's record (a consistent read), or None."""
    item = store.find_guild_item(guild_id)
    return _from_item(item) if item else None


def ensure_guild(guild_id: str, *, setup: Callable[[str], None]) -> Guild:
    """The guild's record, creating it and its economy on first use (``setup(economy)`` stocks a new one).

    Raises ValidationFailedError for an id that is not a snowflake.
    """
    if not valid_snowflake(guild_id):
        raise errors.ValidationFailedError("Invalid guild id.", field="guild_id")
    guild = find_guild(guild_id)
    if guild is not None:
        return guild
    return _create(guild_id, economy_id_for(guild_id), setup)


def link_guild(guild_id: str, economy: str, *, setup: Callable[[str], None]) -> Guild:
    """Make ``guild_id`` use ``economy`` (created, and stocked by ``setup``, if missing). Only before first use.

    Raises ValidationFailedError; ConflictError when the guild already has another economy.
    """
    if not valid_snowflake(guild_id):
        raise errors.ValidationFailedError("Invalid guild id.", field="guild_id")
    guild = find_guild(guild_id) or _create(guild_id, economy, setup)
    if guild.economy != economy:
        raise errors.ConflictError(f"Guild {guild_id} already uses economy {guild.economy}.",
                                   guild_id=guild_id, economy=guild.economy)
    return guild


def _create(guild_id: str, economy: str, setup: Callable[[str], None]) -> Guild:
    ensure_economy(economy, name=f"Discord guild {guild_id}")
    # What a new economy starts with (packs, questions) belongs to the capabilities above: the caller's.
    setup(economy)
    now = now_iso()
    item = {
        "guild_id": guild_id,
        "economy": economy,
        "role_map": {},
        "channels": {},
        "messages": {},
        "created_at": now,
        "updated_at": now,
        "lb_shard": leaderboard_shard(guild_id),
        "lb_next_at": now,  # its first leaderboard is due at once
    }
    store.put_guild_if_absent(item)  # False: a concurrent first interaction created it, theirs stands
    # The economy remembers its guild, so work that starts outside Discord (a host
    # app's order) can still reach the guild's channels.
    store.link_economy_guild(economy, guild_id)
    guild = find_guild(guild_id)
    assert guild is not None
    return guild


def set_role(guild_id: str, role_id: str, app_role: Optional[str], actor: str) -> Dict[str, Any]:
    """Map a Discord role to an app role (or unmap it with None), audited.

    Raises ValidationFailedError (bad role id or app role), NotFoundError.
    """
    if not valid_snowflake(role_id):
        raise errors.ValidationFailedError("Invalid role id.", field="role")
    if app_role is not None and app_role not in APP_ROLES_MAPPABLE:
        raise errors.ValidationFailedError(f"app_role must be one of {', '.join(APP_ROLES_MAPPABLE)}.",
                                           field="app_role")
    guild = find_guild(guild_id)
    if guild is None:
        raise errors.NotFoundError("This guild has no Coinhall economy yet.", guild_id=guild_id)
    before = guild.role_map.get(role_id)
    change = store.guild_map_write(guild_id, "role_map", role_id, app_role)
    row = audit_write(guild.economy, actor, "discord.role_map", keys.tag("discord_role", role_id),
                      before={"app_role": before}, after={"app_role": app_role}, extra={"guild_id": guild_id})
    store.transact([change, row])
    return {"guild_id": guild_id, "role_id": role_id, "app_role": app_role, "before": before}


def remember(guild_id: str, kind: str, name: str, value: Optional[str]) -> None:
    """Store (or forget, with None) a channel or message id that /coins-setup made."""
    if kind not in ("channels", "messages"):
        raise ValueError(kind)
    store.update_guild_map(guild_id, kind, name, value)


def linked_guild_id(economy: str) -> Optional[str]:
    """The guild an operator linked to this economy (``discord link``), if any."""
    return store.linked_guild_id(economy)
