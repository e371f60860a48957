"""POST /v1/users/{user_id}/rewards: each type's amount rule, once-only rule and per-type rules,
the `rewards` scope, the course registry, the per-key daily grant budget, and who granted what.

Every test ends with the economy's invariants.
"""
from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any, Dict, Optional

import pytest

from chalicelib.tenancy import apikeys
from chalicelib.rewards import courses, budget as grant_budget, grants as rewards
from chalicelib.db.engine import get_client, table_name
from chalicelib.core.ids import iso
from chalicelib.ledger import MAX_AMOUNT, system
from chalicelib.ledger.wallets import system_balance
from chalicelib.rewards.streaks import next_claim_at
from tests.clock_helpers import Clock, at, clock  # noqa: F401 (fixture)
from tests.conftest import Economy, Resp
from tests.integration.spending_helpers import assert_error, books
from tests.market_helpers import delete, put

# One stopped app clock per test: "today" in the test and in the app cannot differ
# across UTC midnight.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]


def reward(economy: Economy, user: str, type_: str, ref: Optional[str] = None, token: Optional[str] = None) -> Resp:
    body = {"type": type_}
    if ref is not None:
        body["ref"] = ref
    return economy.api.post(f"/v1/users/{user}/rewards", body, token=token or economy.rewards_token)


def balance(economy: Economy, user: str) -> int:
    return economy.api.get(f"/v1/users/{user}/wallet").body["available"]


def minted(economy: Economy) -> int:
    return -system_balance(economy.id, system("rewards"))


def register(economy: Economy, course_id: str, reward_coins: int, title: str = "A course") -> Resp:
    resp = put(economy, f"/v1/admin/courses/{course_id}", {"title": title, "reward": reward_coins})
    assert resp.status in (200, 201), resp.body
    return resp


def settings(economy: Economy, **values: int) -> Dict[str, Any]:
    resp = put(economy, "/v1/admin/reward-settings", values)
    assert resp.status == 200, resp.body
    return resp.body


def key_id(token: Optional[str]) -> str:
    assert token
    return apikeys.key_id_for(token)


def budget_used(economy: Economy, token: Optional[str], day: Optional[date] = None) -> int:
    return grant_budget.used(economy.id, key_id(token), day or rewards.today_utc())


# --------------------------------------------------------------------------- amounts and once-only rules


def test_daily_pays_once_per_day_and_replays_the_first_result(economy) -> None:
    first = reward(economy, "alice", "daily")
    assert first.status == 200, first.body
    assert first.body["amount"] == 10 and first.body["streak"] == 1 and not first.body["already_claimed"]
    assert first.body["granted_by"] == f"api_key:{key_id(economy.rewards_token)}"
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


def test_a_daily_claim_either_side_of_utc_midnight_pays_for_each_day_once(economy, clock: Clock) -> None:
    clock.set(at("2025-03-31T23:59:59.900Z"))
    late = reward(economy, "alice", "daily")
    assert late.status == 200 and late.body["amount"] == 10 and late.body["streak"] == 1
    assert late.body["next_claim_at"] == "2025-04-01T00:00:00.000Z"
    clock.set(at("2025-03-31T23:59:59.950Z"))
    assert reward(economy, "alice", "daily").body["already_claimed"]
    # 0.2 s later it is a new UTC day: a new claim pays and the streak goes on (10 + 2).
    clock.set(at("2025-04-01T00:00:00.100Z"))
    early = reward(economy, "alice", "daily")
    assert early.status == 200 and not early.body["already_claimed"]
    assert early.body["amount"] == 12 and early.body["streak"] == 2
    assert early.body["transaction_id"] != late.body["transaction_id"]
    assert early.body["next_claim_at"] == "2025-04-02T00:00:00.000Z"
    clock.set(at("2025-04-01T00:00:00.200Z"))
    again = reward(economy, "alice", "daily")
    assert again.body["already_claimed"] and again.body["transaction_id"] == early.body["transaction_id"]
    assert balance(economy, "alice") == 10 + 12
    assert minted(economy) == 22
    economy.check()


