"""Why a wallet is frozen: a set of reasons, each lifted only by the actor that owns it.

A wallet is frozen iff its set of reasons is non-empty (``frozen`` is kept on
the item, derived, for readers that only ask "may it send?"). The reasons:

* ``operator``                     an operator froze it (admin API, Discord); an
                                   operator's unfreeze lifts it;
* ``debt``                         a clawback left debt; settle-debt lifts it when
                                   the debt reaches zero;
* ``dispute:<purchase_id>``        an open dispute holds that purchase's coins;
                                   lifted when that dispute is won (or replaced by
                                   ``dispute_lost`` when it is lost);
* ``dispute_lost:<purchase_id>``   a lost chargeback, kept for review; only an
                                   operator naming it lifts it.

Disputes carry their purchase so that one won dispute cannot lift the hold of
another that is still open. Every change goes through ``ledger.post()``
(``WalletChange.freeze`` / ``.unfreeze``), under the wallet's version, and its
entry records the reasons after it.

Wallets stored before reasons existed (``frozen`` true and no reasons) read as
``operator``: only an operator lifts them, so nothing unfreezes by accident.
"""
from __future__ import annotations

import re
from typing import Any, FrozenSet, Iterable, Mapping, Tuple

OPERATOR = "operator"
DEBT = "debt"
DISPUTE = "dispute"
DISPUTE_LOST = "dispute_lost"
KINDS = (OPERATOR, DEBT, DISPUTE, DISPUTE_LOST)

_REASON = re.compile(r"^(?:operator|debt|(?:dispute|dispute_lost)(?::[A-Za-z0-9_.-]{1,64})?)$")
# What an operator may name to lift: a kind (every reason of it) or one qualified reason.
NAME_PATTERN = _REASON.pattern


def dispute(purchase_id: str) -> str:
    return f"{DISPUTE}:{purchase_id}"


def dispute_lost(purchase_id: str) -> str:
    return f"{DISPUTE_LOST}:{purchase_id}"


def valid(reason: Any) -> bool:
    return isinstance(reason, str) and bool(_REASON.match(reason))


def kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def stored(item: Mapping[str, Any]) -> FrozenSet[str]:
    """The reasons of a stored wallet item; a legacy ``frozen`` without reasons is ``operator``."""
    reasons = item.get("freeze_reasons")
    if reasons:
        return frozenset(reasons)
    return frozenset({OPERATOR}) if item.get("frozen") else frozenset()


def selected(reasons: Iterable[str], names: Iterable[str]) -> FrozenSet[str]:
    """The reasons that ``names`` select: a bare kind selects every reason of that kind, a qualified one itself."""
    wanted = set(names)
    return frozenset(r for r in reasons if r in wanted or kind(r) in wanted)


def ordered(reasons: Iterable[str]) -> Tuple[str, ...]:
    """Reasons in their stored and displayed order (sorted: one set, one spelling)."""
    return tuple(sorted(reasons))
