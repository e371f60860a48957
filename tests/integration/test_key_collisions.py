"""Ids that contain ":" get their own keys, on DynamoDB Local, end to end.

The two collisions found in issue #11 (a daily shop counter shared by buyer
``x:c``/SKU ``L`` and buyer ``c``/SKU ``L:x``; a course reward of one user
blocking another's), claims recorded before keys were escaped, and Discord
custom ids that carry such ids and are parsed back. Every test ends with the
books checked.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest

from chalicelib.rewards import budget as grant_budget, grants as rewards
from chalicelib.core import keys
from chalicelib import ledger
from chalicelib.tenancy.audit import list_audit
from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec
from chalicelib.ledger.wallets import find_wallet, system_balance
from scripts.discord_standin import snowflake
from tests.clock_helpers import Clock, at, clock  # noqa: F401 (fixture)
from tests.discord_helpers import assert_ephemeral, custom_ids, discord, embed_text, standin  # noqa: F401
from tests.integration.spending_helpers import wallet
from tests.market_helpers import buy, plugin, put_reward  # noqa: F401 (plugin is a fixture)

# A stopped app clock: the day a counter or a daily claim is filed under is the day the
# test reads back, however slow the machine or close to UTC midnight the run.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]


def _counter(key: str) -> Optional[int]:
    item = get_client().get_item(TableName=table_name("market_counters"), Key={"counter": {"S": key}},
                                 ConsistentRead=True).get("Item")
    return int(item["n"]["N"]) if item else None


def _operation(economy_id: str, key: str) -> Optional[Dict[str, Any]]:
    item = get_client().get_item(TableName=table_name("operations"), Key={"op_key": {"S": f"{economy_id}#{key}"}},
                                 ConsistentRead=True).get("Item")
    return codec.decode_item(item) if item else None


def _reward(economy, user: str, type_: str, ref: Optional[str] = None):
    body = {"type": type_, **({"ref": ref} if ref is not None else {})}
    return economy.api.post(f"/v1/users/{user}/rewards", body, token=economy.rewards_token)


def _course(economy, course_id: str, reward: int = 50) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {economy.admin_token}"}
    body = json.dumps({"title": "A course", "reward": reward})
    resp = economy.api.request("PUT", f"/v1/admin/courses/{course_id}", headers=headers, body=body)
    assert resp.status in (200, 201), resp.body


# -- the shop's daily counters --------------------------------------------------------------


def test_buyer_x_c_with_sku_L_and_buyer_c_with_sku_L_x_each_get_their_own_daily_count(economy, plugin,
                                                                                      clock: Clock) -> None:
    clock.set(at("2025-06-01T12:00:00.000Z"))
    put_reward(economy, "L", price=100, fulfilment="voucher", daily_limit=1)
    put_reward(economy, "L:x", price=100, fulfilment="voucher", daily_limit=1)
    economy.credit("x:c", 1000)
    economy.credit("c", 1000)

    first = buy(economy, "x:c", "L")
    assert first.status == 201, first.body
    second = buy(economy, "c", "L:x")  # before: limit_reached, x:c's purchase filled this counter
    assert second.status == 201, second.body

    day = "2025-06-01"
    assert _counter(keys.join("d", economy.id, "L", "x:c", day)) == 1
    assert _counter(keys.join("d", economy.id, "L:x", "c", day)) == 1
    assert _counter(f"d:{economy.id}:L:x:c:{day}") is None  # the spelling both used to share
    # Each limit still holds, for its own buyer and SKU only.
    assert buy(economy, "x:c", "L").code == "limit_reached"
    assert buy(economy, "c", "L:x").code == "limit_reached"
    assert buy(economy, "c", "L").status == 201
    assert wallet(economy, "x:c") == {"available": 900, "held": 100, "earnings": 0}
    assert wallet(economy, "c") == {"available": 800, "held": 200, "earnings": 0}
    economy.check()


# -- rewards ----------------------------------------------------------------------------------


def test_course_rewards_of_two_users_whose_keys_collided_both_pay(economy) -> None:
    _course(economy, "c")
    _course(economy, "b:c")
    one = _reward(economy, "a:b", "course_completion", "c")
    other = _reward(economy, "a", "course_completion", "b:c")  # before: 409 idempotency_key_reused
    assert one.status == 200 and other.status == 200, (one.body, other.body)
    assert not one.body["already_claimed"] and not other.body["already_claimed"]
    assert one.body["transaction_id"] != other.body["transaction_id"]
    assert wallet(economy, "a:b")["available"] == 50 and wallet(economy, "a")["available"] == 50
    again = _reward(economy, "a:b", "course_completion", "c")  # still once per user and course
    assert again.status == 200 and again.body["already_claimed"]
    assert again.body["transaction_id"] == one.body["transaction_id"]
    assert system_balance(economy.id, ledger.system("rewards")) == -100
    assert _operation(economy.id, "course:a%3Ab:c") is not None
    assert _operation(economy.id, "course:a:b%3Ac") is not None
    economy.check()


def _claim_as_before(economy_id: str, user_id: str, course_id: str) -> Any:
    """A course claim as the code made it before keys were escaped: the same post, the hand-joined key."""
    fp = ledger.fingerprint("reward", "course_completion", economy_id, user_id, course_id)
    return rewards._post(economy_id, user_id, "course_completion", f"course:{user_id}:{course_id}", fp, 50,
                         course_id, {}, [], {"reward": "course_completion", "course": course_id},
                         grant_budget.Grantor("test:before"), rewards.get_tunables(economy_id))


def test_a_course_claimed_before_keys_were_escaped_is_replayed_not_paid_again(economy) -> None:
    _course(economy, "intro")
    earlier = _claim_as_before(economy.id, "site:42", "intro")
    again = _reward(economy, "site:42", "course_completion", "intro")
    assert again.status == 200 and again.body["already_claimed"], again.body
    assert again.body["transaction_id"] == earlier.op_id
    assert wallet(economy, "site:42")["available"] == 50
    assert _operation(economy.id, keys.join("course", "site:42", "intro")) is None  # nothing new was posted
    economy.check()


def test_an_old_record_of_the_other_pair_does_not_block_a_claim(economy) -> None:
    _course(economy, "b:c")
    _claim_as_before(economy.id, "a:b", "c")  # spelled course:a:b:c, as (a, b:c) would have been
    other = _reward(economy, "a", "course_completion", "b:c")
    assert other.status == 200 and not other.body["already_claimed"], other.body
    assert wallet(economy, "a")["available"] == 50 and wallet(economy, "a:b")["available"] == 50
    economy.check()


def test_daily_and_quest_keys_escape_the_user_and_a_referral_keeps_its_spelling(economy, clock: Clock) -> None:
    clock.set(at("2025-06-01T12:00:00.000Z"))
    for user in ("site:1", "site:2", "site:3"):
        economy.credit(user, 1)
    assert _reward(economy, "x:c", "daily").status == 200
    assert _operation(economy.id, "daily:x%3Ac:2025-06-01") is not None
    referral = _reward(economy, "site:1", "referral", "site:2")
    assert referral.status == 200, referral.body
    assert _operation(economy.id, "referral:site:2") is not None  # one whole id: as it always was
    assert _reward(economy, "site:3", "referral", "site:2").code == "reward_already_claimed"
    economy.check()


def test_an_unlock_of_plain_ids_keeps_the_key_it_always_had(economy) -> None:
    economy.credit("reader", 100)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {economy.admin_token}"}
    body = '{"title": "Chapter", "price": 10, "creator_id": "author"}'
    for content_id in ("novel-1", "novel:2"):
        put = economy.api.request("PUT", f"/v1/admin/content/{content_id}", headers=headers, body=body)
        assert put.status in (200, 201), put.body
        done = economy.api.post(f"/v1/users/reader/unlocks", {"content_id": content_id})
        assert done.status == 201, done.body
    assert _operation(economy.id, "unlock:reader/novel-1") is not None
    assert _operation(economy.id, "unlock:reader/novel%3A2") is not None
    assert wallet(economy, "reader")["available"] == 80
    economy.check()


# -- Discord custom ids that carry ids ----------------------------------------------------------


def test_an_admin_form_for_a_target_with_a_colon_credits_that_target_once(discord) -> None:
    from chalicelib.discord.operators import form_id

    boss, command_id = discord.admin(), snowflake()
    custom_id = form_id("adjust", command_id, "site:42", 250)
    assert custom_id == f"admin:adjust:{command_id}:site%3A42:250"
    done = boss.submit(custom_id, {"reason": "host-app prize"})
    assert_ephemeral(done)
    assert "+250 coins" in embed_text(done)
    boss.submit(custom_id, {"reason": "host-app prize"})  # the same form twice credits once
    assert find_wallet(discord.economy.id, "site:42").available == 250
    assert find_wallet(discord.economy.id, "site") is None and find_wallet(discord.economy.id, "42") is None
    rows = list_audit(discord.economy.id, target="user:site:42")
    assert len(rows) == 1 and rows[0]["actor"] == f"discord:{boss.user_id}"

    freeze = boss.submit(form_id("freeze", snowflake(), "site:42"), {"reason": "review"})
    assert_ephemeral(freeze)
    assert find_wallet(discord.economy.id, "site:42").frozen
    discord.economy.check()


def test_an_admin_form_id_we_never_made_changes_nothing(discord) -> None:
    boss = discord.admin()
    for junk in ("admin:adjust:1:site%3:250", "admin:adjust:1:site:42:250", "admin:freeze:1:2:3"):
        resp = boss.submit(junk, {"reason": "junk"})
        assert_ephemeral(resp)
        assert "Unknown admin form" in embed_text(resp)
    assert find_wallet(discord.economy.id, "site:42") is None and find_wallet(discord.economy.id, "site") is None
    discord.economy.check()


def test_a_sku_with_a_colon_round_trips_through_confirm_and_the_sell_form(discord, plugin, standin) -> None:
    economy = discord.economy
    put_reward(economy, "rank:vip", price=300, name="VIP rank", category="rank", fulfilment="voucher")
    put_reward(economy, "rank", price=5, name="Decoy", category="rank", fulfilment="voucher")
    steve = discord.player()
    economy.credit(steve.user_id, 1000)

    view = steve.choose("m:sku", "rank:vip")
    assert_ephemeral(view)
    confirm = next(c for c in custom_ids(view) if c.startswith("m:ok:"))
    assert confirm == f"m:ok:{steve.last_id}:300:rank%3Avip"
    receipt = steve.click(confirm)
    assert_ephemeral(receipt)
    assert "VIP rank x1" in embed_text(receipt)
    assert "Already bought" in embed_text(steve.click(confirm))
    assert wallet(economy, steve.user_id) == {"available": 700, "held": 300, "earnings": 0}

    form = steve.choose("m:sellsku", "rank:vip")
    assert form.body["data"]["custom_id"] == "m:sell:rank%3Avip"
    listed = steve.submit("m:sell:rank%3Avip", {"price": "350", "qty": "1", "hours": "2", "min": "", "max": ""})
    assert_ephemeral(listed)
    listing_id = listed.body["data"]["embeds"][0]["footer"]["text"].split()[-1]
    assert economy.api.get(f"/v1/listings/{listing_id}").body["sku"] == "rank:vip"
    economy.check()
