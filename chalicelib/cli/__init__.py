"""The operator CLI: ``python -m chalicelib.cli <command>`` (``main.py`` lists them).

Owns: tables, seed, API keys, game servers, ``check``, ``jobs run|list|serve``,
export/restore (``ops.py``) and the Discord side (``discord.py``: register,
link, role, question-add, dev-key). Deployed with the app, so it imports
nothing of ``scripts/``: the dev-only ``discord send`` lives in
``scripts/discord_send.py`` and the CLI only starts it from a checkout.
"""
