"""The spending package's table access: holds, content prices, entitlements (unlocks), rates.

Decoded items through ``db.ops`` on every table here (no PynamoDB model names
them). The other modules of ``spending/`` read and write through this module,
never through the engine, the codec or boto3.

A hold item is the feature's record of a ledger pending transfer
(``ledger.pending``): the money is the ledger's, the state machine is here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Dict, Mapping, Optional

from chalicelib.core import errors, keys
from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import SideWrite
from chalicelib.ledger.pending import Pending
from chalicelib.tenancy import store as tenancy_store

HOLDS, CONTENT, ENTITLEMENTS, ECONOMIES = "holds", "content", "entitlements", "economies"


@dataclass(frozen=True)
class HoldRecord:
    """One hold item as it is first written (``active``); resolution fields are added by ``hold_resolve``."""

    economy: str
    hold_id: str
    kind: str  # hold | escrow | order
    user_id: str
    amount: int
    purpose: str
    ref: Optional[str]
    status: str
    created_at: str
    expires_at: str
    due_shard: str
    payee_id: Optional[str]
    fee_bps: Optional[int]
    op_id: str

    @property
    def owner(self) -> str:
        return owner(self.economy, self.user_id)

    def to_item(self) -> Dict[str, Any]:
        """The item as stored (and as the views and the market's callbacks read it)."""
        item = asdict(self)
        item["owner"] = self.owner
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "HoldRecord":
        return cls(**{f.name: item.get(f.name) for f in fields(cls)})


def owner(economy: str, user_id: str) -> str:
    """The ``by_owner`` index's partition: a payer within an economy."""
    return f"{economy}#{user_id}"


def pending_of(item: Mapping[str, Any]) -> Pending:
    """The ledger's view of a hold item: what is held, for whom, until when."""
    return Pending(item["hold_id"], item["user_id"], int(item["amount"]), item["expires_at"])


def find_hold(economy: str, hold_id: str) -> Optional[Dict[str, Any]]:
    """The decoded hold item (consistent read), or None."""
    return ops.get(HOLDS, {"economy": economy, "hold_id": hold_id})


def hold_page(economy: str, user_id: str, status: Optional[str], limit: int, cursor: Optional[str]) -> ops.Page:
    """A payer's hold items, newest first, optionally in one ``status``. Raises InvalidCursorError."""
    who = owner(economy, user_id)
    kwargs: Dict[str, Any] = {
        "IndexName": "by_owner",
        "KeyConditionExpression": "#o = :o",
        "ExpressionAttributeNames": {"#o": "owner"},
        "ExpressionAttributeValues": {":o": {"S": who}},
        "ScanIndexForward": False,
        # A status filter can leave pages short: read wider pages then.
        "Limit": limit if status is None else max(limit, 50),
    }
    if status is not None:
        kwargs["FilterExpression"] = "#s = :s"
        kwargs["ExpressionAttributeNames"]["#s"] = "status"
        kwargs["ExpressionAttributeValues"][":s"] = {"S": status}
    return ops.query_page(
        HOLDS, scope=keys.join("holds", who, status or "*"), position=("hold_id", "created_at"), limit=limit,
        cursor=cursor, start_key=lambda at: {"economy": economy, "owner": who, **at}, **kwargs,
    )


def hold_put(record: HoldRecord) -> SideWrite:
    """Write a new hold item with its reservation; ConflictError if the id is taken."""
    put = {"Put": {"TableName": table_name(HOLDS), "Item": codec.encode_item(record.to_item()),
                   "ConditionExpression": "attribute_not_exists(hold_id)"}}
    return SideWrite(put, errors.ConflictError("The hold id is taken; retry."))


def hold_resolve(economy: str, hold_id: str, changes: Mapping[str, Any],
                 on_conflict: Callable[[Optional[Dict[str, Any]]], errors.CoinhallError]) -> SideWrite:
    """Record a resolution on an ``active`` hold item and take it off the ``due`` index.

    ``changes`` with None values are left out. When the hold is no longer
    active the operation is refused with ``on_conflict(the item as stored)``.
    """
    values = {k: v for k, v in changes.items() if v is not None}
    expression, names, encoded = ops.update_expression(values, remove=("due_shard",))
    update = {"Update": {
        "TableName": table_name(HOLDS),
        "Key": {"economy": {"S": economy}, "hold_id": {"S": hold_id}},
        "UpdateExpression": expression,
        "ConditionExpression": "#st = :active",
        "ExpressionAttributeNames": {**names, "#st": "status"},
        "ExpressionAttributeValues": {**encoded, ":active": {"S": "active"}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}
    return SideWrite(update, on_conflict)


# -- content (priced items) ---------------------------------------------------------


def find_content(economy: str, content_id: str) -> Optional[Dict[str, Any]]:
    """The decoded catalog item (consistent read), or None."""
    return ops.get(CONTENT, {"economy": economy, "content_id": content_id})


def replace_content(after: Mapping[str, Any], seen_version: Optional[int], audit_row: Mapping[str, Any]) -> bool:
    """Write ``after`` with its audit row in one transaction, if the item is still at ``seen_version``.

    ``seen_version`` None: only if the item does not exist yet. False when
    another edit won (the caller re-reads and tries again).
    """
    put: Dict[str, Any] = {"Put": {"TableName": table_name(CONTENT), "Item": codec.encode_item(after)}}
    # The version condition makes the audit row's "before" the state really replaced.
    if seen_version is None:
        put["Put"]["ConditionExpression"] = "attribute_not_exists(content_id)"
    else:
        put["Put"]["ConditionExpression"] = "version = :seen"
        put["Put"]["ExpressionAttributeValues"] = {":seen": {"N": str(seen_version)}}
    client = get_client()
    try:
        client.transact_write_items(TransactItems=[put, dict(audit_row)])
    except client.exceptions.TransactionCanceledException:
        return False
    return True


# -- entitlements (unlocks) ---------------------------------------------------------


def find_entitlement(owner_key: str, content_id: str) -> Optional[Dict[str, Any]]:
    """The decoded entitlement item of ``owner_key`` (economy and user) for ``content_id``, or None."""
    return ops.get(ENTITLEMENTS, {"owner": owner_key, "content_id": content_id})


def _entitlement_item(item: Mapping[str, Any]) -> Dict[str, Any]:
    return {"Put": {"TableName": table_name(ENTITLEMENTS), "Item": codec.encode_item(item),
                    "ConditionExpression": "attribute_not_exists(content_id)"}}


def entitlement_put(item: Mapping[str, Any], on_conflict: errors.CoinhallError) -> SideWrite:
    """Write a new entitlement with the unlock's money; ``on_conflict`` when it exists already."""
    return SideWrite(_entitlement_item(item), on_conflict)


def entitlement_delete(owner_key: str, content_id: str) -> SideWrite:
    """Revoke an entitlement with the money of the reversal that takes its price back (gone already: nothing)."""
    return SideWrite({"Delete": {"TableName": table_name(ENTITLEMENTS),
                                 "Key": codec.encode_item({"owner": owner_key, "content_id": content_id})}})


def put_entitlement_if_absent(item: Mapping[str, Any]) -> bool:
    """Write a free entitlement on its own; False when it exists already."""
    return ops.put_if_absent(ENTITLEMENTS, item, "content_id")


def entitlement_page(owner_key: str, scope: str, limit: int, cursor: Optional[str]) -> ops.Page:
    """One page of ``owner_key``'s entitlements by content id. Raises InvalidCursorError."""
    return ops.query_page(
        ENTITLEMENTS, scope=scope, position=("content_id",), limit=limit, cursor=cursor, max_pages=1,
        start_key=lambda at: {"owner": owner_key, **at},
        KeyConditionExpression="#o = :o", ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": owner_key}},
    )


# -- rates (the economy item's ``tunables`` map) -------------------------------------


# The economy's ``tunables`` map is the tenancy store's (one implementation for every capability).
read_tunables = tenancy_store.read_tunables
ensure_tunables = tenancy_store.ensure_tunables
set_tunables = tenancy_store.set_tunables
