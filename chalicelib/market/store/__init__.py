"""The market's table access, one module per table group; nothing else in ``market/`` touches DynamoDB.

* ``catalog``   the ``rewards`` table: catalog items (``CatalogItem``), their audited
                edits, and the stock writes an order commits with its money;
* ``listings``  the ``listings`` table: player listings, their unit writes, the due index;
* ``orders``    the ``orders`` table: the order record, its resolution write, delivery notes;
* ``vouchers``  the ``vouchers`` table: a voucher's hash, opened and closed with its order;
* ``counters``  the ``market_counters`` table: per-buyer limit counters and claim-once notices;
* ``prices``    the ``prices``, ``price_history`` and ``sales`` tables: the rollup's rows.

Writes that must commit with money are ``SideWrite`` factories (``stock_reserve``,
``listing_reserve``, ``order_put``, ``order_resolve``, ...), handed to the
ledger by ``orders``; the rest are plain reads and writes. Items are decoded
(plain values, ints for numbers) through ``db.ops``: the wire format stays in ``db/``.
"""
