"""The course registry: the courses an economy pays a completion grant for (each at its price, ``reward``).

A ``course_completion`` grant names a course of this registry and is paid the
course's ``reward``, never an amount the caller chose: a host app's key can
only pay for courses an operator registered, at the price the operator set.
Operators write it (``PUT``/``DELETE /v1/admin/courses/{course_id}``), each
write audited in the same transaction, like the content catalog.

A delete only hides the course (``deleted_at``): grants for it are refused
(404 ``course_not_found``) and a later PUT brings it back. A grant checks the
course in its own ledger transaction (``store.course_offered_check``), so a grant racing a
delete or a reward change pays the course as it stands when the money moves.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.rewards.names import valid_course_id  # noqa: F401 (this module's name)
from chalicelib.rewards import store
from chalicelib.tenancy.audit import audit_write

_FIELDS = ("title", "reward", "deleted")
_EDIT_ATTEMPTS = 20


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


def find_course(economy: str, course_id: str) -> Optional[Dict[str, Any]]:
    """The registry item (consistent read), deleted or not; None when it never existed."""
    return store.find_course(economy, course_id)


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
    return [course_view(item) for item in store.query_courses(economy) if offered(item)]


def put_course(economy: str, course_id: str, *, title: str, reward: int, actor: str) -> Tuple[Dict[str, Any], bool]:
    """Create or replace a course (and undelete it), audited in the same transaction.

    Returns (view, created); created is True when no course was on offer
    before. Completions already paid keep what they paid. Raises
    ContentionError when concurrent edits keep winning.
    """

    def write(before: Optional[Dict[str, Any]]) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
        now = now_iso()
        after = {
            "economy": economy, "course_id": course_id, "title": title, "reward": reward,
            "version": (before or {}).get("version", 0) + 1,
            "created_at": (before or {}).get("created_at", now), "updated_at": now,
        }
        row = audit_write(economy, actor, "course.put", keys.join("course", course_id), before=_audit_state(before),
                          after=_audit_state(after))
        return after, [store.course_write(before, after), row]

    before, after = _edit(economy, course_id, write)
    return course_view(after), not offered(before)


def delete_course(economy: str, course_id: str, actor: str) -> Dict[str, Any]:
    """Take a course off the registry: later grants for it are refused. Audited.

    Raises CourseNotFoundError (never registered, or already deleted), ContentionError.
    """

    def write(before: Optional[Dict[str, Any]]) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
        if not offered(before):
            raise errors.CourseNotFoundError(course_id=course_id)
        assert before is not None
        now = now_iso()
        after = {**before, "deleted_at": now, "updated_at": now, "version": before["version"] + 1}
        row = audit_write(economy, actor, "course.delete", keys.join("course", course_id),
                          before=_audit_state(before), after=_audit_state(after))
        return after, [store.course_write(before, after), row]

    _, after = _edit(economy, course_id, write)
    return course_view(after)


def _edit(economy: str, course_id: str, write: Any) -> Tuple[Optional[Dict[str, Any]], Dict[str, Any]]:
    """One audited edit of a course, replacing only the version it read (the audit row's "before")."""
    before, after = store.versioned_change(lambda: find_course(economy, course_id), write,
                                           attempts=_EDIT_ATTEMPTS,
                                           contention=lambda: errors.ContentionError(course_id=course_id))
    assert after is not None
    return before, after
