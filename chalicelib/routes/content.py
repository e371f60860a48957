"""Content routes: the content catalog and spending rates (operators), unlocks, balance checks."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.spending.names import valid_content_id
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import CURSOR, Call, Reply, endpoint, path_param, query_int, query_limit
from chalicelib.routes.spending_models import (
    BalanceCheck,
    CheckBalanceBody,
    Content,
    ContentBody,
    EntitlementPage,
    RatesBody,
    RatesResult,
    UnlockBody,
    UnlockResult,
    UnlockStatus,
)

bp = Blueprint(__name__)
_READ_ERRORS = [400, 401, 403, 404]
_WRITE_ERRORS = [400, 401, 403, 404, 409, 422]
_PAGE = {"limit": query_limit(100, 25), "cursor": CURSOR}


# -- catalog and rates (operators) ------------------------------------------------


@endpoint(bp, "/v1/admin/content/{content_id}", "PUT", summary="Create (201) or replace (200) a content item, audited.",
          action="catalog.write", body=ContentBody, response=Content, status=201, also_ok=[200], tags=["content"],
          error_statuses=[400, 401, 403])
def put_content(call: Call, content_id: str) -> Reply:
    from chalicelib.spending.content import put_content as put

    path_param("content_id", content_id, valid_content_id)
    b = call.body
    view, created = put(call.principal.economy, content_id, title=b.title, price=b.price, creator_id=b.creator_id,
                        creator_share_bps=b.creator_share_bps, actor=call.principal.actor)
    return Reply(view, 201 if created else 200)


@endpoint(bp, "/v1/content/{content_id}", "GET", summary="A content item: price, creator and share.",
          scope="read", response=Content, tags=["content"], error_statuses=_READ_ERRORS)
def get_content(call: Call, content_id: str) -> Reply:
    from chalicelib.spending.content import get_content as get

    return Reply(get(call.principal.economy, path_param("content_id", content_id, valid_content_id)))


@endpoint(bp, "/v1/admin/spending-rates", "GET", summary="The economy's creator share and escrow fee (bps).",
          action="config.read", response=RatesResult, tags=["content"])
def get_rates(call: Call) -> Reply:
    from chalicelib.spending.rates import get_rates as rates

    return Reply({"rates": rates(call.principal.economy, fresh=True).as_dict(), "changed": False})


@endpoint(bp, "/v1/admin/spending-rates", "PUT", summary="Set the economy's creator share and/or escrow fee, audited.",
          action="config.write", body=RatesBody, response=RatesResult, tags=["content"], error_statuses=[400, 401, 403, 404])
def put_rates(call: Call) -> Reply:
    from chalicelib.spending.rates import set_rates

    changes = call.body.model_dump(exclude_none=True)
    return Reply(set_rates(call.principal.economy, changes, call.principal.actor))


# -- unlocks -------------------------------------------------------------------------


@endpoint(bp, "/v1/users/{user_id}/unlocks", "POST",
          summary="Unlock content (201): charged once per user and item (200 when already unlocked).",
          scope="write", body=UnlockBody, response=UnlockResult, status=201, also_ok=[200], tags=["unlocks"],
          error_statuses=_WRITE_ERRORS)
def unlock(call: Call, user_id: str) -> Reply:
    from chalicelib.spending.unlocks import unlock as do_unlock

    path_param("user_id", user_id, valid_user_id)
    entitlement, created = do_unlock(call.principal.economy, user_id, call.body.content_id)
    return Reply({**entitlement, "already_unlocked": not created}, 201 if created else 200)


@endpoint(bp, "/v1/users/{user_id}/unlocks", "GET", summary="The user's unlocked content.", scope="read",
          response=EntitlementPage, query=_PAGE, tags=["unlocks"], error_statuses=[400, 401, 403])
def list_unlocks(call: Call, user_id: str) -> Reply:
    from chalicelib.spending.unlocks import list_unlocks as listing

    path_param("user_id", user_id, valid_user_id)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    items, cursor = listing(call.principal.economy, user_id, limit, call.query.get("cursor") or None)
    return Reply({"items": items, "next_cursor": cursor})


@endpoint(bp, "/v1/users/{user_id}/unlocks/{content_id}", "GET", summary="Whether the user unlocked this item.",
          scope="read", response=UnlockStatus, tags=["unlocks"], error_statuses=[400, 401, 403])
def unlock_status(call: Call, user_id: str, content_id: str) -> Reply:
    from chalicelib.spending.unlocks import unlock_status as status

    path_param("user_id", user_id, valid_user_id)
    path_param("content_id", content_id, valid_content_id)
    return Reply(status(call.principal.economy, user_id, content_id))


@endpoint(bp, "/v1/users/{user_id}/check-balance", "POST", summary="Would a spend of `amount` pass now? Changes nothing.",
          scope="read", body=CheckBalanceBody, response=BalanceCheck, tags=["wallets"], error_statuses=[400, 401, 403])
def check_balance(call: Call, user_id: str) -> Reply:
    from chalicelib.spending.spend import check_balance as check

    path_param("user_id", user_id, valid_user_id)
    return Reply(check(call.principal.economy, user_id, call.body.amount))
