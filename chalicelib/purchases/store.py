"""The purchases capability's tables: purchases, payments (by PaymentIntent), Stripe events seen, packs.

Typed records in and out (``Purchase``, ``Payment``), every write raw and
conditional where it must be, and the ``SideWrite`` factory for the purchase
update a ledger step commits with its money. One style: raw items through the
low-level client (``db/models/purchases.py`` and ``economies.py`` are the tables'
schema only).

Numbers are decoded as stored (``json.loads``): a purchase stored with terms
no credit can carry (``2.5`` coins) must read back as ``2.5``, so that the
credit refuses it for review instead of rounding it.
"""
from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from chalicelib.core.ids import now_iso
from chalicelib.db import codec, ops
from chalicelib.db.failures import transient  # noqa: F401  (re-exported: the webhook's 503, without db.* in features)
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import SideWrite

EVENT_RETENTION_DAYS = 35
# Pending purchases sit in the sparse ``due`` index under p0..p7 (sharded so no
# index partition takes every checkout); leaving ``pending`` removes them.
DUE_SHARDS = 8

# A condition on a purchase update: (expression, attribute names, values) with its own placeholders.
Guard = Tuple[str, Dict[str, str], Dict[str, Any]]


def _decode(attr: Mapping[str, Any]) -> Any:
    if "N" in attr:
        return json.loads(attr["N"])  # as PynamoDB's NumberAttribute reads it: 2.5 stays 2.5
    if "S" in attr:
        return attr["S"]
    if "BOOL" in attr:
        return attr["BOOL"]
    if "NULL" in attr:
        return None
    return codec.decode(attr)


def _encode(value: Any) -> Dict[str, Any]:
    if isinstance(value, float):  # only a stored purchase's bad terms, carried as they were
        return {"N": repr(value)}
    return codec.encode(value)


def _fields(cls: type, raw: Mapping[str, Any]) -> Dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: _decode(v) for k, v in raw.items() if k in names}


@dataclass(frozen=True)
class Purchase:
    """One checkout: the pack's terms frozen at creation, then facts (only become true) and progress."""

    purchase_id: str
    economy: str
    user_id: str
    pack_id: str
    pack_name: str
    coins: Any  # an int; a purchase stored before the limits may hold anything (the credit checks)
    amount: Any
    currency: str
    mode: str  # stripe | local
    status: str
    created_at: str
    bonus_coins: Any = 0
    fingerprint: Optional[str] = None
    session_id: Optional[str] = None
    checkout_url: Optional[str] = None
    payment_intent: Optional[str] = None
    success_url: Optional[str] = None
    cancel_url: Optional[str] = None
    expires_at: Optional[str] = None
    paid: Optional[bool] = None
    failed: Optional[bool] = None
    expired: Optional[bool] = None
    failure_reason: Optional[str] = None
    review_reason: Optional[str] = None
    review_step: Optional[str] = None
    retry_key: Optional[str] = None
    retry_fp: Optional[str] = None
    credited_op: Optional[str] = None
    credited_at: Optional[str] = None
    clawed: int = 0
    debt: int = 0
    dispute_hold: int = 0
    dispute_phase: Optional[str] = None  # held | released | lost
    froze_wallet: Optional[bool] = None
    refund_requested: int = 0
    refunds: Optional[Dict[str, Any]] = None  # ref -> {amount, status, refund_id, ...}: the admin API's refunds
    updated_at: Optional[str] = None
    due_shard: Optional[str] = None  # present only while pending (the ``due`` index)

    @classmethod
    def from_item(cls, raw: Mapping[str, Any]) -> "Purchase":
        return cls(**_fields(cls, raw))

    def to_item(self) -> Dict[str, Any]:
        return {k: _encode(v) for k, v in dataclasses.asdict(self).items() if v is not None}

    @property
    def total(self) -> int:
        """Coins and bonus: what the credit moves."""
        return int(self.coins) + int(self.bonus_coins or 0)


@dataclass(frozen=True)
class Payment:
    """Charge-level facts by PaymentIntent (refunds, disputes), kept until a purchase links them."""

    payment_intent: str
    purchase_id: Optional[str] = None
    charge_amount: Optional[int] = None
    refunded_amount: int = 0
    dispute_id: Optional[str] = None
    dispute_status: Optional[str] = None  # open | won | lost
    updated_at: Optional[str] = None

    @classmethod
    def from_item(cls, raw: Mapping[str, Any]) -> "Payment":
        return cls(**_fields(cls, raw))


