"""Pending transfers (``ledger.pending``): worked examples on DynamoDB Local.

Reserve, then post (all, part, to a payee with a split, to a system account)
or void, each resolving at most once under its one resolve key; each example
ends by checking the books.
"""
from __future__ import annotations

import threading
import uuid
from typing import Any, Dict, List, Tuple

import pytest

from tests.ledger_helpers import posting
from chalicelib import ledger
from chalicelib.core import errors
from chalicelib.core.ids import new_id
from chalicelib.ledger import Leg, Posted, pending
from chalicelib.ledger.invariants import check_economy
from chalicelib.ledger.pending import Payee, Pending, Reserve, Resolve
from chalicelib.ledger.wallets import get_wallet, system_balance
from tests.conftest import new_economy_id

pytestmark = pytest.mark.integration

FAR_FUTURE = "2999-01-01T00:00:00.000Z"


@pytest.fixture
def eco(local_engine: str) -> str:
    return new_economy_id()


def _credit(economy: str, user_id: str, amount: int) -> None:
    ledger.post(posting(
        economy, f"test:{uuid.uuid4().hex}", ledger.fingerprint("credit", user_id, amount), "adjust",
        [Leg(ledger.user(user_id), amount), Leg(ledger.system("adjustments"), -amount)],
        respond=lambda p: {}, allow_frozen=True,
    ))


def _reserve(economy: str, payer: str, amount: int, expires_in: int = 600) -> Pending:
    pending_id = new_id("hold_")
    request = Reserve(pending_id, payer, amount, expires_in, f"test:{pending_id}", (payer, amount, expires_in),
                      reason="test", meta={"hold_id": pending_id})
    out = ledger.pending.reserve(economy, request, respond=lambda r: {"id": r.id, "expires_at": r.expires_at,
                                                                      "created_at": r.created_at})
    assert out.created and not out.replayed
    assert out.result["expires_at"] > out.result["created_at"]
    return Pending(pending_id, payer, amount, out.result["expires_at"])


def _balances(posted: Posted, user_id: str) -> Dict[str, Any]:
    return {"op": posted.op_id, "balance": posted.user(user_id).as_dict()}


def _buckets(economy: str, user_id: str) -> Tuple[int, int, int]:
    w = get_wallet(economy, user_id)
    return w.available, w.held, w.earnings


def _books(economy: str) -> None:
    report = check_economy(economy)
    assert report.ok, report.discrepancies
    assert report.total == 0


def test_reserve_moves_available_to_held_once_per_key(eco: str) -> None:
    _credit(eco, "payer", 100)
    request = Reserve("hold_A", "payer", 40, 60, "test:reserve-once", ("payer", 40))
    first = pending.reserve(eco, request, respond=lambda r: _balances(r.posted, "payer"))
    again = pending.reserve(eco, request, respond=lambda r: _balances(r.posted, "payer"))
    assert first.result["balance"] == {"available": 60, "held": 40, "earnings": 0}
    assert again.replayed and again.result == first.result
    assert _buckets(eco, "payer") == (60, 40, 0)
    _books(eco)


def test_partial_post_pays_the_payee_and_returns_the_rest(eco: str) -> None:
    _credit(eco, "payer", 100)
    held = _reserve(eco, "payer", 80)
    out = pending.post(eco, held, Resolve("settle", "settle", ("t1",), (Payee(ledger.system("treasury"), 30),)),
                       respond=lambda p: _balances(p, "payer"))
    assert out.result["balance"] == {"available": 70, "held": 0, "earnings": 0}  # 20 never held + 50 back
    assert system_balance(eco, ledger.system("treasury")) == 30
    _books(eco)


def test_post_to_a_payee_with_a_split_credits_earnings_and_the_fee(eco: str) -> None:
    _credit(eco, "client", 1000)
    held = _reserve(eco, "client", 999)
    parts = pending.split(999, ledger.revenue.payee_share_bps(1000), ledger.user("freelancer"))
    assert parts == (Payee(ledger.user("freelancer"), 899, "earnings"), Payee(ledger.system("treasury"), 100))
    pending.post(eco, held, Resolve("escrow-release", "settle", ("k",), parts), respond=lambda p: {})
    assert _buckets(eco, "client") == (1, 0, 0)
    assert _buckets(eco, "freelancer") == (0, 0, 899)
    assert system_balance(eco, ledger.system("treasury")) == 100
    _books(eco)


