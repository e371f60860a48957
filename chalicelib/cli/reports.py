"""The operator CLI's reports: ``report economy`` and ``report transactions --csv FILE``.

The export pages through ``operations.reports.transactions_page`` exactly as an
HTTP client pages through ``?format=csv``: each page is written to the file as
it arrives and dropped, so memory stays one page whatever the range. Progress
goes to stderr (stdout carries the command's JSON answer, as everywhere).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, Dict, Optional, TextIO


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def _query(args: argparse.Namespace) -> Dict[str, str]:
    given = {"from": args.from_, "to": args.to, "user_id": args.user, "type": args.type,
             "min_amount": args.min_amount, "max_amount": args.max_amount}
    return {k: str(v) for k, v in given.items() if v is not None}


def progress(out: TextIO, rows: int, pages: int, reached: Optional[str], start: datetime, end: datetime) -> None:
    """One line, rewritten in place: rows and pages so far, and how far back (newest first) the export got."""
    share = 0.0
    if reached:
        moment = datetime.fromisoformat(reached.replace("Z", "+00:00"))
        share = min(1.0, max(0.0, (end - moment) / (end - start)))
    bar = "#" * int(share * 30)
    out.write(f"\r[{bar:<30}] {share:4.0%} {rows:,} rows, {pages:,} pages, at {reached or '-'}")
    out.flush()


def export(economy: str, query: Dict[str, str], path: str, page_size: int, err: TextIO = sys.stderr) -> Dict[str, Any]:
    from chalicelib.operations import reports

    f = reports.filters(query)
    rows = pages = 0
    cursor: Optional[str] = None
    with open(path, "w", newline="", encoding="utf-8") as out:
        while True:
            page, cursor = reports.transactions_page(economy, f, page_size, cursor)
            out.write(reports.to_csv(page, header=pages == 0))
            out.flush()
            rows, pages = rows + len(page), pages + 1
            progress(err, rows, pages, page[-1]["created_at"] if page else None, f.window.start, f.window.end)
            if not cursor:
                break
    err.write("\n")
    return {"file": path, "rows": rows, "pages": pages, "from": f.window.first.isoformat(),
            "to": f.window.last.isoformat()}


def cmd_report(args: argparse.Namespace) -> int:
    from chalicelib.core import errors
    from chalicelib.operations import reports

    try:
        if args.action == "economy":
            span = reports.window(args.from_, args.to, reports.MAX_ECONOMY_DAYS)
            _print(reports.economy_report(args.economy, span))
        else:
            _print(export(args.economy, _query(args), args.csv, args.page_size))
    except errors.CoinhallError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def add_parser(sub: Any) -> None:
    report = sub.add_parser("report", help="the economy's figures, or the transactions as a CSV file")
    actions = report.add_subparsers(dest="action", required=True)
    economy = actions.add_parser("economy", help="supply, flows per day, velocity, top earners and spenders")
    transactions = actions.add_parser("transactions", help="every leg in a range, newest first, to a CSV file")
    for parser in (economy, transactions):
        parser.add_argument("--economy", required=True)
        parser.add_argument("--from", dest="from_", metavar="YYYY-MM-DD")
        parser.add_argument("--to", metavar="YYYY-MM-DD")
    transactions.add_argument("--csv", required=True, metavar="FILE")
    transactions.add_argument("--user", metavar="USER_ID")
    transactions.add_argument("--type", metavar="TYPE[,TYPE]")
    transactions.add_argument("--min-amount", type=int)
    transactions.add_argument("--max-amount", type=int)
    transactions.add_argument("--page-size", type=int, default=500, choices=range(1, 501), metavar="1-500")
    report.set_defaults(func=cmd_report)