def new_due_shard() -> str:
    return f"p{random.randrange(DUE_SHARDS)}"


# --- reads -------------------------------------------------------------------


def load(purchase_id: str) -> Optional[Purchase]:
    """The purchase as it stands (a consistent read), or None."""
    raw = ops.get_raw("purchases", {"purchase_id": purchase_id})
    return Purchase.from_item(raw) if raw else None


def load_payment(payment_intent: Optional[str]) -> Optional[Payment]:
    """The PaymentIntent's facts (a consistent read), or None (also without a PaymentIntent)."""
    if not payment_intent:
        return None
    raw = ops.get_raw("payments", {"payment_intent": payment_intent})
    return Payment.from_item(raw) if raw else None


def load_payments(payment_intents: Sequence[str]) -> Dict[str, Payment]:
    """The payments of these PaymentIntents (a listing's page), by PaymentIntent; missing ones left out."""
    wanted = sorted(set(payment_intents))
    if not wanted:
        return {}
    raws = ops.batch_get_raw({"payments": [{"payment_intent": {"S": pi}} for pi in wanted]},
                             consistent=False)["payments"]
    return {raw["payment_intent"]["S"]: Payment.from_item(raw) for raw in raws}


# --- purchase writes ---------------------------------------------------------


def put_new(purchase: Purchase) -> None:
    """Store a new purchase. Raises ValueError if its (random) id is taken."""
    client = get_client()
    try:
        client.put_item(**put_write(purchase)["Put"])
    except client.exceptions.ConditionalCheckFailedException:
        raise ValueError(f"purchase id {purchase.purchase_id} is taken") from None


def put_write(purchase: Purchase) -> Dict[str, Any]:
    """The TransactWriteItems Put of a new purchase (its id must be free)."""
    return {"Put": {"TableName": table_name("purchases"), "Item": purchase.to_item(),
                    "ConditionExpression": "attribute_not_exists(purchase_id)"}}


def _update(table: str, key: Dict[str, str], set_values: Mapping[str, Any], *, remove: Sequence[str] = (),
            guard: Optional[Guard] = None, if_not_exists: Optional[Mapping[str, Any]] = None,
            ) -> Optional[Dict[str, Any]]:
    """Update one item, returning it ALL_NEW (raw); None when ``guard`` failed."""
    expr, names, values = ops.update_expression(set_values, remove=remove, if_not_exists=if_not_exists)
    kwargs: Dict[str, Any] = {"TableName": table_name(table), "Key": {k: {"S": v} for k, v in key.items()},
                              "UpdateExpression": expr, "ReturnValues": "ALL_NEW"}
    if guard is not None:
        condition, guard_names, guard_values = guard
        names = {**names, **guard_names}
        values = {**values, **{k: _encode(v) for k, v in guard_values.items()}}
        kwargs["ConditionExpression"] = condition
    kwargs["ExpressionAttributeNames"] = names
    if values:
        kwargs["ExpressionAttributeValues"] = values
    try:
        return get_client().update_item(**kwargs)["Attributes"]
    except Exception as exc:
        if guard is None or not ops.condition_failed(exc):
            raise
        return None


def update(purchase_id: str, set_values: Mapping[str, Any], *, remove: Sequence[str] = (),
           guard: Optional[Guard] = None) -> Optional[Purchase]:
    """Set (and remove) attributes of a purchase, ``updated_at`` stamped; the purchase after it.

    Returns None when ``guard`` did not hold (nothing was written).
    """
    raw = _update("purchases", {"purchase_id": purchase_id}, {**set_values, "updated_at": now_iso()},
                  remove=remove, guard=guard)
    return Purchase.from_item(raw) if raw is not None else None


def link_payment_intent(purchase_id: str, payment_intent: str) -> None:
    """Record the purchase's PaymentIntent unless it already has one."""
    _update("purchases", {"purchase_id": purchase_id}, {"payment_intent": payment_intent},
            guard=("attribute_not_exists(#pi)", {"#pi": "payment_intent"}, {}))


def set_status(p: Purchase, wanted: str) -> Optional[Purchase]:
    """Move the status from what ``p`` says to ``wanted`` (leaving the due index unless pending).

    The purchase after it; None when the status moved meanwhile (nothing was written).
    """
    remove = ("due_shard",) if wanted != "pending" else ()
    return update(p.purchase_id, {"status": wanted}, remove=remove,
                  guard=("#st = :was", {"#st": "status"}, {":was": p.status}))


