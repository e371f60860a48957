"""The game server redeems a voucher code: ``POST /v1/webhooks/redeem {code, player_id}``.

The route verifies the signature (``chalicelib.tenancy.game_servers.verify_redeem``:
the server named in ``X-Coinhall-Server`` and its secret) on the raw body
before anything is parsed; a bad one is 401 and nothing is read or written.
The server belongs to one economy, and only that economy's vouchers exist for
it: another economy's code is ``voucher_not_found`` like an unknown one, and
nothing of it is read further or changed. Then:

* the first valid redeem of a pending voucher settles its order (one ledger
  operation under the order's resolve key, which also marks the voucher
  redeemed by ``player_id`` and records the sale) -> 200, ``replayed: false``;
* any later redeem of that code, concurrent or not, by anyone, finds that
  operation and answers its stored result -> 200, ``replayed: true`` (the
  ``redeemed_by`` in it says who redeemed first); the plugin hands out the
  goods only when ``replayed`` is false or when ``redeemed_by`` is its player
  and it has not yet delivered that ``order_id``;
* a code whose order was refunded, cancelled or is past ``VOUCHER_TIMEOUT_H``
  -> 409 ``voucher_not_redeemable`` (an expired one is refunded on the spot);
* an unknown code -> 404 ``voucher_not_found``.
"""
from __future__ import annotations

from typing import Any, Dict

from chalicelib.core import errors
from chalicelib.core.ids import now_iso
from chalicelib.market import orders, settlement
from chalicelib.market.fulfilment import vouchers
from chalicelib.market.store.vouchers import find_voucher

_TOKEN = "redeem"  # every redeem of a code shares it: the second replays the first


def _answer(result: Dict[str, Any], replayed: bool) -> Dict[str, Any]:
    order = {k: v for k, v in result.items() if k not in ("balance",)}
    return {"result": "redeemed", "replayed": replayed, "order_id": order["order_id"],
            "player_id": order.get("redeemed_by"), "order": order}


def redeem(economy: str, code: str, player_id: str) -> Dict[str, Any]:
    """Redeem ``economy``'s voucher ``code`` for ``player_id`` (see the module docstring).

    Raises VoucherNotFoundError, VoucherNotRedeemableError, ContentionError.
    """
    hashed = vouchers.code_hash(code)
    voucher = find_voucher(hashed) if hashed else None
    if voucher is None or voucher.economy != economy:
        raise errors.VoucherNotFoundError()
    order_id = voucher.order_id
    order = orders.find_order(economy, order_id)
    if order is None:
        raise errors.VoucherNotFoundError()
    if order["status"] == "pending" and order["expires_at"] <= now_iso():
        settlement.expire_if_due(economy, order_id, now_iso())
        order = orders.find_order(economy, order_id) or order
    if order["status"] in ("refunded", "cancelled"):
        raise errors.VoucherNotRedeemableError(f"This voucher's order was {order['status']}.",
                                               status=order["status"], order_id=order_id)
    try:
        outcome = settlement.fulfil(economy, order_id, via="voucher", token=_TOKEN, player_id=player_id, order=order)
    except errors.OrderNotPendingError:
        # Resolved between our read and our write: by a refund, or by a redeem
        # whose operation the ledger would have replayed (then this cannot happen).
        current = orders.find_order(economy, order_id) or order
        raise errors.VoucherNotRedeemableError(f"This voucher's order was {current['status']}.",
                                               status=current["status"], order_id=order_id) from None
    return _answer(outcome.result, outcome.replayed)
