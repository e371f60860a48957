"""``/coins-admin lookup|history|note`` through the real, signed Discord endpoint (issue #16 "Operators").

AUDITORs read (lookup, history), SUPPORT and up also write notes; anyone else is
refused with the ephemeral "not allowed" and nothing is stored. What Discord
shows is what the admin API answers (the same ``operations.users`` functions).
"""
from __future__ import annotations

from typing import Any, Dict, List

import pytest

from chalicelib.core import keys
from chalicelib.discord import store as discord_store
from chalicelib.operations import users
from chalicelib.tenancy.audit import list_audit
from chalicelib.tenancy.guilds import set_role
from scripts.discord_standin import snowflake
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.discord_helpers import assert_ephemeral, components, custom_ids, discord, embed_text  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("clock")]


def _mapped(world: Any, app_role: str) -> Any:
    role = snowflake()
    set_role(world.guild_id, role, app_role, "test")
    return world.player(roles=[role])


def _notes(world: Any, user_id: str) -> List[Dict[str, Any]]:
    return users.list_notes(world.economy.id, user_id, 100, None)["items"]


def _note_audits(world: Any, user_id: str) -> List[Dict[str, Any]]:
    return [r for r in list_audit(world.economy.id, target=f"user:{user_id}") if r["action"] == "users.note"]


def _buttons(resp: Any) -> Dict[str, Dict[str, Any]]:
    return {c["label"]: c for c in components(resp)}


# --- lookup ---------------------------------------------------------------------------


def test_an_auditor_looks_a_member_up_and_sees_what_the_admin_api_shows(discord) -> None:
    auditor, target = _mapped(discord, "AUDITOR"), discord.player()
    discord.economy.credit(target.user_id, 120)
    users.add_note(discord.economy.id, target.user_id, "asked about a refund", "key:test")
    resp = auditor.command("coins-admin", {"user": target.user_id}, sub="lookup", users=[{"id": target.user_id}])
    assert_ephemeral(resp)
    text = embed_text(resp)
    api = discord.economy.api.get(f"/v1/admin/users/{target.user_id}").body
    assert f"Available: {api['wallet']['available']} coins" in text and "Held: 0 coins" in text
    assert "Debt: 0 coins" in text and "Flags: not frozen" in text
    assert "Notes (1)" in text and "asked about a refund" in text
    assert "Last activity: <t:" in text and f"<@{target.user_id}>" in text


def test_lookup_shows_a_freeze_with_its_reasons_and_the_latest_notes_of_many(discord) -> None:
    from chalicelib.operations import admin

    support, target = _mapped(discord, "SUPPORT"), discord.player()
    discord.economy.credit(target.user_id, 5)
    admin.freeze(discord.economy.id, target.user_id, "chargeback", "key:test")
    for n in range(5):
        users.add_note(discord.economy.id, target.user_id, f"note number {n}", f"discord:{support.user_id}")
    text = embed_text(support.command("coins-admin", {"user": target.user_id}, sub="lookup"))
    assert "Flags: frozen (operator)" in text
    assert "Notes (5)" in text and "note number 4" in text and "note number 2" in text
    assert "note number 1" not in text  # the latest three only
    assert f"<@{support.user_id}>" in text


def test_lookup_of_a_member_without_a_wallet_says_so(discord) -> None:
    resp = _mapped(discord, "AUDITOR").command("coins-admin", {"user": snowflake()}, sub="lookup")
    assert_ephemeral(resp)
    assert "no wallet" in embed_text(resp)


# --- who may -----------------------------------------------------------------------------


def test_a_member_without_a_mapped_role_may_not_look_up_page_or_note_and_nothing_is_stored(discord) -> None:
    member, target = discord.player(), discord.player()
    discord.economy.credit(target.user_id, 10)
    before = list_audit(discord.economy.id, target=f"user:{target.user_id}")
    lookup = member.command("coins-admin", {"user": target.user_id}, sub="lookup")
    history = member.command("coins-admin", {"user": target.user_id}, sub="history")
    history_id = member.last_id
    note = member.command("coins-admin", {"user": target.user_id}, sub="note")
    submit = member.submit(keys.join("admin", "note", snowflake(), target.user_id), {"note": "sneaky"})
    for resp in (lookup, history, note, submit):
        assert_ephemeral(resp)
        assert "not allowed" in embed_text(resp)
    assert discord_store.find_history(history_id) is None
    assert _notes(discord, target.user_id) == []
    assert list_audit(discord.economy.id, target=f"user:{target.user_id}") == before


def test_an_auditor_may_read_but_not_add_a_note(discord) -> None:
    auditor, support, target = _mapped(discord, "AUDITOR"), _mapped(discord, "SUPPORT"), discord.player()
    discord.economy.credit(target.user_id, 10)
    assert "not allowed" in embed_text(auditor.command("coins-admin", {"user": target.user_id}, sub="note"))
    # nor by submitting a form opened by someone who may
    form = support.command("coins-admin", {"user": target.user_id}, sub="note").body["data"]["custom_id"]
    refused = auditor.submit(form, {"note": "not mine to write"})
    assert "not allowed" in embed_text(refused)
    assert _notes(discord, target.user_id) == [] and _note_audits(discord, target.user_id) == []


