"""Races on the real engine: unlocks, holds, escrow, and injected faults.

DynamoDB Local serialises transactions, so the ledger's own retries are what
these exercise when many requests touch one wallet or one hold at once; the
fault tests add the TransactionConflict cancellations and lost responses that
AWS produces and Local never does.
"""
from __future__ import annotations

import json
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Tuple

import pytest

from chalicelib.spending import holds
from chalicelib.db.engine import get_client
from tests.integration.spending_helpers import active_held, key, place_hold, put_content, treasury, wallet

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAR_FUTURE = "2999-01-01T00:00:00.000Z"


def test_50_concurrent_unlocks_of_one_item_charge_once(economy) -> None:
    economy.credit("reader", 1000)
    put_content(economy, "ch-9", 30, creator="author")  # author 21, treasury 9

    def unlock(_: int):
        return economy.api.post("/v1/users/reader/unlocks", {"content_id": "ch-9"}, token=economy.write_token)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(unlock, range(50)))
    assert Counter(r.status for r in responses) == {201: 1, 200: 49}, [r.body for r in responses if r.status > 201]
    assert len({r.body["transaction_id"] for r in responses}) == 1
    assert sum(r.body["already_unlocked"] for r in responses) == 49
    assert wallet(economy, "reader") == {"available": 970, "held": 0, "earnings": 0}
    assert wallet(economy, "author")["earnings"] == 21 and treasury(economy) == 9
    statement = economy.api.get("/v1/users/reader/transactions").body["items"]
    assert [e["type"] for e in statement] == ["unlock", "adjust"]
    economy.check()


def test_holds_spends_and_unlocks_racing_for_100_coins(economy) -> None:
    economy.credit("u", 100)
    for i in range(12):
        put_content(economy, f"item-{i}", 15, creator="maker")
    work: List[Tuple[str, Any]] = (
        [("hold", i) for i in range(20)]  # 20 x 10
        + [("spend", i) for i in range(20)]  # 20 x 7
        + [("unlock", i % 12) for i in range(24)]  # 12 items x 15, each asked for twice
    )  # 200 + 140 + 180 = 520 coins asked of 100
    random.Random(7).shuffle(work)

    def run(job: Tuple[str, Any]):
        kind, i = job
        if kind == "hold":
            return job, place_hold(economy, "u", 10)
        if kind == "spend":
            return job, economy.api.post("/v1/users/u/spend", {"amount": 7, "reason": "race"}, key=f"s-{i}")
        return job, economy.api.post("/v1/users/u/unlocks", {"content_id": f"item-{i}"})

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(run, work))
    bad = [(job, r.status, r.body) for job, r in results if r.status not in (200, 201, 422)]
    assert not bad, bad
    refused = {r.body["error"]["code"] for _, r in results if r.status == 422}
    assert refused <= {"insufficient_funds"}
    holds_ok = [r.body for (kind, _), r in results if kind == "hold" and r.status == 201]
    spends_ok = [r for (kind, _), r in results if kind == "spend" and r.status == 200]
    charged_unlocks = {r.body["content_id"] for (kind, _), r in results
                       if kind == "unlock" and r.status == 201}
    # a repeat of an unlocked item is answered with its entitlement, never charged again
    repeats = [r for (kind, _), r in results if kind == "unlock" and r.status == 200]
    # (funds only fall in this phase, so an item's second ask cannot be refused once its first was charged)
    assert all(r.body["already_unlocked"] for r in repeats)
    assert sorted(r.body["content_id"] for r in repeats) == sorted(charged_unlocks)
    spent = 10 * len(holds_ok) + 7 * len(spends_ok) + 15 * len(charged_unlocks)
    w = wallet(economy, "u")
    assert w["available"] == 100 - spent >= 0
    assert w["held"] == 10 * len(holds_ok) == active_held(economy, "u")
    assert w["available"] < 7  # the crowd asked for far more: whatever is left is too little for any of it
    listed = economy.api.get("/v1/users/u/unlocks?limit=100").body["items"]
    assert {e["content_id"] for e in listed} == charged_unlocks
    assert wallet(economy, "maker")["earnings"] == 10 * len(charged_unlocks)  # floor(15 * 0.7) = 10

    # and the holds resolve concurrently, half settled, half released
    def resolve(i_hold: Tuple[int, Dict[str, Any]]):
        i, hold = i_hold
        if i % 2:
            return economy.api.post(f"/v1/holds/{hold['hold_id']}/settle", {"amount": 3})
        return economy.api.post(f"/v1/holds/{hold['hold_id']}/release")

    with ThreadPoolExecutor(max_workers=12) as pool:
        assert {r.status for r in pool.map(resolve, enumerate(holds_ok))} <= {200}
    settled = 3 * sum(1 for i in range(len(holds_ok)) if i % 2)
    assert wallet(economy, "u") == {"available": 100 - spent + 10 * len(holds_ok) - settled, "held": 0, "earnings": 0}
    economy.check()


