"""Try the Discord side from a checkout: a signed interaction, printed as the player sees it (dev only).

    .venv/bin/python -m scripts.discord_send "/daily" --user U --guild G
    .venv/bin/python -m scripts.discord_send --click hub:daily --user U --guild G
    .venv/bin/python -m scripts.discord_send --select buy:pack --value coins_100 --user U --guild G
    .venv/bin/python -m scripts.discord_send --modal admin:adjust:<id>:<user>:<n> --field reason="typo fix" \
        --user U --guild G --admin
    .venv/bin/python -m scripts.discord_send "/coins" --user U --guild G --url http://127.0.0.1:8000

It signs with the local dev key (``.local/discord-dev-key.json``). It calls the
app in-process (the engine must be reachable, e.g. while ``make run`` runs)
with Discord's REST API played by the local stand-in (``scripts/discord_standin.py``),
so deferred replies are printed too; with ``--url`` it posts to a running
server instead (which must trust the dev key: ``make run`` sets that up).

It lives in ``scripts/`` because it imports ``app`` and the stand-in, which are
not deployed; ``python -m chalicelib.cli discord send ...`` still runs it from a
checkout (the CLI starts this module in a new interpreter, importing nothing of it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
from typing import Any, Dict, List, Optional, Tuple

from chalicelib.discord.devkey import load_or_create
from chalicelib.discord.render import render_response
from chalicelib.discord.signature import sign
from scripts.discord_standin import DiscordStandIn, snowflake

_ARG_TYPES = {"user": 6, "role": 8}


def build_parser() -> argparse.ArgumentParser:
    send = argparse.ArgumentParser(prog="python -m scripts.discord_send",
                                   description="send a signed interaction and print what the player sees")
    send.add_argument("text", nargs="?", help='a slash command: "/give user:42 amount:5 note:thanks"')
    send.add_argument("--user", required=True, help="the member's id (a name is turned into a stable id)")
    send.add_argument("--guild", required=True, help="the guild's id (a name is turned into a stable id)")
    send.add_argument("--click", help="press the button with this custom id")
    send.add_argument("--select", help="choose in the select menu with this custom id (with --value)")
    send.add_argument("--value", help="the option chosen with --select")
    send.add_argument("--modal", help="submit the modal with this custom id (with --field name=value)")
    send.add_argument("--field", action="append", default=[], help="a modal field, name=value")
    send.add_argument("--admin", action="store_true", help="the member has the Administrator permission")
    send.add_argument("--roles", default="", help="comma-separated role ids the member has")
    send.add_argument("--url", help="post to a running server (e.g. http://127.0.0.1:8000) instead of in-process")
    send.add_argument("--json", action="store_true", help="print the raw JSON too")
    send.add_argument("--raw", action="store_true",
                      help='print only JSON, {"response": ..., "edited": ...} (for scripts: pipe it to jq)')
    send.add_argument("--in-process", action="store_true",
                      help="run the app in this process (on the stack's engine) even when `make run` is up")
    return send


def _print(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def stable_id(value: str) -> str:
    """A snowflake as is; any other name as a stable 18-digit id."""
    if value.isdigit() and len(value) <= 20:
        return value
    return str(10**17 + int(hashlib.sha256(value.encode()).hexdigest(), 16) % (9 * 10**17))


def parse_command(text: str) -> Tuple[str, Optional[str], List[Dict[str, Any]]]:
    """ "/coins-admin adjust user:42 amount:-5" -> (name, subcommand, options)."""
    words = shlex.split(text.strip())
    if not words or not words[0].startswith("/"):
        raise ValueError("a slash command starts with '/'")
    name, sub, options = words[0][1:], None, []
    for word in words[1:]:
        if ":" not in word:
            if sub is None and not options:
                sub = word
                continue
            raise ValueError(f"options are name:value, got {word!r}")
        key, _, value = word.partition(":")
        if key in _ARG_TYPES:
            options.append({"name": key, "type": _ARG_TYPES[key], "value": stable_id(value)})
        elif value.lstrip("-").isdigit():
            options.append({"name": key, "type": 4, "value": int(value)})
        else:
            options.append({"name": key, "type": 3, "value": value})
    return name, sub, options


def build_payload(args: argparse.Namespace, application_id: str) -> Dict[str, Any]:
    if args.text:
        name, sub, options = parse_command(args.text)
        if sub:
            options = [{"name": sub, "type": 1, "options": options}]
        users = {o["value"]: {"id": o["value"], "username": f"user{o['value'][-4:]}"}
                 for o in _flat(options) if o["type"] == 6}
        data: Dict[str, Any] = {"id": snowflake(), "name": name, "type": 1, "options": options}
        if users:
            data["resolved"] = {"users": users}
        kind = 2
    elif args.click:
        kind, data = 3, {"custom_id": args.click, "component_type": 2}
    elif args.select:
        kind, data = 3, {"custom_id": args.select, "component_type": 3, "values": [args.value or ""]}
    elif args.modal:
        fields = [f.partition("=") for f in args.field]
        kind = 5
        data = {"custom_id": args.modal,
                "components": [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
                               for k, _, v in fields]}
    else:
        raise ValueError("give a slash command, --click, --select or --modal")
    user_id = stable_id(args.user)
    return {
        "id": snowflake(), "application_id": application_id, "type": kind, "data": data,
        "guild_id": stable_id(args.guild), "channel_id": snowflake(), "token": "tok_" + snowflake(), "version": 1,
        "member": {"user": {"id": user_id, "username": args.user},
                   "roles": [r for r in args.roles.split(",") if r],
                   "permissions": str(1 << 3) if args.admin else "0"},
    }


def _flat(options: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for option in options:
        out.extend(_flat(option.get("options") or []) if option["type"] in (1, 2) else [option])
    return out


def cmd_send(args: argparse.Namespace) -> int:
    private_hex, public_hex = load_or_create()
    if args.url:
        from chalicelib.cli import local_stack

        return _send_remote(args, private_hex, local_stack.read())
    from chalicelib.cli import local_stack
    from chalicelib.core import config

    try:
        stack = local_stack.adopt(os.environ)  # the stack `make run` started, whatever its ports
    except local_stack.NoLocalStack as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if stack is not None and stack.get("api_url") and not args.in_process:
        # Through the running server, as Discord would: its worker edits the reply on the
        # stack's Discord stand-in, where /local/discord shows it and we read it back.
        args.url = stack["api_url"]
        return _send_remote(args, private_hex, stack)

    standin = DiscordStandIn()
    os.environ["DISCORD_PUBLIC_KEY"] = public_hex  # this process only: the app trusts the dev key
    os.environ["DISCORD_API_BASE"] = standin.api_base
    os.environ["DISCORD_BOT_TOKEN"] = standin.bot_token
    config.reset_settings()
    try:
        payload = build_payload(args, standin.application_id)
        body = json.dumps(payload)
        from chalice.test import Client

        from app import app
        from chalicelib.runtime import queue

        with Client(app, stage_name="local") as client:
            response = client.http.post("/discord/interactions", body=body,
                                        headers={"Content-Type": "application/json", **sign(private_hex, body.encode())})
        result = json.loads(response.body)
        if response.status_code != 200:
            print(f"HTTP {response.status_code}: {json.dumps(result)}", file=sys.stderr)
            return 1
        if args.raw:
            edited = None
            if result.get("type") == 5:
                queue.drain(30)
                edited = standin.originals.get((payload["application_id"], payload["token"]))
            _print({"response": result, "edited": edited})
            return 0
        print(render_response(result))
        if args.json:
            _print(result)
        if result.get("type") == 5:
            queue.drain(30)
            edited = standin.originals.get((payload["application_id"], payload["token"]))
            print("\n[the reply, edited by the worker]")
            print(render_response({"type": 4, "data": edited}) if edited else "(no edit arrived)")
            if args.json and edited:
                _print(edited)
        return 0
    finally:
        standin.close()


def _send_remote(args: argparse.Namespace, private_hex: str, stack: Optional[Dict[str, Any]] = None) -> int:
    import requests

    payload = build_payload(args, stable_id("coinhall-dev-app"))
    body = json.dumps(payload)
    response = requests.post(args.url.rstrip("/") + "/discord/interactions", data=body.encode(), timeout=30,
                             headers={"Content-Type": "application/json", **sign(private_hex, body.encode())})
    if response.status_code != 200:
        print(f"HTTP {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    result = response.json()
    base = (stack or {}).get("discord_api_base")
    if args.raw:
        deferred = result.get("type") in (5, 6) and base
        _print({"response": result,
                "edited": _await_edit(base, payload["application_id"], payload["token"]) if deferred else None})
        return 0
    print(render_response(result))
    if args.json:
        _print(result)
    if result.get("type") in (5, 6):
        if not base:
            print("\n(the server's worker edits this reply through its DISCORD_API_BASE)")
            return 0
        edited = _await_edit(base, payload["application_id"], payload["token"])
        print("\n[the reply, edited by the worker]")
        print(render_response({"type": 4, "data": edited}) if edited else "(no edit arrived within 30 s)")
        if args.json and edited:
            _print(edited)
        if edited is None:
            return 1
    return 0


def _await_edit(api_base: str, application_id: str, token: str, timeout: float = 30.0) -> Optional[Dict[str, Any]]:
    """The interaction's original message once the server's worker has edited it (GET @original, as on Discord)."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    url = f"{api_base}/webhooks/{application_id}/{token}/messages/@original"
    while time.monotonic() < deadline:
        got = requests.get(url, timeout=5)
        if got.status_code == 200:
            body = got.json()
            body.pop("id", None)
            return body
        time.sleep(0.2)  # the worker is another process: nothing here to wait on but its answer
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """Exit status: 0 shown, 1 the app answered an error, 2 no engine to talk to (or bad arguments)."""
    args = build_parser().parse_args(argv)
    try:
        return cmd_send(args)
    except Exception as exc:
        from chalicelib.cli import local_stack
        from chalicelib.db.failures import unreachable

        if not unreachable(exc):
            raise
        print(local_stack.engine_gone_line(), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
