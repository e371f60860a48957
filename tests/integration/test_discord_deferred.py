"""Deferred flows end to end: the endpoint answers "thinking...", the local worker
does the work against a real local HTTP server standing in for Discord, and
edits the original message. Also the hub repair, the leaderboard job and the
#coin-transactions log.
"""
from __future__ import annotations

import re
from typing import Any, Dict

import pytest

from chalicelib.runtime import queue
from chalicelib.discord import hub
from chalicelib.discord.worker import handle_followup
from chalicelib.tenancy.guilds import find_guild
from chalicelib.runtime.jobs import run_job
from scripts.discord_standin import DiscordStandIn, snowflake
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.discord_helpers import MANAGE_GUILD, DiscordWorld, discord, embed_text, standin  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
def world(discord: DiscordWorld, standin: DiscordStandIn) -> DiscordWorld:
    discord.application_id = standin.application_id  # the bot that authors the hub messages
    return discord


def deferred_then_edited(standin: DiscordStandIn, player: Any, resp: Any) -> Dict[str, Any]:
    assert resp.status == 200, resp.body
    assert resp.body == {"type": 5, "data": {"flags": 64}}  # "thinking...", only to the clicker
    assert queue.drain(30)
    edited = standin.originals.get((player.application_id, player.last_token))
    assert edited is not None, [c.path for c in standin.requests]
    return edited


def text(message: Dict[str, Any]) -> str:
    return embed_text(type("R", (), {"body": {"data": message}})())


def setup(world: DiscordWorld, standin: DiscordStandIn, player: Any = None) -> Dict[str, Any]:
    player = player or world.admin()
    return deferred_then_edited(standin, player, player.command("coins-setup"))


def test_setup_creates_the_channels_and_pins_the_hub_then_edits_the_reply(world, standin) -> None:
    edited = setup(world, standin)
    assert edited["flags"] == 64 and "Coin hub ready" in text(edited)
    names = sorted(c["name"] for c in standin.guild_channels(world.guild_id))
    assert names == ["coin-hub", "coin-transactions", "leaderboard", "shop"]
    overwrites = {c["name"]: {o["id"]: o for o in c["permission_overwrites"]}
                  for c in standin.guild_channels(world.guild_id)}
    everyone = world.guild_id  # the @everyone role has the guild's id
    view, send = str(1 << 10), 1 << 11
    assert int(overwrites["leaderboard"][everyone]["deny"]) & send
    assert int(overwrites["shop"][everyone]["deny"]) & send
    assert overwrites["coin-transactions"][everyone]["deny"] == view  # admins only
    assert overwrites["coin-hub"][everyone]["deny"] == "0"  # public
    assert world.application_id in overwrites["coin-transactions"]  # the bot itself may post there
    hub_channel = standin.channel_named(world.guild_id, "coin-hub")["id"]
    (hub_message,) = standin.messages[hub_channel].values()
    assert hub_message["pinned"]
    labels = [c["label"] for row in hub_message["components"] for c in row["components"]]
    # the six of this issue come first; other features may add theirs after them
    assert labels[:6] == ["My Card", "Buy Coins", "Quests", "Claim Daily", "Leaderboard", "Help"]
    guild = find_guild(world.guild_id)
    assert set(guild.channels) == {"hub", "leaderboard", "shop", "transactions"}
    assert set(guild.messages) == {"hub", "leaderboard", "shop"}


def test_setup_again_duplicates_nothing_and_follows_the_role_map(world, standin) -> None:
    from chalicelib.tenancy.guilds import set_role

    setup(world, standin)
    auditors = snowflake()
    set_role(world.guild_id, auditors, "AUDITOR", "test")
    posts_before = len(standin.calls("POST"))
    edited = setup(world, standin)
    assert len(standin.calls("POST")) == posts_before  # no channel, no message created
    assert "Created: -" in text(edited)
    assert len(standin.guild_channels(world.guild_id)) == 4
    readers = standin.channel_named(world.guild_id, "coin-transactions")["permission_overwrites"]
    assert auditors in {o["id"] for o in readers}


def test_setup_repairs_what_was_deleted(world, standin) -> None:
    setup(world, standin)
    shop = standin.channel_named(world.guild_id, "shop")["id"]
    standin.delete_channel(shop)
    hub_channel = standin.channel_named(world.guild_id, "coin-hub")["id"]
    standin.messages[hub_channel].clear()
    edited = setup(world, standin)
    assert "Created: #shop, hub message, shop message" in text(edited)
    assert sorted(c["name"] for c in standin.guild_channels(world.guild_id)) == [
        "coin-hub", "coin-transactions", "leaderboard", "shop"]
    (hub_message,) = standin.messages[hub_channel].values()
    assert hub_message["pinned"]


