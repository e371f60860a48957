"""POST /v1/users/{user_id}/rewards: each type's amount rule and once-only rule.

Every test ends with the economy's invariants.
"""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib import rewards
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import system
from chalicelib.ledger.wallets import system_balance

pytestmark = pytest.mark.integration


def reward(economy, user: str, type_: str, ref=None, token=None):
    body = {"type": type_}
    if ref is not None:
        body["ref"] = ref
    return economy.api.post(f"/v1/users/{user}/rewards", body, token=token or economy.write_token)


def balance(economy, user: str) -> int:
    return economy.api.get(f"/v1/users/{user}/wallet").body["available"]


def test_daily_pays_once_per_day_and_replays_the_first_result(economy) -> None:
    first = reward(economy, "alice", "daily")
    assert first.status == 200, first.body
    assert first.body["amount"] == 10 and first.body["streak"] == 1 and not first.body["already_claimed"]
    assert first.headers["idempotent-replayed"] == "false"
    assert first.body["next_claim_at"].endswith("T00:00:00.000Z")
    again = reward(economy, "alice", "daily")
    assert again.status == 200 and again.body["already_claimed"]
    assert again.headers["idempotent-replayed"] == "true"
    assert again.body["transaction_id"] == first.body["transaction_id"]
    assert balance(economy, "alice") == 10
    assert system_balance(economy.id, system("rewards")) == -10  # minted from the rewards account
    statement = economy.api.get("/v1/users/alice/transactions").body["items"]
    assert [(e["type"], e["amount"]) for e in statement] == [("reward", 10)]
    economy.check()


def test_daily_streak_amounts_and_cap(economy, monkeypatch) -> None:
    start = date(2024, 2, 20)
    amounts = []
    for offset in range(25):
        monkeypatch.setattr(rewards, "today_utc", lambda d=start + timedelta(days=offset): d)
        amounts.append(reward(economy, "alice", "daily").body["amount"])
    assert amounts[:3] == [10, 12, 14] and amounts[20:] == [50] * 5  # base + 2 per day, capped at 50
    assert balance(economy, "alice") == sum(amounts)
    profile = rewards.get_profile(economy.id, "alice")
    assert profile.streak == 25 and profile.badges == ["streak_7"]
    economy.check()


def test_economy_tunables_override_the_defaults(economy) -> None:
    get_client().update_item(
        TableName=table_name("economies"), Key={"economy_id": {"S": economy.id}},
        UpdateExpression="SET tunables = :t",
        ExpressionAttributeValues={":t": {"M": {"daily_base": {"N": "25"}, "quest_reward": {"N": "40"},
                                                "referral_reward": {"S": "lots"}}}},
    )
    assert reward(economy, "alice", "daily").body["amount"] == 25
    assert reward(economy, "alice", "quest").body["amount"] == 40
    assert reward(economy, "alice", "referral", "bob").body["amount"] == 100  # a bad value keeps the default
    economy.check()


def test_quest_once_per_day(economy) -> None:
    first = reward(economy, "alice", "quest", "q_planet")
    assert first.status == 200 and first.body["amount"] == 15
    again = reward(economy, "alice", "quest", "q_other")
    assert again.status == 200 and again.body["already_claimed"] and again.body["ref"] == "q_planet"
    assert balance(economy, "alice") == 15
    economy.check()


def test_quest_after_a_wrong_answer_today_is_refused(economy) -> None:
    rewards.record_quest_miss(economy.id, "alice")
    resp = reward(economy, "alice", "quest")
    assert resp.status == 409 and resp.code == "reward_already_claimed"
    assert "next_quest_at" in resp.body["error"]["details"]
    economy.check()


def test_referral_once_per_referred_user_ever(economy) -> None:
    first = reward(economy, "alice", "referral", "newbie")
    assert first.status == 200 and first.body["amount"] == 100
    assert reward(economy, "alice", "referral", "newbie").body["already_claimed"]
    other = reward(economy, "carol", "referral", "newbie")
    assert other.status == 409 and other.code == "reward_already_claimed"
    assert reward(economy, "alice", "referral", "second").status == 200
    assert balance(economy, "alice") == 200
    assert economy.api.get("/v1/users/carol/wallet").status == 404  # nothing created for carol
    economy.check()


def test_course_completion_once_per_course(economy) -> None:
    assert reward(economy, "alice", "course_completion", "python-101").body["amount"] == 50
    assert reward(economy, "alice", "course_completion", "python-101").body["already_claimed"]
    assert reward(economy, "alice", "course_completion", "rust-101").status == 200
    assert reward(economy, "bob", "course_completion", "python-101").status == 200
    assert balance(economy, "alice") == 100 and balance(economy, "bob") == 50
    economy.check()


@pytest.mark.parametrize("body, status, code, field", [
    ({"type": "jackpot"}, 400, "validation_error", "type"),
    ({}, 400, "validation_error", "type"),
    ({"type": "referral"}, 400, "validation_error", "ref"),
    ({"type": "course_completion"}, 400, "validation_error", "ref"),
    ({"type": "course_completion", "ref": "bad ref with spaces"}, 400, "validation_error", "ref"),
    ({"type": "referral", "ref": "not/a/user"}, 400, "validation_error", "ref"),
    ({"type": "daily", "ref": ""}, 400, "validation_error", "ref"),
    ({"type": "daily", "amount": 1000}, 400, "validation_error", "amount"),
    ({"type": 5}, 400, "validation_error", "type"),
    ({"type": "referral", "ref": "alice"}, 422, "self_referral", None),
])
def test_bad_reward_requests_change_nothing(economy, body, status, code, field) -> None:
    resp = economy.api.post("/v1/users/alice/rewards", body, token=economy.write_token)
    assert (resp.status, resp.code) == (status, code), resp.body
    if field:
        assert resp.body["error"]["details"]["field"] == field
    assert economy.api.get("/v1/users/alice/wallet").status == 404
    economy.check()


def test_scopes_and_bad_user_ids(economy) -> None:
    assert reward(economy, "alice", "daily", token=economy.read_token).status == 403
    assert economy.api.post("/v1/users/alice/rewards", {"type": "daily"}, token="").status == 401
    resp = economy.api.post("/v1/users/a%20b/rewards", {"type": "daily"}, token=economy.write_token)
    assert resp.status == 400
    economy.check()


def test_a_frozen_wallet_earns_no_rewards(economy) -> None:
    economy.credit("alice", 5)
    economy.api.post("/v1/admin/users/alice/freeze", {"reason": "review"})
    resp = reward(economy, "alice", "daily")
    assert resp.status == 422 and resp.code == "account_frozen"
    assert balance(economy, "alice") == 5
    economy.check()


def test_a_reward_switched_off_pays_nothing(economy) -> None:
    get_client().update_item(
        TableName=table_name("economies"), Key={"economy_id": {"S": economy.id}},
        UpdateExpression="SET tunables = :t",
        ExpressionAttributeValues={":t": {"M": {"course_completion_reward": {"N": "0"}}}},
    )
    resp = reward(economy, "alice", "course_completion", "c1")
    assert resp.status == 422 and resp.code == "rule_violation"
    economy.check()
