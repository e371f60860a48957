"""Operator reports: the transactions export and the economy's figures, read from the ledger's journal.

Transactions (``transactions_page``), newest first, one row per wallet leg:

* without ``user_id``: the journal (``ledger.journal``: every operation with a
  system leg writes an entry carrying all its legs to each system shard it
  touches, keyed by its time-ordered op id). A page is one bounded Query per
  system shard (``Limit`` = the page size) between the window's op-id bounds,
  merged and de-duplicated by op id. An operation with no system leg (a
  user-to-user transfer, a hold placed) is not in the journal: ask for it with
  ``user_id``.
* with ``user_id``: the user's own entries (``ledger.history``'s partition),
  read newest first a page at a time, stopping at the window's start.

``limit`` counts operations; filters on type and amount are applied to what
was read, and a page keeps reading (up to ``SCAN_BUDGET`` operations) until
it has ``limit`` matches, so a narrow filter gives short pages rather than
empty ones. The cursor is bound to the economy, the user and the window.

Economy (``economy_report``): the journal of the range (one Query per shard,
``journal.operations_between``) folded into per-day flows, and one Query of
the economy's wallets for the supply now (``store.supply``).
"""
from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Any, Dict, Iterable, List, Optional, Tuple

from chalicelib.core import cursors, errors, keys
from chalicelib.core.ids import iso, utc_now
from chalicelib.ledger.accounts import MAX_AMOUNT, entry_partition, user, valid_user_id
from chalicelib.ledger.journal import op_floor, operations_between, system_shards
from chalicelib.operations import store

COLUMNS = ("id", "created_at", "type", "user_id", "amount", "available", "held", "earnings", "ref")
MAX_TRANSACTION_DAYS = 366
MAX_ECONOMY_DAYS = 92
DEFAULT_DAYS = 7
SCAN_BUDGET = 2000  # operations read per page at most, whatever the filters
SPEND_TYPES = frozenset({"spend", "unlock", "settle", "order"})
REWARD_TYPES = frozenset({"reward", "daily", "quest", "referral"})
TOP = 10
FORMATS = ("json", "csv")
TYPES_PATTERN = r"^([a-z_]{1,32}(,[a-z_]{1,32}){0,19})?$"
AMOUNT_PATTERN = r"^[0-9]{0,20}$"


# A malformed value is a 400 ``validation_error`` naming the field (as for every query parameter); a
# request whose every value is well formed but whose values disagree is a 422 with its own code.


class InvalidRangeError(errors.CoinhallError):
    status, code, message = 422, "invalid_range", "'from' must not be after 'to'."


class RangeTooLongError(errors.CoinhallError):
    status, code, message = 422, "range_too_long", "The date range is too long."


class InvalidAmountRangeError(errors.CoinhallError):
    status, code, message = 422, "invalid_amount_range", "Amounts are at most 10^12, and min_amount <= max_amount."


# -- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """UTC days ``first``..``last`` (both included) as the moments ``[start, end)``."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, dtime.min, tzinfo=timezone.utc)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), dtime.min, tzinfo=timezone.utc)

    def days(self) -> List[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def _day(name: str, text: Optional[str]) -> Optional[date]:
    if text is None or text == "":
        return None
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise errors.ValidationFailedError(f"'{name}' must be a day, YYYY-MM-DD.", field=name) from None


def window(from_text: Optional[str], to_text: Optional[str], max_days: int) -> Window:
    """The days asked for: ``to`` defaults to today (UTC), ``from`` to ``DEFAULT_DAYS`` before ``to``."""
    last = _day("to", to_text) or utc_now().date()
    first = _day("from", from_text) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRangeError(**{"from": first.isoformat(), "to": last.isoformat()})
    if (last - first).days + 1 > max_days:
        raise RangeTooLongError(f"A report covers at most {max_days} days.", max_days=max_days,
                                days=(last - first).days + 1)
    return window_of(first, last)


def window_of(first: date, last: date) -> Window:
    return Window(first, last)


def _amount(name: str, text: Optional[str]) -> Optional[int]:
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 20):
        raise errors.ValidationFailedError(f"'{name}' must be a whole number of coins.", field=name)
    if int(text) > MAX_AMOUNT:
        raise InvalidAmountRangeError(f"'{name}' must be at most {MAX_AMOUNT}.", field=name)
    return int(text)


@dataclass(frozen=True)
class Filters:
    """What a transactions report keeps: rows of these types, this user, |amount| within the bounds."""

    window: Window
    user_id: Optional[str] = None
    types: Optional[frozenset] = None
    min_amount: Optional[int] = None
    max_amount: Optional[int] = None

    def keeps(self, row: Dict[str, Any]) -> bool:
        if self.types is not None and row["type"] not in self.types:
            return False
        size = abs(row["amount"])
        if self.min_amount is not None and size < self.min_amount:
            return False
        return self.max_amount is None or size <= self.max_amount


