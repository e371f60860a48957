"""Reconciliation's table access: its leases and checkpoints (``job_state``) and what it reads.

* ``job_state``: one item per (job, scope): the lease (``lease_until``,
  ``lease_owner``), the checkpoint (``since``, ``full_since``, ``shards``), the
  progress of an unfinished run and the last report. Every write after the
  claim is conditioned on still holding the lease (``LeaseLostError``).
* reads of the ledger's and the purchases' tables (accounts, entries,
  operation records, purchases), consistent, through ``db.ops``.

``state.py`` holds the lease logic on top of this; the checks never see the
wire format.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from chalicelib.core.ids import iso
from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger.accounts import entry_partition

JOB_STATE = "job_state"


class LeaseLostError(Exception):
    """Another run took this scope over (our lease ran out); stop without writing."""


def _key(job: str, scope: str) -> Dict[str, Any]:
    return {"job": {"S": job}, "scope": {"S": scope}}


def take_lease(job: str, scope: str, owner: str, now: datetime, lease: timedelta) -> Optional[Dict[str, Any]]:
    """Take the lease on (job, scope) until ``now + lease``: the stored state, or None when another run holds it."""
    client = get_client()
    try:
        response = client.update_item(
            TableName=table_name(JOB_STATE),
            Key=_key(job, scope),
            UpdateExpression="SET lease_until = :until, lease_owner = :me, updated_at = :now",
            ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me",
            ExpressionAttributeValues={":until": {"S": iso(now + lease)}, ":me": {"S": owner},
                                       ":now": {"S": iso(now)}},
            ReturnValues="ALL_NEW",
        )
    except client.exceptions.ConditionalCheckFailedException:
        return None
    return codec.decode_item(response["Attributes"])


def read_state(job: str, scope: str) -> Dict[str, Any]:
    """The stored state of (job, scope), without taking the lease ({} when none)."""
    return ops.get(JOB_STATE, {"job": job, "scope": scope}) or {}


def update_held(job: str, scope: str, owner: str, expression: str, values: Dict[str, Any],
                names: Optional[Dict[str, str]] = None) -> None:
    """Apply ``expression`` while ``owner`` holds the lease. Raises LeaseLostError."""
    client = get_client()
    kwargs: Dict[str, Any] = {
        "TableName": table_name(JOB_STATE),
        "Key": _key(job, scope),
        "UpdateExpression": expression,
        "ConditionExpression": "lease_owner = :me",
        "ExpressionAttributeValues": {":me": {"S": owner}, **{k: codec.encode(v) for k, v in values.items()}},
    }
    if names:
        kwargs["ExpressionAttributeNames"] = names
    try:
        client.update_item(**kwargs)
    except client.exceptions.ConditionalCheckFailedException:
        raise LeaseLostError(f"{job}/{scope}") from None


def checkpoints(job: str, scopes: Sequence[str]) -> Dict[str, str]:
    """scope -> its last completed run (``since``; "" when never), for the scopes that have state."""
    found = ops.batch_get(JOB_STATE, [{"job": job, "scope": s} for s in scopes])
    return {i["scope"]: i.get("since") or "" for i in found}


# -- reads of other tables ----------------------------------------------------------


def read_account(economy: str, account: str) -> Optional[Dict[str, Any]]:
    """One account item (consistent), or None."""
    return ops.get("accounts", {"economy": economy, "account": account})


def entries_newest_first(economy: str, account: str) -> Iterator[Dict[str, Any]]:
    """An account's entries, newest first (consistent, page after page)."""
    return ops.query_all(
        "entries",
        KeyConditionExpression="account_key = :p",
        ExpressionAttributeValues={":p": {"S": entry_partition(economy, account)}},
        ScanIndexForward=False,
        ConsistentRead=True,
    )


def batch_get(table: str, keys: Sequence[Mapping[str, Any]]) -> List[Dict[str, Any]]:
    """Every item found under ``keys`` (plain values), decoded; retries unprocessed keys (``db.ops``)."""
    return ops.batch_get(table, keys)


def purchases_page(economy: str, created_from: Optional[str], cursor: Optional[Dict[str, Any]],
                   limit: int) -> Tuple[List[str], Optional[Dict[str, Any]]]:
    """One page of the economy's purchase ids (``by_economy``, from ``created_from``), and the cursor after it."""
    kwargs: Dict[str, Any] = {
        "TableName": table_name("purchases"),
        "IndexName": "by_economy",
        "ExpressionAttributeValues": {":e": {"S": economy}},
        "Limit": limit,
    }
    if created_from:
        kwargs["KeyConditionExpression"] = "economy = :e AND created_at >= :c"
        kwargs["ExpressionAttributeValues"][":c"] = {"S": created_from}
    else:
        kwargs["KeyConditionExpression"] = "economy = :e"
    if cursor:
        kwargs["ExclusiveStartKey"] = codec.encode_item(cursor)
    page = get_client().query(**kwargs)
    last = page.get("LastEvaluatedKey")
    return [i["purchase_id"]["S"] for i in page["Items"]], codec.decode_item(last) if last else None
