"""Creating a purchase and its Checkout Session (or the local payment page)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, Optional

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.config import get_settings
from chalicelib.core.ids import iso, keyed_id, new_id, utc_now
from chalicelib.ledger import claims
from chalicelib.ledger.wallets import find_wallet
from chalicelib.purchases import packs, store
from chalicelib.purchases.pack_limits import pack_problems
from chalicelib.purchases.store import Purchase
from chalicelib.purchases.stripe_gateway import create_checkout_session
from chalicelib.purchases.views import purchase_view


def purchase_id_for(economy: str, key: Optional[str]) -> str:
    """A new purchase id; with a (namespaced) key, the one that key always names."""
    if key is None:
        return new_id("pur_")
    # The same (namespaced) key always names the same purchase, so a retried
    # checkout cannot open a second session (Stripe then dedupes on the purchase id too);
    # in the same ULID form as an unkeyed id, whichever route (Idempotency-Key, Discord) named it.
    return keyed_id("pur_", keys.join(economy, key, sep="|"))


def create_checkout(
    economy: str,
    user_id: str,
    pack_id: str,
    success_url: Optional[str] = None,
    cancel_url: Optional[str] = None,
    idempotency_key: Optional[str] = None,
    base_url: Optional[str] = None,
    *,
    key_namespace: str = "api",
) -> Dict[str, Any]:
    """A pending purchase and its Checkout Session (or local payment page).

    With a key (``key_namespace``: ``api`` for an Idempotency-Key, ``discord``
    for an interaction) the purchase claims it (``ledger/claims.py``) in the
    same transaction: a replay returns the same purchase, and a key another
    request took, on any route, is refused. Returns the purchase view plus
    ``replayed``. Raises PackNotFoundError, PackInactiveError,
    PackTermsInvalidError, AccountFrozenError, IdempotencyKeyReusedError,
    UnavailableError (Stripe did not answer; retry with the same key).
    """
    settings = get_settings()
    fp = ledger.fingerprint("checkout", economy, user_id, pack_id, success_url, cancel_url)
    base = (settings.public_url or base_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    key = keys.tag(key_namespace, idempotency_key) if idempotency_key is not None else None
    claim = claims.find(economy, key) if key is not None else None
    if claim is not None:
        return _replay_checkout(claims.replayed_ref(claim, fp, key)["purchase_id"], base)
    pack = packs.find_pack(economy, pack_id)
    if pack is None:
        raise errors.PackNotFoundError(pack_id=pack_id)
    if not pack.active:
        raise errors.PackInactiveError(pack_id=pack_id)
    # A pack stored before PUT /v1/admin/packs enforced these: nobody may pay for what cannot be credited.
    problems = pack_problems(pack.coins, pack.bonus_coins or 0, pack.price_amount, pack.currency)
    if problems:
        raise errors.PackTermsInvalidError(pack_id=pack_id, problems=problems)
    wallet = find_wallet(economy, user_id)
    if wallet is not None and wallet.frozen:
        raise errors.AccountFrozenError(user_id=user_id)

    purchase_id = purchase_id_for(economy, key)
    now = utc_now()
    record = Purchase(
        purchase_id,
        economy=economy,
        user_id=user_id,
        pack_id=pack_id,
        pack_name=pack.name,
        coins=int(pack.coins),
        bonus_coins=int(pack.bonus_coins or 0),
        amount=int(pack.price_amount),
        currency=pack.currency,
        mode="local" if settings.local_payments else "stripe",
        status="pending",
        fingerprint=fp,
        success_url=success_url or f"{base}/checkout/success?purchase_id={purchase_id}",
        cancel_url=cancel_url or f"{base}/checkout/cancel?purchase_id={purchase_id}",
        expires_at=iso(now + timedelta(minutes=settings.checkout_expires_min)),
        created_at=iso(now),
        due_shard=store.new_due_shard(),
    )
    if key is None:
        store.put_new(record)
    else:
        put = store.put_write(record)
        if not claims.commit([put, claims.claim_write(economy, key, fp, "checkout", {"purchase_id": purchase_id})]):
            return _replay_taken(economy, key, fp, purchase_id, base)
    return {**purchase_view(_open_session(record, base)), "replayed": False}


def _replay_checkout(purchase_id: str, base: str) -> Dict[str, Any]:
    """The purchase a key made, as it stands; its session opened if the first request died before."""
    record = store.load(purchase_id)
    if record is None:
        raise errors.PurchaseNotFoundError(purchase_id=purchase_id)
    return {**purchase_view(_open_session(record, base)), "replayed": True}


def _replay_taken(economy: str, key: str, fp: str, purchase_id: str, base: str) -> Dict[str, Any]:
    """The checkout's transaction found its key, or its purchase id, taken: a twin's replay or a refusal."""
    claim = claims.find(economy, key)
    if claim is not None:
        return _replay_checkout(claims.replayed_ref(claim, fp, key)["purchase_id"], base)
    # The purchase exists without a claim: made before keys were claimed.
    record = store.load(purchase_id)
    if record is None or record.fingerprint != fp or record.economy != economy:
        raise errors.IdempotencyKeyReusedError(ledger_key=key)
    return _replay_checkout(purchase_id, base)


# Stripe wants a session's expiry 30 minutes to 24 hours after the request that opens it.
SESSION_RETRY_MARGIN_MIN = 5


def _session_expires(record: Purchase) -> int:
    """The session's expiry in Unix seconds: one moment per purchase, from when it was made.

    A retry must send Stripe the very request it may already have run (same
    Idempotency-Key, same body, or Stripe answers ``idempotency_error`` for as long
    as the key lives), so nothing in it may come from the retry's own clock. The
    margin keeps a request Stripe never ran, sent again within it, above Stripe's
    30-minute minimum. The session may so outlive the purchase's own ``expires_at``
    by the margin: a payment after the expiry job ran still credits (facts only grow).
    """
    created = datetime.fromisoformat(record.created_at.replace("Z", "+00:00"))
    minutes = min(get_settings().checkout_expires_min + SESSION_RETRY_MARGIN_MIN, 24 * 60)
    return int((created + timedelta(minutes=minutes)).timestamp())


def _open_session(record: Purchase, base: str) -> Purchase:
    """The purchase with its session opened (as it was when it had one already)."""
    if record.session_id is not None:
        return record
    if record.mode == "local":
        session_id, url = "cs_local_" + record.purchase_id[4:], f"{base}/local/checkout/{record.purchase_id}"
    else:
        meta = {"economy": record.economy, "user_id": record.user_id, "pack_id": record.pack_id,
                "purchase_id": record.purchase_id}
        expires = _session_expires(record)
        params = {
            "mode": "payment",
            "line_items": [{
                "quantity": 1,
                "price_data": {
                    "currency": record.currency,
                    "unit_amount": int(record.amount),
                    "product_data": {
                        "name": record.pack_name,
                        "description": f"{int(record.coins)} coins + {int(record.bonus_coins)} bonus",
                    },
                },
            }],
            "client_reference_id": record.purchase_id,
            "metadata": meta,
            "payment_intent_data": {"metadata": meta},
            "success_url": record.success_url,
            "cancel_url": record.cancel_url,
            "expires_at": expires,
        }
        session = create_checkout_session(params, idempotency_key=record.purchase_id)
        session_id, url = session["id"], session["url"]
    updated = store.update(record.purchase_id, {"session_id": session_id, "checkout_url": url})
    assert updated is not None  # an unguarded update always writes
    return updated
