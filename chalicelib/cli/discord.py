"""``python -m chalicelib.cli discord ...``: register and administer the Discord side.

  discord send ...                             checkout only: runs ``python -m scripts.discord_send ...``
  discord register [--guild G]                 bulk-overwrite the slash commands
  discord link --guild G --economy E           make a guild use an existing economy (before first use)
  discord role --guild G --role R --app-role ADMIN|OPERATOR|SUPPORT|AUDITOR|NONE
  discord question-add --economy E --question Q --answer A --wrong W [--wrong W ...]
  discord dev-key                              the local dev key pair's public key (created if missing)

``send`` is a dev tool (it imports ``app`` and the local Discord stand-in,
which are not deployed): it lives in ``scripts/discord_send.py``, and this CLI
only starts it in a new interpreter when the checkout has it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, List

from chalicelib.core import errors
from chalicelib.discord.commands import register
from chalicelib.discord.devkey import KEY_FILE, load_or_create
from chalicelib.rewards.quests import add_question
from chalicelib.discord.guild_setup import link_guild
from chalicelib.tenancy.guilds import set_role

CHECKOUT = Path(__file__).resolve().parents[2]


def add_parser(sub: Any) -> None:
    discord = sub.add_parser("discord", help="try, register and administer the Discord side")
    actions = discord.add_subparsers(dest="action", required=True)

    # Dev only, from a checkout: scripts/discord_send.py imports app and the Discord stand-in, which
    # are not deployed. main() hands "discord send ..." to it before parsing (see run_send).
    actions.add_parser("send", add_help=False,
                       help="(checkout only) a signed interaction, printed: python -m scripts.discord_send")

    register = actions.add_parser("register", help="bulk-overwrite the slash commands (global or one guild)")
    register.add_argument("--guild", help="register in this guild only (appears at once)")
    register.add_argument("--application-id", help="default: DISCORD_APPLICATION_ID")
    register.set_defaults(func=cmd_register)

    link = actions.add_parser("link", help="make a guild use an existing economy")
    link.add_argument("--guild", required=True)
    link.add_argument("--economy", required=True)
    link.set_defaults(func=cmd_link)

    role = actions.add_parser("role", help="map a Discord role to an app role")
    role.add_argument("--guild", required=True)
    role.add_argument("--role", required=True)
    role.add_argument("--app-role", required=True, choices=["ADMIN", "OPERATOR", "SUPPORT", "AUDITOR", "NONE"])
    role.set_defaults(func=cmd_role)

    question = actions.add_parser("question-add", help="add a quest question to an economy")
    question.add_argument("--economy", required=True)
    question.add_argument("--question", required=True)
    question.add_argument("--answer", required=True)
    question.add_argument("--wrong", action="append", required=True)
    question.set_defaults(func=cmd_question)

    key = actions.add_parser("dev-key", help="print the local dev public key (creating the pair if missing)")
    key.set_defaults(func=cmd_dev_key)


def _print(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def run_send(argv: List[str]) -> int:
    """``discord send ...``: run ``python -m scripts.discord_send ...`` from the checkout; its exit status.

    A new interpreter, so the deployed package imports nothing of ``scripts/``;
    2 with a message where there is no checkout (a deployed package).
    """
    if not (CHECKOUT / "scripts" / "discord_send.py").is_file():
        print("error: discord send is a dev tool: run it from a checkout (python -m scripts.discord_send)",
              file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, "-m", "scripts.discord_send", *argv], cwd=str(CHECKOUT))


def cmd_register(args: argparse.Namespace) -> int:
    try:
        stored = register(args.application_id, args.guild)
    except (ValueError, errors.DiscordApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print({"registered": [c.get("name") for c in stored], "scope": args.guild or "global"})
    return 0


def cmd_link(args: argparse.Namespace) -> int:
    try:
        guild = link_guild(args.guild, args.economy)
    except (ValueError, errors.CoinhallError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print({"guild_id": guild.guild_id, "economy": guild.economy})
    return 0


def cmd_role(args: argparse.Namespace) -> int:
    try:
        result = set_role(args.guild, args.role, None if args.app_role == "NONE" else args.app_role, actor="cli")
    except errors.CoinhallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print(result)
    return 0


def cmd_question(args: argparse.Namespace) -> int:
    try:
        q = add_question(args.economy, args.question, args.answer, args.wrong)
    except errors.CoinhallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _print({"question_id": q.question_id, "economy": args.economy})
    return 0


def cmd_dev_key(args: argparse.Namespace) -> int:
    _, public_hex = load_or_create()
    _print({"public_key": public_hex, "file": str(KEY_FILE)})
    return 0
