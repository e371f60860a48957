"""Buying coins: checkout, purchase status, the Stripe webhook, pack admin, debts."""
from __future__ import annotations

import re

from chalice import Blueprint

from chalicelib.core import errors
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import (
    CURSOR, Call, Reply, endpoint, path_param, query_choice, query_int, query_limit, query_pattern, replied,
)
from chalicelib.routes.models import (
    AdminPurchase, AdminPurchasePage, Checkout, CheckoutBody, Pack, PackBody, PackList, Purchase, RefundBody,
    RefundResult, RetryBody, SettleDebtResult,
)

bp = Blueprint(__name__)


# Pack and purchase ids. ASCII only: str.isalnum() admitted any script's letters (a pack "é" could be put
# but never checked out, CheckoutBody.pack_id being ASCII).
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
_ID = re.compile(ID_PATTERN)


def _valid_id(value: str) -> bool:
    return bool(_ID.match(value))


@endpoint(bp, "/v1/checkout", "POST", summary="Start buying a coin pack: a pending purchase and its checkout page.",
          scope="write", body=CheckoutBody, response=Checkout, status=201, also_ok=[200], idempotency="optional",
          tags=["purchases"],
          error_statuses=[400, 401, 403, 404, 409, 422, 503])
def checkout(call: Call) -> Reply:
    from chalicelib.purchases.checkout import create_checkout

    b = call.body
    key = call.idempotency_key() if call.headers.get("idempotency-key") is not None else None
    view = create_checkout(call.principal.economy, b.user_id, b.pack_id, b.success_url, b.cancel_url, key,
                           call.base_url)
    replayed = view.pop("replayed")
    return Reply(view, 200 if replayed else 201, {"Idempotent-Replayed": "true" if replayed else "false"})


@endpoint(bp, "/v1/purchases/{purchase_id}", "GET", summary="A purchase's status, for a success page to poll.",
          scope="read", response=Purchase, tags=["purchases"], error_statuses=[400, 404])
def purchase(call: Call, purchase_id: str) -> Reply:
    from chalicelib.purchases.views import get_purchase

    path_param("purchase_id", purchase_id, _valid_id)
    return Reply(get_purchase(call.principal.economy, purchase_id))


@endpoint(bp, "/v1/webhooks/stripe", "POST",
          summary="Stripe's events (verified by Stripe-Signature, then parsed strictly).",
          authenticated=False, tags=["purchases"], error_statuses=[400, 503])
def stripe_webhook(call: Call) -> Reply:
    from chalicelib.purchases.webhooks import handle_event
    from chalicelib.purchases.stripe_events import parse_event
    from chalicelib.purchases.stripe_gateway import verify_event

    header = call.headers.get("stripe-signature")
    if not header:
        raise errors.StripeSignatureError("The Stripe-Signature header is missing.")
    return Reply(handle_event(parse_event(verify_event(call.raw_body, header))))


@endpoint(bp, "/v1/admin/purchases/{purchase_id}/retry-credit", "POST",
          summary="Retry the step a needs_review purchase waits on (usually its credit) once the cause is fixed "
                  "(audited).",
          action="purchases.retry", body=RetryBody, response=Purchase, idempotency="required", tags=["admin", "purchases"],
          error_statuses=[400, 404, 409, 503])
def retry_credit(call: Call, purchase_id: str) -> Reply:
    from chalicelib.purchases.review import retry_review

    path_param("purchase_id", purchase_id, _valid_id)
    view, replayed = retry_review(call.principal.economy, purchase_id, call.principal.actor, call.idempotency_key(),
                                  call.body.reason)
    return Reply(view, 200, {"Idempotent-Replayed": "true" if replayed else "false"})


@endpoint(bp, "/v1/admin/packs", "GET", summary="Every pack, including those off sale.", action="config.read",
          response=PackList, tags=["admin", "packs"])
def admin_packs(call: Call) -> Reply:
    from chalicelib.purchases.packs import list_packs

    return Reply({"items": list_packs(call.principal.economy, include_inactive=True)})


@endpoint(bp, "/v1/admin/packs/{pack_id}", "PUT", summary="Create or update a pack (audited).", action="catalog.write",
          body=PackBody, response=Pack, tags=["admin", "packs"], error_statuses=[400])
def put_pack(call: Call, pack_id: str) -> Reply:
    from chalicelib.purchases.packs import put_pack as save

    path_param("pack_id", pack_id, _valid_id)
    b = call.body
    fields = {"name": b.name, "coins": b.coins, "bonus_coins": b.bonus_coins, "price_amount": b.price.amount,
              "currency": b.price.currency, "active": b.active, "sort_order": b.sort_order}
    return Reply(save(call.principal.economy, pack_id, fields, call.principal.actor))


