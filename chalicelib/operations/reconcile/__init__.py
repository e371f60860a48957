"""Reconciliation: the ``reconcile`` jobs check every economy's books and repair overdue expiries.

``job.py`` runs it (per economy, under a lease, resumable); ``accounts.py``
checks one account against its entries; ``credits.py`` checks purchases
against their credits; ``repairs.py`` resolves what expiry jobs left overdue;
``state.py`` is the lease and checkpoint logic; ``store.py`` its table access.
"""
