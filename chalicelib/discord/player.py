"""Player flows answered at once: My Card, Claim Daily, Quests, Leaderboard, Help.

Each takes the interaction and its guild and returns an ephemeral response;
they only touch DynamoDB (a few requests), well inside Discord's 3 seconds.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Dict

from chalicelib.core import errors, keys
from chalicelib.rewards import quests, grants as rewards
from chalicelib.discord import views
from chalicelib.discord.commands import ADMIN_COMMANDS, COMMANDS
from chalicelib.discord.hub import log_transaction
from chalicelib.discord.interaction import Interaction
from chalicelib.tenancy.guilds import Guild
from chalicelib.core.ids import iso
from chalicelib.ledger.history import list_entries
from chalicelib.ledger.wallets import find_wallet
from chalicelib.operations.leaderboard import get_snapshot
from chalicelib.rewards.streaks import next_claim_at


def card(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    wallet = find_wallet(guild.economy, ix.user_id)
    profile = rewards.get_profile(guild.economy, ix.user_id)
    snapshot = get_snapshot(guild.economy)
    recent = list_entries(guild.economy, ix.user_id, 3)[0] if wallet else []
    balances = wallet.as_dict() if wallet else {"available": 0, "held": 0, "earnings": 0}
    return views.card(ix.user_id, balances, profile.streak_on(rewards.today_utc()), profile.badges,
                      snapshot.rank_of(ix.user_id), snapshot.players, recent, frozen=bool(wallet and wallet.frozen))


def daily(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    try:
        outcome = rewards.claim_daily(guild.economy, ix.user_id)
    except errors.RewardAlreadyClaimedError as exc:
        profile = rewards.get_profile(guild.economy, ix.user_id)
        return views.daily_already(exc.details["next_claim_at"], profile.streak)
    result = outcome.result
    if outcome.replayed:
        return views.daily_already(result["next_claim_at"], result["streak"])
    log_transaction(guild, f"`+{result['amount']:,}` daily reward to <@{ix.user_id}> (streak {result['streak']})",
                    result["transaction_id"])
    return views.daily_claimed(result)


def quest(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    day = rewards.today_utc()
    profile = rewards.get_profile(guild.economy, ix.user_id)
    if profile.quest_date == day.isoformat():
        return views.quest_done(_next_quest(day), profile.quest_correct)
    question = quests.todays_question(guild.economy, ix.user_id, day)
    choices = question.choices(quests.seed_for(guild.economy, ix.user_id, day))
    reward = rewards.get_tunables(guild.economy).quest_reward
    answer_id = keys.join("quest", "answer", day.isoformat(), question.question_id)
    return views.quest_question(question.question, choices, answer_id, reward)


def quest_answer(ix: Interaction, guild: Guild, day_text: str, question_id: str) -> Dict[str, Any]:
    day = rewards.today_utc()
    if day_text != day.isoformat():
        return views.error("That question has expired: run /quest for today's.", "Quest expired")
    question = quests.todays_question(guild.economy, ix.user_id, day)
    if question.question_id != question_id or len(ix.values) != 1:
        return views.error("That is not your question today: run /quest.", "Quest")
    try:
        if question.is_correct(ix.values[0], quests.seed_for(guild.economy, ix.user_id, day)):
            outcome = rewards.claim_quest(guild.economy, ix.user_id, today=day, ref=question_id)
            if outcome.replayed:
                return views.quest_done(_next_quest(day), True)
            log_transaction(guild, f"`+{outcome.result['amount']:,}` quest reward to <@{ix.user_id}>",
                            outcome.result["transaction_id"])
            return views.quest_won(outcome.result)
        rewards.record_quest_miss(guild.economy, ix.user_id, today=day)
    except errors.RewardAlreadyClaimedError:
        profile = rewards.get_profile(guild.economy, ix.user_id)
        return views.quest_done(_next_quest(day), profile.quest_correct)
    return views.quest_lost(question.answer, _next_quest(day))


def leaderboard(ix: Interaction, guild: Guild) -> Dict[str, Any]:
    snapshot = get_snapshot(guild.economy)
    return views.leaderboard(snapshot.top(10), snapshot.players, snapshot.computed_at)


def help(ix: Interaction, guild: Guild) -> Dict[str, Any]:  # noqa: A001 - the command's name
    return views.help_view([(c["name"], c["description"]) for c in COMMANDS], ADMIN_COMMANDS)


def _next_quest(day: date) -> str:
    return iso(next_claim_at(day))
