"""The revocation window the README promises: ``COINS_API_KEY_CACHE_SECONDS`` (default 30)
is "how long a verified key is cached per container (revocation delay)".

So a key revoked with ``api-key revoke`` keeps working in a container that verified it
for up to that long, and is refused (401 ``unauthenticated``, nothing written) after it,
without anyone clearing the cache. Time is moved with the cache's clock
(``apikeys._clock``), never waited for; the key is minted and revoked with the operator
CLI and used over HTTP, as a host app would.

Worked figures: alice is credited 100; the key spends 10 (cached at t=0, 90 left),
is revoked, spends 10 at t=29.9 (inside the window: 80 left), and at t=30 is refused
and alice still has 80.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List

import pytest

from chalicelib.cli import main as cli
from chalicelib.core import config
from chalicelib.tenancy import apikeys

pytestmark = pytest.mark.integration

TTL = 30.0


class Clock:
    """The monotonic clock the key cache reads, moved by hand."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(economy, monkeypatch: pytest.MonkeyPatch) -> Clock:
    monkeypatch.setenv("COINS_API_KEY_CACHE_SECONDS", str(int(TTL)))
    config.reset_settings()
    apikeys.clear_cache()  # setup only: nothing cached on the real clock may outlive the fake one
    fake = Clock()
    monkeypatch.setattr(apikeys, "_clock", fake)
    return fake


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> Dict[str, Any]:
    capsys.readouterr()
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def spend(economy, token: str, amount: int = 10) -> Any:
    return economy.api.post("/v1/users/alice/spend", {"amount": amount, "reason": "sword"},
                            key=f"k-{uuid.uuid4().hex}", token=token)


def available(economy) -> int:
    resp = economy.api.get("/v1/users/alice/wallet")  # the fixture's admin key, never revoked
    assert resp.status == 200, resp.body
    return resp.body["available"]


def spends(economy) -> List[Dict[str, Any]]:
    items = economy.api.get("/v1/users/alice/transactions").body["items"]
    return [e for e in items if e["type"] == "spend"]


def test_a_revoked_key_works_inside_the_cache_window_and_is_refused_after_it(economy, clock, capsys) -> None:
    made = run_cli(capsys, "api-key", "create", "--economy", economy.id, "--scopes", "read,write")
    token, key_id = made["api_key"], made["key_id"]
    economy.credit("alice", 100)

    assert spend(economy, token).status == 200  # verified at t=0: cached until t=30
    assert available(economy) == 90

    assert run_cli(capsys, "api-key", "revoke", key_id) == {"key_id": key_id, "revoked": True}

    clock.now += TTL - 0.1  # the README's revocation delay: still inside it
    inside = spend(economy, token)
    assert inside.status == 200, inside.body
    assert available(economy) == 80

    clock.now += 0.1  # exactly TTL after it was verified; the hit at 29.9 s did not extend it
    before = spends(economy)
    for resp in (spend(economy, token), economy.api.get("/v1/users/alice/wallet", token=token)):
        assert (resp.status, resp.code) == (401, "unauthenticated"), resp.body
    assert available(economy) == 80
    assert spends(economy) == before and len(before) == 2

    clock.now += 3600  # and it stays refused: the refusal is not cached as a success
    assert spend(economy, token).status == 401
    assert available(economy) == 80


def test_a_key_revoked_before_this_container_verified_it_is_refused_at_once(economy, clock, capsys) -> None:
    made = run_cli(capsys, "api-key", "create", "--economy", economy.id, "--scopes", "read,write")
    economy.credit("alice", 100)
    run_cli(capsys, "api-key", "revoke", made["key_id"])
    resp = spend(economy, made["api_key"])
    assert (resp.status, resp.code) == (401, "unauthenticated"), resp.body
    assert available(economy) == 100 and spends(economy) == []
