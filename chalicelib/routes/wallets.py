"""Wallets: read, statement, spend."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import CURSOR, Call, Reply, endpoint, path_param, query_int, query_limit, replied
from chalicelib.routes.models import EntryPage, Posting, SpendBody, Wallet

bp = Blueprint(__name__)
_USER_ERRORS = [400, 401, 403, 404]


@endpoint(bp, "/v1/users/{user_id}/wallet", "GET", summary="A user's buckets.", scope="read",
          response=Wallet, tags=["wallets"], error_statuses=_USER_ERRORS)
def wallet(call: Call, user_id: str) -> Reply:
    from chalicelib.ledger.wallets import get_wallet

    path_param("user_id", user_id, valid_user_id)
    return Reply(get_wallet(call.principal.economy, user_id).as_dict())


@endpoint(bp, "/v1/users/{user_id}/transactions", "GET", summary="The wallet's statement, newest first.",
          scope="read", response=EntryPage, query={"limit": query_limit(100, 25), "cursor": CURSOR},
          tags=["wallets"], error_statuses=_USER_ERRORS)
def transactions(call: Call, user_id: str) -> Reply:
    from chalicelib.ledger.history import list_entries
    from chalicelib.ledger.wallets import get_wallet

    path_param("user_id", user_id, valid_user_id)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    cursor = call.query.get("cursor") or None
    get_wallet(call.principal.economy, user_id)
    items, next_cursor = list_entries(call.principal.economy, user_id, limit, cursor)
    return Reply({"items": items, "next_cursor": next_cursor})


@endpoint(bp, "/v1/users/{user_id}/spend", "POST", summary="Spend coins once per Idempotency-Key.", scope="write",
          body=SpendBody, response=Posting, idempotency="required", tags=["wallets"],
          error_statuses=[400, 401, 403, 404, 409, 422])
def spend(call: Call, user_id: str) -> Reply:
    from chalicelib.spending.spend import spend as do_spend

    path_param("user_id", user_id, valid_user_id)
    key = call.idempotency_key()
    b = call.body
    outcome = do_spend(call.principal.economy, user_id, b.amount, b.reason, b.ref, key, b.creator_id)
    return replied(outcome)
