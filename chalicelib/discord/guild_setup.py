"""A guild's economy on first use: created with the default coin packs and quest questions.

``tenancy.guilds`` creates the guild and its economy but knows neither packs
(purchases) nor questions (rewards): it calls the ``setup`` given here, so the
arrows point down (discord -> purchases, rewards -> tenancy).
"""
from __future__ import annotations

from chalicelib.purchases.packs import seed_packs
from chalicelib.rewards.quests import seed_questions
from chalicelib.tenancy import guilds
from chalicelib.tenancy.guilds import Guild


def stock_new_economy(economy: str) -> None:
    """What a new guild's economy starts with: the default packs and questions (where missing)."""
    seed_packs(economy)
    seed_questions(economy)


def ensure_guild(guild_id: str) -> Guild:
    """The guild's record, creating it and its stocked economy on first use. Raises ValidationFailedError."""
    return guilds.ensure_guild(guild_id, setup=stock_new_economy)


def link_guild(guild_id: str, economy: str) -> Guild:
    """Make ``guild_id`` use ``economy`` (created and stocked if missing). Only before first use.

    Raises ValidationFailedError; ConflictError when the guild already has another economy.
    """
    return guilds.link_guild(guild_id, economy, setup=stock_new_economy)