def test_void_after_expiry_returns_everything(eco: str) -> None:
    _credit(eco, "payer", 50)
    held = _reserve(eco, "payer", 50, expires_in=1)
    assert pending.due(held, FAR_FUTURE) and not pending.due(held, "2000-01-01T00:00:00.000Z")
    out = pending.void(eco, held, Resolve("expire", "release", ("due",)), respond=lambda p: _balances(p, "payer"))
    assert out.result["balance"] == {"available": 50, "held": 0, "earnings": 0}
    _books(eco)


def test_same_resolution_replays_and_another_loses_to_it(eco: str) -> None:
    _credit(eco, "payer", 100)
    held = _reserve(eco, "payer", 100)
    settle = Resolve("settle", "settle", ("key:k1",), (Payee(ledger.system("treasury"), 100),))
    first = pending.post(eco, held, settle, respond=lambda p: _balances(p, "payer"))
    again = pending.post(eco, held, settle, respond=lambda p: _balances(p, "payer"))
    assert again.replayed and again.op_id == first.op_id and again.result == first.result
    with pytest.raises(pending.PendingResolvedError) as lost:
        pending.void(eco, held, Resolve("release", "release", ("key:k2",)), respond=lambda p: {})
    assert lost.value.details == {"pending_id": held.id} and lost.value.status == 409
    assert _buckets(eco, "payer") == (0, 0, 0)
    assert system_balance(eco, ledger.system("treasury")) == 100
    _books(eco)


def test_post_and_void_racing_from_two_threads_resolve_once(eco: str) -> None:
    for round_ in range(5):
        _credit(eco, f"payer{round_}", 100)
        held = _reserve(eco, f"payer{round_}", 100)
        start = threading.Barrier(2)
        results: List[Tuple[str, Any]] = []

        def run(name: str, call: Any) -> None:
            start.wait()
            try:
                results.append((name, call().op_id))
            except pending.PendingResolvedError as exc:
                results.append((name, exc))

        settle = Resolve("settle", "settle", ("a",), (Payee(ledger.system("treasury"), 60),))
        release = Resolve("release", "release", ("b",))
        threads = [
            threading.Thread(target=run, args=("post", lambda: pending.post(eco, held, settle, respond=lambda p: {}))),
            threading.Thread(target=run, args=("void", lambda: pending.void(eco, held, release, respond=lambda p: {}))),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [name for name, r in results if isinstance(r, str)]
        assert len(results) == 2 and len(winners) == 1, results
        expected = (40, 0, 0) if winners == ["post"] else (100, 0, 0)
        assert _buckets(eco, f"payer{round_}") == expected
    _books(eco)


def test_a_callers_idempotency_key_used_elsewhere_is_refused_as_such(eco: str) -> None:
    _credit(eco, "payer", 10)
    first, second = _reserve(eco, "payer", 5), _reserve(eco, "payer", 5)
    pending.void(eco, first, Resolve("release", "release", ("key:k",), request_key="api:k"), respond=lambda p: {})
    with pytest.raises(errors.IdempotencyKeyReusedError) as reused:
        pending.void(eco, second, Resolve("release", "release", ("key:k",), request_key="api:k"),
                     respond=lambda p: {})
    assert reused.value.ledger_key == "api:k"
    assert _buckets(eco, "payer") == (5, 5, 0)
    _books(eco)


def test_a_post_above_the_hold_or_to_the_payer_is_refused_before_any_write(eco: str) -> None:
    _credit(eco, "payer", 10)
    held = _reserve(eco, "payer", 10)
    with pytest.raises(ValueError):
        pending.post(eco, held, Resolve("settle", "settle", (), (Payee(ledger.system("treasury"), 11),)),
                     respond=lambda p: {})
    with pytest.raises(ValueError):
        pending.post(eco, held, Resolve("settle", "settle", (), (Payee(ledger.user("payer"), 1, "earnings"),)),
                     respond=lambda p: {})
    with pytest.raises(ValueError):
        pending.void(eco, held, Resolve("release", "release", (), (Payee(ledger.system("treasury"), 1),)),
                     respond=lambda p: {})
    assert _buckets(eco, "payer") == (0, 10, 0)
    _books(eco)
