"""Who may do what from Discord: Discord permissions and roles -> app roles.

* A member with the Administrator permission is SUPERADMIN.
* Each economy maps Discord role ids to ADMIN, OPERATOR, SUPPORT or AUDITOR
  (``/coins-admin role`` or ``python -m chalicelib.cli discord role``).
* ``/coins-setup`` is also open to members with Manage Server.

Everything else is refused with an ephemeral "not allowed".
"""
from __future__ import annotations

from typing import FrozenSet, Iterable, Mapping

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5

APP_ROLES = ("SUPERADMIN", "ADMIN", "OPERATOR", "SUPPORT", "AUDITOR")

# action -> app roles allowed to do it
ALLOWED: Mapping[str, FrozenSet[str]] = {
    "setup": frozenset({"SUPERADMIN", "ADMIN"}),
    "adjust": frozenset({"SUPERADMIN", "ADMIN"}),
    "freeze": frozenset({"SUPERADMIN", "ADMIN", "OPERATOR"}),
    "unfreeze": frozenset({"SUPERADMIN", "ADMIN", "OPERATOR"}),
    "role": frozenset({"SUPERADMIN"}),
}


def app_roles(permissions: int, member_roles: Iterable[str], role_map: Mapping[str, str]) -> FrozenSet[str]:
    """The app roles a member holds in this guild."""
    held = {role_map[r] for r in member_roles if role_map.get(r) in APP_ROLES}
    if permissions & ADMINISTRATOR:
        held.add("SUPERADMIN")
    return frozenset(held)


def may(action: str, permissions: int, member_roles: Iterable[str], role_map: Mapping[str, str]) -> bool:
    """Whether the member may do ``action`` (unknown actions: nobody may)."""
    if action == "setup" and permissions & MANAGE_GUILD:
        return True
    return bool(app_roles(permissions, member_roles, role_map) & ALLOWED.get(action, frozenset()))
