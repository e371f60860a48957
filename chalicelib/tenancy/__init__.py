"""Who the tenants are: economies, their API keys, the audit trail, Discord guilds and game servers.

Owns the ``economies`` (its record; the ``tunables`` map is the capabilities'),
``api_keys``, ``audit``, ``discord_guilds`` and ``game_servers`` tables
(``store.py``, the only module here that touches DynamoDB). Imports only the
ledger, runtime, db and core: what a new economy starts with (packs, quest
questions) is given by the caller (``discord/guild_setup.py``).

* ``economies``    an economy's record, created on first use;
* ``apikeys``      keys minted once, stored hashed, cached per container;
* ``audit``        audit rows written in the transaction of the change they describe;
* ``roles``        the role matrix every operator channel asks (``may(principal, action)``);
* ``guilds``       a Discord guild's economy, role map, channels;
* ``game_servers`` game servers that sign voucher redeems with their own secret.
"""
