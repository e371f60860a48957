"""Races, retries and injected faults on the real engine, through the app.

DynamoDB Local serialises transactions, so it never shows AWS's
TransactionConflict cancellations by itself: the fault tests inject them (and
a commit whose response is lost) with botocore's event hooks.
"""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import pytest

from chalicelib.db.engine import get_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_200_concurrent_spends_against_500_coins(economy) -> None:
    economy.credit("alice", 500)

    def spend(i: int):
        return economy.api.post("/v1/users/alice/spend", {"amount": 10, "reason": "race"}, key=f"race-{i}")

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(spend, range(200)))
    outcomes = Counter((r.status, r.code) for r in responses)
    assert outcomes == {(200, None): 50, (422, "insufficient_funds"): 150}
    assert economy.api.get("/v1/users/alice/wallet").body["available"] == 0
    balances = sorted(r.body["balance"]["available"] for r in responses if r.status == 200)
    assert balances == list(range(0, 500, 10))  # every success saw a distinct state
    economy.check()


def test_racing_retries_of_the_same_key_charge_once(economy) -> None:
    economy.credit("alice", 1000)
    keys = [f"dup-{i}" for i in range(20)]
    jobs = [k for k in keys for _ in range(8)]  # each key sent 8 times at once

    def spend(key: str):
        return key, economy.api.post("/v1/users/alice/spend", {"amount": 7, "reason": "dup"}, key=key)

    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(spend, jobs))
    by_key: Dict[str, List[Any]] = {}
    for key, resp in results:
        assert resp.status == 200, resp.body
        by_key.setdefault(key, []).append(resp)
    for key, resps in by_key.items():
        assert len({r.body["transaction_id"] for r in resps}) == 1, key
        assert sorted(r.headers["idempotent-replayed"] for r in resps) == ["false"] + ["true"] * 7
    assert economy.api.get("/v1/users/alice/wallet").body["available"] == 1000 - 7 * 20
    statement = economy.api.get("/v1/users/alice/transactions?limit=100").body["items"]
    assert len(statement) == 21
    economy.check()


class _Fault:
    """A botocore hook that fails some TransactWriteItems calls.

    ``conflict``: answer TransactionCanceledException/TransactionConflict without
    sending. ``lost``: send the request for real (it commits), then answer 500, as
    when a response is lost after DynamoDB applied it.
    """

    def __init__(self, mode: str, every: int) -> None:
        self.mode, self.every, self.calls, self.injected, self.committed = mode, every, 0, 0, 0
        self.lock = threading.Lock()
        self.lost_tokens: set = set()
        self.passthrough = None

    def __call__(self, model: Any = None, params: Any = None, **_: Any):
        if model is None or model.name != "TransactWriteItems":
            return None
        request = json.loads(params["body"])  # DynamoDB's wire JSON is the API's own shape
        token = request.get("ClientRequestToken")
        with self.lock:
            self.calls += 1
            # Only a call that committed is remembered by its token (DynamoDB answers its resend
            # as the first); a cancelled call's resend runs again, as a fresh request.
            retry_of_lost = self.mode == "lost" and token in self.lost_tokens
            hit = retry_of_lost or self.calls % self.every == 0
            if hit and not retry_of_lost:
                self.injected += 1
                if self.mode == "lost":
                    self.lost_tokens.add(token)
        if not hit:
            return None
        if self.mode == "conflict":
            items = request["TransactItems"]
            body = {
                "Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                "CancellationReasons": [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1),
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            return _Http(400), body
        if not retry_of_lost:
            self.passthrough.transact_write_items(**request)  # a lost race raises as usual
            with self.lock:
                self.committed += 1
        # botocore's own retries of this call fail too, so the ledger's loop must
        # find the committed operation record and replay it.
        return _Http(500), {"Error": {"Code": "InternalServerError", "Message": "injected: response lost"},
                            "ResponseMetadata": {"HTTPStatusCode": 500}}


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: Dict[str, str] = {}
        self.content = b""


def _fresh_client() -> Any:
    """A second client without the fault hook, to really send the 'lost' call."""
    import botocore.session

    from chalicelib.core.config import get_settings

    settings = get_settings()
    return botocore.session.get_session().create_client(
        "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint,
        aws_access_key_id="local", aws_secret_access_key="local",
    )


@pytest.mark.parametrize("mode", ["conflict", "lost"])
def test_injected_faults_never_lose_or_double_coins(economy, mode: str) -> None:
    economy.credit("alice", 300)
    economy.credit("bob", 300)
    fault = _Fault(mode, every=3)
    fault.passthrough = _fresh_client()
    client = get_client()
    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", fault)
    try:
        def spend(i: int):
            user = "alice" if i % 2 else "bob"
            return user, economy.api.post(f"/v1/users/{user}/spend", {"amount": 5, "reason": mode}, key=f"{mode}-{i}")

        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(spend, range(60)))
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", fault)
    assert fault.injected >= 10
    assert all(r.status == 200 for _, r in results), [r.body for _, r in results if r.status != 200]
    replayed = sum(r.headers["idempotent-replayed"] == "true" for _, r in results)
    # A lost response is answered by replaying the committed operation.
    assert replayed == (fault.committed if mode == "lost" else 0)
    for user in ("alice", "bob"):
        assert economy.api.get(f"/v1/users/{user}/wallet").body["available"] == 300 - 5 * 30
    economy.check()


def test_mixed_credits_and_spends_on_many_wallets_keep_the_books(economy) -> None:
    users = [f"u{i}" for i in range(8)]
    for user in users:
        economy.credit(user, 100)

    def work(i: int):
        user = users[i % len(users)]
        if i % 3 == 0:
            return economy.api.post(f"/v1/admin/users/{user}/adjust", {"amount": 9, "reason": "mix"},
                                    key=f"mix-{uuid.uuid4().hex}")
        return economy.api.post(f"/v1/users/{user}/spend", {"amount": 13, "reason": "mix"}, key=f"mix-{i}")

    with ThreadPoolExecutor(max_workers=24) as pool:
        responses = list(pool.map(work, range(240)))
    credits = [r for i, r in enumerate(responses) if i % 3 == 0]
    assert {r.status for r in credits} == {200}
    spends = [(users[i % len(users)], r) for i, r in enumerate(responses) if i % 3]
    assert {(r.status, r.code) for _, r in spends} <= {(200, None), (422, "insufficient_funds")}
    # Credits only add, so a spend of 13 is refused only after 7 took the first 100 (7 * 13 = 91, 9 left)
    paid = Counter(user for user, r in spends if r.status == 200)
    assert all(paid[u] >= 7 for u in users), paid
    total = sum(economy.api.get(f"/v1/users/{u}/wallet").body["available"] for u in users)
    credited = 800 + 9 * sum(1 for i, r in enumerate(responses) if i % 3 == 0 and r.status == 200)
    spent = 13 * sum(1 for i, r in enumerate(responses) if i % 3 and r.status == 200)
    assert total == credited - spent
    economy.check()
