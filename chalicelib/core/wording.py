"""Counts in player-facing text, with the noun that agrees: "1 coin", "2 coins"."""
from __future__ import annotations

from typing import Optional


def count(n: int, singular: str, plural: Optional[str] = None, *, sign: bool = False) -> str:
    """``n`` (thousands separated, ``+`` shown when ``sign``) and its noun: singular only for one (or minus one)."""
    number = f"{n:+,}" if sign else f"{n:,}"
    return f"{number} {singular if abs(n) == 1 else plural or singular + 's'}"
