"""Operator reports (action ``reports.read``): the transactions export (JSON or CSV pages) and the economy."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.ledger.accounts import USER_ID_PATTERN
from chalicelib.routes._http import CURSOR, Call, Reply, endpoint, query_choice, query_int, query_limit, query_pattern
from chalicelib.routes.models import EconomyReport, TransactionReport

bp = Blueprint(__name__)

# Empty is absent (the default), as for every query filter.
_DAY = {"description": "a UTC day, YYYY-MM-DD (empty or absent: the default)",
        "schema": {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "maxLength": 0}]}}
_AMOUNT = query_pattern(r"^[0-9]{0,20}$", "bound on |amount|, 0 to 10^12 coins (above: 422 invalid_amount_range)")


@endpoint(bp, "/v1/admin/reports/transactions", "GET",
          summary="Transactions, newest first, one row per wallet leg; `format=csv` gives the same page as CSV "
                  "with the next cursor in `X-Next-Cursor`.",
          action="reports.read", response=TransactionReport, tags=["admin"], error_statuses=[400, 401, 403, 422],
          also_csv=True,
          query={"limit": query_limit(500, 100), "cursor": CURSOR, "from": _DAY, "to": _DAY,
                 "user_id": query_pattern(USER_ID_PATTERN, "only this wallet's entries"),
                 "type": query_pattern(r"^([a-z_]{1,32}(,[a-z_]{1,32}){0,19})?$", "entry types, comma-separated"),
                 "min_amount": _AMOUNT, "max_amount": _AMOUNT, "format": query_choice(("json", "csv"))})
def transactions(call: Call) -> Reply:
    from chalicelib.operations import reports

    wanted = reports.output_format(call.query.get("format"))
    f = reports.filters(call.query)
    limit = query_int(call, "limit", default=100, low=1, high=500)
    rows, cursor = reports.transactions_page(call.principal.economy, f, limit, call.query.get("cursor") or None)
    headers = {"X-Next-Cursor": cursor} if cursor else {}
    if wanted == "csv":
        return Reply(None, headers={**headers, "Content-Type": "text/csv; charset=utf-8"}, text=reports.to_csv(rows))
    return Reply({"items": rows, "next_cursor": cursor}, headers=headers)


@endpoint(bp, "/v1/admin/reports/economy", "GET",
          summary="Supply now; coins issued, bought, rewarded, burned, fees, purchases and refunds per day; "
                  "velocity; top earners and spenders; active wallets.",
          action="reports.read", response=EconomyReport, tags=["admin"], error_statuses=[400, 401, 403, 422],
          query={"from": _DAY, "to": _DAY})
def economy(call: Call) -> Reply:
    from chalicelib.operations import reports

    span = reports.window(call.query.get("from"), call.query.get("to"), reports.MAX_ECONOMY_DAYS)
    return Reply(reports.economy_report(call.principal.economy, span))