# --- note ---------------------------------------------------------------------------------


def test_support_adds_a_note_once_through_the_modal_and_it_is_audited_with_role_and_text(discord) -> None:
    support, target = _mapped(discord, "SUPPORT"), discord.player()
    discord.economy.credit(target.user_id, 10)
    modal = support.command("coins-admin", {"user": target.user_id}, sub="note", users=[{"id": target.user_id}])
    assert modal.status == 200 and modal.body["type"] == 9
    form = modal.body["data"]["custom_id"]
    assert [r["components"][0]["custom_id"] for r in modal.body["data"]["components"]] == ["note"]
    done = support.submit(form, {"note": "  called in: lost their phone  "})
    assert_ephemeral(done)
    assert "Note added" in embed_text(done) and "lost their phone" in embed_text(done)
    again = support.submit(form, {"note": "called in: lost their phone"})  # Discord resubmitted the modal
    assert_ephemeral(again)
    assert "Note added" in embed_text(again)
    notes = _notes(discord, target.user_id)
    assert len(notes) == 1
    assert notes[0]["text"] == "called in: lost their phone" and notes[0]["actor"] == f"discord:{support.user_id}"
    assert notes[0]["role"] == "SUPPORT"
    rows = _note_audits(discord, target.user_id)
    assert len(rows) == 1
    assert rows[0]["actor"] == f"discord:{support.user_id}" and rows[0]["role"] == "SUPPORT"
    assert rows[0]["reason"] == "called in: lost their phone"
    assert rows[0]["after"] == {"note_id": notes[0]["note_id"], "text": "called in: lost their phone"}
    # the admin API lists the same note
    api = discord.economy.api.get(f"/v1/admin/users/{target.user_id}/notes").body
    assert [n["note_id"] for n in api["items"]] == [notes[0]["note_id"]]


def test_two_note_commands_make_two_notes_newest_first(discord) -> None:
    admin, target = discord.admin(), discord.player()
    discord.economy.credit(target.user_id, 10)
    for text in ("first", "second"):
        form = admin.command("coins-admin", {"user": target.user_id}, sub="note").body["data"]["custom_id"]
        admin.submit(form, {"note": text})
    assert [n["text"] for n in _notes(discord, target.user_id)] == ["second", "first"]
    assert [r["role"] for r in _note_audits(discord, target.user_id)] == ["SUPERADMIN", "SUPERADMIN"]


@pytest.mark.parametrize("case", ["bot", "missing_user", "no_wallet", "empty_note", "blank_note",
                                  "tampered_target", "tampered_command", "extra_part"])
def test_bad_note_input_is_a_clear_ephemeral_error_and_changes_nothing(discord, case: str) -> None:
    support, target = _mapped(discord, "SUPPORT"), discord.player()
    discord.economy.credit(target.user_id, 10)
    before = list_audit(discord.economy.id, target=f"user:{target.user_id}")
    form = keys.join("admin", "note", snowflake(), target.user_id)
    expected = {"bot": "not a bot", "missing_user": "not a bot", "no_wallet": "no wallet", "empty_note": "empty",
                "blank_note": "empty"}.get(case, "Unknown admin form")
    if case == "bot":
        resp = support.command("coins-admin", {"user": target.user_id}, sub="note",
                               users=[{"id": target.user_id, "bot": True}])
    elif case == "missing_user":
        resp = support.command("coins-admin", {}, sub="note")
    elif case == "no_wallet":
        resp = support.command("coins-admin", {"user": snowflake()}, sub="note")
    elif case == "empty_note":
        resp = support.submit(form, {})
    elif case == "blank_note":
        resp = support.submit(form, {"note": " \n "})
    elif case == "tampered_target":
        resp = support.submit(keys.join("admin", "note", snowflake(), "alice"), {"note": "x"})
    elif case == "tampered_command":
        resp = support.submit(keys.join("admin", "note", "not-an-id", target.user_id), {"note": "x"})
    else:
        resp = support.submit(form + ":5", {"note": "x"})
    assert_ephemeral(resp)
    assert resp.body["type"] == 4  # an answer, not a modal
    assert expected in embed_text(resp), embed_text(resp)
    assert _notes(discord, target.user_id) == []
    assert list_audit(discord.economy.id, target=f"user:{target.user_id}") == before


# --- history ------------------------------------------------------------------------------


def _lines(resp: Any) -> List[str]:
    return resp.body["data"]["embeds"][0]["description"].split("\n")[1:]


