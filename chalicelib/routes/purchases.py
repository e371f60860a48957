"""Buying coins: checkout, purchase status, the Stripe webhook, pack admin, debts."""
from __future__ import annotations

import re

from chalice import Blueprint

from chalicelib.core import errors
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import Call, Reply, endpoint, path_param, replied
from chalicelib.routes.models import (
    Checkout, CheckoutBody, Pack, PackBody, PackList, Purchase, RetryBody, SettleDebtResult,
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
