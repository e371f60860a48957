"""What ``/coins-admin lookup|history|note`` show: pure builders over the admin API's own answers.

They render ``operations.users``' dicts (the ones ``GET /v1/admin/users/{id}`` and
``.../activity`` return), so Discord and the API show the same facts.
Everything is ephemeral; member text (notes, reasons) is cut to fit Discord's
limits (a field holds 1,024 characters, a description 4,096).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from chalicelib.core import keys
from chalicelib.core.wording import count
from chalicelib.discord import views

NOTES_SHOWN = 3
_NOTE_CHARS = 200
_LINE_CHARS = 180


def _cut(text: Optional[str], limit: int) -> str:
    text = " ".join((text or "").split())  # one line each: newlines would break the list
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _who(actor: str) -> str:
    """``discord:<id>`` as a mention, anything else (an API key's actor) as it is."""
    try:
        kind, member = keys.untag(actor)
    except ValueError:
        kind, member = "", ""
    return f"<@{member}>" if kind == "discord" and member.isdigit() else f"`{_cut(actor, 60)}`"


def lookup(user: Dict[str, Any], notes_total: int) -> Dict[str, Any]:
    """The member's wallet, flags, last activity and latest notes (``operations.users.get_user``)."""
    wallet, flags = user["wallet"], user["flags"]
    state = "frozen (" + ", ".join(flags["freeze_reasons"]) + ")" if flags["frozen"] else "not frozen"
    if wallet["debt"]:
        state += f"; owes {views.coins(wallet['debt'])}"
    notes = [f"{views.when(n['created_at'])} {_who(n['actor'])}" + (f" ({n['role']})" if n.get("role") else "")
             + f": {_cut(n['text'], _NOTE_CHARS)}" for n in user["notes"][:NOTES_SHOWN]]
    fields = [
        ("Available", views.coins(wallet["available"]), True),
        ("Held", views.coins(wallet["held"]), True),
        ("Debt", views.coins(wallet["debt"]), True),
        ("Earnings", views.coins(wallet["earnings"]), True),
        ("Flags", state, False),
        ("Last activity", views.when(user["last_activity_at"]) if user["last_activity_at"] else "none yet", True),
        (f"Notes ({notes_total})", "\n".join(notes) or "none", False),
    ]
    colour = views.RED if flags["frozen"] else views.BLUE
    return views.ephemeral(embeds=[views.embed("Member lookup", f"<@{user['user_id']}>", colour, fields,
                                               footer=f"Wallet since {user['created_at']}")])


def _line(item: Dict[str, Any]) -> str:
    kind = item["kind"]
    if kind in ("entry", "reward"):
        text = f"`{item['amount']:+,}` {item.get('reason') or item['type']} (then {item['balance_after']:,})"
    elif kind == "hold":
        text = f"{item.get('hold_kind') or 'hold'} {item['status']}: {views.coins(item['amount'])}" + (
            f", {item['purpose']}" if item.get("purpose") else "")
    elif kind == "order":
        text = f"order {item['status']}: {item['qty']} x {item['sku']}, {views.coins(item['total'])}"
    elif kind == "purchase":
        text = f"purchase {item.get('status')}: {item.get('pack_id')}, {views.coins(int(item.get('coins') or 0))}"
    elif kind == "unlock":
        text = f"unlocked {item['id']}" + (f" for {views.coins(item['price'])}" if item.get("price") else "")
    else:  # audit
        text = f"{item['action']} by {_who(item['actor'])}" + (f": {item['reason']}" if item.get("reason") else "")
    return f"{views.when(item['at'])} {_cut(text, _LINE_CHARS)}"


def history(target: str, items: Sequence[Dict[str, Any]], page: int, newer_id: Optional[str],
            older_id: Optional[str]) -> Dict[str, Any]:
    """One page of the merged activity timeline, newest first, with Newer / Older buttons."""
    text = f"<@{target}>\n" + ("\n".join(_line(i) for i in items) or "Nothing here.")
    buttons = [views.button(newer_id or "ah:none:newer", "Newer", disabled=newer_id is None),
               views.button(older_id or "ah:none:older", "Older", disabled=older_id is None)]
    return views.ephemeral(embeds=[views.embed("Member history", text, views.BLUE,
                                               footer=f"Page {page + 1} - " + count(len(items), "item"))],
                           components=[views.row(buttons)])


def note_added(target: str, note: Dict[str, Any]) -> Dict[str, Any]:
    return views.ephemeral(embeds=[views.embed("Note added", f"About <@{target}>.", views.GREEN,
                                               [("Note", _cut(note["text"], 1000), False)],
                                               footer=f"Note {note['note_id']}")])
