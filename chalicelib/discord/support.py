"""``/coins-admin lookup|history|note``: the support desk's view of one member.

* **lookup** (AUDITOR and up, ``users.read``): the admin API's own user page
  (``operations.users.get_user``): wallet, flags, last activity, latest notes.
* **history** (``users.read``): the admin API's merged activity timeline, a page
  at a time. The view is recorded under the command's interaction id (whose
  statement, shown to whom); the Older / Newer buttons carry only that id and a
  page number (``ah:<view id>:<page>``), and each page's cursor is stored when
  the page before it is shown. A click is refused unless it comes from the
  member who ran the command, in the same economy, still holding a role that
  may read users, for a page that was reached: a hand-made custom id can name
  no other member, and no page that was not handed out.
* **note** (SUPPORT and up, ``users.note``): a modal asks for the text
  (``operators.form_id``); the submit re-checks the roles and adds the note with
  ``operations.users.add_note``, the admin API's function, audited in the same
  transaction. The note's id is derived from the command's interaction id, so a
  resubmitted modal finds the first note and writes nothing again.

``operators.command`` / ``operators.submit`` check the roles and the target and
then call in here.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from chalicelib.core import errors, keys
from chalicelib.core.ids import keyed_id_at
from chalicelib.discord import roles, store, support_views, views
from chalicelib.discord.interaction import Interaction, snowflake_time
from chalicelib.ledger.wallets import get_wallet
from chalicelib.operations import users
from chalicelib.operations.users import NOTE_MAX
from chalicelib.tenancy.guilds import Guild

PAGE_SIZE = 10
MAX_PAGE = 999  # a page number has at most 3 digits; nobody reads 10,000 lines in Discord


def lookup(ix: Interaction, guild: Guild, target: str) -> Dict[str, Any]:
    user = users.get_user(guild.economy, target)
    return support_views.lookup(user, users.note_count(guild.economy, target))


def history(ix: Interaction, guild: Guild, target: str) -> Dict[str, Any]:
    get_wallet(guild.economy, target)  # a member without a wallet: user_not_found before anything is stored
    store.put_history(ix.id, guild.economy, ix.user_id, target)
    view = store.find_history(ix.id)
    assert view is not None  # just written (or written by the first delivery of this command)
    return _page(view, 0, None)


def history_page(ix: Interaction, guild: Guild, view_id: str, page_text: str) -> Dict[str, Any]:
    view = store.find_history(view_id)
    if view is None or view.economy != guild.economy:
        raise errors.InteractionExpiredError("This history has expired: run /coins-admin history again.")
    if view.viewer != ix.user_id:
        raise errors.InteractionExpiredError("This is not your history view: run /coins-admin history.")
    if not roles.may("history", ix.permissions, ix.role_ids, guild.role_map):  # roles may have changed since
        return views.not_allowed()
    if not (page_text.isascii() and page_text.isdigit() and len(page_text) <= len(str(MAX_PAGE))):
        raise errors.InteractionExpiredError("That page was never shown: run /coins-admin history again.")
    page = int(page_text)
    cursor = store.page_cursor(view, page) if page > 0 else None
    if page > 0 and cursor is None:
        raise errors.InteractionExpiredError("That page was never shown: run /coins-admin history again.")
    return _page(view, page, cursor)


def _page(view: store.HistoryView, page: int, cursor: Optional[str]) -> Dict[str, Any]:
    found = users.activity(view.economy, view.target, PAGE_SIZE, cursor)
    older = None
    if found["next_cursor"] and page < MAX_PAGE:
        store.put_page_cursor(view, page + 1, found["next_cursor"])
        older = button_id(view.view_id, page + 1)
    newer = button_id(view.view_id, page - 1) if page > 0 else None
    return support_views.history(view.target, found["items"], page, newer, older)


def button_id(view_id: str, page: int) -> str:
    return keys.join("ah", view_id, str(page))


def note_form(custom_id: str) -> Dict[str, Any]:
    return views.modal(custom_id, "Add a note", [views.text_input("note", "Note (kept in the audit trail)",
                                                                  max_length=NOTE_MAX)])


def add_note(ix: Interaction, guild: Guild, command_id: str, target: str, actor: str) -> Dict[str, Any]:
    text = ix.modal_fields.get("note", "").strip()
    if not text:
        raise errors.ValidationFailedError("The note is empty: write what should be remembered.", field="note")
    if len(text) > NOTE_MAX:
        raise errors.ValidationFailedError(f"A note has at most {NOTE_MAX:,} characters.", field="note")
    at_ms = int(snowflake_time(command_id).timestamp() * 1000)
    note_id = keyed_id_at("note_", at_ms, keys.tag("discord", command_id))
    note = users.add_note(guild.economy, target, text, actor, note_id=note_id)
    return support_views.note_added(target, note)