def test_setup_adopts_what_a_half_finished_run_left_behind(world, standin) -> None:
    standin.add_guild_channel(world.guild_id, "coin-hub")  # created, but the run died before remembering it
    edited = setup(world, standin)
    assert "Adopted: #coin-hub" in text(edited)
    assert [c["name"] for c in standin.guild_channels(world.guild_id)].count("coin-hub") == 1


def test_manage_server_may_run_setup(world, standin) -> None:
    edited = setup(world, standin, world.player(permissions=MANAGE_GUILD))
    assert "Coin hub ready" in text(edited)


def test_setup_failure_is_reported_in_the_reply(world, standin) -> None:
    standin.queue("GET", "/channels$", 403, {"message": "Missing Permissions", "code": 50013})
    edited = setup(world, standin)
    assert "refused" in text(edited) and edited["flags"] == 64


def test_buy_coins_choice_is_deferred_and_the_worker_edits_in_the_checkout_link(world, standin) -> None:
    from chalicelib.db.models.purchases import PurchaseModel

    alice = world.player()
    edited = deferred_then_edited(standin, alice, alice.choose("buy:pack", "coins_500"))
    assert edited["flags"] == 64 and "Checkout ready" in text(edited) and "500 coins +10%" in text(edited)
    link = edited["components"][0]["components"][0]
    assert link["style"] == 5 and "/local/checkout/pur_" in link["url"]  # the local payment page
    purchase_id = link["url"].rsplit("/", 1)[1]
    purchase = PurchaseModel.get(purchase_id)
    assert (purchase.user_id, purchase.pack_id, purchase.status) == (alice.user_id, "coins_500", "pending")
    world.economy.check()


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # a ULID's alphabet (no I, L, O, U)


