"""The Discord REST client against a real local HTTP server standing in for Discord."""
from __future__ import annotations

import logging
import time
from typing import List

import pytest

from chalicelib.core import errors
from chalicelib.discord import commands
from chalicelib.discord.rest import DiscordRest, get_rest, is_not_found
from scripts.discord_standin import DiscordStandIn, snowflake
from tests.discord_helpers import standin  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

CHANNEL = "channels/{}/messages"


class _Clock:
    """Stands in for the `time` module inside the REST client: a monotonic clock that moves only when the
    client sleeps, so a test asserts the exact wait the client chose instead of timing the machine."""

    def __init__(self) -> None:
        self.now = time.monotonic()  # any wait a cached client learned earlier is already in the past
        self.sleeps: List[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr("chalicelib.discord.rest.time", fake)
    return fake


@pytest.fixture
def channel(standin: DiscordStandIn) -> str:
    return standin.add_guild_channel(snowflake(), "general")["id"]


def test_bot_token_is_sent_as_bot_authorization(standin, channel) -> None:
    message = get_rest().post(CHANNEL.format(channel), {"content": "hi"})
    assert message["content"] == "hi"
    call = standin.calls("POST", "/messages$")[0]
    assert call.headers["Authorization"] == f"Bot {standin.bot_token}"
    assert call.headers["User-Agent"].startswith("DiscordBot (")


def test_interaction_webhooks_go_without_the_bot_token(standin) -> None:
    get_rest().patch(f"webhooks/{snowflake()}/tok123/messages/@original", {"content": "done"}, auth=False)
    assert "Authorization" not in standin.calls("PATCH", "webhooks")[0].headers


def test_429_with_retry_after_in_the_body_waits_then_succeeds(standin, channel, clock) -> None:
    standin.queue("POST", "/messages$", 429, {"message": "You are being rate limited.", "retry_after": 0.3,
                                             "global": False}, {"Retry-After": "1"})
    message = get_rest().post(CHANNEL.format(channel), {"content": "patience"})
    assert clock.sleeps == [0.3]  # the body's precise value, not the header's rounded one
    assert message["content"] == "patience"
    assert len(standin.calls("POST", "/messages$")) == 2


def test_429_with_only_a_retry_after_header_is_honoured(standin, channel, clock) -> None:
    standin.queue("GET", "/messages", 429, None, {"Retry-After": "0.2"})
    assert get_rest().get(CHANNEL.format(channel)) == []
    assert clock.sleeps == [0.2]


def test_a_global_429_holds_back_other_routes_too(standin, channel, clock) -> None:
    rest = DiscordRest(standin.api_base, standin.bot_token, max_attempts=1)  # give up at once on route A
    standin.queue("GET", "/messages", 429, {"retry_after": 0.4, "global": True})
    with pytest.raises(errors.DiscordApiError):
        rest.get(CHANNEL.format(channel))
    assert clock.sleeps == []
    rest.get(f"guilds/{snowflake()}/channels")  # route B waits out the global limit before calling
    assert clock.sleeps == [pytest.approx(0.4)]
    rest.get(f"guilds/{snowflake()}/channels")  # the limit is over: no more waiting
    assert len(clock.sleeps) == 1


def test_500_then_success_is_retried_with_backoff(standin, channel) -> None:
    standin.queue("POST", "/messages$", 500, {"message": "oops"})
    standin.queue("POST", "/messages$", 502, None)
    message = get_rest().post(CHANNEL.format(channel), {"content": "third time"})
    assert message["content"] == "third time"
    assert len(standin.calls("POST", "/messages$")) == 3


def test_5xx_that_never_ends_gives_up_with_a_clear_error(standin, channel) -> None:
    rest = DiscordRest(standin.api_base, standin.bot_token, max_attempts=3, backoff=0.01)
    for _ in range(3):
        standin.queue("GET", "/messages", 503, None)
    with pytest.raises(errors.DiscordApiError) as caught:
        rest.get(CHANNEL.format(channel))
    assert caught.value.details["discord_status"] == 503 and caught.value.code == "discord_api_error"
    assert len(standin.calls("GET", "/messages")) == 3


def test_a_rate_limit_longer_than_we_may_wait_is_an_error_not_a_hang(standin, channel, clock) -> None:
    rest = DiscordRest(standin.api_base, standin.bot_token, max_wait=1.0)
    standin.queue("GET", "/messages", 429, {"retry_after": 60, "global": False})
    with pytest.raises(errors.DiscordApiError) as caught:
        rest.get(CHANNEL.format(channel))
    assert clock.sleeps == [] and caught.value.details["discord_status"] == 429
    assert caught.value.details["retry_after"] == 60


def test_an_exhausted_bucket_waits_for_its_reset_before_the_next_call(standin, channel, clock) -> None:
    rest = DiscordRest(standin.api_base, standin.bot_token)
    standin.queue("POST", "/messages$", 200, {"id": "1", "content": "last"},
                  {"X-RateLimit-Bucket": "abc", "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                   "X-RateLimit-Reset-After": "0.4"})
    rest.post(CHANNEL.format(channel), {"content": "last"})
    assert clock.sleeps == []
    rest.post(CHANNEL.format(channel), {"content": "next"})
    assert clock.sleeps == [pytest.approx(0.4)]
    assert len(standin.calls("POST", "/messages$")) == 2  # waited instead of spending a 429


def test_4xx_is_not_retried_and_404_is_recognisable(standin) -> None:
    with pytest.raises(errors.DiscordApiError) as caught:
        get_rest().get(f"channels/{snowflake()}/messages/{snowflake()}")
    assert is_not_found(caught.value)
    assert len(standin.calls("GET")) == 1


def test_the_token_never_reaches_the_logs(standin, channel, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    standin.queue("POST", "/messages$", 500, None)
    standin.queue("PATCH", "webhooks", 429, {"retry_after": 0.01})
    rest = get_rest()
    rest.post(CHANNEL.format(channel), {"content": "x"})
    rest.patch(f"webhooks/{snowflake()}/interaction-secret-token/messages/@original", {"content": "y"}, auth=False)
    with pytest.raises(errors.DiscordApiError) as caught:
        DiscordRest("http://127.0.0.1:9", standin.bot_token, max_attempts=1).get("users/@me")
    logged = caplog.text + repr(rest) + str(caught.value.details)
    assert standin.bot_token not in logged and "interaction-secret-token" not in logged
    assert "{token}" in caplog.text  # the route was logged, with the token replaced


def test_register_bulk_overwrites_global_and_guild_commands(standin) -> None:
    stored = commands.register()
    assert [c["name"] for c in stored] == [c["name"] for c in commands.COMMANDS]
    guild = snowflake()
    commands.register(guild_id=guild)
    puts = standin.calls("PUT", "commands$")
    assert [p.path for p in puts] == [f"/applications/{standin.application_id}/commands",
                                      f"/applications/{standin.application_id}/guilds/{guild}/commands"]
    assert puts[0].body == commands.COMMANDS
    commands.register(guild_id=guild)  # again: overwritten, not duplicated
    assert len(standin.commands[guild]) == len(commands.COMMANDS)


def test_register_through_the_cli(standin, capsys) -> None:
    from chalicelib.cli.main import main

    assert main(["discord", "register", "--guild", "123456789012345678"]) == 0
    assert '"scope": "123456789012345678"' in capsys.readouterr().out


# --- the stand-in's script (what the simulation draws per call) ----------------------------


def test_a_scripted_failure_is_met_once_and_never_applied(standin, channel, clock) -> None:
    rest = DiscordRest(standin.api_base, standin.bot_token, timeout=0.2, backoff=0.01)
    standin.then(500, "reset", "hang", "429:0.4")
    message = rest.post(CHANNEL.format(channel), {"content": "once"})
    assert message["content"] == "once"
    assert dict(standin.faulted) == {"500": 1, "reset": 1, "hang": 1, "429": 1}
    assert 0.4 in clock.sleeps  # the scripted retry_after was honoured
    assert [m["content"] for m in standin.messages[channel].values()] == ["once"]  # four failures, one post
    assert len(standin.calls("POST", "/messages$")) == 1  # only the call that was answered reached Discord


def test_a_script_header_picks_the_behaviour_of_its_own_call(standin, channel) -> None:
    import requests

    from scripts.discord_standin import SCRIPT_HEADER

    url = f"{standin.api_base}/{CHANNEL.format(channel)}"
    auth = {"Authorization": f"Bot {standin.bot_token}"}
    standin.then(503)  # the header wins over the list, which is left for calls without one
    refused = requests.post(url, json={"content": "x"}, headers={**auth, SCRIPT_HEADER: "429:120"}, timeout=5)
    assert refused.status_code == 429 and refused.json()["retry_after"] == 120.0
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json={"content": "x"}, headers={**auth, SCRIPT_HEADER: "reset"}, timeout=5)
    assert requests.get(url, headers=auth, timeout=5).status_code == 503
    assert requests.post(url, json={"content": "y"}, headers={**auth, SCRIPT_HEADER: "ok"}, timeout=5).ok
    assert [m["content"] for m in standin.messages[channel].values()] == ["y"]
