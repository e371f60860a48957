"""Operations: what operators and the scheduler do to a running economy, above the capabilities.

Owns: operator wallet actions (``admin``: adjust, freeze, unfreeze, audited,
through the ledger's one door), reconciliation (``reconcile/``: the books
checked against their entries, overdue expiries repaired), export/restore
(``backup``), the daily digest (``digest``), leaderboard snapshots
(``leaderboard``) and the engine health check (``health``). Table access is in
``store.py`` (and ``backup_store.py``, ``reconcile/store.py``); nothing here
imports the Discord adapter: what Discord should show is published on the
queue (``discord.log``, ``leaderboard.updated``). Start with ``admin.py``.
"""