def test_history_pages_older_and_newer_through_the_same_timeline_as_the_admin_api(discord) -> None:
    auditor, target = _mapped(discord, "AUDITOR"), discord.player()
    for n in range(12):  # each credit is a statement entry and an audit row: 24 items, 3 pages of 10
        discord.economy.credit(target.user_id, n + 1)
    first = auditor.command("coins-admin", {"user": target.user_id}, sub="history", users=[{"id": target.user_id}])
    assert_ephemeral(first)
    assert "Page 1" in embed_text(first) and len(_lines(first)) == 10
    assert _buttons(first)["Newer"]["disabled"] and not _buttons(first)["Older"]["disabled"]
    pages, resp = [first], first
    while not _buttons(resp)["Older"]["disabled"]:
        resp = auditor.click(_buttons(resp)["Older"]["custom_id"])
        assert_ephemeral(resp)
        pages.append(resp)
    assert [len(_lines(p)) for p in pages] == [10, 10, 4]
    assert "Page 3" in embed_text(pages[-1])
    # the same items, in the same order, as the API's timeline
    api_items: List[Dict[str, Any]] = []
    cursor = None
    while True:
        page = users.activity(discord.economy.id, target.user_id, 10, cursor)
        api_items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    shown = [line for p in pages for line in _lines(p)]
    assert len(shown) == len(api_items) == 24
    for line, item in zip(shown, api_items):
        assert (f"`{item['amount']:+,}` test credit" if item["kind"] == "entry" else item["action"]) in line, line
    assert len({i["id"] for i in api_items}) == 24  # no item twice
    # Newer walks back and shows exactly the pages shown before
    back = auditor.click(_buttons(pages[2])["Newer"]["custom_id"])
    assert _lines(back) == _lines(pages[1])
    top = auditor.click(_buttons(back)["Newer"]["custom_id"])
    assert _lines(top) == _lines(first) and _buttons(top)["Newer"]["disabled"]


def test_history_of_a_quiet_member_is_one_page_with_both_buttons_off(discord) -> None:
    auditor, target = _mapped(discord, "AUDITOR"), discord.player()
    discord.economy.credit(target.user_id, 3)
    resp = auditor.command("coins-admin", {"user": target.user_id}, sub="history")
    assert len(_lines(resp)) == 2  # the credit and its audit row
    assert "+3" in embed_text(resp) and "wallet.adjust" in embed_text(resp)
    assert _buttons(resp)["Newer"]["disabled"] and _buttons(resp)["Older"]["disabled"]


def test_history_buttons_answer_only_the_viewer_with_their_role_and_only_pages_handed_out(discord) -> None:
    role = snowflake()
    set_role(discord.guild_id, role, "AUDITOR", "test")
    auditor, other_auditor, target = discord.player(roles=[role]), _mapped(discord, "AUDITOR"), discord.player()
    for n in range(6):
        discord.economy.credit(target.user_id, n + 1)
    first = auditor.command("coins-admin", {"user": target.user_id}, sub="history")
    view_id = auditor.last_id
    older = _buttons(first)["Older"]["custom_id"]
    assert older == keys.join("ah", view_id, "1")
    # someone else clicking the viewer's button (or forging it) sees nothing
    stolen = other_auditor.click(older)
    assert_ephemeral(stolen)
    assert "not your history" in embed_text(stolen) and "+" not in embed_text(stolen).split("\n", 1)[-1]
    for forged in (keys.join("ah", view_id, "2"), keys.join("ah", view_id, "99"), keys.join("ah", view_id, "-1"),
                   keys.join("ah", view_id, "1x"), keys.join("ah", snowflake(), "0"),
                   keys.join("ah", view_id, "0000001")):
        resp = auditor.click(forged)
        assert_ephemeral(resp)
        assert "run /coins-admin history" in embed_text(resp) or "not known" in embed_text(resp), forged
        assert "Member history" not in embed_text(resp)
    assert "Member history" in embed_text(auditor.click(older))
    # the role is gone: the next click is refused
    set_role(discord.guild_id, role, None, "test")
    assert "not allowed" in embed_text(auditor.click(older))


def test_history_of_a_member_without_a_wallet_stores_no_view(discord) -> None:
    auditor = _mapped(discord, "AUDITOR")
    resp = auditor.command("coins-admin", {"user": snowflake()}, sub="history")
    assert "no wallet" in embed_text(resp)
    assert discord_store.find_history(auditor.last_id) is None


def test_history_and_lookup_refuse_a_bot_or_a_missing_member(discord) -> None:
    auditor, bot = _mapped(discord, "AUDITOR"), discord.player()
    discord.economy.credit(bot.user_id, 1)
    for sub in ("history", "lookup"):
        resp = auditor.command("coins-admin", {"user": bot.user_id}, sub=sub, users=[{"id": bot.user_id, "bot": True}])
        assert "not a bot" in embed_text(resp)
        assert "not a bot" in embed_text(auditor.command("coins-admin", {}, sub=sub))
    assert discord_store.find_history(auditor.last_id) is None
