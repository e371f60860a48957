"""Grants: coins minted for daily claims, quests, referrals and finished courses.

(The HTTP surface says "rewards": ``POST /v1/users/{user_id}/rewards``; in the
code a payout is a *grant*, and "reward" is left to the shop's catalog.)

One engine behind Discord and ``POST /v1/users/{user_id}/rewards``. Every
grant is one ledger operation (``rewards`` system account -> the user's
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
(``rewards/store.py``, table ``players``), written as a ``SideWrite`` of the same operation and
conditioned on what the claim read: two racing clicks give one credit (the
second replays the first), and a claim that read a stale profile retries.

Amounts are per-economy settings (``settings.py``); a course completion
pays the course's own ``reward`` from the course registry (``courses.py``).

Per-type rules, checked before anything is paid: a **referral** names a
referred user who has a wallet in this economy, is not the referrer, and was
never referred before (the ledger key); the referrer must have a wallet too
(a referral pays a member for bringing another, so neither side may be an id
made up for the occasion). A **course completion** names a course the economy
registered (404 ``course_not_found`` otherwise), checked again inside the
paying transaction. Every grant records its grantor (``Grantor``) in the
entry's meta and the response (``granted_by``); one through an API key also
takes its amount from that key's daily budget in the same transaction
(``budget.py``).

An operator's active ``reward_multiplier`` event (``tenancy/events.py``) that
names the grant's type multiplies the amount (floored); the entry's meta and
the answer record ``event_id``, ``multiplier_bps`` and ``base_amount``, and the
budget takes the multiplied amount. A replay answers as the first grant did,
event or no event (the fingerprint never held the amount).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Dict, List, Optional

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.ids import iso, utc_now
from chalicelib.ledger import Leg, Operation, Outcome, Posted, SideWrite
from chalicelib.ledger.accounts import valid_user_id
from chalicelib.ledger.earlier import replay_earlier
from chalicelib.ledger.wallets import Wallet, find_wallet
from chalicelib.rewards import budget as grant_budget, courses, store
from chalicelib.rewards.budget import Grantor
from chalicelib.rewards.settings import GrantSettings, get_tunables
from chalicelib.rewards.streaks import badges_after, daily_grant_amount, next_claim_at, next_streak, parse_day
from chalicelib.tenancy import events

__all__ = ["GRANT_TYPES", "GrantSettings", "Grantor", "Profile", "claim_course", "claim_daily", "claim_quest",
           "claim_referral", "get_profile", "get_tunables", "grant", "record_quest_miss", "today_utc"]

# The grant types of the rewards API (its ``type`` field).
GRANT_TYPES = ("daily", "quest", "referral", "course_completion")
_REF = re.compile(r"^[\x21-\x7e]{1,128}$")
_DAILY_ATTEMPTS = 8
_COURSE_ATTEMPTS = 8


@dataclass(frozen=True)
class Profile:
    """A player's grant state: streak, badges, quests (all zeros for someone who never claimed)."""

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


class _CourseMoved(Exception):
    """The course's price (``reward``) changed between our read and our write: read again."""


def today_utc() -> date:
    return utc_now().date()


def get_profile(economy: str, user_id: str) -> Profile:
    """The player's grant state (a consistent read)."""
    item = store.get_player(economy, user_id)
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


def grant(
    economy: str, user_id: str, type: str, ref: Optional[str] = None, *, grantor: Grantor,
    today: Optional[date] = None,
) -> Outcome:
    """The rewards API: grant ``type`` to ``user_id`` under its once-only and per-type rules.

    ``grantor`` is recorded on the entry; an API key's grant also takes its
    amount from the key's daily budget. A repeat (the same daily/quest day,
    course, or referral by the same referrer) replays the first result
    (``Outcome.replayed``) and takes no budget. Raises ValidationFailedError
    (unknown type, missing or bad ``ref``), SelfReferralError, UserNotFoundError
    (a referral's referrer or referred user has no wallet), CourseNotFoundError,
    AccountFrozenError, RewardAlreadyClaimedError (another referrer already got
    this referred user; today's quest already answered),
    GrantBudgetExceededError, GrantsDisabledError, ContentionError.
    """
    if type not in GRANT_TYPES:
        raise errors.ValidationFailedError(f"'type' must be one of {', '.join(GRANT_TYPES)}.", field="type")
    if ref is not None and not _REF.match(ref):
        raise errors.ValidationFailedError("'ref' must be 1-128 printable ASCII characters.", field="ref")
    if type == "daily":
        return claim_daily(economy, user_id, today=today, ref=ref, grantor=grantor)
    if type == "quest":
        return claim_quest(economy, user_id, today=today, ref=ref, grantor=grantor)
    if not ref:
        raise errors.ValidationFailedError(f"A {type} reward needs 'ref'.", field="ref")
    if type == "referral":
        return claim_referral(economy, user_id, ref, grantor=grantor)
    return claim_course(economy, user_id, ref, grantor=grantor)


