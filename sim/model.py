"""The simulator's own account of the money, moved only by the answers the API gave."""
from __future__ import annotations

from typing import Any, Dict, List, Tuple


class Violation(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Model:
    def __init__(self) -> None:
        self.wallets: Dict[str, Dict[str, int]] = {}
        self.holds: Dict[str, Dict[str, Any]] = {}  # active holds and escrows by id
        self.unlocks: Dict[Tuple[str, str], Any] = {}  # (user, content) -> the charging transaction
        self.daily: Dict[Tuple[str, Any], str] = {}  # (user, UTC day) -> the paying transaction
        self.purchases: Dict[str, Dict[str, Any]] = {}
        self.replayable: List[Tuple[Tuple, Any]] = []  # (request, the id its first answer gave)

    def w(self, user: str) -> Dict[str, int]:
        return self.wallets.setdefault(user, {"available": 0, "held": 0, "earnings": 0})

    def move(self, user: str, **deltas: int) -> None:
        w = self.w(user)
        for bucket, delta in deltas.items():
            w[bucket] += delta
