"""A positional spelling of ``Operation`` for the ledger's own worked examples."""
from __future__ import annotations

from typing import Any, Sequence

from chalicelib.ledger import Leg, Operation


def posting(economy: str, key: str, fingerprint: str, type: str, legs: Sequence[Leg], **fields: Any) -> Operation:
    """``Operation(economy=..., key=..., fingerprint=..., type=..., legs=..., **fields)``."""
    return Operation(economy=economy, key=key, fingerprint=fingerprint, type=type, legs=tuple(legs), **fields)
