"""Operator routes for finding users: search, one user, the activity timeline, notes (issue #16 "Users")."""
from __future__ import annotations

import re
from typing import Optional

from chalice import Blueprint

from chalicelib.core import errors
from chalicelib.ledger.accounts import MAX_BALANCE, valid_user_id
from chalicelib.routes._http import (
    CURSOR, Call, Reply, endpoint, path_param, query_choice, query_int, query_limit, query_pattern,
)
from chalicelib.routes.admin_users_models import ActivityPage, AdminUser, Note, NoteBody, NotePage, UserPage

bp = Blueprint(__name__)

_PREFIX = r"^[A-Za-z0-9_.:@|-]{0,128}$"
_BALANCE = {"description": f"0-{MAX_BALANCE}", "schema": {"anyOf": [
    {"type": "integer", "minimum": 0, "maximum": MAX_BALANCE}, {"type": "string", "maxLength": 0}]}}
_PAGE = {"limit": query_limit(100, 25), "cursor": CURSOR}
_ERRORS = [400, 401, 403, 404]


def _flag(call: Call, name: str) -> Optional[bool]:
    raw = call.query.get(name)
    if raw is None or raw == "":
        return None
    if raw not in ("true", "false"):
        raise errors.ValidationFailedError(f"'{name}' must be true or false.", field=name)
    return raw == "true"


def _balance(call: Call, name: str) -> Optional[int]:
    raw = call.query.get(name)
    if raw in (None, ""):
        return None
    # Not query_int: its 9 digits are a page size's, a balance has up to 16.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 16) or int(raw) > MAX_BALANCE:
        raise errors.ValidationFailedError(f"'{name}' must be an integer from 0 to {MAX_BALANCE}.", field=name)
    return int(raw)


@endpoint(bp, "/v1/admin/users", "GET", summary="Find users: by id prefix, frozen, debt, available balance range.",
          action="users.read", response=UserPage, tags=["admin"], error_statuses=[400, 401, 403, 422],
          query={"prefix": query_pattern(_PREFIX, "user ids starting with this"),
                 "frozen": query_choice(("true", "false")), "has_debt": query_choice(("true", "false")),
                 "min_available": _BALANCE, "max_available": _BALANCE, **_PAGE})
def search(call: Call) -> Reply:
    from chalicelib.ledger.wallets import WalletSearch
    from chalicelib.operations.users import search as do_search

    prefix = call.query.get("prefix") or ""
    if not re.match(_PREFIX, prefix):
        raise errors.ValidationFailedError("'prefix' must be up to 128 characters of a user id.", field="prefix")
    wanted = WalletSearch(prefix=prefix, frozen=_flag(call, "frozen"), has_debt=_flag(call, "has_debt"),
                          min_available=_balance(call, "min_available"), max_available=_balance(call, "max_available"))
    limit = query_int(call, "limit", default=25, low=1, high=100)
    return Reply(do_search(call.principal.economy, wanted, limit, call.query.get("cursor")))


@endpoint(bp, "/v1/admin/users/{user_id}", "GET", summary="One user: wallet, flags, latest notes, last activity.",
          action="users.read", response=AdminUser, tags=["admin"], error_statuses=_ERRORS)
def get_user(call: Call, user_id: str) -> Reply:
    from chalicelib.operations.users import get_user as do_get

    path_param("user_id", user_id, valid_user_id)
    return Reply(do_get(call.principal.economy, user_id))


@endpoint(bp, "/v1/admin/users/{user_id}/activity", "GET",
          summary="A user's activity, newest first: statement, rewards, holds, orders, purchases, unlocks, audit.",
          action="users.read", response=ActivityPage, query=_PAGE, tags=["admin"], error_statuses=_ERRORS)
def activity(call: Call, user_id: str) -> Reply:
    from chalicelib.operations.users import activity as do_activity

    path_param("user_id", user_id, valid_user_id)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    return Reply(do_activity(call.principal.economy, user_id, limit, call.query.get("cursor")))


@endpoint(bp, "/v1/admin/users/{user_id}/notes", "POST", summary="Add a note about a user (audited; the note is "
          "the reason).", action="users.note", body=NoteBody, response=Note, status=201, tags=["admin"],
          error_statuses=[400, 401, 403, 404, 409], reason_field="text")
def add_note(call: Call, user_id: str) -> Reply:
    from chalicelib.operations.users import add_note as do_add

    path_param("user_id", user_id, valid_user_id)
    return Reply(do_add(call.principal.economy, user_id, call.body.text, call.principal.actor), 201)


@endpoint(bp, "/v1/admin/users/{user_id}/notes", "GET", summary="A user's notes, newest first.",
          action="users.read", response=NotePage, query=_PAGE, tags=["admin"], error_statuses=_ERRORS)
def list_notes(call: Call, user_id: str) -> Reply:
    from chalicelib.operations.users import list_notes as do_list

    path_param("user_id", user_id, valid_user_id)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    return Reply(do_list(call.principal.economy, user_id, limit, call.query.get("cursor")))
