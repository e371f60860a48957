"""The one role matrix: its shape, ``may``/``require``, the legacy ``admin`` scope, and the README's copy."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.core import errors
from chalicelib.discord import roles as discord_roles
from chalicelib.tenancy import roles
from chalicelib.tenancy.apikeys import Principal

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


def key(role=None, scopes=("read",)) -> Principal:
    return Principal("e", "key_1", frozenset(scopes), role)


def test_each_role_may_do_what_the_roles_below_it_may() -> None:
    for action, allowed in roles.MATRIX.items():
        ranks = sorted(roles.ROLES.index(r) for r in allowed)
        assert ranks == list(range(len(ranks))), f"{action}: a role is skipped ({sorted(allowed)})"
        assert roles.SUPERADMIN in allowed


def test_the_suggested_split() -> None:
    # AUDITOR reads everything and writes nothing; SUPPORT adds notes, freezes, reverses small; OPERATOR money;
    # ADMIN configuration; SUPERADMIN keys and roles.
    auditor = {a for a, allowed in roles.MATRIX.items() if roles.AUDITOR in allowed}
    assert auditor == {a for a in roles.ACTIONS if a.endswith(".read")}
    support = {a for a, allowed in roles.MATRIX.items() if roles.SUPPORT in allowed} - auditor
    assert support == {"users.note", "wallet.freeze", "wallet.unfreeze", "operations.reverse"}
    assert roles.least_role("purchases.refund") == roles.least_role("wallet.adjust") == roles.OPERATOR
    assert roles.least_role("config.write") == roles.least_role("catalog.write") == roles.ADMIN
    assert {a for a in roles.ACTIONS if roles.least_role(a) == roles.SUPERADMIN} == {"keys.manage", "roles.manage"}


def test_may_reads_the_principals_roles_and_nothing_else() -> None:
    assert roles.may(key("SUPPORT"), "wallet.freeze")
    assert not roles.may(key("SUPPORT"), "wallet.adjust")
    assert not roles.may(key(None, scopes=("read", "write")), "users.read")  # scopes grant no admin action
    assert not roles.may(key("SUPERADMIN"), "launch.missiles")  # an unknown action: nobody
    assert not roles.may(object(), "users.read")


def test_the_old_admin_scope_is_an_admin() -> None:
    legacy = key(None, scopes=("read", "write", "admin"))
    assert legacy.roles == {"ADMIN"}
    assert roles.may(legacy, "catalog.write") and not roles.may(legacy, "keys.manage")
    assert key("AUDITOR", scopes=("admin",)).roles == {"AUDITOR"}  # a role, when given, is the role


def test_require_names_the_action_and_who_may() -> None:
    with pytest.raises(errors.ForbiddenError) as caught:
        roles.require(key("AUDITOR"), "wallet.freeze")
    assert caught.value.status == 403 and caught.value.code == "forbidden"
    assert caught.value.details == {"required_action": "wallet.freeze",
                                    "allowed_roles": ["SUPERADMIN", "ADMIN", "OPERATOR", "SUPPORT"],
                                    "roles": ["AUDITOR"]}
    roles.require(key("OPERATOR"), "wallet.freeze")


def test_writes_are_every_action_but_reads() -> None:
    assert not roles.is_write("audit.read") and roles.is_write("wallet.freeze")
    assert roles.strongest({"AUDITOR", "OPERATOR"}) == "OPERATOR" and roles.strongest(()) is None


def test_discord_commands_ask_the_same_matrix() -> None:
    for command, action in discord_roles.ACTION_OF.items():
        assert action in roles.MATRIX
        for role in roles.ROLES[1:]:  # SUPERADMIN comes from the Administrator permission
            expected = roles.may(discord_roles.Member(frozenset({role})), action)
            assert discord_roles.may(command, 0, ["r"], {"r": role}) == expected, (command, role)


def test_the_readme_shows_this_matrix() -> None:
    text = README.read_text()
    found = re.search(r"<!-- role-matrix -->\n(.*?)\n<!-- /role-matrix -->", text, re.S)
    assert found, "the README's role matrix markers are gone"
    assert found.group(1).strip() == roles.matrix_table()
