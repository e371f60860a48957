"""The operator CLI's backup commands: ``export`` and ``restore`` (``chalicelib/operations/backup.py``)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


# Under the checkout's git-ignored .local/, never the directory the command was started in.
EXPORTS = Path(__file__).resolve().parents[2] / ".local" / "exports"


def cmd_export(args: argparse.Namespace) -> int:
    from chalicelib.core.ids import utc_now
    from chalicelib.operations.backup import BackupError, export_economy

    from chalicelib.ledger.accounts import valid_economy_id

    out = args.out
    if out is None:
        if not valid_economy_id(args.economy):  # it names the file: checked before it touches a path
            print(f"error: invalid economy id {args.economy!r}", file=sys.stderr)
            return 2
        folder = Path(args.dir) if args.dir else EXPORTS
        folder.mkdir(parents=True, exist_ok=True)
        out = str(folder / f"{args.economy}-{utc_now().strftime('%Y%m%dT%H%M%SZ')}.jsonl")
    try:
        _print(export_economy(args.economy, out, include_secrets=args.include_secrets))
    except (ValueError, BackupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, (ValueError, OSError)) else 1
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from chalicelib.operations.backup import BackupError, RestoreConflictError, restore_economy

    try:
        _print(restore_economy(args.input, args.table_prefix))
    except RestoreConflictError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _print({"conflicts": exc.conflicts[:20], "total": len(exc.conflicts)})
        return 1
    except (ValueError, BackupError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_parsers(sub: Any) -> None:
    export = sub.add_parser("export", help="write every record of one economy to a JSON Lines file")
    export.add_argument("--economy", required=True)
    where = export.add_mutually_exclusive_group()
    where.add_argument("--dir", metavar="DIR", help="write <economy>-<UTC time>.jsonl here (default .local/exports/)")
    where.add_argument("--out", metavar="FILE.jsonl", help="write exactly this file")
    export.add_argument("--include-secrets", action="store_true",
                        help="keep the API keys' hashes and game servers' secrets (the restored economy accepts "
                             "the same keys); without it those records are exported revoked")
    export.set_defaults(func=cmd_export)

    restore = sub.add_parser("restore", help="load an export into fresh tables under another prefix")
    restore.add_argument("--in", dest="input", required=True, metavar="FILE.jsonl")
    restore.add_argument("--table-prefix", required=True, metavar="P")
    restore.set_defaults(func=cmd_restore)
