"""API keys end to end: minted by the operator CLI, stored as a hash, scoped, bound to one economy.

The CLI (``python -m chalicelib.cli``) is driven in-process through ``cli.main``;
HTTP calls go through the Chalice test client, as a host app would make them.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Dict, List, Optional, Tuple

import pytest

from chalicelib.tenancy import apikeys
from chalicelib.cli import main as cli
from chalicelib.core import config
from chalicelib.db.engine import get_client, table_name
from chalicelib.purchases.packs import DEFAULT_PACKS
from tests.conftest import Api, Resp, new_economy_id

pytestmark = pytest.mark.integration

DEV_TOKEN = "chk_local_dev_key"


# --------------------------------------------------------------------------- helpers


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> Tuple[int, Any, str]:
    """(exit code, stdout parsed as JSON or None, stderr)."""
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def create_key(capsys: pytest.CaptureFixture, economy: str, scopes: str, label: Optional[str] = None) -> Dict[str, Any]:
    argv = ["api-key", "create", "--economy", economy, "--scopes", scopes]
    if label:
        argv += ["--label", label]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    return out


def list_keys(capsys: pytest.CaptureFixture, economy: str) -> Tuple[List[Dict[str, Any]], str]:
    """The parsed listing and the raw text printed."""
    capsys.readouterr()
    assert cli.main(["api-key", "list", "--economy", economy]) == 0
    raw = capsys.readouterr().out
    return json.loads(raw), raw


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def credit(api: Api, user: str, amount: int, token: str) -> Resp:
    return api.post(f"/v1/admin/users/{user}/adjust", {"amount": amount, "reason": "test credit"},
                    key=f"credit-{uuid.uuid4().hex}", token=token)


def spend(api: Api, user: str, amount: int, token: str) -> Resp:
    return api.post(f"/v1/users/{user}/spend", {"amount": amount, "reason": "test spend"},
                    key=f"spend-{uuid.uuid4().hex}", token=token)


def check_books(economy: str) -> None:
    from chalicelib.ledger.invariants import check_economy

    report = check_economy(economy)
    assert report.ok, report.discrepancies


@pytest.fixture
def api(local_engine: str, chalice_client: Any) -> Api:
    return Api(chalice_client, None)


@pytest.fixture
def econ() -> str:
    return new_economy_id()


# --------------------------------------------------------------------------- minting and storing


def test_create_shows_the_token_once(api: Api, econ: str, capsys: pytest.CaptureFixture) -> None:
    out = create_key(capsys, econ, "read,write", label="novel site")
    assert set(out) == {"key_id", "economy", "scopes", "role", "api_key", "note"}
    assert out["role"] is None
    assert out["economy"] == econ
    assert out["scopes"] == ["read", "write"]
    token = out["api_key"]
    assert token.startswith("chk_") and len(token) >= 40
    assert out["key_id"] == apikeys.key_id_for(token)
    # The token printed is a working key.
    assert api.get("/v1/packs", token=token).status == 200


def test_two_creates_mint_two_different_tokens(api: Api, econ: str, capsys: pytest.CaptureFixture) -> None:
    first, second = create_key(capsys, econ, "read"), create_key(capsys, econ, "read")
    assert first["api_key"] != second["api_key"]
    assert first["key_id"] != second["key_id"]


def test_list_never_shows_the_token_or_its_hash(api: Api, econ: str, capsys: pytest.CaptureFixture) -> None:
    made = [create_key(capsys, econ, scopes, label=f"key {i}") for i, scopes in enumerate(["read", "read,write,admin"])]
    listing, raw = list_keys(capsys, econ)
    assert sorted(k["key_id"] for k in listing) == sorted(m["key_id"] for m in made)
    for row in listing:
        assert set(row) == {"key_id", "economy", "scopes", "role", "label", "created_at", "revoked_at"}
        assert row["economy"] == econ and row["revoked_at"] is None
    assert {tuple(k["scopes"]) for k in listing} == {("read",), ("admin", "read", "write")}
    for m in made:
        assert m["api_key"] not in raw
        assert sha256(m["api_key"]) not in raw
        assert m["api_key"][4:] not in raw  # not even without its prefix


def test_list_is_per_economy(api: Api, capsys: pytest.CaptureFixture) -> None:
    a, b = new_economy_id(), new_economy_id()
    key_a = create_key(capsys, a, "read")
    key_b = create_key(capsys, b, "read")
    listing_a, _ = list_keys(capsys, a)
    assert [k["key_id"] for k in listing_a] == [key_a["key_id"]]
    assert key_b["key_id"] not in {k["key_id"] for k in listing_a}


def test_stored_item_holds_only_a_hash(api: Api, econ: str, capsys: pytest.CaptureFixture) -> None:
    from chalicelib.db.models.api_keys import ApiKeyModel

    out = create_key(capsys, econ, "read,write", label="shop")
    token, key_id = out["api_key"], out["key_id"]
    raw = get_client().get_item(TableName=table_name("api_keys"), Key={"key_id": {"S": key_id}},
                                ConsistentRead=True)["Item"]
    assert set(raw) == {"key_id", "key_hash", "economy", "scopes", "label", "created_at"}
    assert raw["key_hash"] == {"S": sha256(token)}
    stored = json.dumps(raw)
    assert token not in stored
    assert token[4:] not in stored
    # The model view agrees.
    item = ApiKeyModel.get(key_id, consistent_read=True)
    assert item.key_hash == sha256(token) and item.economy == econ and item.scopes == {"read", "write"}
    assert token not in json.dumps({k: sorted(v) if isinstance(v, set) else v for k, v in item.attribute_values.items()})


# --------------------------------------------------------------------------- scopes


# scopes -> expected statuses of (read wallet, spend, admin adjust)
SCOPE_MATRIX = [
    ("read", (200, 403, 403)),
    ("read,write", (200, 200, 403)),
    ("read,write,admin", (200, 200, 200)),
]


@pytest.mark.parametrize("scopes,expected", SCOPE_MATRIX, ids=[s for s, _ in SCOPE_MATRIX])
def test_scopes_are_enforced(api: Api, econ: str, capsys: pytest.CaptureFixture, scopes: str,
                             expected: Tuple[int, int, int]) -> None:
    admin = create_key(capsys, econ, "read,write,admin")["api_key"]
    assert credit(api, "alice", 100, admin).status == 200
    token = create_key(capsys, econ, scopes)["api_key"]

    got = (
        api.get("/v1/users/alice/wallet", token=token).status,
        spend(api, "alice", 10, token).status,
        credit(api, "alice", 10, token).status,
    )
    assert got == expected
    moved = (-10 if expected[1] == 200 else 0) + (10 if expected[2] == 200 else 0)
    assert api.get("/v1/users/alice/wallet", token=admin).body["available"] == 100 + moved
    check_books(econ)


def test_forbidden_names_the_missing_scope(api: Api, econ: str, capsys: pytest.CaptureFixture) -> None:
    token = create_key(capsys, econ, "read")["api_key"]
    resp = spend(api, "alice", 10, token)
    assert resp.status == 403
    assert resp.body == {"error": {"code": "forbidden", "message": resp.body["error"]["message"],
                                   "details": {"required_scope": "write", "key_scopes": ["read"]}}}


@pytest.mark.parametrize("scopes", ["read,delete", "superuser", "READ", "", ",", "read, root"])
def test_cli_refuses_bad_scopes(api: Api, econ: str, capsys: pytest.CaptureFixture, scopes: str) -> None:
    code, out, err = run_cli(capsys, "api-key", "create", "--economy", econ, "--scopes", scopes)
    assert code == 2
    assert out is None  # no token printed
    assert err.startswith("error:") and "scopes" in err
    listing, _ = list_keys(capsys, econ)
    assert listing == []


def test_cli_refuses_a_bad_economy_id(api: Api, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(capsys, "api-key", "create", "--economy", "no spaces allowed", "--scopes", "read")
    assert code == 2 and out is None
    assert "economy" in err


# --------------------------------------------------------------------------- revocation


def test_revoke_via_cli(api: Api, econ: str, capsys: pytest.CaptureFixture) -> None:
    made = create_key(capsys, econ, "read,write")
    token, key_id = made["api_key"], made["key_id"]
    assert api.get("/v1/packs", token=token).status == 200  # now cached

    code, out, _ = run_cli(capsys, "api-key", "revoke", key_id)
    assert code == 0 and out == {"key_id": key_id, "revoked": True}
    apikeys.clear_cache()

    for resp in (api.get("/v1/packs", token=token), spend(api, "alice", 1, token)):
        assert resp.status == 401 and resp.code == "unauthenticated", resp.body
    [row] = [k for k in list_keys(capsys, econ)[0] if k["key_id"] == key_id]
    assert row["revoked_at"] is not None


def test_revoke_twice_keeps_the_first_time(api: Api, econ: str, capsys: pytest.CaptureFixture) -> None:
    key_id = create_key(capsys, econ, "read")["key_id"]
    assert run_cli(capsys, "api-key", "revoke", key_id)[0] == 0
    first = list_keys(capsys, econ)[0][0]["revoked_at"]
    assert first
    assert run_cli(capsys, "api-key", "revoke", key_id)[0] == 0
    assert list_keys(capsys, econ)[0][0]["revoked_at"] == first


def test_revoke_unknown_key(api: Api, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_cli(capsys, "api-key", "revoke", "key_0000000000000000")
    assert code == 1 and out is None
    assert "key_0000000000000000" in err


def test_revocation_is_immediate_without_a_cache(api: Api, econ: str, capsys: pytest.CaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINS_API_KEY_CACHE_SECONDS", "0")
    config.reset_settings()
    made = create_key(capsys, econ, "read")
    assert api.get("/v1/packs", token=made["api_key"]).status == 200
    assert run_cli(capsys, "api-key", "revoke", made["key_id"])[0] == 0
    assert api.get("/v1/packs", token=made["api_key"]).status == 401  # no clear_cache needed


# --------------------------------------------------------------------------- the local dev key


@pytest.fixture
def dev_env(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COINS_DEV_API_KEY", raising=False)  # the documented default
    config.reset_settings()
    apikeys.clear_cache()


def test_seed_is_idempotent_and_mints_the_dev_key(dev_env: None, capsys: pytest.CaptureFixture) -> None:
    code, first, _ = run_cli(capsys, "seed")
    assert code == 0
    assert first["economy"] == "default"
    assert first["dev_api_key_id"] == apikeys.key_id_for(DEV_TOKEN)
    code, second, _ = run_cli(capsys, "seed")
    assert code == 0
    assert second == {**first, "packs_written": 0}
    dev_rows = [k for k in list_keys(capsys, "default")[0] if k["key_id"] == first["dev_api_key_id"]]
    assert len(dev_rows) == 1
    assert dev_rows[0]["scopes"] == ["admin", "read", "rewards", "write"]  # every scope, rewards included
    assert dev_rows[0]["revoked_at"] is None


def test_dev_key_works_with_every_scope(dev_env: None, api: Api, capsys: pytest.CaptureFixture) -> None:
    assert run_cli(capsys, "seed")[0] == 0
    user = f"dev-{uuid.uuid4().hex[:8]}"
    packs = api.get("/v1/packs", token=DEV_TOKEN)
    assert packs.status == 200
    assert [p["id"] for p in packs.body["items"]] == [p["pack_id"] for p in DEFAULT_PACKS]
    assert credit(api, user, 50, DEV_TOKEN).status == 200  # admin
    assert spend(api, user, 20, DEV_TOKEN).status == 200  # write
    grant = api.post(f"/v1/users/{user}/rewards", {"type": "quest"}, token=DEV_TOKEN)  # rewards
    assert (grant.status, grant.body["amount"]) == (200, 15), grant.body
    assert spend(api, user, 15, DEV_TOKEN).status == 200
    wallet = api.get(f"/v1/users/{user}/wallet", token=DEV_TOKEN)  # read
    assert wallet.status == 200 and wallet.body["available"] == 30
    assert api.get(f"/v1/admin/audit?user_id={user}", token=DEV_TOKEN).status == 200
    check_books("default")


def test_seed_of_another_economy_mints_no_dev_key(dev_env: None, econ: str, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run_cli(capsys, "seed", "--economy", econ)
    assert code == 0
    assert out == {"economy": econ, "packs_written": len(DEFAULT_PACKS)}
    assert list_keys(capsys, econ)[0] == []


def test_dev_token_cannot_be_rebound_to_another_economy(dev_env: None, econ: str, capsys: pytest.CaptureFixture) -> None:
    assert run_cli(capsys, "seed")[0] == 0
    with pytest.raises(ValueError, match="another economy"):
        apikeys.create_key(econ, {"read"}, token=DEV_TOKEN)
    assert apikeys.authenticate(DEV_TOKEN).economy == "default"


# --------------------------------------------------------------------------- one key, one economy


def test_key_is_bound_to_its_economy(api: Api, capsys: pytest.CaptureFixture) -> None:
    a, b = new_economy_id(), new_economy_id()
    key_a = create_key(capsys, a, "read,write,admin")["api_key"]
    key_b = create_key(capsys, b, "read,write,admin")["api_key"]
    assert credit(api, "bob", 500, key_b).status == 200
    before = api.get("/v1/users/bob/transactions", token=key_b).body

    assert api.get("/v1/users/bob/wallet", token=key_a).code == "user_not_found"
    assert api.get("/v1/users/bob/transactions", token=key_a).code == "user_not_found"
    assert spend(api, "bob", 10, key_a).code == "user_not_found"

    # A credit through A's key creates A's own bob; B's bob does not move.
    assert credit(api, "bob", 7, key_a).status == 200
    assert api.get("/v1/users/bob/wallet", token=key_a).body["available"] == 7
    assert api.get("/v1/users/bob/wallet", token=key_b).body["available"] == 500
    assert api.get("/v1/users/bob/transactions", token=key_b).body == before
    check_books(a)
    check_books(b)
