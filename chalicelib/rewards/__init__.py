"""Grants: coins minted for daily claims, quests, referrals and finished courses.

In this package a payout is a *grant* ("reward" is the shop's catalog item,
``market/``); the public surface keeps its names (``POST
/v1/users/{user_id}/rewards``, ``quest_reward``, entry type ``reward``). Owns
the ``players``, ``courses`` and ``quest_questions`` tables, the grant
settings in the economy's ``tunables`` map and the grant-budget counters
(``store.py``, the only module here that touches DynamoDB). Open ``grants.py``
first.

* ``grants``    the one engine: each grant one ledger operation under a once-only key;
* ``budget``    who grants, and each API key's daily mint budget;
* ``courses``   the course registry (a completion pays the course's price);
* ``settings``  per-economy grant amounts;
* ``quests``    the daily trivia questions;
* ``streaks``   daily-streak arithmetic (pure).
"""
