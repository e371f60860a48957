"""Buying coins with money: coin packs, checkout, Stripe's events, and the money they move.

Owns the ``purchases``, ``payments``, ``stripe_events`` and ``packs`` tables
(``store.py``, the only module here that touches DynamoDB). Open ``converge.py``
first: money comes in only when Stripe says a session was paid, exactly once
per purchase, and every later fact (refund, dispute) moves the ledger one
idempotent step at a time.

* ``packs``        what an economy sells (terms checked by ``pack_limits``);
* ``checkout``     a pending purchase and its Checkout Session (or local page);
* ``webhooks``     Stripe's events: record the fact, then converge;
* ``converge``     the credit, and the loop that takes whatever step the facts call for;
* ``steps``        the rules facts -> next step / status, and how a step is posted;
* ``debts``        dispute holds, clawbacks, settling debt;
* ``review``       an operator's retry of a step waiting for review;
* ``expiry``       the job that expires (or credits) stale pending purchases;
* ``views``        a purchase as the API shows it;
* ``stripe_gateway`` / ``stripe_events`` / ``local_checkout``  Stripe's API, its event shapes, the local stand-in.
"""
