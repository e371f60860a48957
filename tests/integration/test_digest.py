"""The daily digest: figures from the journal, one record per day, posted once to #coin-transactions."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from chalicelib.operations import digest
from chalicelib.core.ids import utc_now
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.discord_helpers import standin  # noqa: F401  (fixture)
from tests.integration import ops_helpers as oh

# A stopped app clock: the test's "today" and the app's are the same day even across UTC midnight.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]


def test_the_figures_of_a_day(economy) -> None:
    oh.busy(economy)  # credits 800, spend 40 (burnt), buys 100, settles 20 of a hold to bob, holds 30
    reward = economy.api.post("/v1/users/alice/rewards", {"type": "daily"}, key=oh.key())
    assert reward.status == 200, reward.body
    granted = reward.body["amount"]
    spend = economy.api.post("/v1/users/alice/spend", {"amount": 10, "reason": "tip", "creator_id": "carol"},
                             key=oh.key())
    assert spend.status == 200, spend.body
    result = digest.compute(economy.id, utc_now().date())
    f = result["figures"]
    assert (f["bought"], f["purchases"], f["granted"], f["adjusted"]) == (100, 1, granted, 800)
    assert f["spent"] == 40 + 20 + 10  # burnt, the settled part of the hold, the tip
    assert f["burned"] == 40 and f["fees"] == 6 + 3  # the platform's 30% of 20 and of 10
    assert f["held"] == 30 and f["active_users"] == 3  # alice, bob, carol (dave never paid)
    assert sorted(result["top_earners"], key=lambda e: e["user_id"]) == sorted(
        [{"user_id": "alice", "earned": granted}, {"user_id": "bob", "earned": 14},
         {"user_id": "carol", "earned": 7}], key=lambda e: e["user_id"])
    yesterday = digest.compute(economy.id, utc_now().date() - timedelta(days=1))["figures"]
    assert yesterday["operations"] == 0 and yesterday["held"] == 30


def test_a_digest_is_written_once(economy) -> None:
    economy.credit("alice", 5)
    today = utc_now().date()
    first = digest.make_digest(economy.id, today)
    economy.credit("alice", 5)
    again = digest.make_digest(economy.id, today)
    assert again == first and first["figures"]["adjusted"] == 5


def test_the_job_posts_to_coin_transactions_once(economy, standin) -> None:  # noqa: F811
    from chalicelib.runtime import queue
    from chalicelib.discord.guild_setup import link_guild
    from chalicelib.tenancy.guilds import remember
    from scripts.discord_standin import snowflake

    guild_id = snowflake()
    channel = standin.add_guild_channel(guild_id, "coin-transactions")["id"]
    link_guild(guild_id, economy.id)
    remember(guild_id, "channels", "transactions", channel)
    report = oh.run("digest", economy=economy.id)
    assert report["economies"] == [economy.id] and report["discord"] and report["posted"] == 1
    assert queue.drain(20)
    posts = standin.calls("POST", f"channels/{channel}/messages")
    assert len(posts) == 1 and "Daily digest" in json.dumps(posts[0].body)
    again = oh.run("digest", economy=economy.id)
    assert again.get("posted", 0) == 0 and queue.drain(20)
    assert len(standin.calls("POST", f"channels/{channel}/messages")) == 1
    day = (utc_now() - timedelta(days=1)).date()
    assert digest.get_digest(economy.id, day)["posted"] is True


def test_without_a_bot_token_it_only_writes_the_record(economy, monkeypatch) -> None:
    from chalicelib.core import config

    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    config.reset_settings()
    report = oh.run("digest", economy=economy.id)
    assert report["discord"] is False
    assert digest.get_digest(economy.id, (utc_now() - timedelta(days=1)).date()) is not None


def test_a_day_that_has_not_ended_is_refused(economy, capsys) -> None:
    from chalicelib.cli.main import main

    assert main(["jobs", "run", "digest", "--economy", economy.id, "--day", utc_now().date().isoformat()]) == 2
    assert main(["jobs", "run", "digest", "--economy", economy.id, "--day", "yesterday"]) == 2
    assert "has not ended" in capsys.readouterr().err
