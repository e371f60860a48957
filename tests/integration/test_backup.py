"""Export and restore on the real engine: a restored economy is the same economy, and reconciles."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest

from chalicelib.operations import backup
from tests.clock_helpers import clock  # noqa: F401 (a fixture)
from tests.integration import ops_helpers as oh

pytestmark = pytest.mark.integration


def fresh_prefix() -> str:
    return f"restore-{uuid.uuid4().hex[:8]}-"


def export(economy_id: str, tmp_path: Any, name: str = "export.jsonl") -> str:
    path = str(tmp_path / name)
    backup.export_economy(economy_id, path, include_secrets=True)  # so the restored tables accept the same keys
    return path


def test_export_restore_reconcile_gives_the_same_books_and_no_discrepancies(economy, tmp_path) -> None:
    oh.busy(economy)
    economy.api.post("/v1/users/alice/rewards", {"type": "daily"}, key=oh.key())
    path = export(economy.id, tmp_path)
    original = oh.records(path)
    tables = {json.loads(r)["t"] for r in original}
    assert {"accounts", "entries", "operations", "purchases", "payments", "holds", "economies", "packs",
            "api_keys", "audit"} <= tables
    prefix = fresh_prefix()
    summary = backup.restore_economy(path, prefix)
    assert summary["written"] == len(original) and summary["present"] == 0
    with backup.using_table_prefix(prefix):
        report = oh.run("reconcile", economy=economy.id, full=True)
        restored = oh.snapshot(economy.id, tmp_path, "again.jsonl")
        wallet = economy.api.get("/v1/users/alice/wallet").body  # the API keys came along too
        statement = economy.api.get("/v1/users/alice/transactions?limit=100").body["items"]
    assert report["discrepancies"] == [] and report["complete"] and report["economies"][0]["mode"] == "full"
    assert restored == original  # identical balances, histories, operations, purchases, holds ...
    assert wallet == economy.api.get("/v1/users/alice/wallet").body
    assert statement == economy.api.get("/v1/users/alice/transactions?limit=100").body["items"]


def test_freeze_reasons_survive_export_and_restore(economy, tmp_path) -> None:
    from tests import purchase_helpers as ph

    oh.busy(economy)
    purchase = oh.buy(economy, "erin")
    oh.pay(economy, purchase)
    assert ph.deliver(economy.api, ph.dispute(purchase)).status == 200
    assert economy.api.post("/v1/admin/users/erin/freeze", {"reason": "review"}).status == 200
    expected = ["dispute:" + purchase["purchase_id"], "operator"]
    assert economy.api.get("/v1/users/erin/wallet").body["freeze_reasons"] == expected
    path = export(economy.id, tmp_path)
    prefix = fresh_prefix()
    backup.restore_economy(path, prefix)
    with backup.using_table_prefix(prefix):
        restored = economy.api.get("/v1/users/erin/wallet").body
        report = oh.run("reconcile", economy=economy.id, full=True)
        # The restored books go on: the won dispute lifts its own hold there, not the operators' freeze.
        assert ph.deliver(economy.api, ph.dispute(purchase, closed="won")).status == 200
        after_won = economy.api.get("/v1/users/erin/wallet").body
    assert (restored["frozen"], restored["freeze_reasons"]) == (True, expected)
    assert report["discrepancies"] == []
    assert (after_won["frozen"], after_won["freeze_reasons"], after_won["available"]) == (True, ["operator"], 100)
    assert economy.api.get("/v1/users/erin/wallet").body["freeze_reasons"] == expected  # the original is untouched


def test_restoring_again_writes_nothing_and_never_overwrites(economy, tmp_path) -> None:
    from chalicelib.db.engine import get_client, table_name

    economy.credit("alice", 10)
    path = export(economy.id, tmp_path)
    prefix = fresh_prefix()
    first = backup.restore_economy(path, prefix)
    again = backup.restore_economy(path, prefix)  # a restore that died can simply be run again
    assert again["written"] == 0 and again["present"] == first["written"]
    with backup.using_table_prefix(prefix):
        oh.tamper(economy.id, "u:alice", "available", 5)
        with pytest.raises(backup.RestoreConflictError) as caught:
            backup.restore_economy(path, prefix)
        assert caught.value.conflicts == [{"table": "accounts", "key": {"economy": {"S": economy.id},
                                                                        "account": {"S": "u:alice"}}}]
        item = get_client().get_item(TableName=table_name("accounts"),
                                     Key={"economy": {"S": economy.id}, "account": {"S": "u:alice"}})["Item"]
    assert item["available"] == {"N": "15"}  # left as it was found


def test_an_export_that_sees_the_books_move_is_made_again(economy, tmp_path, monkeypatch) -> None:
    economy.credit("alice", 10)
    real, moved = backup.RULES["operations"], []

    def moving(x: Any):
        if not moved:
            moved.append(True)
            economy.credit("alice", 1)  # a transfer commits while the export runs
        return real(x)

    monkeypatch.setitem(backup.RULES, "operations", moving)
    summary = backup.export_economy(economy.id, str(tmp_path / "e.jsonl"))
    assert summary["attempts"] == 2
    balances = [json.loads(r)["item"] for r in oh.records(str(tmp_path / "e.jsonl")) if '"t": "accounts"' in r]
    assert {"S": "u:alice"} in [b["account"] for b in balances]
    alice = next(b for b in balances if b["account"] == {"S": "u:alice"})
    assert alice["available"] == {"N": "11"}


def test_bad_files_are_refused_before_anything_is_written(economy, tmp_path) -> None:
    economy.credit("alice", 10)
    path = export(economy.id, tmp_path)
    lines = open(path, encoding="utf-8").read().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-3]) + "\n")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text(lines[0] + "\n{not json\n")
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"hello": 1}\n')
    for bad, message in ((cut, "cut short"), (garbage, "not JSON"), (foreign, "not a coinhall-export")):
        with pytest.raises(backup.BackupError, match=message):
            backup.restore_economy(str(bad), fresh_prefix())
    with pytest.raises(ValueError):
        backup.restore_economy(path, "bad prefix!")


def test_the_cli_exports_and_restores_and_says_what_is_wrong(economy, tmp_path, capsys) -> None:
    from chalicelib.cli.main import main

    economy.credit("alice", 10)
    out = str(tmp_path / "cli.jsonl")
    assert main(["export", "--economy", economy.id, "--out", out]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["accounts"] == 2  # alice's wallet and the one adjustments shard her credit touched
    assert main(["restore", "--in", out, "--table-prefix", fresh_prefix()]) == 0
    # into an empty prefix every exported record is written, none found present
    restored = json.loads(capsys.readouterr().out)
    assert (restored["written"], restored["present"]) == (sum(counts.values()), 0)
    assert main(["export", "--economy", "no such!", "--out", out]) == 2
    assert main(["export", "--economy", "never-created-economy", "--out", out]) == 1
    assert main(["restore", "--in", str(tmp_path / "missing.jsonl"), "--table-prefix", "p-"]) == 2
    assert main(["export", "--economy", economy.id, "--out", str(tmp_path / "no" / "dir.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "invalid economy id" in err and "no economy" in err


def test_every_table_says_how_its_records_belong_to_an_economy() -> None:
    from chalicelib.db.schema import all_models

    for model in all_models():
        description, reader = backup.rule_for(model)  # raises for a table nobody described
        assert description


def test_an_export_leaves_the_secrets_out_unless_asked_and_restores_them_revoked(economy, tmp_path) -> None:
    from chalicelib.tenancy import apikeys, game_servers

    token, key_id = apikeys.create_key(economy.id, ["read"], label="host-app")
    server = game_servers.create_server(economy.id, "test", label="mc-1")
    economy.credit("alice", 10)
    path = str(tmp_path / "plain.jsonl")
    summary = backup.export_economy(economy.id, path)
    assert summary["secrets"] == "withheld"
    text = open(path, encoding="utf-8").read()
    assert apikeys._digest(token) not in text and server["secret"] not in text
    lines = [json.loads(line) for line in text.splitlines()]
    header = lines[0]
    assert header["secrets"] == "withheld"
    keys = {r["item"]["key_id"]["S"]: r["item"] for r in lines if r.get("t") == "api_keys"}
    assert keys[key_id]["key_hash"] == {"S": "withheld"}
    assert keys[key_id]["revoked_at"] == {"S": header["exported_at"]}
    servers = [r["item"] for r in lines if r.get("t") == "game_servers"]
    assert [s["server_id"]["S"] for s in servers] == [server["server_id"]]
    assert not {"secret", "previous_secret"} & set(servers[0]) and servers[0]["revoked_at"]["S"] == header["exported_at"]

    prefix = fresh_prefix()
    backup.restore_economy(path, prefix)
    with backup.using_table_prefix(prefix):
        apikeys.clear_cache()
        refused = economy.api.get("/v1/users/alice/wallet", token=token)
        assert (refused.status, refused.code) == (401, "unauthenticated")  # mint new keys after such a restore
        listed = {s["server_id"]: s["status"] for s in game_servers.list_servers(economy.id)}
        assert listed == {server["server_id"]: "revoked"}
        assert oh.run("reconcile", economy=economy.id, full=True)["discrepancies"] == []
    # the books came along whole: only the secrets were left out
    assert {k: v for k, v in summary["counts"].items()} == backup.export_economy(
        economy.id, str(tmp_path / "full.jsonl"), include_secrets=True)["counts"]


def test_the_cli_writes_exports_under_a_directory_never_where_it_was_started(economy, tmp_path, monkeypatch,
                                                                              capsys, clock) -> None:
    from chalicelib.cli import ops
    from chalicelib.cli.main import main

    monkeypatch.setattr(ops, "EXPORTS", tmp_path / "exports")
    monkeypatch.chdir(tmp_path)
    clock.set(datetime(2026, 5, 6, 7, 8, 9, 500_000, tzinfo=timezone.utc))
    economy.credit("alice", 10)
    assert main(["export", "--economy", economy.id]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["out"] == str(tmp_path / "exports" / f"{economy.id}-20260506T070809Z.jsonl")
    assert out["secrets"] == "withheld"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports"]
    assert main(["export", "--economy", economy.id, "--dir", str(tmp_path / "mine"), "--include-secrets"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["out"], out["secrets"]) == (str(tmp_path / "mine" / f"{economy.id}-20260506T070809Z.jsonl"),
                                            "included")
    assert main(["export", "--economy", "../escape"]) == 2
    assert "invalid economy id" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports", "mine"]