def test_economy_tunables_override_the_defaults(economy) -> None:
    economy.credit("alice", 1)
    economy.credit("bob", 1)
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
    for user in ("alice", "carol", "newbie", "second"):
        economy.credit(user, 1)
    first = reward(economy, "alice", "referral", "newbie")
    assert first.status == 200 and first.body["amount"] == 100
    assert reward(economy, "alice", "referral", "newbie").body["already_claimed"]
    other = reward(economy, "carol", "referral", "newbie")
    assert other.status == 409 and other.code == "reward_already_claimed"
    assert reward(economy, "alice", "referral", "second").status == 200
    assert balance(economy, "alice") == 1 + 200
    assert balance(economy, "carol") == 1  # nothing paid to the second referrer
    economy.check()


def test_course_completion_pays_the_registered_reward_once_per_course(economy) -> None:
    register(economy, "python-101", 50, "Python for beginners")
    register(economy, "rust-101", 70)
    first = reward(economy, "alice", "course_completion", "python-101")
    assert (first.status, first.body["amount"], first.body["course_title"]) == (200, 50, "Python for beginners")
    assert reward(economy, "alice", "course_completion", "python-101").body["already_claimed"]
    assert reward(economy, "alice", "course_completion", "rust-101").body["amount"] == 70
    assert reward(economy, "bob", "course_completion", "python-101").status == 200
    assert balance(economy, "alice") == 120 and balance(economy, "bob") == 50
    economy.check()


# --------------------------------------------------------------------------- class A: a write key minted coins


def test_a_write_key_no_longer_grants_anything(economy) -> None:
    """The `rewards` scope: a key that may spend users' coins may not mint them."""
    economy.credit("alice", 5)
    economy.credit("bob", 5)
    register(economy, "python-101", 75)
    before = books(economy, "alice", "bob")
    only_admin = apikeys.create_key(economy.id, {"read", "write", "admin"}, label="admin without rewards")[0]
    for token in (economy.write_token, economy.read_token, only_admin):
        for type_, ref in (("daily", None), ("referral", "bob"), ("course_completion", "python-101")):
            resp = reward(economy, "alice", type_, ref, token=token)
            err = assert_error(resp, 403, "forbidden")
            assert err["details"]["required_scope"] == "rewards"
    assert books(economy, "alice", "bob") == before
    assert minted(economy) == 0
    economy.check()


def test_made_up_refs_mint_nothing(economy) -> None:
    """The issue's ten calls with invented refs that credited 750 coins now credit none."""
    economy.credit("alice", 5)
    before = books(economy, "alice")
    for i in range(5):
        assert_error(reward(economy, "alice", "referral", f"nobody-{i}"), 404, "user_not_found", "ref")
        assert_error(reward(economy, "alice", "course_completion", f"course-{i}"), 404, "course_not_found", "ref")
    assert books(economy, "alice") == before
    assert minted(economy) == 0 and budget_used(economy, economy.rewards_token) == 0
    economy.check()


def test_a_referral_needs_two_existing_users(economy) -> None:
    economy.credit("alice", 5)
    economy.credit("newbie", 5)
    before = books(economy, "alice", "newbie", "ghost")
    assert_error(reward(economy, "alice", "referral", "ghost"), 404, "user_not_found", "ref")
    assert_error(reward(economy, "ghost", "referral", "newbie"), 404, "user_not_found", "user_id")
    assert_error(reward(economy, "alice", "referral", "alice"), 422, "self_referral")
    assert books(economy, "alice", "newbie", "ghost") == before
    assert economy.api.get("/v1/users/ghost/wallet").status == 404  # a refused referral creates no wallet
    ok = reward(economy, "alice", "referral", "newbie")
    assert (ok.status, ok.body["amount"], ok.body["ref"]) == (200, 100, "newbie")
    assert balance(economy, "alice") == 105 and balance(economy, "newbie") == 5
    economy.check()


# --------------------------------------------------------------------------- who granted it


