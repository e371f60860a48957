"""Buy Coins (``discord/packs.py``): the coin packs as a select menu, then a Checkout link (deferred).

Choosing a pack may call Stripe, which can take longer than Discord's 3
seconds, so the choice is deferred and the worker creates the checkout (keyed by
the interaction id: a redelivery reuses the same purchase) and edits the reply
with a "Pay now" link: Stripe Checkout, or the local payment page in the local
stage without a Stripe key.
"""
from __future__ import annotations

from typing import Any, Dict

from chalicelib.core import errors
from chalicelib.discord import views
from chalicelib.discord.followups import defer
from chalicelib.discord.interaction import Interaction
from chalicelib.purchases.checkout import create_checkout
from chalicelib.purchases.packs import list_packs
from chalicelib.tenancy.guilds import Guild


def menu(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    return views.buy_menu(list_packs(guild.economy))


def choose(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    if len(ix.values) != 1 or not 0 < len(ix.values[0]) <= 64:
        raise errors.ValidationFailedError("Pick one pack.", field="pack_id")
    return defer(ix, guild, "checkout", {"pack_id": ix.values[0]})


def checkout(economy: str, user_id: str, pack_id: str, interaction_id: str) -> Dict[str, Any]:
    """The message body with the checkout link. Raises PackNotFoundError, PackInactiveError,
    AccountFrozenError, UnavailableError (Stripe)."""
    purchase = create_checkout(economy, user_id, pack_id, idempotency_key=interaction_id, key_namespace="discord")
    return views.checkout_ready(purchase, purchase["pack_name"])