def filters(query: Dict[str, str]) -> Filters:
    """The filters of a request's query (``from``, ``to``, ``user_id``, ``type``, ``min_amount``, ``max_amount``)."""
    span = window(query.get("from"), query.get("to"), MAX_TRANSACTION_DAYS)
    user_id = query.get("user_id") or None
    if user_id is not None and not valid_user_id(user_id):
        raise errors.ValidationFailedError("'user_id' is not a valid user id.", field="user_id")
    types = None
    if query.get("type"):
        if not re.fullmatch(TYPES_PATTERN, query["type"]):
            raise errors.ValidationFailedError("'type' is a comma-separated list of entry types.", field="type")
        types = frozenset(query["type"].split(","))
    low, high = _amount("min_amount", query.get("min_amount")), _amount("max_amount", query.get("max_amount"))
    if low is not None and high is not None and low > high:
        raise InvalidAmountRangeError(min_amount=low, max_amount=high)
    return Filters(span, user_id, types, low, high)


def output_format(text: Optional[str]) -> str:
    if text in (None, ""):
        return "json"
    if text not in FORMATS:
        raise errors.ValidationFailedError("'format' is json or csv.", field="format")
    return text


# -- transactions ------------------------------------------------------------------------


def _row(op_id: str, created_at: str, kind: str, user_id: str, deltas: Dict[str, int],
         ref: Optional[str]) -> Dict[str, Any]:
    available, held, earnings = (int(deltas.get(b, 0)) for b in ("available", "held", "earnings"))
    return {"id": op_id, "created_at": created_at, "type": kind, "user_id": user_id,
            "amount": available + held + earnings, "available": available, "held": held, "earnings": earnings,
            "ref": ref or ""}


def journal_rows(entry: Dict[str, Any]) -> List[Dict[str, Any]]:
    """A journal entry's operation as rows, one per wallet leg (``amount``: the wallet's net change)."""
    legs = json.loads(entry.get("legs") or "{}")
    return [_row(entry["op_id"], entry.get("created_at", ""), entry.get("type", ""), account[2:], deltas,
                 entry.get("ref"))
            for account, deltas in sorted(legs.items()) if account.startswith("u:")]


def user_row(entry: Dict[str, Any]) -> Dict[str, Any]:
    deltas = {b: entry.get(f"d_{b}", 0) for b in ("available", "held", "earnings")}
    return _row(entry["op_id"], entry.get("created_at", ""), entry.get("type", ""), entry["account"][2:]
                if str(entry.get("account", "")).startswith("u:") else "", deltas, entry.get("ref"))


def _scope(economy: str, f: Filters) -> str:
    return keys.join("report-tx", economy, f.user_id or "*", f.window.first.isoformat(), f.window.last.isoformat())


def _op_position(position: Dict[str, str]) -> bool:
    return position["op"].startswith("op_") and len(position["op"]) == 29 and position["op"][3:].isalnum()


def _seq_position(position: Dict[str, str]) -> bool:
    return position["sk"].isascii() and position["sk"].isdigit() and len(position["sk"]) == 12


def transactions_page(economy: str, f: Filters, limit: int,
                      cursor: Optional[str] = None) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """(rows, next cursor) of one page. Raises InvalidCursorError for a cursor of another listing."""
    scope = _scope(economy, f)
    if f.user_id is None:
        after = cursors.decode(cursor, scope, ("op",), _op_position)["op"] if cursor else None
        rows, last = _journal_page(economy, f, limit, after)
        return rows, cursors.encode(scope, {"op": last}) if last else None
    after = cursors.decode(cursor, scope, ("sk",), _seq_position)["sk"] if cursor else None
    rows, last = _user_page(economy, f, limit, after)
    return rows, cursors.encode(scope, {"sk": last}) if last else None


