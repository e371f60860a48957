"""The generic DynamoDB helpers, written once. Stores use these instead of their own loops.

Everything here speaks in *decoded* items (plain Python values, ints for
numbers) unless a name says ``raw``: the wire format stays inside ``db/``.

* ``get`` / ``get_raw``       one consistent GetItem, decoded (or None);
* ``query_all``               every item of a Query, page after page (a generator);
* ``query_page``              one page of a listing with an opaque cursor bound to its scope;
* ``batch_get``               BatchGetItem that retries unprocessed keys, one error when it gives up;
* ``put_if_absent``           a conditional Put: False when the key was taken;
* ``update_expression``       SET/REMOVE/ADD with generated placeholders (never hand-built);
* ``claim_once`` / ``release`` the right to do something once (a conditional put with a TTL);
* ``condition_failed`` / ``transient``  what a botocore or PynamoDB error means;
* ``transact``                TransactWriteItems: False when cancelled (read again and retry).
* ``versioned_write`` / ``versioned_change``  the audited read-modify-write of an item carrying ``version``.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from chalicelib.core import cursors, errors
from chalicelib.db import codec
from chalicelib.db.failures import condition_failed, transient  # not db.base: that imports PynamoDB
from chalicelib.db.engine import get_client, table_name

__all__ = [
    "BUSY", "DONE", "TAKEN", "Page", "batch_get", "claim_leased", "claim_once", "condition_failed", "finish_claim",
    "get", "get_raw", "put_if_absent", "query_all", "query_page", "release", "scan_raw", "transact", "transient",
    "update_expression", "versioned_change", "versioned_write", "ensure_map",
]

Raw = Dict[str, Any]  # an item in DynamoDB's wire format
Item = Dict[str, Any]  # a decoded item

_RETRYABLE = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable",
})


def _code(exc: BaseException) -> str:
    return ((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code", "")


def _string_key(key: Mapping[str, Any]) -> Raw:
    return {name: codec.encode(value) for name, value in key.items()}


def get_raw(table: str, key: Mapping[str, Any], *, consistent: bool = True,
            projection: Optional[str] = None) -> Optional[Raw]:
    """The item under ``key`` (plain values) in the wire format, or None."""
    kwargs: Dict[str, Any] = {"TableName": table_name(table), "Key": _string_key(key), "ConsistentRead": consistent}
    if projection:
        kwargs["ProjectionExpression"] = projection
    return get_client().get_item(**kwargs).get("Item")


def get(table: str, key: Mapping[str, Any], *, consistent: bool = True,
        projection: Optional[str] = None) -> Optional[Item]:
    """The decoded item under ``key``, or None."""
    raw = get_raw(table, key, consistent=consistent, projection=projection)
    return codec.decode_item(raw) if raw else None


def query_all(table: str, **kwargs: Any) -> Iterator[Item]:
    """Every decoded item a Query returns, following LastEvaluatedKey (``kwargs`` as for ``query``)."""
    kwargs = {**kwargs, "TableName": table_name(table)}
    client = get_client()
    while True:
        page = client.query(**kwargs)
        for raw in page["Items"]:
            yield codec.decode_item(raw)
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


@dataclass(frozen=True)
class Page:
    items: List[Item]
    next_cursor: Optional[str]


def query_page(
    table: str,
    *,
    scope: str,
    position: Sequence[str],
    limit: int,
    cursor: Optional[str] = None,
    valid: Optional[Callable[[Dict[str, str]], bool]] = None,
    start_key: Optional[Callable[[Dict[str, str]], Mapping[str, Any]]] = None,
    max_pages: int = 10,
    **kwargs: Any,
) -> Page:
    """One page of at most ``limit`` decoded items of a Query, and the cursor to the next (or None).

    ``position`` names the string attributes that make the query's start key
    (table key plus index key); a cursor carries them, bound to ``scope`` (a
    cursor of another listing is InvalidCursorError). ``start_key(position)``
    builds the ExclusiveStartKey when it holds more than the position (default:
    the position itself). A filter can leave pages short: at most ``max_pages``
    are read, then a cursor is handed back rather than walking a long history in
    one request.
    """
    kwargs = {**kwargs, "TableName": table_name(table), "Limit": kwargs.get("Limit", limit)}
    if cursor:
        at = cursors.decode(cursor, scope, tuple(position), valid)
        kwargs["ExclusiveStartKey"] = _string_key(start_key(at) if start_key else at)
    client = get_client()
    items: List[Item] = []
    for _ in range(max_pages):
        page = client.query(**kwargs)
        raw_items = page["Items"]
        for index, raw in enumerate(raw_items):
            items.append(codec.decode_item(raw))
            if len(items) == limit:
                more = index < len(raw_items) - 1 or "LastEvaluatedKey" in page
                return Page(items, _cursor_at(scope, position, items[-1]) if more else None)
        last = page.get("LastEvaluatedKey")
        if not last:
            return Page(items, None)
        kwargs["ExclusiveStartKey"] = last
    return Page(items, _cursor_at(scope, position, codec.decode_item(kwargs["ExclusiveStartKey"])))


def _cursor_at(scope: str, position: Sequence[str], item: Mapping[str, Any]) -> str:
    return cursors.encode(scope, {name: str(item[name]) for name in position})


def batch_get(table: str, keys: Sequence[Mapping[str, Any]], *, consistent: bool = True,
              attempts: int = 10) -> List[Item]:
    """The decoded items under ``keys`` (missing ones are left out), in no order.

    Retries what DynamoDB leaves unprocessed and what it throttles, with
    jitter; raises UnavailableError when it keeps doing so. Splits the keys in
    BatchGetItem's 100.
    """
    found: List[Item] = []
    for start in range(0, len(keys), 100):
        chunk = [_string_key(k) for k in keys[start:start + 100]]
        found.extend(codec.decode_item(raw) for raw in batch_get_raw({table: chunk}, consistent=consistent,
                                                                     attempts=attempts).get(table, []))
    return found


def batch_get_raw(requests: Mapping[str, Sequence[Raw]], *, consistent: bool = True,
                  attempts: int = 10) -> Dict[str, List[Raw]]:
    """BatchGetItem over several tables at once (logical names -> wire-format keys); raw items by logical name.

    The ledger reads its wallets and operation record through this in one request.
    """
    names = {table_name(t): t for t in requests}
    request: Dict[str, Any] = {table_name(t): {"Keys": list(k), "ConsistentRead": consistent}
                               for t, k in requests.items() if k}
    found: Dict[str, List[Raw]] = {t: [] for t in requests}
    client = get_client()
    for attempt in range(attempts):
        if not request:
            return found
        try:
            response = client.batch_get_item(RequestItems=request)
        except Exception as exc:  # botocore raises dynamically built classes
            if _code(exc) not in _RETRYABLE or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, 0.05 * (attempt + 1)))
            continue
        for name, items in response.get("Responses", {}).items():
            found[names[name]].extend(items)
        request = response.get("UnprocessedKeys") or {}
        if request:
            time.sleep(random.uniform(0, 0.02 * (attempt + 1)))
    if request:
        raise errors.UnavailableError("DynamoDB kept leaving keys unprocessed.")
    return found


def put_if_absent(table: str, item: Mapping[str, Any], key_attr: str) -> bool:
    """Put ``item`` unless an item with its key exists; False when it does."""
    client = get_client()
    try:
        client.put_item(TableName=table_name(table), Item=codec.encode_item(item),
                        ConditionExpression="attribute_not_exists(#k)", ExpressionAttributeNames={"#k": key_attr})
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def update_expression(
    set_values: Optional[Mapping[str, Any]] = None,
    *,
    remove: Iterable[str] = (),
    add: Optional[Mapping[str, int]] = None,
    if_not_exists: Optional[Mapping[str, Any]] = None,
    prefix: str = "u",
) -> Tuple[str, Dict[str, str], Dict[str, Any]]:
    """``(UpdateExpression, ExpressionAttributeNames, ExpressionAttributeValues)`` for these changes.

    Every attribute gets a ``#<prefix>N`` name and every value a ``:<prefix>N``
    placeholder, so no attribute name can clash with a reserved word or with the
    caller's own condition placeholders (give those another prefix).
    ``if_not_exists`` sets an attribute only when it is absent.
    """
    names: Dict[str, str] = {}
    values: Dict[str, Any] = {}
    sets: List[str] = []

    def name(attr: str) -> str:
        token = f"#{prefix}{len(names)}"
        names[token] = attr
        return token

    def value(v: Any) -> str:
        token = f":{prefix}{len(values)}"
        values[token] = codec.encode(v)
        return token

    for attr, v in (set_values or {}).items():
        sets.append(f"{name(attr)} = {value(v)}")
    for attr, v in (if_not_exists or {}).items():
        n = name(attr)
        sets.append(f"{n} = if_not_exists({n}, {value(v)})")
    parts = []
    if sets:
        parts.append("SET " + ", ".join(sets))
    removed = [name(attr) for attr in remove]
    if removed:
        parts.append("REMOVE " + ", ".join(removed))
    added = [f"{name(attr)} {value(v)}" for attr, v in (add or {}).items()]
    if added:
        parts.append("ADD " + ", ".join(added))
    if not parts:
        raise ValueError("an update needs at least one change")
    return " ".join(parts), names, values


def claim_once(table: str, key_attr: str, key: str, *, ttl_seconds: int, ttl_attr: str = "expires_epoch",
               extra: Optional[Mapping[str, Any]] = None) -> bool:
    """Take the right to do something once (a post, a notice); False when someone took it first.

    The claim is an item under ``key`` that expires after ``ttl_seconds`` (the
    table's TTL attribute). Give it back with ``release`` when the attempt
    failed, so a retry may take it again.
    """
    item = {key_attr: key, ttl_attr: int(time.time()) + ttl_seconds, **(extra or {})}
    return put_if_absent(table, item, key_attr)


def release(table: str, key_attr: str, key: str) -> None:
    """Give back a claim taken by ``claim_once`` (or ``claim_leased``)."""
    get_client().delete_item(TableName=table_name(table), Key={key_attr: {"S": key}})


TAKEN, DONE, BUSY = "taken", "done", "busy"
# A queued consumer runs at most 30 s (its Lambda timeout): a lease of twice that outlives any
# attempt still alive, and SQS delivers a dead worker's message again only after 180 s.
LEASE_SECONDS = 60


def claim_leased(table: str, key_attr: str, key: str, *, ttl_seconds: int, now: float,
                 lease_seconds: int = LEASE_SECONDS,
                 ttl_attr: str = "expires_epoch", extra: Optional[Mapping[str, Any]] = None) -> str:
    """Take the right to do something once, for ``lease_seconds``: ``TAKEN``, ``DONE`` or ``BUSY``.

    Unlike ``claim_once``, a claim whose holder died (it neither finished nor gave
    it back) is not kept for ever: once its lease has passed, the next delivery
    takes it again. ``finish_claim`` marks it done for good (``DONE`` from then on);
    ``BUSY`` is a live lease of someone else's, which a caller retries later.
    ``now`` is the app's clock (epoch seconds), so simulated time moves leases too.
    """
    item = {key_attr: key, ttl_attr: int(time.time()) + ttl_seconds, "lease_until": int(now) + lease_seconds,
            **(extra or {})}
    client = get_client()
    try:
        client.put_item(TableName=table_name(table), Item=codec.encode_item(item),
                        ConditionExpression="attribute_not_exists(#k) OR #l < :now",
                        ExpressionAttributeNames={"#k": key_attr, "#l": "lease_until"},
                        ExpressionAttributeValues={":now": {"N": str(int(now))}})
    except client.exceptions.ConditionalCheckFailedException:
        held = get(table, {key_attr: key})
        return BUSY if held is not None and "lease_until" in held else DONE
    return TAKEN


def finish_claim(table: str, key_attr: str, key: str) -> None:
    """The claimed work is done: the claim never lapses now (until its TTL)."""
    get_client().update_item(TableName=table_name(table), Key={key_attr: {"S": key}},
                             UpdateExpression="REMOVE #l", ExpressionAttributeNames={"#l": "lease_until"})


def transact(items: Sequence[Mapping[str, Any]]) -> bool:
    """TransactWriteItems (wire-format elements, as ``SideWrite`` items); False when it was cancelled.

    Cancelled means a condition failed or a concurrent transaction got in the
    way: either way the caller reads again and decides (an optimistic
    read-modify-write loop). Other errors propagate.
    """
    client = get_client()
    try:
        client.transact_write_items(TransactItems=list(items))
    except client.exceptions.TransactionCanceledException:
        return False
    return True


def versioned_write(table: str, key: Mapping[str, str], before: Optional[Item], after: Item, *,
                    put: bool = False) -> Dict[str, Any]:
    """The write that replaces ``before`` with ``after``, only if ``before`` is what is stored.

    ``after`` must carry ``version`` one above ``before``'s. ``put`` writes the
    whole item (absent ``before``: only if no item exists); otherwise an
    Update sets what ``after`` holds and removes what it set to None.
    """
    key_raw = {k: {"S": v} for k, v in key.items()}
    first_key = list(key)[-1]  # any key attribute: absent means no item
    if put or before is None:
        item = {k: v for k, v in after.items() if v is not None}
        write: Dict[str, Any] = {"TableName": table_name(table), "Item": codec.encode_item(item)}
        if before is None:
            write["ConditionExpression"] = f"attribute_not_exists({first_key})"
        else:
            write.update(ConditionExpression="version = :seen",
                         ExpressionAttributeValues={":seen": {"N": str(before["version"])}})
        return {"Put": write}
    sets = {k: v for k, v in after.items() if k not in key and v is not None}
    removes = [k for k, v in after.items() if v is None and k in before]
    expr, names, values = update_expression(sets, remove=removes, prefix="f")
    values[":seen"] = {"N": str(before["version"])}
    return {"Update": {"TableName": table_name(table), "Key": key_raw, "UpdateExpression": expr,
                       "ConditionExpression": "version = :seen", "ExpressionAttributeNames": names,
                       "ExpressionAttributeValues": values}}


def versioned_change(
    read: Callable[[], Optional[Item]],
    write: Callable[[Optional[Item]], Tuple[Optional[Item], List[Dict[str, Any]]]],
    *,
    attempts: int,
    contention: Callable[[], Exception],
) -> Tuple[Optional[Item], Optional[Item]]:
    """Read, build the change (``write(before) -> (after, transact items)``, its audit row among them), commit.

    When the transaction is cancelled (another change won), read again, up to
    ``attempts`` times; then raise ``contention()``. ``write`` may raise to
    refuse (e.g. the item is gone). Returns (before, after).
    """
    client = get_client()
    for _ in range(attempts):
        before = read()
        after, items = write(before)
        try:
            client.transact_write_items(TransactItems=items)
        except client.exceptions.TransactionCanceledException:
            continue  # another change won: read it again
        return before, after
    raise contention()


def scan_raw(table: str, **kwargs: Any) -> Iterator[Raw]:
    """Every item of ``table`` (wire format), page after page: operator tools only, never a request's path."""
    kwargs = {**kwargs, "TableName": table_name(table)}
    client = get_client()
    while True:
        page = client.scan(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def ensure_map(table: str, key: Mapping[str, Any], attr: str, must_exist: str) -> bool:
    """Create the empty map ``attr`` on an existing item where it is missing; False when the item does not exist.

    A nested SET (``attr.#name``) needs the map to exist first, and DynamoDB
    refuses both in one expression (overlapping paths). ``must_exist`` is a key
    attribute of the item.
    """
    client = get_client()
    try:
        client.update_item(
            TableName=table_name(table), Key=_string_key(key),
            UpdateExpression="SET #m = if_not_exists(#m, :empty)",
            ConditionExpression=f"attribute_exists({must_exist})",
            ExpressionAttributeNames={"#m": attr},
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True
