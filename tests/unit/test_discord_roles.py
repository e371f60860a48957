"""Discord permissions and roles -> app roles -> allowed actions."""
from __future__ import annotations

import pytest

from chalicelib.discord.roles import ADMINISTRATOR, MANAGE_GUILD, app_roles, may

pytestmark = pytest.mark.unit

MAP = {"100": "ADMIN", "200": "OPERATOR", "300": "SUPPORT", "400": "AUDITOR", "500": "BOGUS"}


def test_administrator_permission_is_superadmin() -> None:
    assert app_roles(ADMINISTRATOR | 1, [], {}) == {"SUPERADMIN"}
    assert all(may(a, ADMINISTRATOR, [], {}) for a in ("setup", "adjust", "freeze", "unfreeze", "role"))


def test_mapped_roles_resolve_and_unknown_app_roles_are_ignored() -> None:
    assert app_roles(0, ["100", "300", "500", "999"], MAP) == {"ADMIN", "SUPPORT"}


@pytest.mark.parametrize("role, allowed", [
    ("100", {"setup", "adjust", "freeze", "unfreeze"}),
    ("200", {"adjust", "freeze", "unfreeze"}),  # the one matrix: adjusting is OPERATOR's
    ("300", {"freeze", "unfreeze"}),
    ("400", set()),
    ("999", set()),
])
def test_what_each_mapped_role_may_do(role: str, allowed: set) -> None:
    for action in ("setup", "adjust", "freeze", "unfreeze", "role", "launch-missiles"):
        assert may(action, 0, [role], MAP) == (action in allowed), action


def test_manage_server_may_run_setup_only() -> None:
    assert may("setup", MANAGE_GUILD, [], {})
    assert not may("adjust", MANAGE_GUILD, [], {})
