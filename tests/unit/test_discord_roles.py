"""Discord permissions and roles -> app roles -> allowed actions."""
from __future__ import annotations

import pytest

from chalicelib.discord.roles import ADMINISTRATOR, MANAGE_GUILD, app_roles, may

pytestmark = pytest.mark.unit

MAP = {"100": "ADMIN", "200": "OPERATOR", "300": "SUPPORT", "400": "AUDITOR", "500": "BOGUS"}


def test_administrator_permission_is_superadmin() -> None:
    assert app_roles(ADMINISTRATOR | 1, [], {}) == {"SUPERADMIN"}
    assert all(may(a, ADMINISTRATOR, [], {}) for a in ("setup", "adjust", "freeze", "unfreeze", "role", "lookup",
                                                          "history", "note"))


def test_mapped_roles_resolve_and_unknown_app_roles_are_ignored() -> None:
    assert app_roles(0, ["100", "300", "500", "999"], MAP) == {"ADMIN", "SUPPORT"}


READS = {"lookup", "history"}


@pytest.mark.parametrize("role, allowed", [
    ("100", {"setup", "adjust", "freeze", "unfreeze", "note", *READS}),
    ("200", {"adjust", "freeze", "unfreeze", "note", *READS}),  # the one matrix: adjusting is OPERATOR's
    ("300", {"freeze", "unfreeze", "note", *READS}),  # SUPPORT writes notes (users.note)
    ("400", READS),  # AUDITOR reads (users.read)
    ("999", set()),
])
def test_what_each_mapped_role_may_do(role: str, allowed: set) -> None:
    for action in ("setup", "adjust", "freeze", "unfreeze", "role", "lookup", "history", "note", "launch-missiles"):
        assert may(action, 0, [role], MAP) == (action in allowed), action


def test_manage_server_may_run_setup_only() -> None:
    assert may("setup", MANAGE_GUILD, [], {})
    assert not may("adjust", MANAGE_GUILD, [], {})


def test_every_discord_action_is_a_matrix_action() -> None:
    from chalicelib.discord.roles import ACTION_OF
    from chalicelib.tenancy.roles import MATRIX

    assert set(ACTION_OF.values()) <= set(MATRIX)


def test_the_strongest_role_is_what_an_audit_row_names() -> None:
    from chalicelib.discord.roles import strongest

    assert strongest(0, ["300", "400"], MAP) == "SUPPORT"
    assert strongest(ADMINISTRATOR, ["300"], MAP) == "SUPERADMIN"
    assert strongest(0, ["999"], MAP) is None
