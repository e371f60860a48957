"""The quest's question set, as operators edit it (``/v1/admin/quests``): list, create, read, change, deactivate.

An economy that never stored a question asks the six built-in defaults
(``quests.DEFAULT_QUESTIONS``); the list says so (``defaults: true``). The first
write stores those defaults first (with the empty salt they are asked with, so
today's choices stay valid), then makes its change: adding a question never
silently drops the six, and a default can be edited or deactivated like any other.

A delete only deactivates (``active: false``): a player may be holding today's
question open, and its id must still find it. Deactivating the last active
question is refused (422 ``last_active_question``): the quest always has one to
ask. Every write is audited in the same transaction (before/after: question,
answer, wrong, active); the salt is kept and never shown.
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

from chalicelib.core import errors, keys
from chalicelib.core.ids import now_iso
from chalicelib.rewards import quests, store
from chalicelib.tenancy.audit import audit_write

_FIELDS = ("question", "answer", "wrong", "active")
_EDIT_ATTEMPTS = 20


def question_view(item: Mapping[str, Any]) -> Dict[str, Any]:
    return {"question_id": item["question_id"], "question": item["question"], "answer": item["answer"],
            "wrong": list(item.get("wrong") or []), "active": bool(item.get("active", True)),
            "created_at": item.get("created_at"), "updated_at": item.get("updated_at") or item.get("created_at")}


def _audit_state(item: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    return None if item is None else {k: question_view(item)[k] for k in _FIELDS}


def _defaults() -> List[Dict[str, Any]]:
    return [{"question_id": i, "question": t, "answer": a, "wrong": list(w), "active": True, "created_at": None}
            for i, t, a, w in quests.DEFAULT_QUESTIONS]


def list_questions(economy: str) -> Tuple[List[Dict[str, Any]], bool]:
    """(every question by id, active or not; whether these are the built-in defaults). One Query: the set is small."""
    stored = store.query_questions(economy)
    items = stored or _defaults()
    return [question_view(i) for i in sorted(items, key=lambda i: i["question_id"])], not stored


def get_question(economy: str, question_id: str) -> Dict[str, Any]:
    """Raises QuestionNotFoundError."""
    item = store.find_question_item(economy, question_id)
    if item is None and not store.query_questions(economy):
        item = next((d for d in _defaults() if d["question_id"] == question_id), None)
    if item is None:
        raise errors.QuestionNotFoundError(question_id=question_id)
    return question_view(item)


def create_question(economy: str, question: str, answer: str, wrong: List[str], actor: str) -> Dict[str, Any]:
    """Add an active question (storing the defaults first if none are stored), audited. Raises ValidationFailedError."""
    after = quests.question_item(economy, question, answer, wrong)
    _store_defaults(economy)
    row = audit_write(economy, actor, "quest.create", keys.tag("question", after["question_id"]), before=None,
                      after=_audit_state(after))
    store.transact([store.question_write(None, after), row])
    return question_view(after)


def _store_defaults(economy: str) -> None:
    """Before the first write: store the defaults the economy has been asking (put-if-absent: races are harmless)."""
    if not store.query_questions(economy):
        quests.seed_questions(economy, salted=False)


def update_question(economy: str, question_id: str, changes: Mapping[str, Any], actor: str, *,
                    action: str = "quest.update") -> Dict[str, Any]:
    """Change some of question, answer, wrong, active (the salt stays), audited.

    Raises QuestionNotFoundError, ValidationFailedError, LastActiveQuestionError, ContentionError.
    """
    def write(before: Optional[Dict[str, Any]]) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
        if before is None:
            raise errors.QuestionNotFoundError(question_id=question_id)
        after = {**before, **changes, "version": int(before.get("version") or 0) + 1, "updated_at": now_iso()}
        quests.validate_question(after["question"], after["answer"], list(after["wrong"]))
        if before.get("active", True) and not after["active"]:
            others = [q for q in store.query_questions(economy)
                      if q["question_id"] != question_id and q.get("active", True)]
            if not others:
                raise errors.LastActiveQuestionError(question_id=question_id)
        row = audit_write(economy, actor, action, keys.tag("question", question_id), before=_audit_state(before),
                          after=_audit_state(after))
        return after, [store.question_write(before, after), row]

    default = next((d for d in _defaults() if d["question_id"] == question_id), None)
    if default is not None:
        # Refuse a bad change before the defaults are stored: a refused request changes nothing.
        merged = {**default, **changes}
        quests.validate_question(merged["question"], merged["answer"], list(merged["wrong"]))
        _store_defaults(economy)
    _, after = store.versioned_change(lambda: store.find_question_item(economy, question_id), write,
                                      attempts=_EDIT_ATTEMPTS,
                                      contention=lambda: errors.ContentionError(question_id=question_id))
    assert after is not None
    return question_view(after)


def deactivate_question(economy: str, question_id: str, actor: str) -> Dict[str, Any]:
    """The delete: the question is no longer asked (its item stays). Raises what ``update_question`` raises."""
    return update_question(economy, question_id, {"active": False}, actor, action="quest.delete")
