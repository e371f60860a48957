"""Spending: what players do with coins they hold.

This package owns spends and tips (``spend.py``), gifts between players
(``transfers.py``), priced content and its unlocks (``content.py``,
``unlocks.py``), the economy's creator share and escrow fee (``rates.py``), and
the records of pending transfers: holds and job escrows (``holds.py``,
``escrows.py``), whose coins ``ledger.pending`` reserves and resolves once. Its
tables (holds, content, entitlements, the economy's tunables) are reached only
through ``store.py``; every coin moves through ``ledger``.
"""