def claim_daily(
    economy: str, user_id: str, *, today: Optional[date] = None, ref: Optional[str] = None,
    grantor: Optional[Grantor] = None,
) -> Outcome:
    """Pay today's daily grant once; a repeat today replays the first claim.

    The streak continues when the last claim was yesterday, else restarts at 1.
    ``grantor`` defaults to the player claiming through Discord. Raises
    AccountFrozenError, GrantBudgetExceededError, GrantsDisabledError, ContentionError.
    """
    day = today or today_utc()
    grantor = grantor or Grantor.discord(user_id)
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
        amount = daily_grant_amount(streak, tunables.daily_rule)
        badges = badges_after(streak, profile.badges)
        new_badges = [b for b in badges if b not in profile.badges]
        extra = {
            "streak": streak,
            "badges": badges,
            "new_badges": new_badges,
            "next_claim_at": iso(next_claim_at(day)),
            "date": day.isoformat(),
        }
        write = store.daily_profile_write(economy, user_id, day, profile.last_daily, streak, profile.best_streak,
                                          badges)
        side = SideWrite(write, _daily_conflict(day))
        try:
            return _post(economy, user_id, "daily", keys.join("daily", user_id, day.isoformat()), fp, amount,
                               ref, extra, [side], {"reward": "daily", "streak": streak}, grantor, tunables)
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


def claim_quest(
    economy: str, user_id: str, *, today: Optional[date] = None, ref: Optional[str] = None,
    grantor: Optional[Grantor] = None,
) -> Outcome:
    """Pay the quest grant for today's first correct answer.

    A repeat of today's claim replays it. ``grantor`` defaults to the player
    answering through Discord. Raises RewardAlreadyClaimedError when today's
    quest was already answered (wrongly), AccountFrozenError,
    GrantBudgetExceededError, GrantsDisabledError.
    """
    day = today or today_utc()
    grantor = grantor or Grantor.discord(user_id)
    _refuse_frozen(economy, user_id)
    tunables = get_tunables(economy)
    fp = ledger.fingerprint("reward", "quest", economy, user_id, day.isoformat())
    write = store.quest_profile_write(economy, user_id, day, correct=True)
    side = SideWrite({"Update": write}, _quest_done(day))
    extra = {"date": day.isoformat(), "next_quest_at": iso(next_claim_at(day))}
    return _post(economy, user_id, "quest", keys.join("quest", user_id, day.isoformat()), fp,
                       tunables.quest_reward, ref, extra, [side], {"reward": "quest"}, grantor, tunables)


def record_quest_miss(economy: str, user_id: str, *, today: Optional[date] = None) -> None:
    """A wrong answer: no coins, and no other try until tomorrow.

    Raises RewardAlreadyClaimedError when today's quest was already answered.
    """
    day = today or today_utc()
    if not store.record_quest_answer(economy, user_id, day, correct=False):
        raise _quest_done(day)


def _quest_done(day: date) -> errors.RewardAlreadyClaimedError:
    return errors.RewardAlreadyClaimedError(
        "Today's quest was already answered; the next one opens at midnight UTC.",
        type="quest", next_quest_at=iso(next_claim_at(day)),
    )


def claim_referral(economy: str, user_id: str, referred: str, *, grantor: Grantor) -> Outcome:
    """Pay ``user_id`` for referring ``referred``, once per referred user ever.

    Both must have a wallet in this economy. Raises ValidationFailedError (bad
    referred id), SelfReferralError, UserNotFoundError (referrer or referred),
    RewardAlreadyClaimedError (another referrer was paid for this user),
    AccountFrozenError, GrantBudgetExceededError, GrantsDisabledError.
    """
    if not valid_user_id(referred):
        raise errors.ValidationFailedError("'ref' must be the referred user's id.", field="ref")
    if referred == user_id:
        raise errors.SelfReferralError(user_id=user_id)
    referrer = _refuse_frozen(economy, user_id)
    if referrer is None:
        raise errors.UserNotFoundError("The referrer has no wallet in this economy.", user_id=user_id,
                                       field="user_id")
    if find_wallet(economy, referred) is None:
        raise errors.UserNotFoundError("The referred user has no wallet in this economy.", user_id=referred,
                                       field="ref")
    tunables = get_tunables(economy)
    fp = ledger.fingerprint("reward", "referral", economy, user_id, referred)
    try:
        return _post(economy, user_id, "referral", keys.tag("referral", referred), fp,
                           tunables.referral_reward, referred, {}, [], {"reward": "referral", "referred": referred},
                           grantor, tunables)
    except errors.IdempotencyKeyReusedError:
        raise errors.RewardAlreadyClaimedError(
            "Another user was already rewarded for referring this user.", type="referral", ref=referred
        ) from None


