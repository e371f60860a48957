"""The audit trail: every operator action, with the state before and after.

Rows are written inside the same transaction as the change they describe
(``audit_write`` returns a TransactWriteItems element), so an action and its
audit row exist together or not at all.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import new_id, now_iso
from chalicelib.db import codec


def audit_write(
    economy: str,
    actor: str,
    action: str,
    target: str,
    *,
    reason: Optional[str] = None,
    before: Optional[Mapping[str, Any]] = None,
    after: Optional[Mapping[str, Any]] = None,
    extra: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    row = {
        "economy": economy,
        "audit_id": new_id("aud_"),
        "actor": actor,
        "action": action,
        "target": target,
        "reason": reason,
        "before": dict(before) if before is not None else None,
        "after": dict(after) if after is not None else None,
        "extra": dict(extra) if extra else None,
        "created_at": now_iso(),
    }
    return {
        "Put": {
            "TableName": table_name("audit"),
            "Item": codec.encode_item(row),
            "ConditionExpression": "attribute_not_exists(audit_id)",
        }
    }


def list_audit(economy: str, limit: int = 50, target: Optional[str] = None) -> List[Dict[str, Any]]:
    """Newest first; optionally only rows about one target (``user:<id>``)."""
    kwargs: Dict[str, Any] = {
        "TableName": table_name("audit"),
        "KeyConditionExpression": "economy = :e",
        "ExpressionAttributeValues": {":e": {"S": economy}},
        "ScanIndexForward": False,
    }
    if target:
        kwargs["FilterExpression"] = "target = :t"
        kwargs["ExpressionAttributeValues"][":t"] = {"S": target}
    rows: List[Dict[str, Any]] = []
    client = get_client()
    while len(rows) < limit:
        page = client.query(**kwargs)
        rows.extend(codec.decode_item(i) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return rows[:limit]