def test_every_grant_shows_its_grantor_on_the_statement(economy) -> None:
    register(economy, "python-101", 50)
    reward(economy, "alice", "course_completion", "python-101")
    rewards.claim_daily(economy.id, "alice")  # what the Discord adapter calls for a player's own claim
    other = apikeys.create_key(economy.id, {"rewards"}, label="second app")[0]
    assert reward(economy, "alice", "quest", token=other).status == 200
    statement = economy.api.get("/v1/users/alice/transactions").body["items"]
    assert [(e["amount"], e["granted_by"], e["details"]["granted_by"]) for e in statement] == [
        (15, f"api_key:{key_id(other)}", f"api_key:{key_id(other)}"),
        (10, "discord:alice", "discord:alice"),
        (50, f"api_key:{key_id(economy.rewards_token)}", f"api_key:{key_id(economy.rewards_token)}"),
    ]
    assert statement[2]["details"]["course"] == "python-101"
    # A Discord claim takes no key's budget; each key's grants take its own.
    assert budget_used(economy, economy.rewards_token) == 50 and budget_used(economy, other) == 15
    economy.check()


# --------------------------------------------------------------------------- the course registry


def test_the_course_registry_is_audited_and_a_deleted_course_pays_nothing(economy) -> None:
    created = register(economy, "python-101", 50, "Python")
    assert created.status == 201
    assert created.body == {"course_id": "python-101", "title": "Python", "reward": 50,
                            "created_at": created.body["created_at"], "updated_at": created.body["updated_at"]}
    replaced = register(economy, "python-101", 80, "Python 3")
    assert replaced.status == 200 and replaced.body["reward"] == 80
    assert replaced.body["created_at"] == created.body["created_at"]
    assert economy.api.get("/v1/admin/courses/python-101").body["reward"] == 80
    assert [c["course_id"] for c in economy.api.get("/v1/admin/courses").body["items"]] == ["python-101"]
    gone = delete(economy, "/v1/admin/courses/python-101")
    assert gone.status == 200 and gone.body["reward"] == 80
    assert_error(economy.api.get("/v1/admin/courses/python-101"), 404, "course_not_found")
    assert_error(delete(economy, "/v1/admin/courses/python-101"), 404, "course_not_found")
    assert economy.api.get("/v1/admin/courses").body["items"] == []
    before = books(economy, "alice")
    assert_error(reward(economy, "alice", "course_completion", "python-101"), 404, "course_not_found", "ref")
    assert books(economy, "alice") == before
    assert register(economy, "python-101", 60).status == 201  # a PUT brings it back
    assert reward(economy, "alice", "course_completion", "python-101").body["amount"] == 60
    rows = [(r["action"], r.get("before"), r["after"]) for r in economy.api.get("/v1/admin/audit").body["items"]
            if r["target"] == "course:python-101"]
    assert rows == [
        ("course.put", {"title": "Python 3", "reward": 80, "deleted": True},
         {"title": "A course", "reward": 60, "deleted": False}),
        ("course.delete", {"title": "Python 3", "reward": 80, "deleted": False},
         {"title": "Python 3", "reward": 80, "deleted": True}),
        ("course.put", {"title": "Python", "reward": 50, "deleted": False},
         {"title": "Python 3", "reward": 80, "deleted": False}),
        ("course.put", None, {"title": "Python", "reward": 50, "deleted": False}),
    ]
    economy.check()


def test_a_reward_change_applies_to_later_completions_only(economy) -> None:
    register(economy, "python-101", 50)
    first = reward(economy, "alice", "course_completion", "python-101")
    register(economy, "python-101", 80)
    assert reward(economy, "bob", "course_completion", "python-101").body["amount"] == 80
    again = reward(economy, "alice", "course_completion", "python-101")
    assert again.body["already_claimed"] and again.body["amount"] == 50
    assert again.body["transaction_id"] == first.body["transaction_id"]
    assert balance(economy, "alice") == 50 and balance(economy, "bob") == 80
    economy.check()


