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

from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import iso
from chalicelib.db import codec


class LeaseLostError(Exception):
    """Another run took this scope over (our lease ran out); stop without writing."""


@dataclass
class ScopeState:
    job: str
    scope: str
    owner: str
    since: Optional[str] = None
    full_since: Optional[str] = None
    shards: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    progress: Optional[Dict[str, Any]] = None


def _key(job: str, scope: str) -> Dict[str, Any]:
    return {"job": {"S": job}, "scope": {"S": scope}}


def claim(job: str, scope: str, owner: str, now: datetime, lease: timedelta) -> Optional[ScopeState]:
    """Take the lease on (job, scope) until ``now + lease``; None when another run holds it."""
    client = get_client()
    try:
        response = client.update_item(
            TableName=table_name("job_state"),
            Key=_key(job, scope),
            UpdateExpression="SET lease_until = :until, lease_owner = :me, updated_at = :now",
            ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me",
            ExpressionAttributeValues={":until": {"S": iso(now + lease)}, ":me": {"S": owner},
                                       ":now": {"S": iso(now)}},
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    item = codec.decode_item(response["Attributes"])
    return ScopeState(job, scope, owner, item.get("since"), item.get("full_since"), dict(item.get("shards") or {}),
                      item.get("progress"))


def peek(job: str, scope: str) -> Dict[str, Any]:
    """The stored state (for tests and the operator), without taking the lease."""
    response = get_client().get_item(TableName=table_name("job_state"), Key=_key(job, scope), ConsistentRead=True)
    return codec.decode_item(response["Item"]) if "Item" in response else {}


def _update(state: ScopeState, expression: str, values: Dict[str, Any], names: Optional[Dict[str, str]] = None) -> None:
    client = get_client()
    kwargs: Dict[str, Any] = {
        "TableName": table_name("job_state"),
        "Key": _key(state.job, state.scope),
        "UpdateExpression": expression,
        "ConditionExpression": "lease_owner = :me",
        "ExpressionAttributeValues": {":me": {"S": state.owner}, **{k: codec.encode(v) for k, v in values.items()}},
    }
    if names:
        kwargs["ExpressionAttributeNames"] = names
    try:
        client.update_item(**kwargs)
    except client.exceptions.ConditionalCheckFailedException:
        raise LeaseLostError(f"{state.job}/{state.scope}") from None


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
