"""A job's state per scope (economy) in ``job_state``: lease, checkpoint, progress.

* ``claim``: a conditional update takes the lease (free, expired, or already
  ours), so overlapping runs never work one economy at once; a run that dies
  frees it when the lease runs out.
* ``save_progress``: where an unfinished run stopped, so the next resumes there.
* ``complete``: the checkpoint moves forward (``since``, shard sums) only here,
  when a run over the whole economy finished; a run that died re-checks.

Every write after ``claim`` is conditioned on still holding the lease: a run
that lost it (it stalled past its lease and another took over) stops.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, Optional

from chalicelib.core.ids import iso
from chalicelib.operations.reconcile import store
from chalicelib.operations.reconcile.store import LeaseLostError

__all__ = ["LeaseLostError", "ScopeState", "claim", "complete", "peek", "release", "save_progress"]


@dataclass
class ScopeState:
    job: str
    scope: str
    owner: str
    since: Optional[str] = None
    full_since: Optional[str] = None
    shards: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    progress: Optional[Dict[str, Any]] = None


def claim(job: str, scope: str, owner: str, now: datetime, lease: timedelta) -> Optional[ScopeState]:
    """Take the lease on (job, scope) until ``now + lease``; None when another run holds it."""
    item = store.take_lease(job, scope, owner, now, lease)
    if item is None:
        return None
    return ScopeState(job, scope, owner, item.get("since"), item.get("full_since"), dict(item.get("shards") or {}),
                      item.get("progress"))


def peek(job: str, scope: str) -> Dict[str, Any]:
    """The stored state (for tests and the operator), without taking the lease."""
    return store.read_state(job, scope)


def _update(state: ScopeState, expression: str, values: Dict[str, Any], names: Optional[Dict[str, str]] = None) -> None:
    store.update_held(state.job, state.scope, state.owner, expression, values, names)


def save_progress(state: ScopeState, progress: Dict[str, Any], now: datetime) -> None:
    """Remember where this run is (raises LeaseLostError)."""
    state.progress = progress
    _update(state, "SET progress = :p, updated_at = :t", {":p": progress, ":t": iso(now)})


def complete(state: ScopeState, run_started: str, full: bool, shards: Dict[str, Dict[str, Any]],
             report: Dict[str, Any], now: datetime) -> None:
    """Move the checkpoint to ``run_started`` and drop the progress (raises LeaseLostError)."""
    values: Dict[str, Any] = {":s": run_started, ":sh": shards, ":r": report, ":t": iso(now)}
    expression = "SET since = :s, shards = :sh, last_report = :r, updated_at = :t"
    if full:
        expression += ", full_since = :s"
    _update(state, expression + " REMOVE progress", values)
    state.since, state.shards, state.progress = run_started, shards, None
    if full:
        state.full_since = run_started


def release(state: ScopeState) -> None:
    """Give the lease back (quietly, if it is not ours any more)."""
    try:
        _update(state, "REMOVE lease_until, lease_owner", {})
    except LeaseLostError:
        pass