def test_a_course_deleted_after_the_grant_read_it_pays_nothing(economy, monkeypatch) -> None:
    """The course is checked again inside the paying transaction."""
    register(economy, "python-101", 50)
    stale = courses.find_course(economy.id, "python-101")
    delete(economy, "/v1/admin/courses/python-101")
    monkeypatch.setattr(courses, "find_course", lambda *_: stale)  # the grant reads it as it was
    before = books(economy, "alice")
    assert_error(reward(economy, "alice", "course_completion", "python-101"), 404, "course_not_found", "ref")
    assert books(economy, "alice") == before
    assert budget_used(economy, economy.rewards_token) == 0
    economy.check()


def test_a_course_repriced_after_the_grant_read_it_pays_the_new_reward(economy, monkeypatch) -> None:
    register(economy, "python-101", 50)
    stale = courses.find_course(economy.id, "python-101")
    register(economy, "python-101", 80)
    real, reads = courses.find_course, []

    def first_read_stale(economy_id: str, course_id: str) -> Any:
        reads.append(course_id)
        return stale if len(reads) == 1 else real(economy_id, course_id)

    monkeypatch.setattr(courses, "find_course", first_read_stale)
    resp = reward(economy, "alice", "course_completion", "python-101")
    assert (resp.status, resp.body["amount"], len(reads)) == (200, 80, 2)
    assert balance(economy, "alice") == 80 and budget_used(economy, economy.rewards_token) == 80
    economy.check()


@pytest.mark.parametrize("body, field", [
    ({"title": "T", "reward": 0}, "reward"),
    ({"title": "T", "reward": -5}, "reward"),
    ({"title": "T", "reward": MAX_AMOUNT + 1}, "reward"),
    ({"title": "T", "reward": 10.5}, "reward"),
    ({"title": "T", "reward": True}, "reward"),
    ({"title": "T", "reward": "50"}, "reward"),
    ({"title": "  ", "reward": 5}, "title"),
    ({"title": "T" * 201, "reward": 5}, "title"),
    ({"reward": 5}, "title"),
    ({"title": "T"}, "reward"),
    ({"title": "T", "reward": 5, "amount": 9}, "amount"),
])
def test_bad_course_bodies_change_nothing(economy, body, field) -> None:
    before = books(economy)
    assert_error(put(economy, "/v1/admin/courses/c1", body), 400, "validation_error", field)
    assert_error(economy.api.get("/v1/admin/courses/c1"), 404, "course_not_found")
    assert books(economy) == before


def test_course_routes_need_the_admin_scope_and_a_valid_id(economy) -> None:
    for token in (economy.write_token, economy.rewards_token, economy.read_token):
        assert_error(put(economy, "/v1/admin/courses/c1", {"title": "T", "reward": 5}, token=token), 403, "forbidden")
        assert_error(economy.api.get("/v1/admin/courses/c1", token=token), 403, "forbidden")
        assert_error(delete(economy, "/v1/admin/courses/c1", token=token), 403, "forbidden")
    assert_error(put(economy, "/v1/admin/courses/a%20b", {"title": "T", "reward": 5}), 400, "validation_error",
                 "course_id")
    assert economy.api.get("/v1/admin/courses").body["items"] == []
    economy.check()


# --------------------------------------------------------------------------- the per-key daily budget


def test_a_grant_that_would_exceed_the_key_budget_is_refused_and_changes_nothing(economy, clock: Clock) -> None:
    settings(economy, grant_daily_budget=120, referral_reward=20)
    register(economy, "c1", 50)
    register(economy, "c2", 50)
    register(economy, "c3", 50)
    economy.credit("bob", 1)
    assert reward(economy, "alice", "course_completion", "c1").status == 200
    assert reward(economy, "alice", "course_completion", "c2").status == 200
    before = books(economy, "alice", "bob")
    refused = reward(economy, "alice", "course_completion", "c3")
    day = clock.now.date()
    err = assert_error(refused, 429, "grant_budget_exceeded")
    assert {k: v for k, v in err["details"].items() if k != "retry_after"} == {
        "key_id": key_id(economy.rewards_token), "budget": 120, "used": 100, "requested": 50, "left": 20,
        "resets_at": iso(next_claim_at(day)),
    }
    retry_after = int(refused.headers["retry-after"])
    assert retry_after == err["details"]["retry_after"]
    # the clock stands still, so the wait to midnight is exact (rounded up to a whole second)
    assert retry_after == math.ceil((next_claim_at(day) - clock.now).total_seconds())
    assert books(economy, "alice", "bob") == before
    assert budget_used(economy, economy.rewards_token) == 100
    # What is left still grants, to the coin; then nothing more today.
    assert reward(economy, "alice", "referral", "bob").body["amount"] == 20
    assert budget_used(economy, economy.rewards_token) == 120
    assert_error(reward(economy, "carol", "daily"), 429, "grant_budget_exceeded")
    assert minted(economy) == 120
    economy.check()