def expire_unpaid(purchase_id: str, reason: Optional[str] = None) -> bool:
    """Record ``expired`` on a purchase still pending, never credited and not paid; False if it moved.

    ``reason`` (``cancelled``: the buyer pressed Cancel on the local payment
    page) is kept as the purchase's ``failure_reason``, in the same write.
    """
    guard = ("#st = :pending AND attribute_not_exists(#co) AND (attribute_not_exists(#pd) OR #pd = :no)",
             {"#st": "status", "#co": "credited_op", "#pd": "paid"}, {":pending": "pending", ":no": False})
    values = {"expired": True, "status": "expired", **({"failure_reason": reason} if reason else {})}
    return update(purchase_id, values, remove=("due_shard",), guard=guard) is not None


def leave_due_index(purchase_id: str) -> None:
    """Take a purchase no longer pending out of the ``due`` index (no-op if it is pending again)."""
    _update("purchases", {"purchase_id": purchase_id}, {}, remove=("due_shard",),
            guard=("#st <> :pending", {"#st": "status"}, {":pending": "pending"}))


def step_write(purchase_id: str, set_values: Mapping[str, Any], guard: Guard, *, remove: Sequence[str] = (),
               on_conflict: Optional[Exception] = None) -> SideWrite:
    """The purchase update a ledger step commits with its money, conditioned on ``guard``.

    ``on_conflict`` is what the ledger raises when the guard fails (another
    delivery moved the purchase first).
    """
    expr, names, values = ops.update_expression(set_values, remove=remove)
    condition, guard_names, guard_values = guard
    values.update({k: _encode(v) for k, v in guard_values.items()})
    return SideWrite(
        {"Update": {"TableName": table_name("purchases"), "Key": {"purchase_id": {"S": purchase_id}},
                    "UpdateExpression": expr, "ConditionExpression": condition,
                    "ExpressionAttributeNames": {**names, **guard_names}, "ExpressionAttributeValues": values}},
        on_conflict,
    )


def transact(items: List[Dict[str, Any]]) -> None:
    """One TransactWriteItems of these items (raises what DynamoDB raises; see ``cancellation_codes``)."""
    get_client().transact_write_items(TransactItems=items)


def cancellation_codes(exc: BaseException) -> List[str]:
    """The per-item reason codes of a cancelled transaction (empty for any other error)."""
    reasons = (getattr(exc, "response", None) or {}).get("CancellationReasons") or []
    return [r.get("Code", "") for r in reasons]


# --- operators' refunds ------------------------------------------------------


def refund_reserve_write(p: Purchase, ref: str, entry: Mapping[str, Any], requested: int) -> Dict[str, Any]:
    """The TransactWriteItems Update that reserves a refund: ``refund_requested`` and the refund's entry.

    Conditioned on ``refund_requested`` being what ``p`` read: two refunds of one
    purchase reserve one after the other, never both from the same remainder.
    """
    refunds = {**(p.refunds or {}), ref: dict(entry)}
    expr, names, values = ops.update_expression({"refund_requested": requested, "refunds": refunds,
                                                 "updated_at": now_iso()})
    if p.refund_requested:
        condition, values[":seen"] = "#rq = :seen", _encode(int(p.refund_requested))
    else:
        condition, values[":zero"] = "attribute_not_exists(#rq) OR #rq = :zero", _encode(0)
    return {"Update": {"TableName": table_name("purchases"), "Key": {"purchase_id": {"S": p.purchase_id}},
                       "UpdateExpression": expr, "ConditionExpression": condition,
                       "ExpressionAttributeNames": {**names, "#rq": "refund_requested"},
                       "ExpressionAttributeValues": values}}


