"""The rewards tables: player profiles, grant budgets, the course registry, grant settings, quest questions.

Raw items through the low-level client, one style per table (the PynamoDB
models in ``db/models`` are their schema only). The writes that must commit
with a grant's money are built here as transaction items or ``SideWrite``s
(``daily_profile_write``, ``quest_profile_write``, ``budget_take``,
``course_offered_check``).
"""
from __future__ import annotations

import time
from datetime import date
from typing import Any, Callable, Dict, List, Mapping, Optional

from chalicelib.core.ids import now_iso
from chalicelib.db import codec, ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.db.ops import versioned_change, versioned_write  # noqa: F401  (re-exported for courses)
from chalicelib.ledger import SideWrite
from chalicelib.tenancy import store as tenancy_store

Item = Dict[str, Any]
_COUNTER_TTL_SECONDS = 3 * 86_400


def transact(items: List[Dict[str, Any]]) -> None:
    """One TransactWriteItems of these items (raises what DynamoDB raises)."""
    get_client().transact_write_items(TransactItems=items)


# --- player profiles (``players``) ----------------------------------------------


def _player_key(economy: str, user_id: str) -> Dict[str, Any]:
    return {"economy": {"S": economy}, "user_id": {"S": user_id}}


def get_player(economy: str, user_id: str) -> Item:
    """The player's grant state (a consistent read); empty when they never claimed."""
    return ops.get("players", {"economy": economy, "user_id": user_id}) or {}


