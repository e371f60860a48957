"""Spending routes: the content catalog, unlocks, balance checks, holds and job escrow."""
from __future__ import annotations

from typing import Optional

from chalice import Blueprint

from chalicelib.core import errors
from chalicelib.spending.content import valid_content_id
from chalicelib.spending.holds import HOLD_STATES, valid_hold_id
from chalicelib.ledger import Outcome
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import Call, Reply, endpoint, path_param, query_int
from chalicelib.routes.spending_models import (
    BalanceCheck,
    CheckBalanceBody,
    Content,
    ContentBody,
    EntitlementPage,
    Escrow,
    EscrowBody,
    Hold,
    HoldBody,
    HoldPage,
    RatesBody,
    RatesResult,
    SettleBody,
    UnlockBody,
    UnlockResult,
    UnlockStatus,
)
from chalicelib.routes.wallets import replay_headers

bp = Blueprint(__name__)
_READ_ERRORS = [400, 401, 403, 404]
_WRITE_ERRORS = [400, 401, 403, 404, 409, 422]
_PAGE = {"limit": "1-100, default 25", "cursor": "next_cursor of the previous page"}


def _optional_key(call: Call) -> Optional[str]:
    """The Idempotency-Key when one was sent (validated), else None."""
    return call.idempotency_key() if call.headers.get("idempotency-key") is not None else None


def _replied(outcome: Outcome) -> Reply:
    return Reply(outcome.result, outcome.status_code, replay_headers(outcome))


# -- catalog and rates (operators) ------------------------------------------------


@endpoint(bp, "/v1/admin/content/{content_id}", "PUT", summary="Create or replace a content item, audited.",
          scope="admin", body=ContentBody, response=Content, status=201, tags=["content"], error_statuses=[400, 401, 403])
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
          scope="admin", response=RatesResult, tags=["content"])
def get_rates(call: Call) -> Reply:
    from chalicelib.spending.rates import get_rates as rates

    return Reply({"rates": rates(call.principal.economy, fresh=True).as_dict(), "changed": False})


@endpoint(bp, "/v1/admin/spending-rates", "PUT", summary="Set the economy's creator share and/or escrow fee, audited.",
          scope="admin", body=RatesBody, response=RatesResult, tags=["content"], error_statuses=[400, 401, 403, 404])
def put_rates(call: Call) -> Reply:
    from chalicelib.spending.rates import set_rates

    changes = call.body.model_dump(exclude_none=True)
    return Reply(set_rates(call.principal.economy, changes, call.principal.actor))


# -- unlocks -------------------------------------------------------------------------


