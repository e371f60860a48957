"""The market: what an economy sells for coins, and what players sell each other.

It owns the shop's catalog (``catalog``: catalog items by SKU, their stock and
daily limits), player listings (``listings``: units of a SKU at a unit price,
with a fee set by ``pricing``), orders (``orders``: the buyer's coins in escrow
until delivery; ``settlement``: settled once or refunded), the price rollup (``pricing``:
the 7-day median and average that set floors and fees), delivery to the game
server (``fulfilment/``: signed API calls by queue, or single-use vouchers) and
the events it publishes (``events``: queued topics that the Discord adapter's
``notices`` consume). Its tables are reached only through ``store/``.

Money moves only through the ledger: an order is an escrow (a pending
transfer), resolved exactly once under one key. Orders know neither the shop
nor listings: each sells through a *unit source* it registers with
``orders``; ``settlement`` (the one user of the sources) imports both. ``names``
is the leaf the edge validates with at cold start: importing this package loads
nothing else.
"""
