"""Every slash command, defined once, and their registration with Discord.

``python -m chalicelib.cli discord register [--guild G]`` bulk-overwrites the
application's global commands (``PUT applications/{app}/commands``, up to an
hour to appear everywhere) or one guild's (``.../guilds/{g}/commands``, at
once: use it while developing). Overwriting is idempotent: commands not in
this list are removed, the rest updated in place.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from chalicelib.core.config import get_settings
from chalicelib.discord.rest import get_rest

SUB_COMMAND, STRING, INTEGER, USER, ROLE = 1, 3, 4, 6, 8
GUILD_ONLY = {"contexts": [0], "integration_types": [0]}


def _command(name: str, description: str, options: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    return {"name": name, "type": 1, "description": description, "options": options or [], **GUILD_ONLY}


def _user(description: str) -> Dict[str, Any]:
    return {"type": USER, "name": "user", "description": description, "required": True}


COMMANDS: List[Dict[str, Any]] = [
    _command("coins", "My Card: your balance, streak, badges, rank and last transactions."),
    _command("daily", "Claim your daily coins once per UTC day; claim every day to grow your streak."),
    _command("quest", "Answer today's trivia question for coins."),
    _command("leaderboard", "The top 10 balances, and yours."),
    _command("buy-coins", "Buy a coin pack."),
    _command("shop", "Spend coins on rewards in the shop."),
    _command("sell", "List an item of yours for other members to buy."),
    _command("give", "Send coins to another member (you confirm first).", [
        _user("Who gets the coins"),
        {"type": INTEGER, "name": "amount", "description": "How many coins", "required": True, "min_value": 1},
        {"type": STRING, "name": "note", "description": "A note for the statement", "required": False,
         "max_length": 200},
    ]),
    _command("help", "What Coinhall can do."),
    _command("coins-setup", "Create or repair the coin hub channels (admins)."),
    _command("coins-admin", "Operator actions (mapped admin roles only).", [
        {"type": SUB_COMMAND, "name": "adjust", "description": "Credit (+) or debit (-) a wallet; asks for a reason.",
         "options": [_user("Whose wallet"),
                     {"type": INTEGER, "name": "amount", "description": "Coins, + or -", "required": True}]},
        {"type": SUB_COMMAND, "name": "freeze", "description": "Freeze a wallet; asks for a reason.",
         "options": [_user("Whose wallet")]},
        {"type": SUB_COMMAND, "name": "unfreeze", "description": "Unfreeze a wallet; asks for a reason.",
         "options": [_user("Whose wallet")]},
        {"type": SUB_COMMAND, "name": "lookup", "description": "A member's wallet, flags and latest notes (Auditors up).",
         "options": [_user("Whom to look up")]},
        {"type": SUB_COMMAND, "name": "history", "description": "A member's recent activity, page by page (Auditors up).",
         "options": [_user("Whose history")]},
        {"type": SUB_COMMAND, "name": "note", "description": "Add a note about a member; asks for the text (Support up).",
         "options": [_user("About whom")]},
        {"type": SUB_COMMAND, "name": "role", "description": "Map a Discord role to an app role (Administrators).",
         "options": [
             {"type": ROLE, "name": "role", "description": "The Discord role", "required": True},
             {"type": STRING, "name": "app_role", "description": "What it may do", "required": True,
              "choices": [{"name": n, "value": n} for n in ("ADMIN", "OPERATOR", "SUPPORT", "AUDITOR", "NONE")]},
         ]},
    ]),
]


# Shown to admins apart in /help (a footer), the rest to everyone.
ADMIN_COMMANDS = ("coins-setup", "coins-admin")


def register(application_id: Optional[str] = None, guild_id: Optional[str] = None) -> List[Dict[str, Any]]:
    """Bulk-overwrite the commands globally or in one guild; returns what Discord stored.

    Raises DiscordApiError; ValueError when no application id is configured.
    """
    app_id = application_id or get_settings().discord_application_id
    if not app_id:
        raise ValueError("set DISCORD_APPLICATION_ID (or pass --application-id)")
    path = f"applications/{app_id}/guilds/{guild_id}/commands" if guild_id else f"applications/{app_id}/commands"
    return get_rest().put(path, COMMANDS) or []