def refund_settle_write(purchase_id: str, ref: str, entry: Mapping[str, Any], release: int = 0) -> Dict[str, Any]:
    """The Update that records a reserved refund's outcome (its entry replaced); ``release`` gives back what
    the provider refused. Conditioned on the entry still being ``requested``: one attempt settles it."""
    expr = "SET #rf.#r = :entry, #ua = :now" + (" ADD #rq :minus" if release else "")
    values = {":entry": _encode(dict(entry)), ":now": _encode(now_iso()), ":requested": _encode("requested")}
    names = {"#rf": "refunds", "#r": ref, "#ua": "updated_at", "#st": "status"}
    if release:
        values[":minus"], names["#rq"] = _encode(-release), "refund_requested"
    return {"Update": {"TableName": table_name("purchases"), "Key": {"purchase_id": {"S": purchase_id}},
                       "UpdateExpression": expr, "ConditionExpression": "#rf.#r.#st = :requested",
                       "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}


# --- the admin listing ---------------------------------------------------------


def from_decoded(item: Mapping[str, Any]) -> Purchase:
    """A purchase from an item ``db.ops`` decoded (a listing's page)."""
    names = {f.name for f in dataclasses.fields(Purchase)}
    return Purchase(**{k: v for k, v in item.items() if k in names})


def page_by_user(economy: str, user_id: str, status: Optional[str], since: str, until: str, limit: int,
                 cursor: Optional[str], scope: str) -> ops.Page:
    """One user's purchases in this economy, newest first, created in [since, until]; filters bounded per page."""
    condition = "user_id = :u AND created_at BETWEEN :a AND :b"
    values: Dict[str, Any] = {":u": {"S": user_id}, ":a": {"S": since}, ":b": {"S": until}, ":e": {"S": economy}}
    names = {"#ec": "economy"}
    filters = ["#ec = :e"]
    if status is not None:
        filters.append("#st = :s")
        names["#st"] = "status"
        values[":s"] = {"S": status}
    return ops.query_page(
        "purchases", scope=scope, position=("purchase_id", "created_at"), limit=limit, cursor=cursor,
        valid=lambda at: since <= at["created_at"] <= until,
        start_key=lambda at: {**at, "user_id": user_id}, IndexName="by_user", KeyConditionExpression=condition,
        FilterExpression=" AND ".join(filters), ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        ScanIndexForward=False, Limit=max(limit, 50) if status else limit,
    )


def page_by_economy(economy: str, status: Optional[str], since: str, until: str, limit: int,
                    cursor: Optional[str], scope: str, max_reads: int = 10) -> Tuple[List[Purchase], Optional[str]]:
    """The economy's purchases, newest first, created in [since, until]: the keys-only index, then the items.

    A status filter is applied to the items read (the index holds keys only): at
    most ``max_reads`` index pages are read, then a cursor is handed back.
    """
    from chalicelib.core import cursors

    kwargs: Dict[str, Any] = {
        "TableName": table_name("purchases"), "IndexName": "by_economy", "ScanIndexForward": False,
        "KeyConditionExpression": "economy = :e AND created_at BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":e": {"S": economy}, ":a": {"S": since}, ":b": {"S": until}},
        "Limit": max(limit, 50) if status else limit,
    }
    if cursor:
        at = cursors.decode(cursor, scope, ("purchase_id", "created_at"),
                            lambda p: since <= p["created_at"] <= until)
        kwargs["ExclusiveStartKey"] = {"purchase_id": {"S": at["purchase_id"]}, "economy": {"S": economy},
                                       "created_at": {"S": at["created_at"]}}
    found: List[Purchase] = []
    client = get_client()
    for _ in range(max_reads):
        response = client.query(**kwargs)
        keys = [{"purchase_id": raw["purchase_id"]} for raw in response["Items"]]
        raws = ops.batch_get_raw({"purchases": keys}, consistent=False)["purchases"] if keys else []
        items = {raw["purchase_id"]["S"]: Purchase.from_item(raw) for raw in raws}
        for index, key in enumerate(keys):
            item = items.get(key["purchase_id"]["S"])
            if item is None or (status is not None and item.status != status):
                continue
            found.append(item)
            if len(found) == limit:
                more = index < len(keys) - 1 or "LastEvaluatedKey" in response
                position = {"purchase_id": item.purchase_id, "created_at": item.created_at}
                return found, cursors.encode(scope, position) if more else None
        last = response.get("LastEvaluatedKey")
        if not last:
            return found, None
        kwargs["ExclusiveStartKey"] = last
    last = kwargs["ExclusiveStartKey"]
    return found, cursors.encode(scope, {"purchase_id": last["purchase_id"]["S"], "created_at": last["created_at"]["S"]})


# --- payments ----------------------------------------------------------------


def link_payment(payment_intent: str, purchase_id: str) -> Payment:
    """Name the purchase on its PaymentIntent (first one wins); the payment's facts after it (no extra read)."""
    raw = _update("payments", {"payment_intent": payment_intent}, {"updated_at": now_iso()},
                  if_not_exists={"purchase_id": purchase_id})
    return Payment.from_item(raw)


def _payment_fact(payment_intent: str, set_values: Mapping[str, Any], guard: Guard) -> None:
    # A stale fact (a smaller refund, an 'open' after 'closed') fails the guard and changes nothing.
    _update("payments", {"payment_intent": payment_intent}, {**set_values, "updated_at": now_iso()}, guard=guard)


def record_refund(payment_intent: str, refunded: int, charge_amount: int) -> None:
    """Record the refunded amount, if larger than the one recorded."""
    _payment_fact(payment_intent, {"refunded_amount": refunded, "charge_amount": charge_amount},
                  ("attribute_not_exists(#ra) OR #ra < :ra", {"#ra": "refunded_amount"}, {":ra": refunded}))


def record_dispute_opened(payment_intent: str, dispute_id: str) -> None:
    """Record an open dispute, unless one was recorded already."""
    _payment_fact(payment_intent, {"dispute_id": dispute_id, "dispute_status": "open"},
                  ("attribute_not_exists(#ds)", {"#ds": "dispute_status"}, {}))


def record_dispute_closed(payment_intent: str, dispute_id: str, result: str) -> None:
    """Record a dispute's result (``won`` | ``lost``), unless it was closed already."""
    _payment_fact(payment_intent, {"dispute_id": dispute_id, "dispute_status": result},
                  ("attribute_not_exists(#ds) OR #ds = :open", {"#ds": "dispute_status"}, {":open": "open"}))


# --- Stripe events -----------------------------------------------------------


def event_seen(event_id: str) -> bool:
    """Whether this Stripe event was handled already."""
    return ops.get_raw("stripe_events", {"event_id": event_id}, projection="event_id") is not None


def record_event(event_id: str, event_type: str, purchase_id: Optional[str], outcome: str) -> None:
    """Remember a handled Stripe event for ``EVENT_RETENTION_DAYS`` (Stripe retries for 3)."""
    item = {"event_id": event_id, "type": event_type, "purchase_id": purchase_id, "outcome": outcome,
            "received_at": now_iso(), "expires_epoch": int(time.time()) + EVENT_RETENTION_DAYS * 86400}
    get_client().put_item(TableName=table_name("stripe_events"), Item=codec.encode_item(item))


# --- packs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pack:
    """A coin pack on (or off) sale. Terms as stored: one stored before the limits may hold anything."""

    economy: str
    pack_id: str
    name: str
    coins: Any
    price_amount: Any
    currency: str
    bonus_coins: Any = 0
    active: bool = True
    sort_order: Any = 0
    updated_at: Optional[str] = None

    @classmethod
    def from_item(cls, raw: Mapping[str, Any]) -> "Pack":
        return cls(**_fields(cls, raw))

    def to_item(self) -> Dict[str, Any]:
        return {k: _encode(v) for k, v in dataclasses.asdict(self).items() if v is not None}


def find_pack(economy: str, pack_id: str, *, consistent: bool = False) -> Optional[Pack]:
    """The pack, or None."""
    raw = ops.get_raw("packs", {"economy": economy, "pack_id": pack_id}, consistent=consistent)
    return Pack.from_item(raw) if raw else None


def query_packs(economy: str) -> List[Pack]:
    """Every pack of the economy, in no particular order (terms decoded as ints: for listing only)."""
    return [Pack(**{k: v for k, v in item.items() if k in _PACK_FIELDS})
            for item in ops.query_all("packs", KeyConditionExpression="economy = :e",
                                      ExpressionAttributeValues={":e": {"S": economy}})]


_PACK_FIELDS = frozenset(f.name for f in dataclasses.fields(Pack))


def put_pack_if_absent(economy: str, fields: Mapping[str, Any]) -> bool:
    """Store a pack (``fields`` include ``pack_id``) unless it exists; False when it does."""
    pack = Pack(economy=economy, updated_at=now_iso(), **fields)
    client = get_client()
    try:
        client.put_item(TableName=table_name("packs"), Item=pack.to_item(),
                        ConditionExpression="attribute_not_exists(pack_id)")
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


def pack_put(economy: str, pack_id: str, fields: Mapping[str, Any]) -> Tuple[Pack, Dict[str, Any]]:
    """The pack as ``fields`` make it (unset terms take their defaults) and its TransactWriteItems Put."""
    pack = Pack(economy=economy, pack_id=pack_id, updated_at=now_iso(), **fields)
    return pack, {"Put": {"TableName": table_name("packs"), "Item": pack.to_item()}}
