"""The content catalog: chapters, courses, videos a user can unlock.

An item has a ``price`` in coins (0 = free), a ``creator_id`` who earns
``creator_share_bps`` of each unlock (the economy's default share when the
operator gives none, fixed on the item when written) and a title. Operators
write items (``PUT /v1/admin/content/{id}``), each write audited in the same
transaction; host apps read them.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.spending.names import valid_content_id  # noqa: F401 (this module's name)
from chalicelib.spending import store
from chalicelib.spending.rates import get_rates
from chalicelib.tenancy.audit import audit_write

_FIELDS = ("title", "price", "creator_id", "creator_share_bps")


def content_view(item: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "content_id": item["content_id"],
        "title": item["title"],
        "price": int(item["price"]),
        "creator_id": item["creator_id"],
        "creator_share_bps": int(item["creator_share_bps"]),
        "free": int(item["price"]) == 0,
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }


def find_content(economy: str, content_id: str) -> Optional[Dict[str, Any]]:
    """The raw catalog item (consistent read), or None."""
    return store.find_content(economy, content_id)


def get_content(economy: str, content_id: str) -> Dict[str, Any]:
    """The item's public view. Raises ContentNotFoundError."""
    item = find_content(economy, content_id)
    if item is None:
        raise errors.ContentNotFoundError(content_id=content_id)
    return content_view(item)


def put_content(
    economy: str,
    content_id: str,
    *,
    title: str,
    price: int,
    creator_id: str,
    creator_share_bps: Optional[int],
    actor: str,
) -> Tuple[Dict[str, Any], bool]:
    """Create or replace a catalog item, with its audit row in the same transaction.

    ``creator_share_bps=None`` takes the economy's default share now. Returns
    (view, created). Unlocks already made keep what they paid. Raises
    ContentionError when concurrent edits of the same item keep winning.
    """
    share = creator_share_bps if creator_share_bps is not None else get_rates(economy, fresh=True).creator_share_bps
    for _ in range(20):
        before = find_content(economy, content_id)
        now = now_iso()
        after = {
            "economy": economy,
            "content_id": content_id,
            "title": title,
            "price": price,
            "creator_id": creator_id,
            "creator_share_bps": share,
            "version": (before or {}).get("version", 0) + 1,
            "created_at": (before or {}).get("created_at", now),
            "updated_at": now,
        }
        row = audit_write(
            economy, actor, "content.put", keys.tag("content", content_id),
            before={k: before[k] for k in _FIELDS} if before else None,
            after={k: after[k] for k in _FIELDS},
        )
        if not store.replace_content(after, before["version"] if before else None, row):
            continue  # another edit won: read it and try again
        return content_view(after), before is None
    raise errors.ContentionError(content_id=content_id)
