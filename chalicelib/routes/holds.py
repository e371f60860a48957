"""Hold routes: holds (reserve, settle, release, list) and job escrow."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.core import errors
from chalicelib.spending.names import HOLD_STATES, valid_hold_id
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import (
    CURSOR, Call, Reply, endpoint, optional_key, path_param, query_choice, query_int, query_limit, replied,
)
from chalicelib.routes.spending_models import (
    Escrow,
    EscrowBody,
    Hold,
    HoldBody,
    HoldPage,
    SettleBody,
)

bp = Blueprint(__name__)
_READ_ERRORS = [400, 401, 403, 404]
_WRITE_ERRORS = [400, 401, 403, 404, 409, 422]
_PAGE = {"limit": query_limit(100, 25), "cursor": CURSOR}


# -- holds -----------------------------------------------------------------------------


@endpoint(bp, "/v1/holds", "POST", summary="Reserve coins (available -> held) until settled, released or expired.",
          scope="write", body=HoldBody, response=Hold, status=201, idempotency="required", tags=["holds"],
          error_statuses=_WRITE_ERRORS)
def place_hold(call: Call) -> Reply:
    from chalicelib.spending.holds import place_hold as place

    b = call.body
    return replied(place(call.principal.economy, b.user_id, b.amount, b.purpose, b.ref, b.expires_in,
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
    return replied(settle(call.principal.economy, hold_id, b.amount, b.to_user_id, optional_key(call)))


@endpoint(bp, "/v1/holds/{hold_id}/release", "POST", summary="Return all of a hold to the payer.", scope="write",
          response=Hold, idempotency="optional", tags=["holds"], error_statuses=_WRITE_ERRORS)
def release_hold(call: Call, hold_id: str) -> Reply:
    from chalicelib.spending.holds import release

    path_param("hold_id", hold_id, valid_hold_id)
    return replied(release(call.principal.economy, hold_id, optional_key(call)))


@endpoint(bp, "/v1/users/{user_id}/holds", "GET", summary="The user's holds and escrows, newest first.",
          scope="read", response=HoldPage, query={"status": query_choice(HOLD_STATES + ("refunded",)), **_PAGE},
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
    return replied(do_open(call.principal.economy, b.client_id, b.freelancer_id, b.amount, b.job_ref,
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
    return replied(release(call.principal.economy, escrow_id, optional_key(call)))


@endpoint(bp, "/v1/escrows/{escrow_id}/refund", "POST", summary="Return the escrow to the client.", scope="write",
          response=Escrow, idempotency="optional", tags=["escrow"], error_statuses=_WRITE_ERRORS)
def refund_escrow(call: Call, escrow_id: str) -> Reply:
    from chalicelib.spending.escrows import refund

    path_param("escrow_id", escrow_id, valid_hold_id)
    return replied(refund(call.principal.economy, escrow_id, optional_key(call)))
