"""The audit trail: every operator action, with the state before and after.

Rows are written inside the same transaction as the change they describe
(``audit_write`` returns a TransactWriteItems element), so an action and its
audit row exist together or not at all.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from chalicelib.core.ids import new_id, now_iso
from chalicelib.tenancy import store


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
    """The TransactWriteItems Put of one audit row (a new ``audit_id``), to commit with the change it describes."""
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
    return store.audit_put(row)


def list_audit(economy: str, limit: int = 50, target: Optional[str] = None) -> List[Dict[str, Any]]:
    """Newest first; optionally only rows about one target (``user:<id>``)."""
    return store.audit_rows(economy, limit, target)
