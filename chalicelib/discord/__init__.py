"""The Discord adapter: Coinhall inside Discord, an HTTP interactions endpoint, no gateway.

Owns: the signature check, the router, the views, the REST client, the slash
commands, role mapping, the hub channels, and the player/operator/market
interactions. It calls features only (never a table or ``ledger.post``
directly); its own tables (interactions, claims) are in ``store.py``.

Design overview
---------------
``POST /discord/interactions`` (``routes/discord.py``) verifies the Ed25519
signature over the raw bytes first (``signature.py``), then ``router.py``
answers PING and dispatches by command name or custom id. Flows answer within
Discord's 3 seconds from DynamoDB alone (``player.py``, ``giving.py``,
``operators.py``); anything that calls Discord or Stripe (``/coins-setup``, a
checkout) answers "thinking..." and finishes in the queue worker
(``worker.py``), which edits the original reply through the interaction
webhook. Money only moves through the features' own functions: rewards via
``chalicelib.rewards.grants``, gifts as ``transfer`` operations, operator actions via
``chalicelib.operations.admin``. Every player response is ephemeral (``views.py``).

Outbound calls go through ``rest.py`` (rate limits, retries, no token in logs).
Slash commands are defined once in ``commands.py``. A guild is an economy
(``chalicelib.tenancy.guilds``), created on first use.
"""
