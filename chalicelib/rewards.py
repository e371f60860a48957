"""Rewards: coins minted for daily claims, quests, referrals and finished courses.

One engine behind Discord and ``POST /v1/users/{user_id}/rewards``. Every
reward is one ledger operation (``rewards`` system account -> the user's
``available``, entry type ``reward``) under a key that makes it happen once:

=================  ==================================  =========================================
type               ledger key                          once per
=================  ==================================  =========================================
daily              ``daily:<user>:<YYYY-MM-DD>``       user and UTC day
quest              ``quest:<user>:<YYYY-MM-DD>``       user and UTC day (first correct answer)
referral           ``referral:<referred user>``        referred user, ever (one referrer wins)
course_completion  ``course:<user>:<course id>``       user and course
=================  ==================================  =========================================

Keys are built by ``keys.join`` (each id percent-escaped, so user ``a:b`` and
course ``c`` never share ``course:a:b:c`` with user ``a`` and course ``b:c``);
the referred user is one whole value (``keys.tag``).

The streak, badges and quest state live in the player profile
(``db/players.py``), written as a ``SideWrite`` of the same operation and
conditioned on what the claim read: two racing clicks give one credit (the
second replays the first), and a claim that read a stale profile retries.

Amounts are per-economy tunables (``EconomyModel.tunables``), defaults in
``RewardTunables``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Dict, List, Optional

from chalicelib import errors, keys, ledger
from chalicelib.db.engine import get_client, table_name
from chalicelib.ids import iso, now_iso, utc_now
from chalicelib.ledger import Leg, Outcome, Posted, SideWrite, codec
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.ledger.earlier import replay_earlier
from chalicelib.ledger.wallets import find_wallet
from chalicelib.streaks import DailyRule, badges_after, daily_reward, next_claim_at, next_streak, parse_day

REWARD_TYPES = ("daily", "quest", "referral", "course_completion")
_REF = re.compile(r"^[\x21-\x7e]{1,128}$")
_DAILY_ATTEMPTS = 8


@dataclass(frozen=True)
class RewardTunables:
    """Coins per reward; an economy overrides any of them in its ``tunables`` map."""

    daily_base: int = 10
    daily_streak_bonus: int = 2  # per streak day after the first
    daily_cap: int = 50
    quest_reward: int = 15
    referral_reward: int = 100
    course_completion_reward: int = 50

    @property
    def daily_rule(self) -> DailyRule:
        return DailyRule(self.daily_base, self.daily_streak_bonus, self.daily_cap)

    def as_dict(self) -> Dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """A player's reward state (all zeros for someone who never claimed)."""

    user_id: str
    streak: int = 0
    best_streak: int = 0
    last_daily: Optional[str] = None
    daily_count: int = 0
    badges: List[str] = field(default_factory=list)
    quest_date: Optional[str] = None
    quest_correct: bool = False
    quests_won: int = 0

    def streak_on(self, day: date) -> int:
        """The streak as it stands on ``day``: 0 once a day was missed."""
        last = parse_day(self.last_daily)
        if last is None or (day - last).days > 1:
            return 0
        return self.streak


class _ProfileMoved(Exception):
    """The profile changed between our read and our write: read again."""


def today_utc() -> date:
    return utc_now().date()


def get_tunables(economy: str) -> RewardTunables:
    """The economy's reward amounts: its own where set (non-negative ints), defaults otherwise."""
    response = get_client().get_item(
        TableName=table_name("economies"), Key={"economy_id": {"S": economy}}, ProjectionExpression="tunables"
    )
    stored = codec.decode_item(response.get("Item") or {}).get("tunables") or {}
    defaults = RewardTunables()
    values = {}
    for name, default in asdict(defaults).items():
        value = stored.get(name, default)
        values[name] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
    return RewardTunables(**values)


def get_profile(economy: str, user_id: str) -> Profile:
    response = get_client().get_item(
        TableName=table_name("players"),
        Key={"economy": {"S": economy}, "user_id": {"S": user_id}},
        ConsistentRead=True,
    )
    item = codec.decode_item(response.get("Item") or {})
    return Profile(
        user_id=user_id,
        streak=item.get("streak", 0),
        best_streak=item.get("best_streak", 0),
        last_daily=item.get("last_daily"),
        daily_count=item.get("daily_count", 0),
        badges=list(item.get("badges") or []),
        quest_date=item.get("quest_date"),
        quest_correct=bool(item.get("quest_correct")),
        quests_won=item.get("quests_won", 0),
    )