def _race_once(economy, hold_ids: List[str]) -> Dict[str, List[Tuple[str, Any]]]:
    """Settle, release and expire every hold at once (shuffled); returns each hold's answers."""
    items = {h: holds.find_hold(economy.id, h) for h in hold_ids}
    tasks = [(h, action) for h in hold_ids for action in ("settle", "release", "expire")]
    random.shuffle(tasks)
    # Every task starts together: a barrier that times out breaks and fails the run.
    start = threading.Barrier(len(tasks))

    def run(task: Tuple[str, str]):
        hold_id, action = task
        start.wait(timeout=30)
        if action == "settle":
            return task, economy.api.post(f"/v1/holds/{hold_id}/settle", {"amount": 4, "to_user_id": "host"})
        if action == "release":
            return task, economy.api.post(f"/v1/holds/{hold_id}/release")
        return task, holds.expire(economy.id, items[hold_id], FAR_FUTURE)  # what the job does once it is due

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        results = list(pool.map(run, tasks))
    by_hold: Dict[str, List[Tuple[str, Any]]] = {}
    for (hold_id, action), answer in results:
        by_hold.setdefault(hold_id, []).append((action, answer))
    return by_hold


def test_settle_release_and_expire_race_resolves_each_hold_exactly_once(economy) -> None:
    economy.credit("payer", 10_000)
    winners: Counter = Counter()
    expected_available = 10_000
    for _round in range(2):
        hold_ids = [place_hold(economy, "payer", 10).body["hold_id"] for _ in range(15)]
        for hold_id, answers in _race_once(economy, hold_ids).items():
            won = []
            for action, answer in answers:
                if action == "expire":
                    if answer is not None and not answer.replayed:
                        won.append("expire")
                elif answer.status == 200:
                    won.append(action)
                else:
                    assert answer.status == 409 and answer.code == "hold_not_active", answer.body
            assert len(won) == 1, (hold_id, answers)
            state = economy.api.get(f"/v1/holds/{hold_id}").body
            assert state["status"] == {"settle": "settled", "release": "released", "expire": "expired"}[won[0]]
            # every loser was told the winner's state
            for action, answer in answers:
                if action != "expire" and answer.status == 409:
                    assert answer.body["error"]["details"]["hold"]["status"] == state["status"]
            winners[won[0]] += 1
            expected_available -= 4 if won[0] == "settle" else 0
    assert sum(winners.values()) == 30
    assert wallet(economy, "payer") == {"available": expected_available, "held": 0, "earnings": 0}
    settles = winners["settle"]
    assert wallet(economy, "host")["earnings"] == 2 * settles  # floor(4 * 0.7) = 2
    assert treasury(economy) == 2 * settles
    economy.check()


def test_escrow_release_refund_and_auto_release_race(economy) -> None:
    from chalicelib.spending import escrows

    economy.credit("client", 5_000)
    ids = [economy.api.post("/v1/escrows", {"client_id": "client", "freelancer_id": "dev", "amount": 100,
                                            "job_ref": f"j{i}"}, key=key()).body["escrow_id"] for i in range(12)]
    items = {e: holds.find_hold(economy.id, e) for e in ids}
    tasks = [(e, a) for e in ids for a in ("release", "refund", "auto")]
    random.shuffle(tasks)

    def run(task: Tuple[str, str]):
        escrow_id, action = task
        if action == "auto":
            outcome = escrows.auto_release(economy.id, items[escrow_id], FAR_FUTURE)
            return task, outcome is not None and not outcome.replayed, None
        resp = economy.api.post(f"/v1/escrows/{escrow_id}/{action}")
        assert resp.status == 200 or (resp.status, resp.code) == (409, "escrow_not_active"), resp.body
        return task, resp.status == 200, resp

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(run, tasks))
    wins = Counter(escrow_id for (escrow_id, _), won, _ in results if won)
    assert wins == {e: 1 for e in ids}
    # each escrow ends as its one winner left it, and every refused caller was told that state
    final = {e: "refunded" if action == "refund" else "released" for (e, action), won, _ in results if won}
    for escrow_id in ids:
        assert economy.api.get(f"/v1/escrows/{escrow_id}").body["status"] == final[escrow_id]
    told = [(e, resp.body["error"]["details"]["escrow"]["status"]) for (e, _), _, resp in results
            if resp is not None and resp.status == 409]
    assert sorted(told) == sorted((e, final[e]) for (e, action), won, _ in results if not won and action != "auto")
    refunded = sum(1 for (_, action), won, _ in results if won and action == "refund")
    paid = 12 - refunded
    assert wallet(economy, "client") == {"available": 5_000 - 100 * paid, "held": 0, "earnings": 0}
    assert wallet(economy, "dev")["earnings"] == 90 * paid and treasury(economy) == 10 * paid
    economy.check()


