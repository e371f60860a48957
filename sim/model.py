"""The simulator's own account of the money, moved only by the answers the API gave."""
from __future__ import annotations

from typing import Any, Dict, List, Set, Tuple

BUCKETS = ("available", "held", "earnings", "debt")


class Violation(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Model:
    def __init__(self) -> None:
        self.wallets: Dict[str, Dict[str, int]] = {}
        self.reasons: Dict[str, Set[str]] = {}  # user -> why the wallet is frozen
        self.holds: Dict[str, Dict[str, Any]] = {}  # active holds and escrows by id
        self.unlocks: Dict[Tuple[str, str], Any] = {}  # (user, content) -> the charging transaction
        # Grants by their once-only key (sim/ops_rewards.py): ("daily"|"quest", user, UTC day),
        # ("referral", referred), ("course", user, course) -> {"tx", "amount", "user"}.
        self.grants: Dict[Tuple[Any, ...], Dict[str, Any]] = {}
        self.streaks: Dict[str, Tuple[Any, int]] = {}  # user -> (last daily claim's UTC day, the streak it made)
        self.grant_budget: Dict[Any, int] = {}  # UTC day -> coins the economy's key granted that day
        self.courses: Dict[str, Dict[str, Any]] = {}  # course id -> {"reward", "offered"}
        self.events: Dict[str, Dict[str, Any]] = {}  # operator event id -> its terms and window (datetimes)
        self.purchases: Dict[str, Dict[str, Any]] = {}
        self.stripe: Dict[str, Dict[str, Any]] = {}  # purchases made through Stripe's API (sim/ops_stripe.py)
        self.orders: Dict[str, Dict[str, Any]] = {}  # order id -> buyer, amount, state (and seller, fee)
        self.listings: Dict[str, Dict[str, Any]] = {}  # listings made and not withdrawn
        self.gifts: Dict[str, Dict[str, Any]] = {}  # /give interaction id -> sender, recipient, amount, state
        self.replayable: List[Tuple[Tuple, Any]] = []  # (request, the id its first answer gave)

    def w(self, user: str) -> Dict[str, int]:
        return self.wallets.setdefault(user, {b: 0 for b in BUCKETS})

    def move(self, user: str, **deltas: int) -> None:
        w = self.w(user)
        for bucket, delta in deltas.items():
            w[bucket] += delta

    def frozen(self, user: str) -> bool:
        return bool(self.reasons.get(user))

    def freeze(self, user: str, *reasons: str) -> None:
        self.reasons.setdefault(user, set()).update(reasons)

    def unfreeze(self, user: str, *names: str) -> None:
        """Lift the reasons ``names`` select: a bare kind selects every reason of that kind (as the API does)."""
        have = self.reasons.get(user, set())
        for reason in list(have):
            if reason in names or reason.split(":", 1)[0] in names:
                have.discard(reason)
