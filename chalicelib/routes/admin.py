"""Operator routes (admin scope): adjust, reverse an operation, freeze, unfreeze, audit trail."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.core import keys
from chalicelib.ledger.accounts import USER_ID_PATTERN, valid_user_id
from chalicelib.ledger.reversals import valid_op_id
from chalicelib.routes._http import Call, Reply, endpoint, path_param, query_int, query_limit, query_pattern, replied
from chalicelib.routes.models import AdjustBody, FreezeBody, FreezeResult, Posting, ReverseBody, Reversal, UnfreezeBody

bp = Blueprint(__name__)


@endpoint(bp, "/v1/admin/users/{user_id}/adjust", "POST", summary="Credit or debit a wallet, audited.",
          action="wallet.adjust", body=AdjustBody, response=Posting, idempotency="required", tags=["admin"],
          error_statuses=[400, 401, 403, 404, 409, 422])
def adjust(call: Call, user_id: str) -> Reply:
    from chalicelib.operations.admin import adjust as do_adjust

    path_param("user_id", user_id, valid_user_id)
    key = call.idempotency_key()
    outcome = do_adjust(call.principal.economy, user_id, call.body.amount, call.body.reason,
                        call.principal.actor, key)
    return replied(outcome)


@endpoint(bp, "/v1/admin/operations/{transaction_id}/reverse", "POST",
          summary="Post the opposite legs of an earlier operation (or a part of it) as a new one that names it.",
          action="operations.reverse", body=ReverseBody, response=Reversal, idempotency="required", tags=["admin"],
          error_statuses=[400, 401, 403, 404, 409, 422])
def reverse(call: Call, transaction_id: str) -> Reply:
    from chalicelib.core.config import get_settings
    from chalicelib.operations.reversal import reverse as do_reverse
    from chalicelib.tenancy import roles

    limit = get_settings().support_reverse_limit

    def authorize(coins: int) -> None:
        # Above the support limit the reversal needs the stronger action too (nothing is written before this).
        if coins > limit:
            roles.require(call.principal, "operations.reverse_any")

    path_param("transaction_id", transaction_id, valid_op_id)
    b = call.body
    outcome = do_reverse(call.principal.economy, transaction_id, b.reason, call.principal.actor, call.idempotency_key(),
                         amount=b.amount, keep_entitlement=b.keep_entitlement, authorize=authorize)
    return replied(outcome)


@endpoint(bp, "/v1/admin/users/{user_id}/freeze", "POST",
          summary="Freeze a wallet (reason `operator`): it can no longer send coins.",
          action="wallet.freeze", body=FreezeBody, response=FreezeResult, tags=["admin"], error_statuses=[400, 401, 403, 404])
def freeze(call: Call, user_id: str) -> Reply:
    from chalicelib.operations.admin import freeze as do_freeze

    path_param("user_id", user_id, valid_user_id)
    return Reply(do_freeze(call.principal.economy, user_id, call.body.reason, call.principal.actor))


@endpoint(bp, "/v1/admin/users/{user_id}/unfreeze", "POST",
          summary="Lift the operators' freeze, and the other reasons named in `lift`; others stay.",
          action="wallet.unfreeze", body=UnfreezeBody, response=FreezeResult, tags=["admin"],
          error_statuses=[400, 401, 403, 404])
def unfreeze(call: Call, user_id: str) -> Reply:
    from chalicelib.operations.admin import unfreeze as do_unfreeze

    path_param("user_id", user_id, valid_user_id)
    b = call.body
    return Reply(do_unfreeze(call.principal.economy, user_id, b.reason, call.principal.actor, b.lift))


@endpoint(bp, "/v1/admin/audit", "GET", summary="The audit trail, newest first.", action="audit.read",
          query={"limit": query_limit(200, 50), "user_id": query_pattern(USER_ID_PATTERN, "only rows about this user")},
          tags=["admin"],
          error_statuses=[400, 401, 403])
def audit(call: Call) -> Reply:
    from chalicelib.tenancy.audit import list_audit

    limit = query_int(call, "limit", default=50, low=1, high=200)
    user_id = call.query.get("user_id")
    target = keys.tag("user", path_param("user_id", user_id, valid_user_id)) if user_id else None
    return Reply({"items": list_audit(call.principal.economy, limit, target)})
