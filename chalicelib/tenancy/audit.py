"""The audit trail: every operator action, with the state before and after.

Rows are written inside the same transaction as the change they describe
(``audit_write`` returns a TransactWriteItems element), so an action and its
audit row exist together or not at all.

Each row names the role the actor used and the reason they gave. The edge
knows both (the principal, the body's ``reason`` or the ``X-Audit-Reason``
header) and says them once with ``acting()`` around the request; every row the
request writes carries them, so no domain function has to pass them along.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional

from chalicelib.core.ids import new_id, now_iso
from chalicelib.tenancy import store


@dataclass(frozen=True)
class Acting:
    role: Optional[str]
    reason: Optional[str]


# Per thread and per request: chalice local and the tests serve requests from many threads at once.
_acting: contextvars.ContextVar[Optional[Acting]] = contextvars.ContextVar("coinhall_acting", default=None)


@contextlib.contextmanager
def acting(role: Optional[str], reason: Optional[str]) -> Iterator[None]:
    """Inside it, audit rows record ``role`` and (unless one is given) ``reason``."""
    token = _acting.set(Acting(role, reason))
    try:
        yield
    finally:
        _acting.reset(token)


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
    context = _acting.get()
    if context is not None and reason is None:
        reason = context.reason
    row = {
        "economy": economy,
        "audit_id": new_id("aud_"),
        "actor": actor,
        "action": action,
        "target": target,
        "reason": reason,
        "role": context.role if context is not None else None,
        "before": dict(before) if before is not None else None,
        "after": dict(after) if after is not None else None,
        "extra": dict(extra) if extra else None,
        "created_at": now_iso(),
    }
    return store.audit_put(row)


def list_audit(economy: str, limit: int = 50, target: Optional[str] = None) -> List[Dict[str, Any]]:
    """Newest first; optionally only rows about one target (``user:<id>``)."""
    return store.audit_rows(economy, limit, target)
