"""THE revenue split: the one rounding rule for every coin shared with the platform.

When ``amount`` coins are paid towards a recipient who is owed ``share_bps``
basis points of it (a creator's share of an unlock or tip, the payee of a
settled hold, a freelancer's payout after the escrow fee)::

    recipient = floor(amount * share_bps / 10_000)
    platform  = amount - recipient

The recipient's part rounds down and the platform takes the remainder, so the
two always add up to the amount exactly and no coin is minted or lost by
rounding. A platform *fee* of ``fee_bps`` is the same rule seen from the other
side: the payee's share is ``10_000 - fee_bps`` (``payee_share_bps``), so a fee
rounds up by at most one coin.

Pure arithmetic on ints; ``tests/unit/test_revenue.py`` proves the sum for every
price 0..10,000 at the boundary shares and by property test for the rest.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

from chalicelib.ledger.operation import Leg

BPS = 10_000


@dataclass(frozen=True)
class Split:
    """How ``amount`` coins divide between a recipient and the platform."""

    amount: int
    share_bps: int
    recipient: int
    platform: int

    def as_dict(self) -> Dict[str, int]:
        return {"creator_amount": self.recipient, "platform_amount": self.platform, "creator_share_bps": self.share_bps}


def _check_bps(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BPS:
        raise ValueError(f"{name} must be an integer 0..{BPS}, got {value!r}")


def split(amount: int, share_bps: int) -> Split:
    """Divide ``amount`` by the rule above. Raises ValueError on a negative amount or bps outside 0..10,000."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise ValueError(f"amount must be a non-negative integer, got {amount!r}")
    _check_bps(share_bps, "share_bps")
    recipient = amount * share_bps // BPS
    return Split(amount, share_bps, recipient, amount - recipient)


def payee_share_bps(fee_bps: int) -> int:
    """The payee's share when the platform charges ``fee_bps``. Raises ValueError outside 0..10,000."""
    _check_bps(fee_bps, "fee_bps")
    return BPS - fee_bps


def legs(payment: Split, recipient: Any, treasury: Any) -> List[Any]:
    """The credit legs of a split: the recipient's ``earnings`` and the treasury.

    A zero part gets no leg (the ledger refuses zero legs). ``recipient`` and
    ``treasury`` are ledger ``AccountRef``s; the debit leg is the caller's.
    """
    out: List[Any] = []
    if payment.recipient:
        out.append(Leg(recipient, payment.recipient, "earnings"))
    if payment.platform:
        out.append(Leg(treasury, payment.platform))
    return out
