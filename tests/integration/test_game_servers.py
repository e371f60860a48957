"""Game servers: each redeems only its own economy's vouchers, with its own rotatable, revocable secret.

Every refusal is checked to leave every record of both economies as it was
(``economy_records``: all tables, by the backup's rules).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict

import pytest

from chalicelib.tenancy import game_servers
from chalicelib.core import signing
from chalicelib.tenancy.audit import list_audit
from chalicelib.cli.main import main as cli
from tests.conftest import Api, Economy
from tests.edge_helpers import changed_tables, economy_records, make_economy
from tests.integration.spending_helpers import wallet
from tests.market_helpers import (  # noqa: F401 (plugin is a fixture)
    REDEEM_SECRET, buy, game_server, order, plugin, put_reward, signed_redeem,
)

pytestmark = pytest.mark.integration


def voucher(economy: Economy, buyer: str = "kid", sku: str = "pet") -> Dict[str, Any]:
    """A pending voucher order of ``economy`` (its buyer funded, its SKU on sale)."""
    economy.credit(buyer, 500)
    put_reward(economy, sku, price=120, fulfilment="voucher", category="cosmetic", payload={"pet": "cat"})
    placed = buy(economy, buyer, sku)
    assert placed.status == 201, placed.body
    return placed.body


def redeem(economy: Economy, code: str, headers: Dict[str, str], player: str = "Steve") -> Any:
    raw = json.dumps({"code": code, "player_id": player})
    return economy.api.post("/v1/webhooks/redeem", raw=raw, token="", headers=headers(raw.encode()))


def as_server(server: Dict[str, Any], secret: str = "") -> Any:
    return lambda raw: {game_servers.SERVER_HEADER: server["server_id"],
                        **signing.signed_headers(secret or server["secret"], raw)}


@pytest.fixture
def two(economy: Economy, chalice_client: Any, plugin) -> Any:
    other = make_economy(chalice_client)
    return economy, other


# --- one economy per server ------------------------------------------------------------


def test_a_server_cannot_see_another_economys_voucher(two) -> None:
    mine, theirs = two
    placed = voucher(theirs)
    game_server(mine), game_server(theirs)  # registered before the snapshot
    before = {e.id: economy_records(e.id) for e in two}
    resp = signed_redeem(mine, placed["voucher_code"], "Thief")
    assert resp.status == 404 and resp.code == "voucher_not_found", resp.body
    assert resp.body["error"]["details"] == {}  # nothing of the other economy's order is revealed
    assert "order" not in resp.body and placed["order_id"] not in json.dumps(resp.body)
    for e in two:
        assert changed_tables(before[e.id], economy_records(e.id)) == {}
    # the voucher's own server still redeems it, once
    ok = signed_redeem(theirs, placed["voucher_code"], "Owner")
    assert ok.status == 200 and ok.body["replayed"] is False and ok.body["order"]["buyer_id"] == "kid"
    assert order(theirs, placed["order_id"])["status"] == "fulfilled"
    assert wallet(theirs, "kid") == {"available": 380, "held": 0, "earnings": 0}
    for e in two:
        e.check()


def test_the_global_secret_redeems_only_the_default_economys_vouchers(two, chalice_client, caplog) -> None:
    mine, _ = two
    placed = voucher(mine)
    legacy = lambda raw: signing.signed_headers(REDEEM_SECRET, raw)  # noqa: E731
    before = economy_records(mine.id)
    with caplog.at_level(logging.WARNING, logger="coinhall.game_servers"):
        refused = redeem(mine, placed["voucher_code"], legacy)
    assert refused.status == 404 and refused.code == "voucher_not_found"
    assert changed_tables(before, economy_records(mine.id)) == {}
    deprecations = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert len(deprecations) == 1 and "REDEMPTION_WEBHOOK_SECRET" in deprecations[0].getMessage()

    # The default economy's voucher still redeems with it (old game servers keep working there).
    admin, write, read = _keys_of("default")
    default = Economy("default", admin, write, read, Api(chalice_client, admin))
    default_voucher = voucher(default, buyer=f"kid-{mine.id}", sku=f"pet-{mine.id}")
    ok = redeem(mine, default_voucher["voucher_code"], legacy)
    assert ok.status == 200 and ok.body["replayed"] is False, ok.body
    assert order(default, default_voucher["order_id"])["status"] == "fulfilled"
    mine.check()


def _keys_of(economy_id: str) -> tuple:
    from chalicelib.tenancy import apikeys

    admin, _ = apikeys.create_key(economy_id, {"read", "write", "admin"}, label="test admin")
    write, _ = apikeys.create_key(economy_id, {"read", "write"}, label="test write")
    read, _ = apikeys.create_key(economy_id, {"read"}, label="test read")
    return admin, write, read


# --- rotation and revocation ---------------------------------------------------------------


def test_after_a_rotation_the_old_and_new_secret_both_verify_until_the_grace_ends(economy, plugin,
                                                                                 monkeypatch) -> None:
    server = game_servers.create_server(economy.id, "test")
    first, second = voucher(economy, "a", "pet-a"), voucher(economy, "b", "pet-b")
    rotated = game_servers.rotate_server(server["server_id"], "test", grace_seconds=3600)
    assert rotated["secret"] != server["secret"] and rotated["previous_secret_expires_at"]
    assert redeem(economy, first["voucher_code"], as_server(server)).status == 200  # old secret, in grace
    # once the grace has passed the old secret is refused, the new one is not
    monkeypatch.setattr(game_servers, "now_iso", lambda: "9999-01-01T00:00:00.000Z")
    before = economy_records(economy.id)
    late = redeem(economy, second["voucher_code"], as_server(server))
    assert late.status == 401 and late.code == "invalid_signature"
    assert changed_tables(before, economy_records(economy.id)) == {}
    assert redeem(economy, second["voucher_code"], as_server(rotated)).status == 200
    economy.check()


def test_a_rotation_without_grace_or_a_second_rotation_retires_the_old_secret(economy, plugin) -> None:
    server = game_servers.create_server(economy.id, "test")
    placed = voucher(economy)
    now = game_servers.rotate_server(server["server_id"], "test", grace_seconds=0)
    assert now["previous_secret_expires_at"] is None
    assert redeem(economy, placed["voucher_code"], as_server(server)).code == "invalid_signature"
    again = game_servers.rotate_server(server["server_id"], "test", grace_seconds=3600)
    third = game_servers.rotate_server(server["server_id"], "test", grace_seconds=3600)
    assert redeem(economy, placed["voucher_code"], as_server(now)).code == "invalid_signature"  # two back
    assert redeem(economy, placed["voucher_code"], as_server(again)).status == 200  # one back, in grace
    assert third["secret"] not in (now["secret"], again["secret"])
    economy.check()


def test_a_secret_rotated_elsewhere_works_at_once_despite_a_warm_cache(economy, plugin) -> None:
    server = game_servers.create_server(economy.id, "test")
    first, second = voucher(economy, "a", "pet-a"), voucher(economy, "b", "pet-b")
    assert redeem(economy, first["voucher_code"], as_server(server)).status == 200  # caches the record
    stale = game_servers._cache[server["server_id"]]
    rotated = game_servers.rotate_server(server["server_id"], "test", grace_seconds=0)
    game_servers._cache[server["server_id"]] = stale  # as another container would still hold it
    assert redeem(economy, second["voucher_code"], as_server(rotated)).status == 200
    economy.check()


def test_a_revoked_server_is_refused_and_its_changes_are_audited_without_secrets(economy, plugin) -> None:
    server = game_servers.create_server(economy.id, "api_key:test", label="survival-1")
    placed = voucher(economy)
    rotated = game_servers.rotate_server(server["server_id"], "api_key:test", 600, reason="yearly")
    revoked = game_servers.revoke_server(server["server_id"], "api_key:test", reason="leaked")
    assert revoked["status"] == "revoked" and revoked["previous_secret_expires_at"] is None
    before = economy_records(economy.id)
    for secret in (server["secret"], rotated["secret"]):
        resp = redeem(economy, placed["voucher_code"], as_server(server, secret))
        assert resp.status == 401 and resp.code == "invalid_signature"
        assert resp.body["error"]["details"]["reason"] == "unknown_server"
    assert changed_tables(before, economy_records(economy.id)) == {}
    rows = list_audit(economy.id, target=f"game_server:{server['server_id']}")
    assert [r["action"] for r in rows] == ["game_server.revoke", "game_server.rotate", "game_server.create"]
    assert [r.get("reason") for r in rows] == ["leaked", "yearly", None]
    assert rows[0]["before"]["status"] == "active" and rows[0]["after"]["status"] == "revoked"
    text = json.dumps(rows) + json.dumps(game_servers.list_servers(economy.id))
    assert server["secret"] not in text and rotated["secret"] not in text
    assert game_servers.revoke_server(server["server_id"], "again") == revoked  # idempotent, no new row
    assert len(list_audit(economy.id, target=f"game_server:{server['server_id']}")) == 3
    economy.check()


# --- the admin API ----------------------------------------------------------------------------------


def test_the_admin_api_registers_lists_rotates_and_revokes_in_its_own_economy_only(two) -> None:
    mine, theirs = two
    made = mine.api.post("/v1/admin/game-servers", {"label": "lobby", "reason": "new server"})
    assert made.status == 201 and made.body["secret"].startswith("gss_") and made.body["economy"] == mine.id
    sid = made.body["server_id"]
    listed = mine.api.get("/v1/admin/game-servers")
    assert [s["server_id"] for s in listed.body["items"]] == [sid] and "secret" not in listed.body["items"][0]
    assert theirs.api.get("/v1/admin/game-servers").body == {"items": []}
    before = {e.id: economy_records(e.id) for e in two}
    for method, path in (("GET", f"/v1/admin/game-servers/{sid}"), ("POST", f"/v1/admin/game-servers/{sid}/rotate"),
                         ("POST", f"/v1/admin/game-servers/{sid}/revoke")):
        resp = theirs.api.request(method, path, body=b"" if method == "GET" else b"{}",
                                  headers={"Authorization": f"Bearer {theirs.admin_token}",
                                           "Content-Type": "application/json"})
        assert resp.status == 404 and resp.code == "game_server_not_found", (path, resp.body)
    write = mine.api.post("/v1/admin/game-servers", {}, token=mine.write_token)
    assert write.status == 403 and write.code == "forbidden"
    for e in two:
        assert changed_tables(before[e.id], economy_records(e.id)) == {}
    rotated = mine.api.post(f"/v1/admin/game-servers/{sid}/rotate", {"grace_seconds": 0})
    assert rotated.status == 200 and rotated.body["secret"] not in (made.body["secret"],)
    revoked = mine.api.post(f"/v1/admin/game-servers/{sid}/revoke", {})  # the reason: the header
    assert revoked.status == 200 and revoked.body["status"] == "revoked"
    again = mine.api.post(f"/v1/admin/game-servers/{sid}/rotate", {})
    assert again.status == 409 and again.code == "game_server_revoked"
    actions = [r["action"] for r in list_audit(mine.id, target=f"game_server:{sid}")]
    assert actions == ["game_server.revoke", "game_server.rotate", "game_server.create"]


# --- the operator CLI ---------------------------------------------------------------------------------


def test_the_cli_prints_the_secret_once_and_never_again(economy, plugin, capsys) -> None:
    assert cli(["game-server", "create", "--economy", economy.id, "--label", "hub"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["server_id"].startswith("gs_") and made["secret"].startswith("gss_")
    assert made["header"] == "X-Coinhall-Server" and made["economy"] == economy.id
    assert cli(["game-server", "list", "--economy", economy.id]) == 0
    listed = capsys.readouterr().out
    assert made["server_id"] in listed and made["secret"] not in listed
    assert cli(["game-server", "rotate", made["server_id"], "--grace-hours", "1"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["secret"] != made["secret"] and rotated["previous_secret_expires_at"]
    placed = voucher(economy)
    assert redeem(economy, placed["voucher_code"], as_server(made)).status == 200  # the old one, in grace
    assert cli(["game-server", "revoke", made["server_id"]]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "revoked"
    assert cli(["game-server", "create", "--economy", "no-such-economy-x"]) == 1
    assert "economy" in capsys.readouterr().err
    assert cli(["game-server", "rotate", "gs_01ARZ3NDEKTSV4RRFFQ69G5FAV"]) == 1
    economy.check()
