"""Finding users for operators: search, one user's page, the merged activity timeline, notes.

Activity merges seven per-user sources (statement entries, reward entries, holds, shop orders, purchases,
unlocks, audit rows) into one newest-first timeline. Its cursor is the last item's ``(at, kind, id)``:
each page asks every source for its newest ``limit`` items at or before that time, drops what the
previous page already showed, and stops at the newest *horizon* of the sources that had more, so no
item of a source that was cut short is skipped.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional, Tuple

from chalicelib.core import cursors, errors, keys
from chalicelib.core.ids import new_id, now_iso
from chalicelib.ledger import history, wallets
from chalicelib.operations import users_store as store
from chalicelib.tenancy.audit import audit_write

LATEST_NOTES = 5
NOTE_MAX = 2000
_FAR_FUTURE = "9999-12-31T23:59:59.999999Z"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.]{1,20}Z?[+0-9:]{0,6}$")

Item = Dict[str, Any]


def _user_page(wallet: wallets.Wallet) -> Item:
    view = wallet.as_dict()
    return {k: view[k] for k in ("user_id", "available", "held", "earnings", "debt", "frozen", "freeze_reasons",
                                 "created_at", "updated_at")}


def search(economy: str, search: wallets.WalletSearch, limit: int, cursor: Optional[str]) -> Item:
    if (search.min_available is not None and search.max_available is not None
            and search.min_available > search.max_available):
        raise errors.InvalidBalanceRangeError(field="min_available")
    found, next_cursor = wallets.search_wallets(economy, search, limit, cursor)
    return {"items": [_user_page(w) for w in found], "next_cursor": next_cursor}


def get_user(economy: str, user_id: str) -> Item:
    wallet = wallets.get_wallet(economy, user_id)
    latest, _ = history.list_entries(economy, user_id, limit=1)
    notes = store.note_page(economy, user_id, LATEST_NOTES, None)
    view = _user_page(wallet)
    return {
        "user_id": user_id,
        "wallet": {k: view[k] for k in ("available", "held", "earnings", "debt")},
        "flags": {"frozen": wallet.frozen, "freeze_reasons": list(wallet.freeze_reasons)},
        "notes": [_note_view(n) for n in notes.items],
        "last_activity_at": latest[0]["created_at"] if latest else None,
        "created_at": wallet.created_at,
    }


# -- notes ------------------------------------------------------------------------


def _note_view(row: Item) -> Item:
    return {"note_id": row["note_id"], "text": row["text"], "actor": row["actor"], "role": row.get("role"),
            "created_at": row["created_at"]}


def add_note(economy: str, user_id: str, text: str, actor: str, note_id: Optional[str] = None) -> Item:
    """Append a note, with its audit row in the same transaction (the note is the row's reason).

    ``note_id`` (default: a new one) makes a retry safe: a note already written under it is
    returned as it was first written, and neither it nor its audit row is written again.
    Raises UserNotFoundError, ConflictError.
    """
    wallets.get_wallet(economy, user_id)  # a note about nobody would be invisible to every other view
    given = note_id is not None
    note_id = note_id or new_id("note_")
    row = {"economy": economy, "note_key": keys.join(user_id, note_id), "note_id": note_id, "user_id": user_id,
           "text": text, "actor": actor, "created_at": now_iso()}
    audit = audit_write(economy, actor, "users.note", keys.tag("user", user_id), reason=text,
                        after={"note_id": note_id, "text": text})
    row["role"] = audit["Put"]["Item"].get("role", {}).get("S")
    if not store.transact([store.note_put(row), audit]):
        first = store.find_note(economy, user_id, note_id) if given else None
        if first is None:
            raise errors.ConflictError("The note could not be written; try again.")
        return _note_view(first)
    return _note_view(row)


def note_count(economy: str, user_id: str) -> int:
    return store.note_count(economy, user_id)


def list_notes(economy: str, user_id: str, limit: int, cursor: Optional[str]) -> Item:
    wallets.get_wallet(economy, user_id)
    page = store.note_page(economy, user_id, limit, cursor)
    return {"items": [_note_view(n) for n in page.items], "next_cursor": page.next_cursor}


# -- activity ---------------------------------------------------------------------


def _entry(i: Item) -> Item:
    view = history.entry_view(i)
    kind = "reward" if i["type"] == "reward" else "entry"
    return {"at": i["created_at"], "kind": kind, "id": f"{i['op_id']}#{i['seq']}", "type": i["type"],
            "amount": view["amount"], "balance_after": view["balance_after"], "reason": view["reason"]}


def _hold(i: Item) -> Item:
    return {"at": i["created_at"], "kind": "hold", "id": i["hold_id"], "hold_kind": i.get("kind"),
            "amount": i["amount"], "status": i["status"], "purpose": i.get("purpose")}


def _order(i: Item) -> Item:
    return {"at": i["created_at"], "kind": "order", "id": i["order_id"], "sku": i["sku"], "qty": i["qty"],
            "total": i["total"], "status": i["status"]}


def _purchase(i: Item) -> Item:
    return {"at": i["created_at"], "kind": "purchase", "id": i["purchase_id"], "pack_id": i.get("pack_id"),
            "coins": i.get("coins"), "status": i.get("status")}


def _unlock(i: Item) -> Item:
    return {"at": i["unlocked_at"], "kind": "unlock", "id": i["content_id"], "price": i.get("price"),
            "basis": i.get("basis")}


def _audit(i: Item) -> Item:
    return {"at": i["created_at"], "kind": "audit", "id": i["audit_id"], "action": i["action"],
            "actor": i["actor"], "reason": i.get("reason")}


Source = Tuple[Callable[[str, str, str, int], List[Item]], Callable[[Item], Item]]
SOURCES: Tuple[Source, ...] = (
    (store.entries_before, _entry),
    (store.holds_before, _hold),
    (store.orders_before, _order),
    (store.purchases_before, _purchase),
    (store.unlocks_before, _unlock),
    (store.audit_before, _audit),
)
KINDS = ("entry", "reward", "hold", "order", "purchase", "unlock", "audit")


def _order_key(item: Item) -> Tuple[str, str, str]:
    return item["at"], item["kind"], item["id"]


def _valid_position(at: Dict[str, str]) -> bool:
    return bool(_ISO.match(at["at"])) and at["kind"] in KINDS


_MAX_READ = 1000


def _read(read: Callable[[str, str, str, int], List[Item]], view: Callable[[Item], Item], economy: str,
          user_id: str, before: str, after: Optional[Tuple[str, str, str]], want: int) -> Tuple[List[Item], bool]:
    """A source's newest ``want`` items older than the cursor, and whether it has more (it was cut).

    Items at the cursor's own time that the previous page showed are read again and dropped; when many
    share that time, a read of ``want`` could keep none, so the read widens until enough are kept.
    """
    n = want
    while True:
        items = [view(i) for i in read(economy, user_id, before, n)]
        kept = [i for i in items if after is None or _order_key(i) < after]
        if len(items) < n or len(kept) >= want or n >= _MAX_READ:
            return kept, len(items) == n
        n = min(n * 4, _MAX_READ)


def activity(economy: str, user_id: str, limit: int, cursor: Optional[str]) -> Item:
    wallets.get_wallet(economy, user_id)
    scope = keys.join("activity", economy, user_id)
    after: Optional[Tuple[str, str, str]] = None
    before = _FAR_FUTURE
    if cursor:
        at = cursors.decode(cursor, scope, ("at", "kind", "id"), _valid_position)
        after = (at["at"], at["kind"], at["id"])
        before = at["at"]
    merged: List[Item] = []
    horizon: Optional[Tuple[str, str, str]] = None  # the newest "last item read" of a source that had more
    # One more than the page from each source, so a source that fills its read is known to have more.
    want = limit + 1
    for read, view in SOURCES:
        items, cut = _read(read, view, economy, user_id, before, after, want)
        if cut and items:
            last = min(_order_key(i) for i in items)
            horizon = last if horizon is None else max(horizon, last)
        merged.extend(items)
    fresh = sorted(merged, key=_order_key, reverse=True)
    shown = [i for i in fresh if horizon is None or _order_key(i) >= horizon][:limit]
    more = len(fresh) > len(shown) or horizon is not None
    next_cursor = None
    if shown and more:
        last = shown[-1]
        next_cursor = cursors.encode(scope, {"at": last["at"], "kind": last["kind"], "id": last["id"]})
    return {"items": shown, "next_cursor": next_cursor}