def grant(economy: str, user_id: str, type: str, ref: Optional[str] = None, *, today: Optional[date] = None) -> Outcome:
    """The rewards API: grant reward ``type`` to ``user_id`` under its once-only rule.

    A repeat (the same daily/quest day, course, or referral by the same referrer)
    replays the first result (``Outcome.replayed``). Raises ValidationFailedError
    (unknown type, missing or bad ``ref``), SelfReferralError, AccountFrozenError,
    RewardAlreadyClaimedError (another referrer already got this referred user;
    today's quest already answered), ContentionError.
    """
    if type not in REWARD_TYPES:
        raise errors.ValidationFailedError(f"'type' must be one of {', '.join(REWARD_TYPES)}.", field="type")
    if ref is not None and not _REF.match(ref):
        raise errors.ValidationFailedError("'ref' must be 1-128 printable ASCII characters.", field="ref")
    if type == "daily":
        return claim_daily(economy, user_id, today=today, ref=ref)
    if type == "quest":
        return claim_quest(economy, user_id, today=today, ref=ref)
    if not ref:
        raise errors.ValidationFailedError(f"A {type} reward needs 'ref'.", field="ref")
    if type == "referral":
        return claim_referral(economy, user_id, ref)
    return claim_course(economy, user_id, ref)


def claim_daily(economy: str, user_id: str, *, today: Optional[date] = None, ref: Optional[str] = None) -> Outcome:
    """Pay today's daily reward once; a repeat today replays the first claim.

    The streak continues when the last claim was yesterday, else restarts at 1.
    Raises AccountFrozenError, ContentionError.
    """
    day = today or today_utc()
    _refuse_frozen(economy, user_id)
    tunables = get_tunables(economy)
    fp = ledger.fingerprint("reward", "daily", economy, user_id, day.isoformat())
    for _ in range(_DAILY_ATTEMPTS):
        profile = get_profile(economy, user_id)
        last = parse_day(profile.last_daily)
        if last is not None and last > day:
            # Another container's clock is already in tomorrow: that claim stands.
            raise errors.RewardAlreadyClaimedError(type="daily", next_claim_at=iso(next_claim_at(last)))
        if last is not None and last == day:
            # Claimed already: the post below replays today's operation. Should
            # there be none, the side write's condition refuses to pay again.
            streak = max(profile.streak, 1)
        else:
            streak = next_streak(last, profile.streak, day)
        amount = daily_reward(streak, tunables.daily_rule)
        badges = badges_after(streak, profile.badges)
        new_badges = [b for b in badges if b not in profile.badges]
        extra = {
            "streak": streak,
            "badges": badges,
            "new_badges": new_badges,
            "next_claim_at": iso(next_claim_at(day)),
            "date": day.isoformat(),
        }
        side = SideWrite(_daily_profile_write(economy, user_id, day, profile, streak, badges), _daily_conflict(day))
        try:
            return _post(economy, user_id, "daily", keys.join("daily", user_id, day.isoformat()), fp, amount, ref,
                         extra, [side], {"reward": "daily", "streak": streak})
        except _ProfileMoved:
            continue
    raise errors.ContentionError(user_id=user_id)


def _daily_conflict(day: date) -> Any:
    def conflict(item: Optional[Dict[str, Any]]) -> Exception:
        last = parse_day((item or {}).get("last_daily"))
        if last is not None and last >= day:
            return errors.RewardAlreadyClaimedError(type="daily", next_claim_at=iso(next_claim_at(last)))
        return _ProfileMoved()

    return conflict