def daily_profile_write(economy: str, user_id: str, day: date, last_daily: Optional[str], streak: int,
                        best_streak: int, badges: List[str]) -> Dict[str, Any]:
    """The profile update of a daily claim, only if the profile's last claim is still ``last_daily``."""
    values: Dict[str, Any] = {
        ":s": {"N": str(streak)},
        ":d": {"S": day.isoformat()},
        ":b": {"N": str(max(streak, best_streak))},
        ":badges": codec.encode(badges),
        ":one": {"N": "1"},
        ":zero": {"N": "0"},
        ":t": {"S": now_iso()},
    }
    condition = "(attribute_not_exists(last_daily) OR last_daily < :d)"
    if last_daily is None:
        condition += " AND attribute_not_exists(last_daily)"
    else:
        condition += " AND last_daily = :seen"
        values[":seen"] = {"S": last_daily}
    return {
        "Update": {
            "TableName": table_name("players"),
            "Key": _player_key(economy, user_id),
            "UpdateExpression": (
                "SET streak = :s, last_daily = :d, best_streak = :b, badges = :badges, updated_at = :t, "
                "daily_count = if_not_exists(daily_count, :zero) + :one"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def quest_profile_write(economy: str, user_id: str, day: date, *, correct: bool) -> Dict[str, Any]:
    """The profile update of today's quest answer (UpdateItem arguments), only if today's is unanswered."""
    update = "SET quest_date = :d, quest_correct = :c, updated_at = :t"
    values = {":d": {"S": day.isoformat()}, ":c": {"N": "1" if correct else "0"}, ":t": {"S": now_iso()}}
    if correct:
        update += ", quests_won = if_not_exists(quests_won, :zero) + :one"
        values.update({":zero": {"N": "0"}, ":one": {"N": "1"}})
    return {
        "TableName": table_name("players"),
        "Key": _player_key(economy, user_id),
        "UpdateExpression": update,
        "ConditionExpression": "attribute_not_exists(quest_date) OR quest_date <> :d",
        "ExpressionAttributeValues": values,
    }


def record_quest_answer(economy: str, user_id: str, day: date, *, correct: bool) -> bool:
    """Write today's answer outside a grant (a miss); False when today's quest was answered already."""
    client = get_client()
    try:
        client.update_item(**quest_profile_write(economy, user_id, day, correct=correct))
    except client.exceptions.ConditionalCheckFailedException:
        return False
    return True


# --- grant budgets (counters in ``market_counters``) -------------------------------


def budget_take(counter: str, amount: int, cap: int,
                refuse: Callable[[Optional[Dict[str, Any]]], Exception]) -> SideWrite:
    """``ADD amount`` to ``counter`` only if its total before is at most ``cap`` (``refuse(old item)`` otherwise).

    The counter expires a few days after its first write.
    """
    update = {"Update": {
        "TableName": table_name("market_counters"),
        "Key": {"counter": {"S": counter}},
        "UpdateExpression": "ADD n :a SET expires_epoch = if_not_exists(expires_epoch, :ttl)",
        # A grant larger than the whole budget: a condition no counter (not even a new one) meets.
        "ConditionExpression": "attribute_not_exists(n) OR n <= :cap" if cap >= 0 else "n <= :cap",
        "ExpressionAttributeValues": {":a": {"N": str(amount)}, ":cap": {"N": str(cap)},
                                      ":ttl": {"N": str(int(time.time()) + _COUNTER_TTL_SECONDS)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}
    return SideWrite(update, refuse)


def counter_value(counter: str) -> int:
    """A counter's total (a consistent read); 0 when it was never written."""
    item = ops.get("market_counters", {"counter": counter})
    return int(item.get("n", 0)) if item else 0


# --- the course registry (``courses``) --------------------------------------------


def find_course(economy: str, course_id: str) -> Optional[Item]:
    """The course's item (a consistent read), deleted or not; None when it never existed."""
    return ops.get("courses", {"economy": economy, "course_id": course_id})


def query_courses(economy: str) -> List[Item]:
    """Every course item of the economy (deleted ones too), by id."""
    return list(ops.query_all("courses", KeyConditionExpression="economy = :e",
                              ExpressionAttributeValues={":e": {"S": economy}}, ConsistentRead=True))


def course_write(before: Optional[Item], after: Item) -> Dict[str, Any]:
    """The Put replacing the course ``before`` (None: none yet) with ``after``, only if unchanged since read."""
    return versioned_write("courses", {"economy": after["economy"], "course_id": after["course_id"]}, before, after,
                           put=True)


def course_offered_check(economy: str, course_id: str, reward: int) -> Dict[str, Any]:
    """A TransactWriteItems ConditionCheck: the course is on offer at ``reward`` coins."""
    return {"ConditionCheck": {
        "TableName": table_name("courses"),
        "Key": {"economy": {"S": economy}, "course_id": {"S": course_id}},
        "ConditionExpression": "attribute_exists(course_id) AND attribute_not_exists(deleted_at) AND reward = :r",
        "ExpressionAttributeValues": {":r": {"N": str(reward)}},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}


# --- grant settings (the economy's ``tunables`` map) ----------------------------------


# One implementation for every capability: the tenancy store's.
stored_tunables = tenancy_store.read_tunables
ensure_tunables_map = tenancy_store.ensure_tunables
tunables_write = tenancy_store.tunables_write


# --- quest questions (``quest_questions``) ------------------------------------------


def put_question(item: Mapping[str, Any], *, if_absent: bool) -> bool:
    """Store a question item; with ``if_absent``, False when its id is taken."""
    if if_absent:
        return ops.put_if_absent("quest_questions", item, "question_id")
    get_client().put_item(TableName=table_name("quest_questions"), Item=codec.encode_item(item))
    return True


def query_questions(economy: str) -> List[Item]:
    """Every question item of the economy."""
    return list(ops.query_all("quest_questions", KeyConditionExpression="economy = :e",
                              ExpressionAttributeValues={":e": {"S": economy}}))


def find_question_item(economy: str, question_id: str) -> Optional[Item]:
    """The stored question (a consistent read); None when it is not stored."""
    return ops.get("quest_questions", {"economy": economy, "question_id": question_id})


def question_write(before: Optional[Item], after: Item) -> Dict[str, Any]:
    """The Put replacing ``before`` (None: a new question) with ``after``, only if unchanged since read."""
    if before is not None and before.get("version") is None:  # stored before questions had versions
        write = versioned_write("quest_questions", {"economy": after["economy"], "question_id": after["question_id"]},
                                None, after, put=True)
        write["Put"]["ConditionExpression"] = "attribute_exists(question_id) AND attribute_not_exists(version)"
        return write
    return versioned_write("quest_questions", {"economy": after["economy"], "question_id": after["question_id"]},
                           before, after, put=True)
