"""Delivering what was bought to the game server.

Two modes, chosen per SKU:

* ``api`` (``minecraft.py`` + ``consumer.py``): a queue consumer POSTs the order
  to ``MINECRAFT_API_URL``, signed (``chalicelib.core.signing``) with
  ``MINECRAFT_API_KEY`` and the order id as ``Idempotency-Key``; a 2xx settles
  the escrow, a 4xx refunds it, a timeout or 5xx is retried with exponential
  backoff and jitter until ``MINECRAFT_MAX_ATTEMPTS``, then refunded.
* ``voucher`` (``vouchers.py``): the buyer gets a single-use code; the game
  server redeems it through the signed ``POST /v1/webhooks/redeem``, which
  settles the escrow once; ``expire-vouchers`` refunds codes not redeemed
  within ``VOUCHER_TIMEOUT_H``.

Either way the money moves in ``chalicelib.market.orders`` (settle or refund the
order's hold, exactly once).
"""
