"""Dispatch a verified interaction to its flow, by type, command name or custom id.

PING is answered with PONG before anything else (Discord's endpoint check).
Every other interaction is resolved to its guild (creating the guild's economy
on first use) and routed. A domain error becomes an ephemeral message that
says what went wrong; an unexpected one is logged and answered with an
ephemeral apology, never a 500 (Discord shows "interaction failed" to the
player for those, and says nothing useful).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Tuple

from chalicelib.core import errors, keys
from chalicelib.discord import roles, views
from chalicelib.discord.followups import defer
from chalicelib.discord.interaction import (
    APPLICATION_COMMAND,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    Interaction,
    is_ping,
)
from chalicelib.discord.guild_setup import ensure_guild
from chalicelib.tenancy.guilds import Guild, valid_snowflake

log = logging.getLogger("coinhall.discord")

Handler = Callable[..., Dict[str, Any]]


def _player(name: str) -> Handler:
    def run(ix: Interaction, guild: Guild, *args: str) -> Dict[str, Any]:
        from chalicelib.discord import player

        return getattr(player, name)(ix, guild, *args)

    return run


def _setup(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    if not roles.may("setup", ix.permissions, ix.role_ids, guild.role_map):
        return views.not_allowed()
    return defer(ix, guild, "setup", {})


def _lazy(module: str, name: str) -> Handler:
    def run(ix: Interaction, guild: Guild, *args: str) -> Dict[str, Any]:
        import importlib

        return getattr(importlib.import_module(f"chalicelib.discord.{module}"), name)(ix, guild, *args)

    return run


COMMANDS: Dict[str, Handler] = {
    "coins": _player("card"),
    "daily": _player("daily"),
    "quest": _player("quest"),
    "leaderboard": _player("leaderboard"),
    "help": _player("help"),
    "buy-coins": _lazy("packs", "menu"),
    "give": _lazy("giving", "start"),
    "shop": _lazy("market", "categories"),
    "sell": _lazy("market", "sell_start"),
    "coins-setup": _setup,
    "coins-admin": _lazy("operators", "command"),
}

BUTTONS: Dict[str, Handler] = {
    "hub:card": _player("card"),
    "hub:daily": _player("daily"),
    "hub:quest": _player("quest"),
    "hub:leaderboard": _player("leaderboard"),
    "hub:help": _player("help"),
    "hub:buy": _lazy("packs", "menu"),
    "lb:me": _player("card"),
    "buy:pack": _lazy("packs", "choose"),
    "hub:market": _lazy("market", "categories"),
    "hub:sell": _lazy("market", "sell_start"),
}


def handle(raw_body: bytes) -> Dict[str, Any]:
    """The response to one interaction whose signature was already verified.

    Raises MalformedJsonError / ValidationFailedError (the endpoint's 400) only
    for a body that is not an interaction we can read (``Interaction.parse``);
    anything that goes wrong after that is an ephemeral message, never a 500.
    """
    from chalicelib.core import inputs

    payload = inputs.load_object(raw_body)
    if is_ping(payload):
        return views.pong()
    try:
        ix = Interaction.parse(payload)
    except errors.CoinhallError as exc:
        log.warning("unreadable interaction refused: %s", exc.message, extra={"field": exc.details.get("field")})
        raise
    try:
        return dispatch(ix)
    except errors.CoinhallError as exc:
        return views.error(exc.message)
    except Exception:
        log.exception("interaction %s (%s) failed", ix.id, _describe(ix))
        return views.error("Something went wrong on our side; it has been logged. Please try again.", "Sorry")


def dispatch(ix: Interaction) -> Dict[str, Any]:
    if not ix.guild_id:
        return views.error("Coinhall works inside a server: use it there.")
    if not valid_snowflake(ix.user_id) or not valid_snowflake(ix.id):
        return views.error("This interaction has no user.")
    handler, extra = _route(ix)
    if handler is None:
        return views.error("This button or command is not known (any more).")
    guild = ensure_guild(ix.guild_id)
    return handler(ix, guild, *extra)


def _route(ix: Interaction) -> Tuple[Any, Tuple[str, ...]]:
    if ix.type == APPLICATION_COMMAND:
        return COMMANDS.get(ix.command), ()
    if ix.type == MESSAGE_COMPONENT:
        custom_id = ix.custom_id
        if custom_id in BUTTONS:
            return BUTTONS[custom_id], ()
        if custom_id.startswith("m:"):  # the market parses its own ids (a SKU may contain ':')
            return _lazy("market", "component"), (custom_id,)
        try:
            parts = list(keys.split(custom_id))
        except ValueError:  # not an id we made
            return None, ()
        if len(parts) == 4 and parts[:2] == ["quest", "answer"]:
            return _player("quest_answer"), (parts[2], parts[3])
        if len(parts) == 3 and parts[0] == "ah" and valid_snowflake(parts[1]):  # /coins-admin history's pages
            return _lazy("support", "history_page"), (parts[1], parts[2])
        if len(parts) == 3 and parts[0] == "give" and parts[1] in ("ok", "no") and valid_snowflake(parts[2]):
            return _lazy("giving", "confirm" if parts[1] == "ok" else "cancel"), (parts[2],)
        return None, ()
    if ix.type == MODAL_SUBMIT and ix.custom_id.startswith("admin:"):
        return _lazy("operators", "submit"), ()
    if ix.type == MODAL_SUBMIT and ix.custom_id.startswith("m:"):
        return _lazy("market", "modal"), (ix.custom_id,)
    return None, ()


def _describe(ix: Interaction) -> str:
    return ix.command if ix.type == APPLICATION_COMMAND else ix.custom_id[:40]
