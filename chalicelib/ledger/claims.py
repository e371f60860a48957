"""One rule for ``Idempotency-Key``: a key is one request of one economy, whatever the route.

The operations record ``<economy>#api:<key>`` binds a key to the first request
that used it; its fingerprint names the route and the parameters. Every route
that takes the header writes that record conditionally (``attribute_not_exists``)
in the same transaction as its first write:

* routes that post to the ledger under ``api:<key>`` (spend, adjust,
  settle-debt, placing a hold, an escrow, an order) write it as the
  operation record itself;
* routes whose operation has its own key (settling or releasing a hold, an
  escrow's release or refund, cancelling an order: ``hold-resolve:<id>``) pass
  ``request_key`` to ``post()``, which writes it next to the operation record;
* routes whose first write is not a ledger operation (checkout creates a
  purchase, a listing is created) put ``claim_write()`` into their own
  transaction.

A replay (same key, same fingerprint) answers as the first request did; the
same key with another fingerprint, on any route, is ``IdempotencyKeyReusedError``
and changes nothing. Discord and the jobs use their own namespaces
(``discord:<interaction>``, ``purchase:<id>``, ...): they are never API keys.
"""
from __future__ import annotations

import json
import random
import time
from typing import Any, Dict, List, Mapping, Optional

from chalicelib.core import errors
from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import now_iso
from chalicelib.db import codec
from chalicelib.ledger.operation import Outcome


def find(economy: str, key: str) -> Optional[Dict[str, Any]]:
    """The record binding ``key`` (namespaced, e.g. ``api:<k>``) in ``economy``, if any request took it."""
    item = get_client().get_item(
        TableName=table_name("operations"), Key={"op_key": {"S": f"{economy}#{key}"}}, ConsistentRead=True,
    ).get("Item")
    return codec.decode_item(item) if item else None


def claim_write(
    economy: str, key: str, request_fingerprint: str, type: str, ref: Mapping[str, str], created: bool = True,
) -> Dict[str, Any]:
    """A TransactWriteItems Put that binds ``key`` to this request; it fails if any request took the key.

    ``ref`` names what the request made (``{"purchase_id": ...}``), for a replay to answer with.
    Read the record back with ``find()`` when the transaction is cancelled on it.
    """
    record = {
        "op_key": f"{economy}#{key}",
        "op_id": next(iter(ref.values())),
        "economy": economy,
        "type": type,
        "fingerprint": request_fingerprint,
        "created": created,
        "result": json.dumps(dict(ref), separators=(",", ":")),
        "legs": "{}",  # no money moved: nothing for the journal
        "created_at": now_iso(),
    }
    return {
        "Put": {
            "TableName": table_name("operations"),
            "Item": codec.encode_item(record),
            "ConditionExpression": "attribute_not_exists(op_key)",
        }
    }


def replayed_ref(record: Mapping[str, Any], request_fingerprint: str, key: str) -> Dict[str, str]:
    """What the first request with ``key`` made, if this request is that one; else IdempotencyKeyReusedError."""
    if record.get("fingerprint") != request_fingerprint:
        raise errors.IdempotencyKeyReusedError(ledger_key=key)
    return json.loads(record["result"])


def commit(items: List[Dict[str, Any]], attempts: int = 8) -> bool:
    """Write ``items`` (a first write and its ``claim_write``) in one transaction.

    True when written; False when a condition failed (the key, or the new
    item's id, was taken: read the claim back). A conflict with a concurrent
    transaction is retried. Raises ContentionError when conflicts persist.
    """
    client = get_client()
    for attempt in range(attempts):
        try:
            client.transact_write_items(TransactItems=items)
            return True
        except client.exceptions.TransactionCanceledException as exc:
            codes = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in codes:
                return False
        except (client.exceptions.TransactionConflictException, client.exceptions.TransactionInProgressException):
            pass
        time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # a twin is committing: look again shortly
    raise errors.ContentionError()


def replay(record: Mapping[str, Any], request_fingerprint: str, key: str) -> Outcome:
    """The first answer of the ledger operation that took ``key``, for a route that checks state before posting.

    (Its checks would refuse the replay: the first request changed that state.) Raises IdempotencyKeyReusedError.
    """
    if record.get("fingerprint") != request_fingerprint:
        raise errors.IdempotencyKeyReusedError(ledger_key=key)
    return Outcome.replay(record)