class _Faults:
    """A botocore hook failing every ``every``-th TransactWriteItems.

    ``conflict``: answer TransactionCanceled/TransactionConflict without sending.
    ``lost``: send it for real (it commits), then answer 500, as when a response is lost.
    ``always``: an operation key ending so is hit on every attempt, so (lost mode) the
    attempt that commits it surely has its response lost.
    ``committed_lost`` names, by operation type and key, each call that did commit before its
    response was thrown away: its caller can only learn the result by replaying it.
    """

    def __init__(self, mode: str, every: int, always: str = "") -> None:
        import botocore.session

        from chalicelib.core.config import get_settings

        self.mode, self.every, self.calls, self.injected = mode, every, 0, 0
        self.always = always
        self.lock = threading.Lock()
        self.lost: set = set()
        self.committed_lost: List[Tuple[str, str]] = []
        settings = get_settings()
        self.passthrough = botocore.session.get_session().create_client(
            "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint,
            aws_access_key_id="local", aws_secret_access_key="local")

    def __call__(self, model: Any = None, params: Any = None, **_: Any):
        request = json.loads(params["body"])
        token = request.get("ClientRequestToken")
        with self.lock:
            self.calls += 1
            # Only a call that committed is remembered by its token (DynamoDB answers its resend
            # as the first); a cancelled call's resend runs again, as a fresh request.
            again = self.mode == "lost" and token in self.lost
            hit = again or self.calls % self.every == 0 or bool(
                self.always and _operation(request)[1].endswith(self.always))
            if hit and not again:
                self.injected += 1
                if self.mode == "lost":
                    self.lost.add(token)
        if not hit:
            return None
        if self.mode == "conflict":
            reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(request["TransactItems"]) - 1)
            return _Http(400), {"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                                "CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}}
        if not again:
            try:
                self.passthrough.transact_write_items(**request)
            except self.passthrough.exceptions.TransactionCanceledException:
                pass  # it lost a real race: the caller's retry sees the truth
            else:
                with self.lock:
                    self.committed_lost.append(_operation(request))
        return _Http(500), {"Error": {"Code": "InternalServerError", "Message": "injected: response lost"},
                            "ResponseMetadata": {"HTTPStatusCode": 500}}


def _operation(request: Dict[str, Any]) -> Tuple[str, str]:
    """(type, op_key) of the ledger's operation record among a transaction's writes."""
    for item in request["TransactItems"]:
        put = item.get("Put", {}).get("Item", {})
        if "op_key" in put and "alias_of" not in put:
            return put["type"]["S"], put["op_key"]["S"]
    return "", ""


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code, self.headers, self.content = status, {}, b""


@pytest.mark.parametrize("mode", ["conflict", "lost"])
def test_injected_faults_never_double_charge_an_unlock_or_resolve_a_hold_twice(economy, mode: str) -> None:
    economy.credit("u", 1_000)
    for i in range(10):
        put_content(economy, f"c{i}", 20, creator="maker")
    hold_ids = [place_hold(economy, "u", 10).body["hold_id"] for _ in range(10)]
    # Lost mode: c0's charge is always among the lost, so the count below is never vacuous.
    faults = _Faults(mode, every=3, always="#unlock:u/c0" if mode == "lost" else "")
    client = get_client()
    client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", faults)
    try:
        def work(i: int):
            if i < 30:  # each item unlocked three times at once
                return economy.api.post("/v1/users/u/unlocks", {"content_id": f"c{i % 10}"})
            return economy.api.post(f"/v1/holds/{hold_ids[i - 30]}/settle", {"amount": 6}, key=f"settle-{i}")

        with ThreadPoolExecutor(max_workers=12) as pool:
            responses = list(pool.map(work, range(40)))
    finally:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", faults)
    assert faults.injected >= 5
    assert all(r.status in (200, 201) for r in responses), [r.body for r in responses if r.status > 201]
    unlocks = responses[:30]
    assert len({r.body["transaction_id"] for r in unlocks}) == 10  # one charge per item
    # A lost response is answered by replaying the committed unlock, so the one caller that
    # charged an item whose commit's answer was lost sees 200; every other item's charger sees 201.
    lost_unlocks = [op_key for kind, op_key in faults.committed_lost if kind == "unlock"]
    assert len(set(lost_unlocks)) == len(lost_unlocks)  # an item commits once, so is lost at most once
    if mode == "conflict":
        assert lost_unlocks == []
    else:
        assert any(k.endswith("#unlock:u/c0") for k in lost_unlocks), faults.committed_lost
    assert sum(r.status == 201 for r in unlocks) == 10 - len(lost_unlocks), (faults.committed_lost, responses)
    assert all(r.body["already_unlocked"] == (r.status == 200) for r in unlocks)
    # 10 unlocks of 20 and 10 settles of 6 (the other 4 of each hold return)
    assert wallet(economy, "u") == {"available": 1_000 - 100 - 200 + 40, "held": 0, "earnings": 0}
    assert wallet(economy, "maker")["earnings"] == 140
    economy.check()