def ulid_text(value: int) -> str:
    return "".join(CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def test_a_discord_purchase_id_has_the_form_of_an_api_one(world, standin) -> None:
    import hashlib
    import time

    alice = world.player()
    edited = deferred_then_edited(standin, alice, alice.choose("buy:pack", "coins_100"))
    from_discord = edited["components"][0]["components"][0]["url"].rsplit("/", 1)[1]
    api = world.economy.api
    unkeyed = api.post("/v1/checkout", {"user_id": alice.user_id, "pack_id": "coins_100"})
    keyed = api.post("/v1/checkout", {"user_id": alice.user_id, "pack_id": "coins_100"}, key="form-check")
    assert unkeyed.status == keyed.status == 201, (unkeyed.body, keyed.body)
    # An API id without a key is a ULID: 48 bits of milliseconds, then 80 random ones.
    plain = unkeyed.body["purchase_id"]
    assert re.fullmatch(r"pur_[0-7][0-9A-HJKMNP-TV-Z]{25}", plain)
    millis = sum(CROCKFORD.index(c) << (5 * i) for i, c in enumerate(reversed(plain[4:14])))
    assert abs(millis / 1000 - time.time()) < 300
    # A keyed one (Discord's interaction, or an Idempotency-Key) is the same 26 characters: the first 128
    # bits of SHA-256("<economy>|<namespace>:<key>") in place of time and randomness.
    for purchase_id, key in ((from_discord, f"discord:{alice.last_id}"), (keyed.body["purchase_id"], "api:form-check")):
        bits = int.from_bytes(hashlib.sha256(f"{world.economy.id}|{key}".encode()).digest()[:16], "big")
        assert purchase_id == "pur_" + ulid_text(bits), key


def test_a_redelivered_followup_does_nothing_twice(world, standin) -> None:
    from chalicelib.db.models.purchases import PurchaseModel
    from chalicelib.ledger.wallets import find_wallet

    def purchases() -> list:
        found = [PurchaseModel.get(p.purchase_id) for p in PurchaseModel.by_economy.query(world.economy.id)]
        return [(p.purchase_id, p.user_id, p.pack_id, p.status) for p in found]

    alice = world.player()
    resp = alice.choose("buy:pack", "coins_100")
    edited = deferred_then_edited(standin, alice, resp)
    purchase_id = edited["components"][0]["components"][0]["url"].rsplit("/", 1)[1]
    once = [(purchase_id, alice.user_id, "coins_100", "pending")]
    assert purchases() == once
    edits = len(standin.calls("PATCH", "@original"))
    payload = {"interaction_id": alice.last_id, "application_id": alice.application_id, "token": alice.last_token,
               "guild_id": world.guild_id, "economy": world.economy.id, "user_id": alice.user_id,
               "kind": "checkout", "args": {"pack_id": "coins_100"}}
    handle_followup(payload, alice.last_id)  # SQS delivers at least once
    assert len(standin.calls("PATCH", "@original")) == edits
    # and Discord delivering the same interaction twice queues it once
    resend = alice.payload(3, {"custom_id": "buy:pack", "component_type": 3, "values": ["coins_100"]})
    resend["id"], resend["token"] = payload["interaction_id"], payload["token"]
    assert alice.send(resend).body == {"type": 5, "data": {"flags": 64}}
    assert queue.drain(30)
    assert len(standin.calls("PATCH", "@original")) == edits
    # Still the one pending purchase, and no coins moved: alice has never held any, so she has no wallet.
    assert purchases() == once
    assert find_wallet(world.economy.id, alice.user_id) is None
    world.economy.check()


def test_a_followup_whose_token_expired_is_dropped(world, standin) -> None:
    old_id = str(((1_600_000_000_000 - 1420070400000) << 22) | 1)  # made in 2020
    handle_followup({"interaction_id": old_id, "application_id": "1", "token": "t", "guild_id": world.guild_id,
                     "economy": world.economy.id, "user_id": "1", "kind": "checkout",
                     "args": {"pack_id": "coins_100"}}, old_id)
    assert not standin.calls("PATCH")


def test_a_failing_edit_is_retried_until_discord_takes_it(world, standin) -> None:
    standin.queue("PATCH", "@original", 500, None)
    standin.queue("PATCH", "@original", 429, {"retry_after": 0.05, "global": False})
    alice = world.player()
    edited = deferred_then_edited(standin, alice, alice.choose("buy:pack", "coins_100"))
    assert "Checkout ready" in text(edited)
    assert len(standin.calls("PATCH", "@original")) == 3


def test_an_unknown_pack_is_explained_in_the_edited_reply(world, standin) -> None:
    alice = world.player()
    edited = deferred_then_edited(standin, alice, alice.choose("buy:pack", "coins_nope"))
    assert "No such coin pack" in text(edited)


def test_a_failed_leaderboard_refresh_says_why_in_the_job_report(world, standin, monkeypatch) -> None:
    from chalicelib.operations import leaderboard

    setup(world, standin)

    def broken(economy: str) -> Any:
        raise RuntimeError(f"snapshot of {economy} could not be read")

    monkeypatch.setattr(leaderboard, "compute", broken)
    report = run_job("leaderboard", economy=world.economy.id, now="9999-01-01T00:00:00.000Z")
    assert report["status"] == "ok" and report["failed"] == 1  # the run went on; this guild failed
    assert report["failures"] == [{"item": world.guild_id,
                                   "reason": f"RuntimeError: snapshot of {world.economy.id} could not be read"}]


def test_leaderboard_job_refreshes_the_channel_message(world, standin) -> None:
    setup(world, standin)
    players = [world.player() for _ in range(3)]
    for i, p in enumerate(players):
        world.economy.credit(p.user_id, 10 * (i + 1))
    channel = find_guild(world.guild_id).channels["leaderboard"]
    message_id = find_guild(world.guild_id).messages["leaderboard"]
    report = run_job("leaderboard", economy=world.economy.id, now="9999-01-01T00:00:00.000Z")
    assert report["processed"] == 1 and not report.get("failed")
    assert queue.drain(30)  # the job queues leaderboard.updated; the Discord adapter edits the message
    board = standin.messages[channel][message_id]["embeds"][0]["description"]
    assert board.splitlines()[0] == f"1. <@{players[2].user_id}> - 30 coins"
    # claimed for the next 15 minutes: an overlapping run finds nothing due
    assert run_job("leaderboard", economy=world.economy.id)["processed"] == 0
    # a deleted message is posted again and remembered
    standin.messages[channel].clear()
    run_job("leaderboard", economy=world.economy.id, now="9999-01-01T00:00:00.000Z")
    assert queue.drain(30)
    (new_id,) = standin.messages[channel]
    assert find_guild(world.guild_id).messages["leaderboard"] == new_id
    world.economy.check()


def test_coin_movements_are_logged_to_the_transactions_channel_once(world, standin) -> None:
    setup(world, standin)
    alice = world.player()
    alice.command("daily")
    assert queue.drain(30)
    channel = find_guild(world.guild_id).channels["transactions"]
    lines = [m["content"] for m in standin.messages[channel].values()]
    assert lines == [f"`+10` daily reward to <@{alice.user_id}> (streak 1)"]
    hub.post_log_line({"channel_id": channel, "content": "again"}, "log:replayed")
    hub.post_log_line({"channel_id": channel, "content": "again"}, "log:replayed")  # redelivered
    assert len(standin.messages[channel]) == 2
    world.economy.check()


def test_a_line_whose_worker_died_holding_its_claim_is_posted_by_a_later_delivery(world, standin, clock) -> None:
    """Before the lease, a worker dying between claiming a line and posting it lost the line for good."""
    from chalicelib.db import ops
    from chalicelib.discord import store

    setup(world, standin)
    channel = find_guild(world.guild_id).channels["transactions"]
    before = len(standin.messages[channel])
    assert store.claim_post("log:orphaned") == ops.TAKEN  # ... and the worker died right here
    with pytest.raises(queue.MessageFailedError):  # delivered again while that lease may still be alive
        hub.post_log_line({"channel_id": channel, "content": "orphaned"}, "log:orphaned")
    assert len(standin.messages[channel]) == before
    clock.advance(ops.LEASE_SECONDS + 1)  # SQS brings a dead worker's message back after 180 s
    hub.post_log_line({"channel_id": channel, "content": "orphaned"}, "log:orphaned")
    hub.post_log_line({"channel_id": channel, "content": "orphaned"}, "log:orphaned")  # and once more: done
    assert [m["content"] for m in standin.messages[channel].values()][before:] == ["orphaned"]
    assert store.claim_post("log:orphaned") == ops.DONE


def test_a_line_posted_by_a_worker_that_died_before_marking_it_is_not_posted_twice(world, standin, clock,
                                                                                    monkeypatch) -> None:
    """The redelivery posts again with the same nonce, and Discord answers the message it already made."""
    from chalicelib.db import ops
    from chalicelib.discord import store

    setup(world, standin)
    channel = find_guild(world.guild_id).channels["transactions"]
    before = len(standin.messages[channel])

    class Died(BaseException):
        pass

    finish, dead = store.finish_post, []

    def dies_first(dedupe_id: str) -> None:
        if not dead:
            dead.append(dedupe_id)
            raise Died()
        finish(dedupe_id)

    monkeypatch.setattr(store, "finish_post", dies_first)
    with pytest.raises(Died):
        hub.post_log_line({"channel_id": channel, "content": "posted once"}, "log:unmarked")
    clock.advance(ops.LEASE_SECONDS + 1)
    hub.post_log_line({"channel_id": channel, "content": "posted once"}, "log:unmarked")
    posts = [r for r in standin.requests if r.path.endswith(f"/channels/{channel}/messages") and r.method == "POST"]
    assert len(posts[-2:]) == 2 and posts[-1].body["nonce"] == posts[-2].body["nonce"]
    assert posts[-1].body["enforce_nonce"] is True and len(posts[-1].body["nonce"]) <= 25
    assert [m["content"] for m in standin.messages[channel].values()][before:] == ["posted once"]
    assert store.claim_post("log:unmarked") == ops.DONE


def test_discord_send_cli_prints_what_the_player_sees(world, monkeypatch, capsys, tmp_path) -> None:
    # The dev tool lives in scripts/ (it imports app and the stand-in); the CLI's "discord send" starts it.
    from chalicelib.discord import devkey
    from scripts.discord_send import main

    monkeypatch.setattr(devkey, "KEY_FILE", tmp_path / "dev-key.json")
    assert main(["/daily", "--user", "alice", "--guild", world.guild_id]) == 0
    out = capsys.readouterr().out
    assert "(only you can see this)" in out and "Daily reward claimed" in out
    assert main(["--select", "buy:pack", "--value", "coins_100", "--user", "alice",
                 "--guild", world.guild_id]) == 0
    out = capsys.readouterr().out
    assert "[deferred (thinking...)]" in out and "Checkout ready" in out and "[Pay now](http" in out
    assert main(["/give user:bob amount:3", "--user", "alice", "--guild", world.guild_id]) == 0
    assert "Send 3 coins" in capsys.readouterr().out
    world.economy.check()


def test_the_cli_hands_discord_send_to_the_dev_tool_in_the_checkout(monkeypatch) -> None:
    import subprocess
    import sys

    from chalicelib.cli import discord as cli_discord
    from chalicelib.cli.main import main

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda argv, cwd: calls.append((argv, cwd)) or 0)
    assert main(["discord", "send", "/daily", "--user", "alice", "--guild", "demo"]) == 0
    assert calls == [([sys.executable, "-m", "scripts.discord_send", "/daily", "--user", "alice", "--guild", "demo"],
                      str(cli_discord.CHECKOUT))]