def claim_course(economy: str, user_id: str, course_id: str, *, grantor: Grantor) -> Outcome:
    """Pay ``user_id`` the course's registered price for finishing ``course_id``, once per user and course.

    The course is checked again inside the paying transaction: a course
    deleted meanwhile pays nothing, one whose price changed pays the new
    amount. Raises ValidationFailedError (not a course id), CourseNotFoundError,
    AccountFrozenError, GrantBudgetExceededError, GrantsDisabledError, ContentionError.
    """
    if not courses.valid_course_id(course_id):
        raise errors.ValidationFailedError("'ref' must be a course id (1-128 of A-Z a-z 0-9 _ . : @ | -).",
                                           field="ref")
    _refuse_frozen(economy, user_id)
    tunables = get_tunables(economy)
    fp = ledger.fingerprint("reward", "course_completion", economy, user_id, course_id)
    earlier = replay_earlier(economy, ("course", user_id, course_id), fp)
    if earlier is not None:  # claimed before keys were escaped: replay it, never pay twice
        return earlier
    for _ in range(_COURSE_ATTEMPTS):
        course = courses.find_course(economy, course_id)
        if not courses.offered(course):
            raise errors.CourseNotFoundError(course_id=course_id, field="ref")
        assert course is not None
        amount = int(course["reward"])
        side = SideWrite(store.course_offered_check(economy, course_id, amount), _course_conflict(course_id))
        try:
            return _post(economy, user_id, "course_completion", keys.join("course", user_id, course_id), fp, amount,
                         course_id, {"course_title": course["title"]}, [side],
                         {"reward": "course_completion", "course": course_id}, grantor, tunables)
        except _CourseMoved:
            continue
    raise errors.ContentionError(course_id=course_id)


def _course_conflict(course_id: str) -> Any:
    def conflict(item: Optional[Dict[str, Any]]) -> Exception:
        if not courses.offered(item):
            return errors.CourseNotFoundError(course_id=course_id, field="ref")
        return _CourseMoved()

    return conflict


def _refuse_frozen(economy: str, user_id: str) -> Optional[Wallet]:
    """The user's wallet (None when it never existed); AccountFrozenError when it is frozen."""
    if not valid_user_id(user_id):
        raise errors.ValidationFailedError("Invalid user_id.", field="user_id")
    wallet = find_wallet(economy, user_id)
    if wallet is not None and wallet.frozen:
        raise errors.AccountFrozenError(user_id=user_id)
    return wallet


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
    grantor: Grantor,
    tunables: GrantSettings,
) -> Outcome:
    """Post one grant (``rewards`` system account -> the user), its side writes and the key's budget with it.

    Raises BusinessRuleError when the economy switched this grant off (0 coins),
    and what ``ledger.post`` and the side writes raise.
    """
    if amount <= 0:
        # An economy that set a grant to 0 pays nothing: there is nothing to post.
        raise errors.BusinessRuleError("This reward is switched off in this economy.", type=type)
    event = events.active_for_grant(economy, type)
    if event is not None:
        # An operator's multiplier (tenancy/events.py): floored, recorded on the entry and in the answer.
        base, amount = amount, event.multiplied(amount)
        meta = {**meta, "event_id": event.event_id, "multiplier_bps": event.bps, "base_amount": base}
        extra = {**extra, "base_amount": base, "event": event.tag()}
    if grantor.key_id is not None:
        # The budget is the real UTC day the key spends, whatever day a claim is for.
        sides = [*sides, grant_budget.take(economy, grantor.key_id, amount, tunables.grant_daily_budget,
                                           today_utc())]

    def respond(posted: Posted) -> Dict[str, Any]:
        after = posted.user(user_id)
        return {
            "transaction_id": posted.op_id,
            "user_id": user_id,
            "type": type,
            "amount": amount,
            "ref": ref,
            "granted_by": grantor.by,
            "balance": after.as_dict(),
            "seq": after.seq,
            "created_at": posted.created_at,
            **extra,
        }

    return ledger.post(Operation(
        economy=economy, key=key, fingerprint=fp, type="reward",
        legs=(Leg(ledger.user(user_id), amount), Leg(ledger.system("rewards"), -amount)),
        respond=respond, reason=f"{type.replace('_', ' ')} reward", ref=ref,
        meta={**meta, "granted_by": grantor.by}, side_writes=sides,
    ))
