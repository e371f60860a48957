"""Racing clicks on DynamoDB Local: one credit per rule, whatever the timing.

DynamoDB Local serialises transactions, so some tests also inject AWS's
TransactionConflict cancellations with a botocore hook. Every test ends with
the economy's invariants.
"""
from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any, Dict

import pytest

from chalicelib.core import errors
from chalicelib.rewards import grants as rewards
from chalicelib.db.engine import get_client
from chalicelib.ledger.wallets import find_wallet, get_wallet
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.discord_helpers import assert_ephemeral, custom_ids, discord, embed_text, quest_answers  # noqa: F401

# A stopped app clock: the test's "today" and the app's are the same day even across UTC midnight.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clock")]


class _Conflicts:
    """Cancel the first and then every ``every``-th TransactWriteItems with TransactionConflict, as AWS does under contention."""

    def __init__(self, every: int) -> None:
        self.every, self.calls, self.injected = every, 0, 0
        self.lock = threading.Lock()

    def __call__(self, model: Any = None, params: Any = None, **_: Any):
        if model is None or model.name != "TransactWriteItems":
            return None
        with self.lock:
            self.calls += 1
            if self.calls % self.every != 1 % self.every:  # the 1st, then every every-th
                return None
            self.injected += 1
        items = json.loads(params["body"])["TransactItems"]
        return _Http(), {
            "Error": {"Code": "TransactionCanceledException", "Message": "injected"},
            "CancellationReasons": [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1),
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }


class _Http:
    status_code, headers, content = 400, {}, b""


@pytest.fixture
def conflicts():
    fault = _Conflicts(every=3)
    client = get_client()
    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", fault)
    yield fault
    client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", fault)


def _title(resp: Any) -> str:
    return resp.body["data"]["embeds"][0]["title"]


def _race(n: int, fn):
    barrier = threading.Barrier(n)

    def run(i: int):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_two_concurrent_daily_clicks_give_one_credit(discord) -> None:
    alice = discord.player()
    responses = _race(2, lambda i: alice.command("daily") if i else alice.click("hub:daily"))
    for resp in responses:
        assert_ephemeral(resp)
    titles = Counter("Daily reward claimed" in embed_text(r) for r in responses)
    assert titles == {True: 1, False: 1}
    assert get_wallet(discord.economy.id, alice.user_id).available == 10
    assert rewards.get_profile(discord.economy.id, alice.user_id).streak == 1
    discord.economy.check()


def test_a_storm_of_daily_clicks_with_injected_conflicts_still_pays_once(discord, conflicts) -> None:
    alice = discord.player()
    responses = _race(12, lambda i: alice.click("hub:daily"))
    assert all(r.status == 200 and r.body["data"]["flags"] == 64 for r in responses)
    assert sum("Daily reward claimed" in embed_text(r) for r in responses) == 1
    assert conflicts.injected >= 1
    assert get_wallet(discord.economy.id, alice.user_id).available == 10
    discord.economy.check()


def test_claims_racing_across_midnight_keep_the_streak_and_coins_consistent(discord) -> None:
    user, start = "midnight", date(2024, 2, 28)
    rewards.claim_daily(discord.economy.id, user, today=start)  # streak 1 on the 28th

    def claim(i: int):
        day = start + timedelta(days=1 + i % 2)  # the leap day 29th and March 1st, at once
        try:
            return day, rewards.claim_daily(discord.economy.id, user, today=day)
        except errors.RewardAlreadyClaimedError:
            return day, None

    results = _race(8, claim)
    paid = {day: out for day, out in results if out is not None and not out.replayed}
    profile = rewards.get_profile(discord.economy.id, user)
    wallet = get_wallet(discord.economy.id, user)
    assert wallet.available == 10 + sum(out.result["amount"] for out in paid.values())
    if len(paid) == 2:  # the 29th committed first: the streak ran 1, 2, 3
        assert [paid[d].result["streak"] for d in sorted(paid)] == [2, 3] and profile.streak == 3
    else:  # March 1st won; the 29th can no longer be claimed after it
        assert list(paid) == [date(2024, 3, 1)] and profile.streak == 1
    assert profile.last_daily == "2024-03-01" and profile.daily_count == 1 + len(paid)
    discord.economy.check()


def test_racing_correct_quest_answers_pay_once(discord, conflicts) -> None:
    alice = discord.player()
    quest = quest_answers(alice.command("quest"), discord.economy.id)
    responses = _race(6, lambda i: alice.choose(quest["menu"], quest["right"]))
    assert all(r.status == 200 and r.body["data"]["flags"] == 64 for r in responses)
    assert sum("Correct!" in embed_text(r) for r in responses) == 1
    assert get_wallet(discord.economy.id, alice.user_id).available == 15
    discord.economy.check()


def test_a_right_and_a_wrong_answer_racing_settle_on_one_outcome(discord) -> None:
    alice = discord.player()
    quest = quest_answers(alice.command("quest"), discord.economy.id)
    wrong, right = _race(2, lambda i: alice.choose(quest["menu"], quest["right"] if i else quest["wrong"]))
    # One answer is first, whichever it is; the other is told the quest is done, as the first left it.
    titles = (_title(wrong), _title(right))
    assert titles in {("Today's quest is done", "Correct!"), ("Not quite", "Today's quest is done")}, titles
    won = titles[1] == "Correct!"
    assert ("You answered it right." if won else "You already answered it.") in embed_text(wrong if won else right)
    wallet = find_wallet(discord.economy.id, alice.user_id)
    assert (wallet.available if wallet else 0) == (15 if won else 0)
    assert rewards.get_profile(discord.economy.id, alice.user_id).quest_correct == won
    discord.economy.check()


def test_double_clicked_confirm_and_a_racing_cancel_move_coins_at_most_once(discord) -> None:
    alice, bob = discord.player(), discord.player()
    discord.economy.credit(alice.user_id, 100)
    ask = alice.command("give", {"user": bob.user_id, "amount": 40}, users=[{"id": bob.user_id}])
    ok, no = custom_ids(ask)
    responses = _race(5, lambda i: alice.click(no if i == 4 else ok))
    oks, cancel_text = [embed_text(r) for r in responses[:4]], embed_text(responses[4])
    sent = any("You sent" in text for text in oks)
    # Whichever committed first wins, and the other click says so; a double click of Confirm shows the one gift.
    if sent:
        assert all("You sent" in text for text in oks) and "already sent" in cancel_text, (oks, cancel_text)
    else:
        assert all("cancelled" in text for text in oks) and "Gift cancelled" in cancel_text, (oks, cancel_text)
    assert get_wallet(discord.economy.id, alice.user_id).available == (60 if sent else 100)
    bob_wallet = find_wallet(discord.economy.id, bob.user_id)
    assert (bob_wallet.available if bob_wallet else 0) == (40 if sent else 0)
    discord.economy.check()


def test_two_referrers_racing_for_one_referred_user_pay_one(discord) -> None:
    # A referral names two users who have wallets (the rewards API's rule).
    for user in ["newbie"] + [f"referrer{i}" for i in range(6)]:
        discord.economy.credit(user, 1)

    def refer(i: int):
        try:
            return rewards.grant(discord.economy.id, f"referrer{i}", "referral", "newbie",
                                 grantor=rewards.Grantor.api_key("key_race"))
        except errors.RewardAlreadyClaimedError:
            return None

    results = _race(6, refer)
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    winner: Dict[str, Any] = winners[0].result
    assert get_wallet(discord.economy.id, winner["user_id"]).available == 1 + 100
    discord.economy.check()
