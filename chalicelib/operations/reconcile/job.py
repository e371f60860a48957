"""The ``reconcile`` jobs: prove every economy's books, report, alert, never rewrite.

Per economy (under a lease in ``job_state``, so overlapping runs skip it):

1. read every account (one Query: the accounts table's hash key is the
   economy) and check that the economy sums to zero and no user bucket is
   negative. A non-zero total is confirmed by reading again until two reads
   agree (a read spans pages, so a transfer committing in between shows as
   noise); an incremental run that finds it escalates to a full check, to
   find the account;
2. check each account against its entries (``reconcile.accounts``): all of
   them (full), or those changed since the checkpoint, from the checkpoint on
   (incremental);
3. check purchase credits both ways (``reconcile.credits``);
4. move the checkpoint (``since`` = this run's start, shard sums), only when
   all of it finished. A run out of budget saves where it stopped and the
   next resumes there; a run that dies re-checks from the last save.

Then, once per run, repair what the expiry jobs left overdue
(``reconcile.repairs``), through the ledger.

The report is JSON: counts, duration, every discrepancy with its ids, the
repairs. Discrepancies are logged at ERROR as ``OPERATOR ALERT`` and counted in
the ``Discrepancies`` metric. Nothing here writes a balance.

Incremental runs look at accounts whose ``updated_at`` is after ``since``
minus ``journal.SETTLE_SECONDS`` (a writer's clock may trail the commit).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional

from chalicelib.core.ids import iso, utc_now
from chalicelib.ledger.journal import SETTLE_SECONDS, op_floor
from chalicelib.ledger.accounts import USER_BUCKETS
from chalicelib.ledger.invariants import economy_accounts
from chalicelib.operations.reconcile import accounts as account_checks
from chalicelib.core.observability import current_id
from chalicelib.operations import store as operations_store
from chalicelib.operations.reconcile import credits, state, store
from chalicelib.operations.reconcile.repairs import repair_overdue

log = logging.getLogger("coinhall.reconcile")

JOB = "reconcile"
BATCH = 256
WORKERS = 16
STABLE_READS = 4
MARGIN = timedelta(seconds=SETTLE_SECONDS)
# A run's lease outlives its budget by this much, then another run may take over.
LEASE_SLACK = timedelta(minutes=2)


def _parse(moment: str) -> datetime:
    return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def list_economies() -> List[str]:
    """Every economy id: a Scan of the economies table, one small item per tenant.

    (Tenants number in the thousands at most; this is not a data-sized scan.)
    """
    return operations_store.economy_ids()


def oldest_first(economies: List[str]) -> List[str]:
    """Economies never reconciled first, then by their last completed run: a run
    that runs out of budget leaves the freshest for later, so none starves."""
    since = store.checkpoints(JOB, economies)
    return sorted(economies, key=lambda e: (since.get(e, ""), e))


def reconcile(ctx: Any, economy: Optional[str] = None, full: bool = False, now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``reconcile``: hourly incremental check of every economy (``full``: everything).

    ``economy`` limits it to one (the CLI's ``--economy``). Returns the report.
    Raises nothing for a discrepancy (it is reported); a DynamoDB failure
    propagates and the next run resumes.
    """
    started = time.monotonic()
    moment = _parse(now) if now else utc_now()
    tagged = current_id()
    owner = tagged[1] if tagged else f"run_{time.time_ns()}"
    targets = [economy] if economy else oldest_first(list_economies())
    reports: List[Dict[str, Any]] = []
    unfinished: List[str] = []
    for target in targets:
        if ctx.should_stop():
            unfinished.append(target)
            continue
        reports.append(check_economy(ctx, target, full=full, moment=moment, owner=owner))
    repairs = repair_overdue(ctx, economy, moment)
    discrepancies = [d for r in reports for d in r.pop("discrepancies")]
    warnings = [w for r in reports for w in r.pop("warnings")]
    unfinished += [r["economy"] for r in reports if not r["complete"]]
    result = {
        "mode": "full" if full else "incremental",
        "economies_checked": len(reports),
        "accounts_checked": sum(r["accounts_checked"] for r in reports),
        "entries_checked": sum(r["entries_checked"] for r in reports),
        "purchases_checked": sum(r["purchases_checked"] for r in reports),
        "credits_checked": sum(r["credits_checked"] for r in reports),
        "economies": reports,
        "discrepancies": discrepancies,
        "repairs": repairs,
        "warnings": warnings,
        "unfinished": unfinished,
        "complete": not unfinished,
        "reconcile_s": round(time.monotonic() - started, 3),
    }
    if discrepancies:
        log.error("OPERATOR ALERT: reconciliation found %d discrepancies in %s", len(discrepancies),
                  ", ".join(sorted({d["economy"] for d in discrepancies})),
                  extra={"alert": "reconciliation", "discrepancies": discrepancies[:50]})
    if repairs:
        log.warning("reconciliation repaired %d overdue items (an expiry job is lagging)", len(repairs),
                    extra={"repairs": repairs[:50]})
    if warnings:
        log.warning("reconciliation could not verify %d items", len(warnings), extra={"warnings": warnings[:50]})
    return result


