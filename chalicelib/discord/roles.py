"""Who may do what from Discord: Discord permissions and roles -> app roles.

* A member with the Administrator permission is SUPERADMIN.
* Each economy maps Discord role ids to ADMIN, OPERATOR, SUPPORT or AUDITOR
  (``/coins-admin role`` or ``python -m chalicelib.cli discord role``).
* ``/coins-setup`` is also open to members with Manage Server.

What each app role may do is the one matrix every channel reads
(``tenancy/roles.py``); this module only says which app roles a member holds.
Everything else is refused with an ephemeral "not allowed".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import FrozenSet, Iterable, Mapping, Optional

from chalicelib.tenancy import roles

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5

APP_ROLES = roles.ROLES

# a Discord command's action -> the matrix's action
ACTION_OF: Mapping[str, str] = {
    "setup": "economy.setup",
    "adjust": "wallet.adjust",
    "freeze": "wallet.freeze",
    "unfreeze": "wallet.unfreeze",
    "role": "roles.manage",
    "lookup": "users.read",
    "history": "users.read",
    "note": "users.note",
}


@dataclass(frozen=True)
class Member:
    """A Discord member as ``roles.may`` sees a principal."""

    roles: FrozenSet[str]


def app_roles(permissions: int, member_roles: Iterable[str], role_map: Mapping[str, str]) -> FrozenSet[str]:
    """The app roles a member holds in this guild."""
    held = {role_map[r] for r in member_roles if role_map.get(r) in APP_ROLES}
    if permissions & ADMINISTRATOR:
        held.add("SUPERADMIN")
    return frozenset(held)


def may(action: str, permissions: int, member_roles: Iterable[str], role_map: Mapping[str, str]) -> bool:
    """Whether the member may do the command ``action`` (unknown actions: nobody may)."""
    if action == "setup" and permissions & MANAGE_GUILD:
        return True
    matrix_action = ACTION_OF.get(action)
    return matrix_action is not None and roles.may(Member(app_roles(permissions, member_roles, role_map)),
                                                   matrix_action)


def strongest(permissions: int, member_roles: Iterable[str], role_map: Mapping[str, str]) -> Optional[str]:
    """The member's most powerful app role: what their audit rows name as the role used."""
    return roles.strongest(app_roles(permissions, member_roles, role_map))
