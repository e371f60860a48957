"""Races on the grant budget, on the real engine.

The budget counter is taken in the grant's own ledger transaction, so racing
grants never mint a coin past it, whatever order DynamoDB Local serialises
them in; the fault test adds the TransactionConflict cancellations AWS
produces and Local never does, and replays racing their first grant take the
budget once.
"""
from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List

import pytest

from chalicelib.tenancy import apikeys
from chalicelib.rewards import budget as grant_budget, grants as rewards
from chalicelib.db.engine import get_client
from chalicelib.ledger import system
from chalicelib.ledger.wallets import system_balance
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.conftest import Economy, Resp
from tests.market_helpers import put

# A stopped app clock: the test's "today" and the app's are the same day even across UTC midnight.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.usefixtures("clock")]

RACERS = 50
COURSE_REWARD = 30
BUDGET = 1000  # 33 grants of 30 fit (990); the 34th would overshoot by 20


def _race(n: int, fn: Callable[[int], Resp]) -> List[Resp]:
    barrier = threading.Barrier(n)

    def run(i: int) -> Resp:
        barrier.wait(timeout=30)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def _setup(economy: Economy) -> None:
    assert put(economy, "/v1/admin/reward-settings", {"grant_daily_budget": BUDGET}).status == 200
    assert put(economy, "/v1/admin/courses/c1", {"title": "Course", "reward": COURSE_REWARD}).status == 201


def _grant(economy: Economy, user: str) -> Resp:
    return economy.api.post(f"/v1/users/{user}/rewards", {"type": "course_completion", "ref": "c1"},
                            token=economy.rewards_token)


def _used(economy: Economy) -> int:
    return grant_budget.used(economy.id, apikeys.key_id_for(economy.rewards_token or ""), rewards.today_utc())


def _assert_exactly_the_budget(economy: Economy, results: List[Resp]) -> None:
    paid = [r for r in results if r.status == 200]
    refused = [r for r in results if r.status != 200]
    fits = BUDGET // COURSE_REWARD
    assert len(paid) == fits and all(r.body["amount"] == COURSE_REWARD for r in paid)
    assert [(r.status, r.code) for r in refused] == [(429, "grant_budget_exceeded")] * (RACERS - fits)
    assert _used(economy) == fits * COURSE_REWARD == 990
    assert -system_balance(economy.id, system("rewards")) == 990
    paid_users = {r.body["user_id"] for r in paid}
    for i in range(RACERS):
        wallet = economy.api.get(f"/v1/users/u{i}/wallet")
        assert (wallet.body["available"] if wallet.status == 200 else 0) == (
            COURSE_REWARD if f"u{i}" in paid_users else 0)
    economy.check()


def test_fifty_racing_grants_never_overshoot_the_budget(economy) -> None:
    _setup(economy)
    results = _race(RACERS, lambda i: _grant(economy, f"u{i}"))
    _assert_exactly_the_budget(economy, results)


def test_the_budget_holds_under_injected_transaction_conflicts(economy) -> None:
    """AWS cancels concurrent transactions on one item (the counter); the ledger retries, counting once."""
    _setup(economy)
    client = get_client()
    rng = random.Random(11)
    injected: List[int] = []
    lock = threading.Lock()

    def cancel_some(model: Any = None, params: Any = None, **_: Any):
        if model is None or model.name != "TransactWriteItems":
            return None
        items = json.loads(params["body"])["TransactItems"]  # DynamoDB's wire JSON
        takes_budget = any(next(iter(i.values()))["TableName"].endswith("market_counters") for i in items)
        with lock:
            if not takes_budget or rng.random() >= 0.3:
                return None
            injected.append(1)
        body = {"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                "CancellationReasons": [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1),
                "ResponseMetadata": {"HTTPStatusCode": 400}}
        return _Http(400), body

    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", cancel_some)
    try:
        results = _race(RACERS, lambda i: _grant(economy, f"u{i}"))
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", cancel_some)
    assert injected, "the hook should have cancelled some transactions"
    _assert_exactly_the_budget(economy, results)


def test_racing_repeats_of_one_grant_pay_and_count_once(economy) -> None:
    _setup(economy)
    results = _race(20, lambda i: _grant(economy, "alice"))
    assert [r.status for r in results] == [200] * 20
    assert len({r.body["transaction_id"] for r in results}) == 1
    assert sorted(r.body["already_claimed"] for r in results) == [False] + [True] * 19
    assert _used(economy) == COURSE_REWARD
    assert economy.api.get("/v1/users/alice/wallet").body["available"] == COURSE_REWARD
    economy.check()


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: Dict[str, str] = {}
        self.content = b""
