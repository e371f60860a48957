"""The operator CLI's backup commands: ``export`` and ``restore`` (``chalicelib/operations/backup.py``)."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cmd_export(args: argparse.Namespace) -> int:
    from chalicelib.operations.backup import BackupError, export_economy

    try:
        _print(export_economy(args.economy, args.out))
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
    export.add_argument("--out", required=True, metavar="FILE.jsonl")
    export.set_defaults(func=cmd_export)

    restore = sub.add_parser("restore", help="load an export into fresh tables under another prefix")
    restore.add_argument("--in", dest="input", required=True, metavar="FILE.jsonl")
    restore.add_argument("--table-prefix", required=True, metavar="P")
    restore.set_defaults(func=cmd_restore)