def reconcile_full(ctx: Any, economy: Optional[str] = None, full: bool = True,
                   now: Optional[str] = None) -> Dict[str, Any]:
    """Job ``reconcile-full``: the nightly check of everything, from the first entry."""
    return reconcile(ctx, economy=economy, full=True, now=now)


def check_economy(ctx: Any, economy: str, *, full: bool, moment: datetime, owner: str) -> Dict[str, Any]:
    """Reconcile one economy under its lease; returns its report (with its discrepancies)."""
    started = time.monotonic()
    report: Dict[str, Any] = {"economy": economy, "mode": "full" if full else "incremental", "accounts": 0,
                              "accounts_checked": 0, "entries_checked": 0, "credits_checked": 0,
                              "purchases_checked": 0, "total": 0, "zero_sum": "ok", "complete": False,
                              "discrepancies": [], "warnings": []}
    lease = timedelta(seconds=max(0.0, ctx.deadline - time.monotonic())) + LEASE_SLACK
    scope = state.claim(JOB, economy, owner, utc_now(), lease)
    if scope is None:
        report["skipped"] = "another run holds this economy"
        report["warnings"].append({"type": "busy", "economy": economy})
        return report
    try:
        _run(ctx, scope, report, full, moment)
    except state.LeaseLostError:
        report["warnings"].append({"type": "lease_lost", "economy": economy})
    finally:
        state.release(scope)
        report["duration_s"] = round(time.monotonic() - started, 3)
    for item in report["discrepancies"]:
        item.setdefault("economy", economy)
    return report


def _run(ctx: Any, scope: state.ScopeState, report: Dict[str, Any], full: bool, moment: datetime) -> None:
    economy = scope.scope
    progress = dict(scope.progress or {})
    if progress and progress.get("mode") == "full" and not full:
        full = True  # finish the full run that was under way first
    if progress and progress.get("mode") == "incremental" and full:
        progress = {}  # a full run supersedes an unfinished incremental one
    if scope.since is None:
        full = True  # nothing was ever verified here: start from the beginning
    run_started = progress.get("run_started") or iso(moment)
    snapshot, total, stable = _snapshot(economy)
    report["accounts"], report["total"] = len(snapshot), total
    if total != 0:
        report["zero_sum"] = "broken" if stable else "unsettled"
        if stable:
            report["discrepancies"].append({"type": "zero_sum", "total": total})
            if not full:
                log.warning("economy %s does not sum to zero: escalating to a full check", economy)
                full, progress = True, {}
        else:
            report["warnings"].append({"type": "zero_sum_unsettled", "economy": economy, "total": total})
    for account in snapshot:
        if account_checks.is_user(account):
            for bucket in USER_BUCKETS:
                if account.get(bucket, 0) < 0:
                    report["discrepancies"].append({"type": "negative_balance", "account": account["account"],
                                                    "bucket": bucket, "balance": account[bucket]})
    report["mode"] = "full" if full else "incremental"
    progress["mode"] = report["mode"]
    progress.setdefault("run_started", run_started)
    progress.setdefault("phase", "accounts")
    since = _parse(scope.since) - MARGIN if scope.since and not full else None
    fold_before = op_floor(_parse(run_started) - MARGIN)
    shards = dict(progress.get("shards") or {})  # checkpoints made by this run so far
    if not full:
        shards = {**scope.shards, **shards}
    progress["shards"] = shards

    if progress["phase"] == "accounts":
        if not _accounts_phase(ctx, scope, report, progress, snapshot, full, since, fold_before):
            return
        progress.update(phase="credits", cursor=None)
    start_op = op_floor(since) if since else None
    if progress["phase"] == "credits":
        problems, cursor, checked, done = credits.check_credits(
            economy, start_op, progress.get("cursor"), ctx.should_stop, lambda n: ctx.count(n=n))
        report["credits_checked"] += checked
        report["discrepancies"].extend(problems)
        if not done:
            progress["cursor"] = cursor
            state.save_progress(scope, progress, utc_now())
            return
        progress.update(phase="purchases", cursor=None)
    if progress["phase"] == "purchases":
        problems, cursor, checked, done = credits.check_purchases(
            economy, iso(since) if since else None, progress.get("cursor"), ctx.should_stop,
            lambda n: ctx.count(n=n))
        report["purchases_checked"] += checked
        report["discrepancies"].extend(problems)
        if not done:
            progress["cursor"] = cursor
            state.save_progress(scope, progress, utc_now())
            return
    summary = {k: report[k] for k in ("mode", "accounts", "accounts_checked", "entries_checked", "credits_checked",
                                      "purchases_checked", "total", "zero_sum")}
    summary["discrepancies"] = len(report["discrepancies"])
    state.complete(scope, progress["run_started"], full, progress["shards"], summary, utc_now())
    report["complete"] = True


