"""The operator CLI: ``python -m chalicelib.cli <command>``.

  tables create|delete           create (idempotently) or drop every table
  seed [--economy E]             the economy, its default packs, and (local) the dev API key
  api-key create --economy E [--scopes read[,write][,admin][,rewards]] [--role ROLE] [--label L]
  api-key list [--economy E]     keys without their secrets
  api-key revoke KEY_ID
  game-server create --economy E [--label L]   a game server's id and redeem secret (shown once)
  game-server list [--economy E]               servers without their secrets
  game-server rotate SERVER_ID [--grace-hours H]   a new secret; the old one verifies H more hours (24)
  game-server revoke SERVER_ID                 refuse its redeems from now on
  check --economy E              the ledger invariants, as JSON (exit 1 when broken)
  jobs list | jobs run NAME      the scheduled jobs; run one now (bounded, resumable)
  jobs run reconcile [--economy E] [--full]   reconcile now (exit 1 on discrepancies)
  jobs serve [--only NAME ...]   run every job on its schedule (local timers; `make run` starts it)
  export --economy E [--dir D | --out FILE] [--include-secrets]
                                 every record of one economy, consistent (secrets left out by default)
  restore --in FILE --table-prefix P          load an export into fresh tables
  config                         the effective settings, secrets masked
  report economy --economy E [--from D --to D]       supply, flows per day, top earners and spenders (JSON)
  report transactions --economy E --csv FILE [--from D --to D --user U --type T --min-amount N --max-amount N]
                                 the transactions to a CSV file, a page at a time, progress on stderr
  discord register|link|role|question-add|dev-key
                                 the Discord side (see chalicelib/cli/discord.py)
  discord send ...               checkout only: runs python -m scripts.discord_send (a dev tool)

Settings come from the environment as for the app (COINS_DYNAMODB_ENDPOINT,
COINS_TABLE_PREFIX, ...). In the local stage, with no engine named there, the
stack `make run` started is used (``local_stack``: it may have got a port other
than 8001), and a command that needs tables refuses when none runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

import chalicelib.wiring  # noqa: F401 (registers every queue topic and job: jobs run|list|serve)
from chalicelib.cli import local_stack
from chalicelib.db.failures import unreachable

_SECRET_FIELDS = {"stripe_secret_key", "stripe_webhook_secret", "discord_bot_token", "redemption_webhook_secret",
                  "minecraft_api_key", "dev_api_key"}


def _print(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cmd_tables(args: argparse.Namespace) -> int:
    from chalicelib.db import schema

    if args.action == "create":
        created = schema.create_tables()
        _print({"created": created})
    else:
        schema.delete_tables()
        _print({"deleted": True})
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from chalicelib.tenancy.apikeys import SCOPES, create_key
    from chalicelib.core.config import get_settings
    from chalicelib.purchases.packs import seed_packs
    from chalicelib.tenancy.economies import ensure_economy

    settings = get_settings()
    ensure_economy(args.economy)
    written = seed_packs(args.economy)
    out = {"economy": args.economy, "packs_written": written}
    if settings.is_local and settings.dev_api_key and args.economy == "default":
        _, key_id = create_key("default", SCOPES, label="COINS_DEV_API_KEY", token=settings.dev_api_key,
                               role="SUPERADMIN")
        out["dev_api_key_id"] = key_id
    _print(out)
    return 0


def cmd_api_key(args: argparse.Namespace) -> int:
    from chalicelib.tenancy import apikeys

    if args.action == "create":
        # An operator key (--role) needs no scopes; a host app's key without either gets read,write.
        given = args.scopes if args.scopes is not None else ("" if args.role else "read,write")
        scopes = [s.strip() for s in given.split(",") if s.strip()]
        try:
            token, key_id = apikeys.create_key(args.economy, scopes, label=args.label, role=args.role)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _print({"key_id": key_id, "economy": args.economy, "scopes": sorted(scopes), "role": args.role,
                "api_key": token, "note": "Shown once: only its hash is stored."})
    elif args.action == "list":
        _print(apikeys.list_keys(args.economy))
    else:
        if not apikeys.revoke(args.key_id):
            print(f"error: no key {args.key_id}", file=sys.stderr)
            return 1
        _print({"key_id": args.key_id, "revoked": True})
    return 0


def cmd_game_server(args: argparse.Namespace) -> int:
    from chalicelib.core import errors
    from chalicelib.tenancy import game_servers

    try:
        if args.action == "create":
            made = game_servers.create_server(args.economy, "cli", label=args.label)
            _print({**made, "header": game_servers.SERVER_HEADER,
                    "note": "The secret is shown once: give it and the server_id to the game server."})
        elif args.action == "list":
            _print(game_servers.list_servers(args.economy))
        elif args.action == "rotate":
            grace = round(args.grace_hours * 3600)
            made = game_servers.rotate_server(args.server_id, "cli", grace)
            _print({**made, "note": "The new secret is shown once; the old one verifies until "
                                    f"{made['previous_secret_expires_at'] or 'now (no grace)'}."})
        else:
            _print(game_servers.revoke_server(args.server_id, "cli"))
    except (errors.CoinhallError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from chalicelib.ledger.invariants import check_economy

    report = check_economy(args.economy)
    _print(report.as_dict())
    return 0 if report.ok else 1


def cmd_jobs(args: argparse.Namespace) -> int:
    from chalicelib.runtime.jobs import JOBS, run_job

    if args.action == "list":
        _print({name: {"schedule": s.schedule, "description": s.description} for name, s in sorted(JOBS.items())})
        return 0
    if args.action == "serve":
        from chalicelib.runtime.scheduler import ScheduleError, serve

        try:
            return serve(args.only)
        except (KeyError, ScheduleError) as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
    try:
        extra = {k: v for k, v in (("economy", args.economy), ("full", args.full or None),
                                   ("day", args.day)) if v}
        report = run_job(args.name, max_seconds=args.max_seconds, max_items=args.max_items, **extra)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    _print(report)
    return 1 if report.get("discrepancies") or report.get("status") == "failed" else 0


def cmd_config(args: argparse.Namespace) -> int:
    from chalicelib.core.config import get_settings

    values = get_settings().model_dump()
    _print({k: ("***" if k in _SECRET_FIELDS and v else v) for k, v in values.items()})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description="Coinhall operator CLI")
    sub = parser.add_subparsers(dest="command", required=True)

    tables = sub.add_parser("tables", help="create or delete the tables")
    tables.add_argument("action", choices=["create", "delete"])
    tables.set_defaults(func=cmd_tables)

    seed = sub.add_parser("seed", help="seed an economy with the default packs (and the local dev key)")
    seed.add_argument("--economy", default="default")
    seed.set_defaults(func=cmd_seed)

    keys = sub.add_parser("api-key", help="create, list or revoke API keys")
    key_sub = keys.add_subparsers(dest="action", required=True)
    create = key_sub.add_parser("create")
    create.add_argument("--economy", required=True)
    create.add_argument("--scopes", default=None,
                        help="comma-separated: read, write, admin, rewards (grants mint coins: only rewards keys may); "
                             "default read,write, or none with --role")
    create.add_argument("--role", choices=["SUPERADMIN", "ADMIN", "OPERATOR", "SUPPORT", "AUDITOR"],
                        help="an operator key: the admin routes its role may call (README: Operators)")
    create.add_argument("--label")
    listing = key_sub.add_parser("list")
    listing.add_argument("--economy")
    revoke = key_sub.add_parser("revoke")
    revoke.add_argument("key_id")
    keys.set_defaults(func=cmd_api_key)

    servers = sub.add_parser("game-server", help="register, list, rotate or revoke game servers (voucher redeems)")
    server_sub = servers.add_subparsers(dest="action", required=True)
    made = server_sub.add_parser("create")
    made.add_argument("--economy", required=True)
    made.add_argument("--label")
    shown = server_sub.add_parser("list")
    shown.add_argument("--economy")
    rotated = server_sub.add_parser("rotate")
    rotated.add_argument("server_id")
    rotated.add_argument("--grace-hours", type=float, default=24.0,
                         help="how long the old secret still verifies (0 to 168; default 24)")
    revoked = server_sub.add_parser("revoke")
    revoked.add_argument("server_id")
    servers.set_defaults(func=cmd_game_server)

    check = sub.add_parser("check", help="check the ledger invariants of an economy")
    check.add_argument("--economy", default="default")
    check.set_defaults(func=cmd_check)

    jobs = sub.add_parser("jobs", help="list or run scheduled jobs now")
    job_sub = jobs.add_subparsers(dest="action", required=True)
    job_sub.add_parser("list")
    run = job_sub.add_parser("run")
    run.add_argument("name")
    run.add_argument("--economy", help="only this economy (jobs that take one)")
    run.add_argument("--full", action="store_true", help="a full run (jobs that have one)")
    run.add_argument("--day", help="YYYY-MM-DD, a finished UTC day (digest)")
    run.add_argument("--max-seconds", type=float, default=50.0)
    run.add_argument("--max-items", type=int, default=None, help="item budget (default: the job's own, else 1000)")
    serve = job_sub.add_parser("serve", help="run the jobs on their schedules until Ctrl-C (local timers)")
    serve.add_argument("--only", nargs="+", metavar="NAME", help="only these jobs")
    jobs.set_defaults(func=cmd_jobs)

    from chalicelib.cli.ops import add_parsers as add_ops_parsers

    add_ops_parsers(sub)

    from chalicelib.cli.reports import add_parser as add_report_parser

    add_report_parser(sub)

    config = sub.add_parser("config", help="print the effective settings")
    config.set_defaults(func=cmd_config)

    from chalicelib.cli.discord import add_parser as add_discord_parser

    add_discord_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from chalicelib.core.config import ConfigError

    from chalicelib.core.observability import configure_logging

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["discord", "send"]:  # a dev tool in scripts/, run from the checkout (its own arguments)
        from chalicelib.cli.discord import run_send

        return run_send(argv[2:])
    args = build_parser().parse_args(argv)
    configure_logging("stderr")  # JSON lines on stderr; stdout carries the command's JSON answer
    try:
        local_stack.adopt(os.environ, required=_needs_engine(args))
        return args.func(args)
    except (ConfigError, local_stack.NoLocalStack) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not unreachable(exc):
            raise
        # The engine went away (or an endpoint named by hand is wrong).
        print(local_stack.engine_gone_line(), file=sys.stderr)
        return 2


# Commands that read or write no table: they run with no stack up.
_ENGINE_FREE = {("config", None), ("jobs", "list"), ("discord", "dev-key"), ("discord", "register")}


def _needs_engine(args: argparse.Namespace) -> bool:
    return (args.command, getattr(args, "action", None)) not in _ENGINE_FREE


if __name__ == "__main__":
    sys.exit(main())