def test_each_key_has_its_own_budget_and_it_refills_the_next_utc_day(economy, monkeypatch) -> None:
    settings(economy, grant_daily_budget=50)
    register(economy, "c1", 50)
    register(economy, "c2", 50)
    assert reward(economy, "alice", "course_completion", "c1").status == 200
    assert_error(reward(economy, "alice", "course_completion", "c2"), 429, "grant_budget_exceeded")
    other = apikeys.create_key(economy.id, {"rewards"}, label="second app")[0]
    assert reward(economy, "alice", "course_completion", "c2", token=other).status == 200
    tomorrow = rewards.today_utc() + timedelta(days=1)
    monkeypatch.setattr(rewards, "today_utc", lambda: tomorrow)
    register(economy, "c3", 50)
    assert reward(economy, "alice", "course_completion", "c3").status == 200
    assert budget_used(economy, economy.rewards_token, tomorrow) == 50
    assert balance(economy, "alice") == 150
    economy.check()


def test_replays_take_no_budget_even_when_it_is_spent(economy) -> None:
    settings(economy, grant_daily_budget=50)
    register(economy, "c1", 50)
    first = reward(economy, "alice", "course_completion", "c1")
    for _ in range(5):
        again = reward(economy, "alice", "course_completion", "c1")
        assert (again.status, again.body["already_claimed"]) == (200, True)
        assert again.body["transaction_id"] == first.body["transaction_id"]
    # Another key repeating the same grant replays it too, on nobody's budget.
    other = apikeys.create_key(economy.id, {"rewards"}, label="second app")[0]
    assert reward(economy, "alice", "course_completion", "c1", token=other).body["already_claimed"]
    assert budget_used(economy, economy.rewards_token) == 50 and budget_used(economy, other) == 0
    assert balance(economy, "alice") == 50
    economy.check()


def test_a_zero_budget_turns_api_grants_off_but_not_discord_claims(economy) -> None:
    settings(economy, grant_daily_budget=0)
    register(economy, "c1", 50)
    before = books(economy, "alice")
    for type_, ref in (("daily", None), ("quest", None), ("course_completion", "c1")):
        err = assert_error(reward(economy, "alice", type_, ref), 422, "grants_disabled")
        assert err["details"] == {"grant_daily_budget": 0}
    assert books(economy, "alice") == before
    outcome = rewards.claim_daily(economy.id, "alice")  # the Discord adapter's call
    assert outcome.result["amount"] == 10 and outcome.result["granted_by"] == "discord:alice"
    assert balance(economy, "alice") == 10
    economy.check()


def test_reward_settings_are_audited_and_bounded(economy) -> None:
    assert economy.api.get("/v1/admin/reward-settings").body == {"settings": {
        "daily_base": 10, "daily_streak_bonus": 2, "daily_cap": 50, "quest_reward": 15, "referral_reward": 100,
        "grant_daily_budget": 100_000}, "changed": False}
    changed = settings(economy, grant_daily_budget=MAX_AMOUNT, quest_reward=30)
    assert changed["changed"] and changed["settings"]["grant_daily_budget"] == MAX_AMOUNT
    assert settings(economy, quest_reward=30)["changed"] is False
    row = economy.api.get("/v1/admin/audit").body["items"][0]
    assert row["action"] == "economy.reward_settings"
    assert (row["before"]["grant_daily_budget"], row["after"]["grant_daily_budget"]) == (100_000, MAX_AMOUNT)
    assert (row["before"]["quest_reward"], row["after"]["quest_reward"]) == (15, 30)
    assert_error(put(economy, "/v1/admin/reward-settings", {"quest_reward": 5}, token=economy.rewards_token),
                 403, "forbidden")
    economy.check()


