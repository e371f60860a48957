"""Who may do what, once for every channel: the role matrix and ``may(principal, action)``.

A principal is anything with ``roles`` (a frozenset of role names): an API key
(``tenancy/apikeys.Principal``), a Discord member (``discord/roles.py`` maps the
guild's roles), the web panel's session. The admin API, the Discord admin
commands and the panel all ask ``may`` and nothing else.

The roles are ranked: each may do everything the roles below it may, and more.
The matrix is kept as "the least role that may do it" per action because that
is how operators reason about it ("refunds need OPERATOR"); ``MATRIX`` spells
it out as action -> roles, the form the README's table and the tests read.
"""
from __future__ import annotations

from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional

from chalicelib.core import errors

SUPERADMIN, ADMIN, OPERATOR, SUPPORT, AUDITOR = "SUPERADMIN", "ADMIN", "OPERATOR", "SUPPORT", "AUDITOR"
ROLES = (SUPERADMIN, ADMIN, OPERATOR, SUPPORT, AUDITOR)  # most powerful first

# A key made with the old ``admin`` scope acts as an ADMIN (it could do every admin call before
# roles existed, except the ones only SUPERADMIN may do now, which it never had).
LEGACY_ADMIN_SCOPE_ROLE = ADMIN

# action -> (the least role that may do it, what it is). Reads end in ``.read``; every other action
# is a write: it needs a reason and leaves an audit row.
_ACTIONS: Dict[str, tuple] = {
    "users.read": (AUDITOR, "find users, read a wallet, its flags, notes and activity"),
    "audit.read": (AUDITOR, "read the audit trail"),
    "purchases.read": (AUDITOR, "list and read purchases"),
    "market.read": (AUDITOR, "list and read listings and orders"),
    "config.read": (AUDITOR, "read packs, the shop catalog, content, rates, pricing, courses, settings, game servers"),
    "reports.read": (AUDITOR, "economy and transaction reports, CSV exports"),
    "users.note": (SUPPORT, "add a note to a user"),
    "wallet.freeze": (SUPPORT, "freeze a wallet"),
    "wallet.unfreeze": (SUPPORT, "lift a freeze"),
    "operations.reverse": (SUPPORT, "reverse an operation, up to the support limit"),
    "operations.reverse_any": (OPERATOR, "reverse an operation of any amount"),
    "wallet.adjust": (OPERATOR, "credit or debit a wallet"),
    "wallet.settle_debt": (OPERATOR, "pay a wallet's debt from its coins"),
    "purchases.refund": (OPERATOR, "refund a purchase through Stripe"),
    "purchases.retry": (OPERATOR, "retry a purchase that needs review"),
    "orders.fulfil": (OPERATOR, "force-fulfil or refund a shop order"),
    "listings.manage": (OPERATOR, "edit a listing's price or cancel it"),
    "catalog.write": (ADMIN, "edit packs, the shop catalog and content"),
    "config.write": (ADMIN, "edit rates, pricing, courses, reward settings, quests, events"),
    "game_servers.write": (ADMIN, "register, rotate and revoke game servers"),
    "economy.setup": (ADMIN, "set a Discord server up"),
    "payouts.approve": (ADMIN, "approve payouts"),
    "keys.manage": (SUPERADMIN, "create and revoke API keys"),
    "roles.manage": (SUPERADMIN, "map Discord roles to app roles"),
}

ACTIONS = tuple(_ACTIONS)
MATRIX: Mapping[str, FrozenSet[str]] = {
    action: frozenset(ROLES[: ROLES.index(least) + 1]) for action, (least, _) in _ACTIONS.items()
}


def least_role(action: str) -> str:
    return _ACTIONS[action][0]


def describe(action: str) -> str:
    return _ACTIONS[action][1]


def is_write(action: str) -> bool:
    return not action.endswith(".read")


def valid_role(name: Any) -> bool:
    return isinstance(name, str) and name in ROLES


def may(principal: Any, action: str) -> bool:
    """Whether ``principal`` (anything with ``roles``) may do ``action``; an unknown action: nobody may."""
    allowed = MATRIX.get(action)
    return bool(allowed and allowed & frozenset(getattr(principal, "roles", ()) or ()))


def require(principal: Any, action: str) -> None:
    """Raise ForbiddenError (403 ``forbidden``, naming the action and the roles that may) unless ``may``."""
    if not may(principal, action):
        held = sorted(getattr(principal, "roles", ()) or ())
        raise errors.ForbiddenError(f"This needs the {least_role(action)} role or above.", required_action=action,
                                    allowed_roles=[r for r in ROLES if r in MATRIX[action]], roles=held)


def strongest(roles: Iterable[str]) -> Optional[str]:
    """The most powerful of ``roles`` (what an audit row names as the role used), or None."""
    held = set(roles)
    return next((r for r in ROLES if r in held), None)


def matrix_table() -> str:
    """The matrix as the README's Markdown table (a test keeps the README's copy equal to this)."""
    head = "| Action | What it allows | " + " | ".join(ROLES) + " |"
    rule = "|---|---|" + ":-:|" * len(ROLES)
    rows = [f"| `{a}` | {describe(a)} | " + " | ".join("yes" if r in MATRIX[a] else "" for r in ROLES) + " |"
            for a in ACTIONS]
    return "\n".join([head, rule, *rows])
