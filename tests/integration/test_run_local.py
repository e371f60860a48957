"""`make run`'s script as a person meets it: a second shell finds the stack; unknown paths answer 404 in our shape.

The script runs for real (``scripts/run_local.py`` in its own process, the API
server on a free port) over the test engine, with its own table prefix and its
own stack file, so it never meets a developer's running stack.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
import requests

from chalicelib.cli import local_stack
from chalicelib.core.errors import NoRouteError
from scripts import ddb_local
from tests.stack_helpers import Stack, shell_env, stack  # noqa: F401 (stack is a fixture)
from tests.stack_helpers import cli as _cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_second_shell_uses_the_running_stack_whatever_port_the_engine_got(stack: Stack) -> None:
    info = stack.info
    assert info["pid"] == stack.proc.pid
    made = _cli(stack.stack_file, "api-key", "create", "--economy", "default", "--scopes", "read,write,admin")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["api_key"]
    # The key was written where the running API reads: it authenticates there.
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    credited = requests.post(f"{stack.url}/v1/admin/users/alice/adjust", headers={**auth, "Idempotency-Key": "w1"},
                             json={"amount": 500, "reason": "welcome"}, timeout=10)
    assert credited.status_code == 200, credited.text
    wallet = requests.get(f"{stack.url}/v1/users/alice/wallet", headers=auth, timeout=10).json()
    assert wallet["available"] == 500
    checked = _cli(stack.stack_file, "check", "--economy", "default")
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"] is True, checked.stdout
    # discord send too (in-process app, the stack's engine and tables): a guild of its own, a fresh wallet
    sent = _cli(stack.stack_file, "discord", "send", "/coins", "--user", "bob", "--guild", "run-local-test")
    assert sent.returncode == 0, sent.stderr
    assert "0 coins" in sent.stdout, sent.stdout


def test_unknown_paths_answer_404_not_found_and_the_root_is_an_index(stack: Stack) -> None:
    for path in ("/favicon.ico", "/nope/deeper", "/v1/users"):
        resp = requests.get(stack.url + path, timeout=10)
        assert resp.status_code == 404, (path, resp.text)
        assert resp.headers["Content-Type"] == "application/json"
        assert resp.json() == NoRouteError().to_body() == {
            "error": {"code": "not_found", "message": NoRouteError.message, "details": {}}}
    index = requests.get(stack.url + "/", timeout=10)
    assert index.status_code == 200
    links = index.json()["links"]
    assert links["local_discord"] == stack.info["discord_page"]
    assert links["local_game_server"] == str(stack.info["game_server_control"]).replace("/control", "/deliveries")
    assert requests.get(stack.url + links["openapi"], timeout=10).json()["openapi"] == "3.1.0"
    assert requests.get(stack.url + links["healthz"], timeout=10).json() == {"status": "ok"}


def test_every_log_line_is_one_json_object(stack: Stack) -> None:
    requests.get(stack.url + "/nope", timeout=10)
    bad = requests.post(stack.url + "/v1/users/alice/spend", data="{", timeout=10,
                        headers={"Authorization": "Bearer chk_local_dev_key", "Content-Type": "application/json",
                                 "Idempotency-Key": "k"})
    assert bad.status_code == 400
    deadline = time.monotonic() + 10
    while '"http"' not in stack.log.read_text():  # the access line of the requests above
        assert time.monotonic() < deadline, stack.log.read_text()
        time.sleep(0.05)
    lines = stack.lines()
    start = next(i for i, line in enumerate(lines) if "Coinhall is running locally" in line)
    end = next(i for i, line in enumerate(lines) if "Ctrl-C stops everything" in line)
    others = [line for i, line in enumerate(lines) if not start <= i <= end and line.strip()]
    assert others, "the stack logged nothing"
    not_json = []
    for line in others:
        try:
            json.loads(line)
        except ValueError:
            not_json.append(line)
    assert not_json == []  # chalice local wrote each of them a second time, as plain text


def test_stopping_the_stack_withdraws_the_stack_file_and_the_cli_then_refuses(stack: Stack) -> None:
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(30) == 0
    assert not stack.stack_file.exists()
    refused = _cli(stack.stack_file, "api-key", "create", "--economy", "default", "--scopes", "read")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [f"error: {local_stack.NoLocalStack()}"]
    assert refused.stdout == ""
    sent = _cli(stack.stack_file, "discord", "send", "/coins", "--user", "bob", "--guild", "run-local-test")
    assert (sent.returncode, sent.stderr.strip()) == (2, f"error: {local_stack.NoLocalStack()}")


def test_a_stack_file_whose_process_is_gone_is_not_used(tmp_path: Path) -> None:
    stale = tmp_path / "stack.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale.write_text(json.dumps({"pid": dead.pid, "dynamodb_endpoint": "http://127.0.0.1:9",
                                 "table_prefix": "x-", "api_url": "http://127.0.0.1:9"}))
    refused = _cli(stale, "check", "--economy", "default")
    assert (refused.returncode, refused.stderr.strip()) == (2, f"error: {local_stack.NoLocalStack()}")


def test_an_engine_that_does_not_answer_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    port = ddb_local.free_port()  # nothing listens there
    env = shell_env(tmp_path / "none.json")
    env["COINS_DYNAMODB_ENDPOINT"] = f"http://127.0.0.1:{port}"
    refused = _cli(tmp_path / "none.json", "check", "--economy", "default", env=env)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        f"error: the engine at http://127.0.0.1:{port} does not answer; is `make run` still running?"]


def test_commands_that_need_no_table_run_with_no_stack(tmp_path: Path) -> None:
    listed = _cli(tmp_path / "none.json", "jobs", "list")
    assert listed.returncode == 0 and "reconcile" in json.loads(listed.stdout)
    shown = _cli(tmp_path / "none.json", "config")
    assert shown.returncode == 0, shown.stderr


def _admin(stack: Stack) -> Dict[str, str]:
    return {"Authorization": f"Bearer {stack.info['dev_api_key']}", "Content-Type": "application/json"}


def _until(probe, what: str, timeout: float = 30.0):
    """Another process does the work: ask until it answers (bounded), never sleep a guessed time."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def test_a_shop_order_is_delivered_by_the_game_server_stand_in(stack: Stack) -> None:
    info, admin = stack.info, _admin(stack)
    assert requests.post(f"{stack.url}/v1/admin/users/steve/adjust", headers={**admin, "Idempotency-Key": "s1"},
                         json={"amount": 300, "reason": "test"}, timeout=10).status_code == 200
    made = requests.put(f"{stack.url}/v1/admin/rewards/vip-rank", timeout=10,
                        headers={**admin, "X-Audit-Reason": "the stand-in delivers it"},
                        json={"name": "VIP rank", "category": "rank", "price": 100, "fulfilment": "api"})
    assert made.status_code in (200, 201), made.text
    ordered = requests.post(f"{stack.url}/v1/orders", headers={**admin, "Idempotency-Key": "o1"}, timeout=10,
                            json={"buyer_id": "steve", "sku": "vip-rank", "qty": 1})
    assert ordered.status_code in (200, 201), ordered.text  # not 503 fulfilment_unavailable
    order_id = ordered.json()["order_id"]
    game = str(info["game_server_control"]).rsplit("/control", 1)[0]
    delivered = _until(lambda: requests.get(f"{game}/deliveries", timeout=10).json()["deliveries"],
                       "the game server's delivery")
    assert delivered == {order_id: 1}
    status = _until(lambda: (lambda o: o["status"] if o["status"] != "pending" else None)(
        requests.get(f"{stack.url}/v1/orders/{order_id}", headers=admin, timeout=10).json()), "the order's end")
    assert status == "fulfilled"
    wallet = requests.get(f"{stack.url}/v1/users/steve/wallet", headers=admin, timeout=10).json()
    assert (wallet["available"], wallet["held"]) == (200, 0)


def test_a_deferred_discord_reply_is_shown_by_discord_send_and_on_the_local_discord_page(stack: Stack) -> None:
    sent = _cli(stack.stack_file, "discord", "send", "--select", "buy:pack", "--value", "coins_100",
                "--user", "carol", "--guild", "run-local-test")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    edited = sent.stdout.split("[the reply, edited by the worker]", 1)[1]
    assert "/local/checkout/pur_" in edited, sent.stdout  # the Pay link the worker put in
    page = requests.get(str(stack.info["discord_page"]), timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Interaction replies" in page.text and "/local/checkout/pur_" in page.text
