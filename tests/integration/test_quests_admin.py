"""The quest's question set as operators edit it (``/v1/admin/quests``): defaults, the first write, audit, bad input."""
from __future__ import annotations

import json

import pytest

from tests.integration.spending_helpers import assert_error

pytestmark = pytest.mark.integration


def patch(economy, path, body):
    return economy.api.request("PATCH", path, body=json.dumps(body), headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {economy.admin_token}"})


def test_the_defaults_are_listed_and_stored_by_the_first_write(economy) -> None:
    listed = economy.api.get("/v1/admin/quests").body
    assert listed["defaults"] is True and len(listed["items"]) == 6
    assert economy.api.get("/v1/admin/quests/q_planet").body["answer"] == "Mars"
    made = economy.api.post("/v1/admin/quests", {"question": "2+2?", "answer": "4", "wrong": ["5", "3"]})
    assert made.status == 201 and "salt" not in made.body
    listed = economy.api.get("/v1/admin/quests").body
    assert listed["defaults"] is False and len(listed["items"]) == 7
    changed = patch(economy, f"/v1/admin/quests/{made.body['question_id']}", {"answer": "four"})
    assert changed.status == 200 and changed.body["answer"] == "four" and changed.body["wrong"] == ["5", "3"]
    gone = economy.api.request("DELETE", "/v1/admin/quests/q_planet",
                               headers={"Authorization": f"Bearer {economy.admin_token}"})
    assert gone.status == 200 and gone.body["active"] is False
    actions = [r["action"] for r in economy.api.get("/v1/admin/audit?limit=200").body["items"]
               if r["target"].startswith("question:")]
    assert actions == ["quest.delete", "quest.update", "quest.create"]


def test_bad_questions_are_refused_and_nothing_changes(economy) -> None:
    assert_error(economy.api.post("/v1/admin/quests", {"question": "Q", "answer": "A", "wrong": ["A"]}), 422,
                 "answer_among_wrong", "answer")
    assert_error(economy.api.post("/v1/admin/quests", {"question": "Q", "answer": "A", "wrong": ["B", "B"]}), 400,
                 "validation_error", "wrong")
    assert_error(economy.api.post("/v1/admin/quests", {"question": "Q", "answer": "A", "wrong": []}), 400,
                 "validation_error")
    assert economy.api.get("/v1/admin/quests").body["defaults"] is True
    assert_error(economy.api.get("/v1/admin/quests/q_nope"), 404, "question_not_found")
    assert_error(economy.api.get("/v1/admin/quests/bad id"), 400, "validation_error", "question_id")
    assert_error(patch(economy, "/v1/admin/quests/q_planet", {"wrong": ["Mars"]}), 422, "answer_among_wrong", "answer")