def _daily_profile_write(
    economy: str, user_id: str, day: date, profile: Profile, streak: int, badges: List[str]
) -> Dict[str, Any]:
    values: Dict[str, Any] = {
        ":s": {"N": str(streak)},
        ":d": {"S": day.isoformat()},
        ":b": {"N": str(max(streak, profile.best_streak))},
        ":badges": codec.encode(badges),
        ":one": {"N": "1"},
        ":zero": {"N": "0"},
        ":t": {"S": now_iso()},
    }
    condition = "(attribute_not_exists(last_daily) OR last_daily < :d)"
    if profile.last_daily is None:
        condition += " AND attribute_not_exists(last_daily)"
    else:
        condition += " AND last_daily = :seen"
        values[":seen"] = {"S": profile.last_daily}
    return {
        "Update": {
            "TableName": table_name("players"),
            "Key": {"economy": {"S": economy}, "user_id": {"S": user_id}},
            "UpdateExpression": (
                "SET streak = :s, last_daily = :d, best_streak = :b, badges = :badges, updated_at = :t, "
                "daily_count = if_not_exists(daily_count, :zero) + :one"
            ),
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def claim_quest(
    economy: str, user_id: str, *, today: Optional[date] = None, ref: Optional[str] = None
) -> Outcome:
    """Pay the quest reward for today's first correct answer.

    A repeat of today's claim replays it. Raises RewardAlreadyClaimedError when
    today's quest was already answered (wrongly), AccountFrozenError.
    """
    day = today or today_utc()
    _refuse_frozen(economy, user_id)
    amount = get_tunables(economy).quest_reward
    fp = ledger.fingerprint("reward", "quest", economy, user_id, day.isoformat())
    write = _quest_profile_write(economy, user_id, day, correct=True)
    side = SideWrite({"Update": write}, _quest_done(day))
    extra = {"date": day.isoformat(), "next_quest_at": iso(next_claim_at(day))}
    return _post(economy, user_id, "quest", keys.join("quest", user_id, day.isoformat()), fp, amount, ref, extra,
                 [side], {"reward": "quest"})


def record_quest_miss(economy: str, user_id: str, *, today: Optional[date] = None) -> None:
    """A wrong answer: no coins, and no other try until tomorrow.

    Raises RewardAlreadyClaimedError when today's quest was already answered.
    """
    day = today or today_utc()
    client = get_client()
    try:
        client.update_item(**_quest_profile_write(economy, user_id, day, correct=False))
    except client.exceptions.ConditionalCheckFailedException:
        raise _quest_done(day) from None


def _quest_profile_write(economy: str, user_id: str, day: date, *, correct: bool) -> Dict[str, Any]:
    update = "SET quest_date = :d, quest_correct = :c, updated_at = :t"
    values = {":d": {"S": day.isoformat()}, ":c": {"N": "1" if correct else "0"}, ":t": {"S": now_iso()}}
    if correct:
        update += ", quests_won = if_not_exists(quests_won, :zero) + :one"
        values.update({":zero": {"N": "0"}, ":one": {"N": "1"}})
    return {
        "TableName": table_name("players"),
        "Key": {"economy": {"S": economy}, "user_id": {"S": user_id}},
        "UpdateExpression": update,
        "ConditionExpression": "attribute_not_exists(quest_date) OR quest_date <> :d",
        "ExpressionAttributeValues": values,
    }


def _quest_done(day: date) -> errors.RewardAlreadyClaimedError:
    return errors.RewardAlreadyClaimedError(
        "Today's quest was already answered; the next one opens at midnight UTC.",
        type="quest", next_quest_at=iso(next_claim_at(day)),
    )


def claim_referral(economy: str, user_id: str, referred: str) -> Outcome:
    """Pay ``user_id`` for referring ``referred``, once per referred user ever.

    Raises ValidationFailedError (bad referred id), SelfReferralError,
    RewardAlreadyClaimedError (another referrer was paid for this user),
    AccountFrozenError.
    """
    if not valid_user_id(referred):
        raise errors.ValidationFailedError("'ref' must be the referred user's id.", field="ref")
    if referred == user_id:
        raise errors.SelfReferralError(user_id=user_id)
    _refuse_frozen(economy, user_id)
    amount = get_tunables(economy).referral_reward
    fp = ledger.fingerprint("reward", "referral", economy, user_id, referred)
    try:
        return _post(economy, user_id, "referral", keys.tag("referral", referred), fp, amount, referred, {}, [],
                     {"reward": "referral", "referred": referred})
    except errors.IdempotencyKeyReusedError:
        raise errors.RewardAlreadyClaimedError(
            "Another user was already rewarded for referring this user.", type="referral", ref=referred
        ) from None


def claim_course(economy: str, user_id: str, course_id: str) -> Outcome:
    """Pay ``user_id`` for finishing ``course_id``, once per user and course.

    Raises AccountFrozenError.
    """
    _refuse_frozen(economy, user_id)
    amount = get_tunables(economy).course_completion_reward
    fp = ledger.fingerprint("reward", "course_completion", economy, user_id, course_id)
    earlier = replay_earlier(economy, ("course", user_id, course_id), fp)
    if earlier is not None:  # claimed before keys were escaped: replay it, never pay twice
        return earlier
    return _post(economy, user_id, "course_completion", keys.join("course", user_id, course_id), fp, amount,
                 course_id, {}, [], {"reward": "course_completion", "course": course_id})


def _refuse_frozen(economy: str, user_id: str) -> None:
    if not valid_user_id(user_id):
        raise errors.ValidationFailedError("Invalid user_id.", field="user_id")
    wallet = find_wallet(economy, user_id)
    if wallet is not None and wallet.frozen:
        raise errors.AccountFrozenError(user_id=user_id)


def _post(
    economy: str,
    user_id: str,
    type: str,
    key: str,
    fp: str,
    amount: int,
    ref: Optional[str],
    extra: Dict[str, Any],
    sides: List[SideWrite],
    meta: Dict[str, Any],
) -> Outcome:
    if amount <= 0:
        # An economy that set a reward to 0 pays nothing: there is nothing to post.
        raise errors.BusinessRuleError("This reward is switched off in this economy.", type=type)

    def respond(posted: Posted) -> Dict[str, Any]:
        after = posted.user(user_id)
        return {
            "transaction_id": posted.op_id,
            "user_id": user_id,
            "type": type,
            "amount": amount,
            "ref": ref,
            "balance": after.as_dict(),
            "seq": after.seq,
            "created_at": posted.created_at,
            **extra,
        }

    return ledger.post(
        economy, key, fp, "reward",
        [Leg(ledger.user(user_id), amount), Leg(ledger.system("rewards"), -amount)],
        respond=respond, reason=f"{type.replace('_', ' ')} reward", ref=ref, meta=meta, side_writes=sides,
    )