@endpoint(bp, "/v1/users/{user_id}/unlocks", "POST", summary="Unlock content: charged once per user and item.",
          scope="write", body=UnlockBody, response=UnlockResult, status=201, tags=["unlocks"],
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


# -- holds -----------------------------------------------------------------------------


@endpoint(bp, "/v1/holds", "POST", summary="Reserve coins (available -> held) until settled, released or expired.",
          scope="write", body=HoldBody, response=Hold, status=201, idempotency="required", tags=["holds"],
          error_statuses=_WRITE_ERRORS)
def place_hold(call: Call) -> Reply:
    from chalicelib.spending.holds import place_hold as place

    b = call.body
    return _replied(place(call.principal.economy, b.user_id, b.amount, b.purpose, b.ref, b.expires_in,
                          call.idempotency_key()))


@endpoint(bp, "/v1/holds/{hold_id}", "GET", summary="A hold's state.", scope="read", response=Hold, tags=["holds"],
          error_statuses=_READ_ERRORS)
def get_hold(call: Call, hold_id: str) -> Reply:
    from chalicelib.spending.holds import get_hold as get

    return Reply(get(call.principal.economy, path_param("hold_id", hold_id, valid_hold_id)))


@endpoint(bp, "/v1/holds/{hold_id}/settle", "POST", summary="Settle all or part of a hold; the rest returns.",
          scope="write", body=SettleBody, response=Hold, idempotency="optional", tags=["holds"],
          error_statuses=_WRITE_ERRORS)
def settle_hold(call: Call, hold_id: str) -> Reply:
    from chalicelib.spending.holds import settle

    path_param("hold_id", hold_id, valid_hold_id)
    b = call.body
    return _replied(settle(call.principal.economy, hold_id, b.amount, b.to_user_id, _optional_key(call)))


@endpoint(bp, "/v1/holds/{hold_id}/release", "POST", summary="Return all of a hold to the payer.", scope="write",
          response=Hold, idempotency="optional", tags=["holds"], error_statuses=_WRITE_ERRORS)
def release_hold(call: Call, hold_id: str) -> Reply:
    from chalicelib.spending.holds import release

    path_param("hold_id", hold_id, valid_hold_id)
    return _replied(release(call.principal.economy, hold_id, _optional_key(call)))


@endpoint(bp, "/v1/users/{user_id}/holds", "GET", summary="The user's holds and escrows, newest first.",
          scope="read", response=HoldPage, query={"status": "|".join(HOLD_STATES + ("refunded",)), **_PAGE},
          tags=["holds"], error_statuses=[400, 401, 403])
def list_holds(call: Call, user_id: str) -> Reply:
    from chalicelib.spending.holds import list_holds as listing

    path_param("user_id", user_id, valid_user_id)
    status = call.query.get("status") or None
    if status is not None and status not in HOLD_STATES + ("refunded",):
        raise errors.ValidationFailedError(f"'status' must be one of {', '.join(HOLD_STATES + ('refunded',))}.",
                                           field="status")
    limit = query_int(call, "limit", default=25, low=1, high=100)
    items, cursor = listing(call.principal.economy, user_id, status, limit, call.query.get("cursor") or None)
    return Reply({"items": items, "next_cursor": cursor})


# -- job escrow ------------------------------------------------------------------------------


@endpoint(bp, "/v1/escrows", "POST", summary="Hold a client's coins for a freelancer's job.", scope="write",
          body=EscrowBody, response=Escrow, status=201, idempotency="required", tags=["escrow"],
          error_statuses=_WRITE_ERRORS)
def open_escrow(call: Call) -> Reply:
    from chalicelib.spending.escrows import open_escrow as do_open

    b = call.body
    return _replied(do_open(call.principal.economy, b.client_id, b.freelancer_id, b.amount, b.job_ref,
                            b.auto_release_after, call.idempotency_key()))


@endpoint(bp, "/v1/escrows/{escrow_id}", "GET", summary="An escrow's state.", scope="read", response=Escrow,
          tags=["escrow"], error_statuses=_READ_ERRORS)
def get_escrow(call: Call, escrow_id: str) -> Reply:
    from chalicelib.spending.escrows import get_escrow as get

    return Reply(get(call.principal.economy, path_param("escrow_id", escrow_id, valid_hold_id)))


@endpoint(bp, "/v1/escrows/{escrow_id}/release", "POST", summary="Pay the freelancer, minus the platform fee.",
          scope="write", response=Escrow, idempotency="optional", tags=["escrow"], error_statuses=_WRITE_ERRORS)
def release_escrow(call: Call, escrow_id: str) -> Reply:
    from chalicelib.spending.escrows import release

    path_param("escrow_id", escrow_id, valid_hold_id)
    return _replied(release(call.principal.economy, escrow_id, _optional_key(call)))


@endpoint(bp, "/v1/escrows/{escrow_id}/refund", "POST", summary="Return the escrow to the client.", scope="write",
          response=Escrow, idempotency="optional", tags=["escrow"], error_statuses=_WRITE_ERRORS)
def refund_escrow(call: Call, escrow_id: str) -> Reply:
    from chalicelib.spending.escrows import refund

    path_param("escrow_id", escrow_id, valid_hold_id)
    return _replied(refund(call.principal.economy, escrow_id, _optional_key(call)))
