"""The course registry: the courses an economy pays a completion reward for.

A ``course_completion`` grant names a course of this registry and is paid the
course's ``reward``, never an amount the caller chose: a host app's key can
only pay for courses an operator registered, at the price the operator set.
Operators write it (``PUT``/``DELETE /v1/admin/courses/{course_id}``), each
write audited in the same transaction, like the content catalog.

A delete only hides the course (``deleted_at``): grants for it are refused
(404 ``course_not_found``) and a later PUT brings it back. A grant checks the
course in its own ledger transaction (``offered_check``), so a grant racing a
delete or a reward change pays the course as it stands when the money moves.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.tenancy.audit import audit_write
from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import now_iso
from chalicelib.db import codec
from chalicelib.ledger.invariants import query_all

_COURSE_ID = re.compile(r"^[A-Za-z0-9_.:@|-]{1,128}$")
_FIELDS = ("title", "reward", "deleted")
_EDIT_ATTEMPTS = 20


def valid_course_id(course_id: Any) -> bool:
    return isinstance(course_id, str) and bool(_COURSE_ID.match(course_id))


def course_view(item: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "course_id": item["course_id"],
        "title": item["title"],
        "reward": int(item["reward"]),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }


def _audit_state(item: Optional[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if item is None:
        return None
    return {"title": item["title"], "reward": int(item["reward"]), "deleted": item.get("deleted_at") is not None}


def _key(economy: str, course_id: str) -> Dict[str, Any]:
    return {"economy": {"S": economy}, "course_id": {"S": course_id}}


def find_course(economy: str, course_id: str) -> Optional[Dict[str, Any]]:
    """The raw registry item (consistent read), deleted or not; None when it never existed."""
    response = get_client().get_item(TableName=table_name("courses"), Key=_key(economy, course_id),
                                     ConsistentRead=True)
    item = response.get("Item")
    return codec.decode_item(item) if item else None


def offered(item: Optional[Dict[str, Any]]) -> bool:
    """Registered and not deleted."""
    return item is not None and item.get("deleted_at") is None


def get_course(economy: str, course_id: str) -> Dict[str, Any]:
    """A registered course. Raises CourseNotFoundError (never registered, or deleted)."""
    item = find_course(economy, course_id)
    if not offered(item):
        raise errors.CourseNotFoundError(course_id=course_id)
    assert item is not None
    return course_view(item)


def list_courses(economy: str) -> List[Dict[str, Any]]:
    """Every registered course, by id (one economy's registry is small: one Query)."""
    items = query_all(TableName=table_name("courses"), KeyConditionExpression="economy = :e",
                      ExpressionAttributeValues={":e": {"S": economy}}, ConsistentRead=True)
    return [course_view(item) for item in items if offered(item)]


def put_course(economy: str, course_id: str, *, title: str, reward: int, actor: str) -> Tuple[Dict[str, Any], bool]:
    """Create or replace a course (and undelete it), audited in the same transaction.

    Returns (view, created); created is True when no course was on offer
    before. Completions already paid keep what they paid. Raises
    ContentionError when concurrent edits keep winning.
    """
    client = get_client()
    for _ in range(_EDIT_ATTEMPTS):
        before = find_course(economy, course_id)
        now = now_iso()
        after = {
            "economy": economy, "course_id": course_id, "title": title, "reward": reward,
            "version": (before or {}).get("version", 0) + 1,
            "created_at": (before or {}).get("created_at", now), "updated_at": now,
        }
        put = {"Put": {"TableName": table_name("courses"), "Item": codec.encode_item(after),
                       **_unchanged_since(before)}}
        row = audit_write(economy, actor, "course.put", keys.join("course", course_id), before=_audit_state(before),
                          after=_audit_state(after))
        try:
            client.transact_write_items(TransactItems=[put, row])
        except client.exceptions.TransactionCanceledException:
            continue
        return course_view(after), not offered(before)
    raise errors.ContentionError(course_id=course_id)


def delete_course(economy: str, course_id: str, actor: str) -> Dict[str, Any]:
    """Take a course off the registry: later grants for it are refused. Audited.

    Raises CourseNotFoundError (never registered, or already deleted), ContentionError.
    """
    client = get_client()
    for _ in range(_EDIT_ATTEMPTS):
        before = find_course(economy, course_id)
        if not offered(before):
            raise errors.CourseNotFoundError(course_id=course_id)
        assert before is not None
        now = now_iso()
        after = {**before, "deleted_at": now, "updated_at": now, "version": before["version"] + 1}
        put = {"Put": {"TableName": table_name("courses"), "Item": codec.encode_item(after),
                       **_unchanged_since(before)}}
        row = audit_write(economy, actor, "course.delete", keys.join("course", course_id), before=_audit_state(before),
                          after=_audit_state(after))
        try:
            client.transact_write_items(TransactItems=[put, row])
        except client.exceptions.TransactionCanceledException:
            continue
        return course_view(after)
    raise errors.ContentionError(course_id=course_id)


def _unchanged_since(before: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    # The version condition makes the audit row's "before" the state really replaced.
    if before is None:
        return {"ConditionExpression": "attribute_not_exists(course_id)"}
    return {"ConditionExpression": "version = :seen",
            "ExpressionAttributeValues": {":seen": {"N": str(before["version"])}}}


def offered_check(economy: str, course_id: str, reward: int) -> Dict[str, Any]:
    """A TransactWriteItems ConditionCheck: the course is on offer at ``reward`` coins."""
    return {"ConditionCheck": {
        "TableName": table_name("courses"),
        "Key": _key(economy, course_id),
        "ConditionExpression": "attribute_exists(course_id) AND attribute_not_exists(deleted_at) AND reward = :r",
        "ExpressionAttributeValues": {":r": {"N": str(reward)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}