def _journal_page(economy: str, f: Filters, limit: int,
                  after: Optional[str]) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Rows of up to ``limit`` matching operations older than ``after``; the last op id read if there are more."""
    floor, below = op_floor(f.window.start), after or op_floor(f.window.end)
    partitions = [entry_partition(economy, shard) for shard in system_shards(economy)]
    rows: List[Dict[str, Any]] = []
    matched = read = 0
    while True:
        batch, more = _merged(partitions, floor, below, limit)
        for entry in batch:
            read += 1
            below = entry["op_id"]
            kept = [r for r in journal_rows(entry) if f.keeps(r)]
            if kept:
                rows.extend(kept)
                matched += 1
            if matched >= limit or read >= SCAN_BUDGET:
                # Anything left in this batch or beyond it is for the next page.
                return rows, below if (more or entry is not batch[-1]) else None
        if not more:
            return rows, None


def _merged(partitions: List[str], floor: str, below: str, limit: int) -> Tuple[List[Dict[str, Any]], bool]:
    """The newest ``limit`` operations below ``below`` over every shard, once each; and whether there are more.

    An operation among the newest ``limit`` overall is among the newest
    ``limit`` of every shard it is in (everything newer in that shard is newer
    overall too), so ``limit`` per shard is enough.
    """
    seen: Dict[str, Dict[str, Any]] = {}
    full = False
    for partition in partitions:
        page = store.entries_desc(partition, below=below, floor=floor, limit=limit)
        full = full or len(page) == limit
        for entry in page:
            seen.setdefault(entry["op_id"], entry)
    ordered = sorted(seen.values(), key=lambda e: e["op_id"], reverse=True)
    return ordered[:limit], full or len(ordered) > limit


def _user_page(economy: str, f: Filters, limit: int,
               after: Optional[str]) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    partition = entry_partition(economy, user(f.user_id or "").key)
    start, end = iso(f.window.start), iso(f.window.end)
    below = after or "9" * 12  # seq keys are 12 digits
    rows: List[Dict[str, Any]] = []
    read = 0
    while True:
        batch = store.entries_desc(partition, below=below, floor=None, limit=limit)
        for entry in batch:
            read += 1
            below = entry["sk"]
            created = entry.get("created_at", "")
            if created < start:
                return rows, None  # older than the window: the rest is older still
            row = user_row(entry)
            if created < end and f.keeps(row):
                rows.append(row)
            if len(rows) >= limit or read >= SCAN_BUDGET:
                return rows, below if (len(batch) == limit or entry is not batch[-1]) else None
        if len(batch) < limit:
            return rows, None


def to_csv(rows: Iterable[Dict[str, Any]], header: bool = True) -> str:
    """Rows as RFC 4180 CSV: CRLF line ends, fields quoted when they hold a comma, a quote or a line break."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row[c] for c in COLUMNS])
    return out.getvalue()


# -- the economy ---------------------------------------------------------------------------

FLOWS = ("issued", "bought", "rewarded", "adjusted", "burned", "fees", "clawed_back", "paid_out", "spent",
         "purchases", "refunds", "operations")


def fold(operations: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
    """Journal operations -> per-day flows, active wallets, earners and spenders (pure)."""
    days: Dict[str, Counter] = {}
    active: Dict[str, set] = {}
    earned: Counter = Counter()
    spent_by: Counter = Counter()
    for op in operations:
        day = (op.get("created_at") or "")[:10]
        flows = days.setdefault(day, Counter())
        system = {k[4:]: v.get("available", 0) for k, v in op["legs"].items() if k.startswith("sys:")}
        users = {k[2:]: v for k, v in op["legs"].items() if k.startswith("u:")}
        active.setdefault(day, set()).update(users)
        kind = op.get("type")
        flows["operations"] += 1
        if kind == "purchase":
            flows["bought"] += -system.get("issuance", 0)
            flows["purchases"] += 1
        if kind == "refund":
            flows["refunds"] += 1
        flows["rewarded"] += -system.get("rewards", 0)
        flows["adjusted"] += -system.get("adjustments", 0)
        flows["burned"] += system.get("burn", 0)
        flows["fees"] += system.get("treasury", 0)
        flows["clawed_back"] += system.get("clawback", 0)
        flows["paid_out"] += system.get("payouts", 0)
        for user_id, deltas in users.items():
            minted = max(0, deltas.get("available", 0)) if kind in REWARD_TYPES else 0
            gained = max(0, deltas.get("earnings", 0)) + minted
            if gained:
                earned[user_id] += gained
            if kind in SPEND_TYPES:
                paid = -(deltas.get("available", 0) + deltas.get("held", 0))
                if paid > 0:
                    spent_by[user_id] += paid
                    flows["spent"] += paid
    for flows in days.values():
        flows["issued"] = flows["bought"] + flows["rewarded"] + flows["adjusted"]
    return {"days": days, "active": active, "earned": earned, "spent_by": spent_by}


def _top(counter: Counter, field: str) -> List[Dict[str, Any]]:
    return [{"user_id": u, field: n} for u, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]


def economy_report(economy: str, span: Window) -> Dict[str, Any]:
    """Supply now, flows per day of ``span``, velocity, top earners and spenders, active wallets."""
    folded = fold(operations_between(economy, span.start, span.end))
    per_day = []
    totals: Counter = Counter({k: 0 for k in FLOWS})
    everyone: set = set()
    for day in span.days():
        flows = folded["days"].get(day.isoformat(), Counter())
        users = folded["active"].get(day.isoformat(), set())
        everyone |= users
        per_day.append({"day": day.isoformat(), **{k: flows.get(k, 0) for k in FLOWS}, "active_wallets": len(users)})
        totals.update({k: flows.get(k, 0) for k in FLOWS})
    s = store.supply(economy)
    circulation = s.available + s.held + s.earnings
    return {
        "economy": economy,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "supply": {"circulation": circulation, "available": s.available, "held": s.held, "earnings": s.earnings,
                   "debt": s.debt, "wallets": s.wallets},
        "totals": {**dict(totals), "active_wallets": len(everyone)},
        "velocity": round(totals["spent"] / circulation, 4) if circulation else 0.0,
        "days": per_day,
        "top_earners": _top(folded["earned"], "earned"),
        "top_spenders": _top(folded["spent_by"], "spent"),
    }