@endpoint(bp, "/v1/admin/packs/{pack_id}", "DELETE", summary="Take a pack off sale (audited).", action="catalog.write",
          response=Pack, tags=["admin", "packs"], error_statuses=[400, 404])
def delete_pack(call: Call, pack_id: str) -> Reply:
    from chalicelib.purchases.packs import deactivate_pack

    path_param("pack_id", pack_id, _valid_id)
    return Reply(deactivate_pack(call.principal.economy, pack_id, call.principal.actor))


@endpoint(bp, "/v1/admin/users/{user_id}/settle-debt", "POST",
          summary="Pay a wallet's debt from its available coins; unfreezes it when cleared (audited).",
          action="wallet.settle_debt", response=SettleDebtResult, idempotency="required", tags=["admin", "purchases"],
          error_statuses=[400, 404, 409, 422])
def settle_debt(call: Call, user_id: str) -> Reply:
    from chalicelib.purchases.debts import settle_debt as settle

    path_param("user_id", user_id, valid_user_id)
    outcome = settle(call.principal.economy, user_id, call.principal.actor, call.idempotency_key())
    return replied(outcome)


# -- operators: purchases and refunds --------------------------------------------------------

STATUSES = ("pending", "credited", "failed", "expired", "refunded", "disputed", "needs_review")
# An ISO 8601 prefix: a year, month, day, or a moment (2026, 2026-03, 2026-03-14, 2026-03-14T15:09:26.535Z).
_WHEN = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}(:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?)?Z?)?)?)?$"
_WHEN_RE = re.compile(_WHEN)


def _when(call: Call, name: str) -> str | None:
    value = call.query.get(name) or None
    if value is not None and not _WHEN_RE.match(value):
        raise errors.ValidationFailedError(f"'{name}' must be an ISO 8601 date or time in UTC "
                                           "(2026-03, 2026-03-14, 2026-03-14T15:09:26Z).", field=name)
    return value


@endpoint(bp, "/v1/admin/purchases", "GET",
          summary="The economy's purchases, newest first; filters: user, status, created date range.",
          action="purchases.read", response=AdminPurchasePage, tags=["admin", "purchases"], error_statuses=[400, 401, 403],
          query={"user_id": query_pattern(r"^[A-Za-z0-9_.:@|-]{1,128}$", "only this user's purchases"),
                 "status": query_choice(STATUSES),
                 "created_from": query_pattern(_WHEN, "created at or after this ISO 8601 prefix (inclusive)"),
                 "created_to": query_pattern(_WHEN, "created at or before this ISO 8601 prefix (inclusive: "
                                                    "2026-03 takes all of March)"),
                 "limit": query_limit(100, 25), "cursor": CURSOR})
def admin_purchases(call: Call) -> Reply:
    from chalicelib.purchases.views import list_purchases

    user_id = call.query.get("user_id") or None
    if user_id is not None:
        path_param("user_id", user_id, valid_user_id)
    status = call.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise errors.ValidationFailedError(f"'status' must be one of {', '.join(STATUSES)}.", field="status")
    since, until = _when(call, "created_from"), _when(call, "created_to")
    # created_to is a prefix taken whole: "~" sorts after every character of an ISO timestamp.
    until = until + "~" if until is not None else None
    limit = query_int(call, "limit", default=25, low=1, high=100)
    return Reply(list_purchases(call.principal.economy, user_id=user_id, status=status, since=since, until=until,
                                limit=limit, cursor=call.query.get("cursor") or None))


@endpoint(bp, "/v1/admin/purchases/{purchase_id}", "GET",
          summary="A purchase as an operator sees it: its payment, refunds and claw-back.",
          action="purchases.read", response=AdminPurchase, tags=["admin", "purchases"], error_statuses=[400, 401, 403, 404])
def admin_purchase(call: Call, purchase_id: str) -> Reply:
    from chalicelib.purchases.views import admin_get_purchase

    path_param("purchase_id", purchase_id, _valid_id)
    return Reply(admin_get_purchase(call.principal.economy, purchase_id))


@endpoint(bp, "/v1/admin/purchases/{purchase_id}/refund", "POST",
          summary="Refund a purchase in full or in part through the payment provider (audited); the coins are "
                  "clawed back when its charge.refunded event arrives.",
          action="purchases.refund", body=RefundBody, response=RefundResult, status=201, also_ok=[200], idempotency="required",
          tags=["admin", "purchases"], error_statuses=[400, 401, 403, 404, 409, 422, 503])
def refund_purchase(call: Call, purchase_id: str) -> Reply:
    from chalicelib.purchases.refunds import refund_purchase as refund

    path_param("purchase_id", purchase_id, _valid_id)
    key = call.idempotency_key()
    answer, replayed = refund(call.principal.economy, purchase_id, call.body.amount, call.body.reason,
                              call.principal.actor, key)
    return Reply(answer, 200 if replayed else 201, {"Idempotent-Replayed": "true" if replayed else "false"})