@pytest.mark.parametrize("body, field", [
    ({"grant_daily_budget": MAX_AMOUNT + 1}, "grant_daily_budget"),
    ({"daily_base": -1}, "daily_base"),
    ({"daily_cap": 1.5}, "daily_cap"),
    ({"quest_reward": True}, "quest_reward"),
    ({"referral_reward": "100"}, "referral_reward"),
    ({"course_completion_reward": 5}, "course_completion_reward"),
    ({}, "body"),
])
def test_bad_reward_settings_change_nothing(economy, body, field) -> None:
    before = books(economy)
    assert_error(put(economy, "/v1/admin/reward-settings", body), 400, "validation_error", field)
    assert books(economy) == before
    assert economy.api.get("/v1/admin/reward-settings").body["settings"]["grant_daily_budget"] == 100_000


# --------------------------------------------------------------------------- bad input and other refusals


@pytest.mark.parametrize("body, status, code, field", [
    ({"type": "jackpot"}, 400, "validation_error", "type"),
    ({}, 400, "validation_error", "type"),
    ({"type": "referral"}, 400, "validation_error", "ref"),
    ({"type": "course_completion"}, 400, "validation_error", "ref"),
    ({"type": "course_completion", "ref": "bad ref with spaces"}, 400, "validation_error", "ref"),
    ({"type": "course_completion", "ref": "no/slashes"}, 400, "validation_error", "ref"),
    ({"type": "course_completion", "ref": "never-registered"}, 404, "course_not_found", "ref"),
    ({"type": "referral", "ref": "not/a/user"}, 400, "validation_error", "ref"),
    ({"type": "referral", "ref": "nobody"}, 404, "user_not_found", "user_id"),
    ({"type": "daily", "ref": ""}, 400, "validation_error", "ref"),
    ({"type": "daily", "amount": 1000}, 400, "validation_error", "amount"),
    ({"type": 5}, 400, "validation_error", "type"),
    ({"type": "referral", "ref": "alice"}, 422, "self_referral", None),
])
def test_bad_reward_requests_change_nothing(economy, body, status, code, field) -> None:
    resp = economy.api.post("/v1/users/alice/rewards", body, token=economy.rewards_token)
    assert (resp.status, resp.code) == (status, code), resp.body
    if field:
        assert resp.body["error"]["details"]["field"] == field
    assert economy.api.get("/v1/users/alice/wallet").status == 404
    assert budget_used(economy, economy.rewards_token) == 0
    economy.check()


def test_scopes_and_bad_user_ids(economy) -> None:
    assert reward(economy, "alice", "daily", token=economy.read_token).status == 403
    assert economy.api.post("/v1/users/alice/rewards", {"type": "daily"}, token="").status == 401
    resp = economy.api.post("/v1/users/a%20b/rewards", {"type": "daily"}, token=economy.rewards_token)
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
    settings(economy, quest_reward=0)
    resp = reward(economy, "alice", "quest")
    assert resp.status == 422 and resp.code == "rule_violation"
    assert economy.api.get("/v1/users/alice/wallet").status == 404
    economy.check()


def test_a_reward_setting_written_out_of_bounds_by_hand_falls_back_to_its_default(economy) -> None:
    """A value the ledger could not post (over MAX_AMOUNT) never reaches it: the claim pays the default."""
    get_client().update_item(
        TableName=table_name("economies"), Key={"economy_id": {"S": economy.id}},
        UpdateExpression="SET tunables = :t",
        ExpressionAttributeValues={":t": {"M": {"daily_base": {"N": str(MAX_AMOUNT + 1)},
                                                "daily_cap": {"N": str(10**20)}}}},
    )
    assert reward(economy, "alice", "daily").body["amount"] == 10
    economy.check()