def _accounts_phase(ctx: Any, scope: state.ScopeState, report: Dict[str, Any], progress: Dict[str, Any],
                    snapshot: List[Dict[str, Any]], full: bool, since: Optional[datetime], fold_before: str) -> bool:
    """Check the accounts due for a check, in key order, from the saved cursor. True when all are done."""
    economy = scope.scope
    after = progress.get("after")
    since_iso = iso(since) if since else None
    todo = [a for a in snapshot
            if (after is None or a["account"] > after)
            and (full or since_iso is None or a.get("updated_at", "") > since_iso)]
    shards = progress["shards"]

    def one(account: Dict[str, Any]) -> account_checks.AccountResult:
        checkpoint = shards.get(account["account"]) if not full else None
        return account_checks.check(economy, account, full=full, anchor_before=since_iso,
                                    checkpoint=checkpoint, fold_before=fold_before)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for start in range(0, len(todo), BATCH):
            if ctx.should_stop():
                state.save_progress(scope, progress, utc_now())
                return False
            batch = todo[start:start + BATCH]
            # Each account is one item of the budget: a batch may overrun it by less than a batch.
            for result in pool.map(one, batch):
                _record(report, result, shards)
                ctx.count()
            progress["after"] = batch[-1]["account"]
            state.save_progress(scope, progress, utc_now())
    return True


def _record(report: Dict[str, Any], result: account_checks.AccountResult, shards: Dict[str, Any]) -> None:
    report["accounts_checked"] += 1
    report["entries_checked"] += result.entries
    if not result.verified:
        report["warnings"].append({"type": "unverified", "account": result.account, "problems": result.problems})
    else:
        report["discrepancies"].extend(result.problems)
    if result.checkpoint is not None:
        shards[result.account] = result.checkpoint


def _snapshot(economy: str) -> tuple:
    """(accounts, total, stable): a non-zero total is re-read until two reads agree."""
    accounts = economy_accounts(economy)
    total = _total(accounts)
    if total == 0:
        return accounts, 0, True
    for _ in range(STABLE_READS):
        again = economy_accounts(economy)
        if _fingerprint(again) == _fingerprint(accounts):
            return again, _total(again), True
        accounts = again
    return accounts, _total(accounts), False


def _total(accounts: List[Dict[str, Any]]) -> int:
    return sum(a.get(b, 0) for a in accounts for b in USER_BUCKETS)


def _fingerprint(accounts: List[Dict[str, Any]]) -> List[tuple]:
    return [(a["account"], a.get("available", 0), a.get("held", 0), a.get("earnings", 0), a.get("updated_at"),
             a.get("version")) for a in accounts]
