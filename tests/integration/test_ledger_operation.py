"""``post()`` takes one ``Operation``: its id is fixed per operation, ``created`` is the ledger's word
for "made something", and an amount that depends on the wallet is sized inside the ledger's own read.

Run on moto and again on DynamoDB Local; each example ends by checking the books.
"""
from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List, Mapping

import pytest

from chalicelib import ledger
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import Balances, Leg, Operation, Sized, WalletChange
from chalicelib.ledger.history import list_entries
from chalicelib.ledger.invariants import check_economy
from chalicelib.ledger.post import _token
from chalicelib.ledger.wallets import find_wallet, get_wallet
from tests.conftest import new_economy_id

pytestmark = pytest.mark.integration


@pytest.fixture
def eco(any_engine: str) -> str:
    return new_economy_id()


def _credit(economy: str, user_id: str, amount: int) -> None:
    ledger.post(Operation(
        economy=economy, key=f"test:{uuid.uuid4().hex}", fingerprint=ledger.fingerprint("credit", user_id, amount),
        type="adjust", legs=(Leg(ledger.user(user_id), amount), Leg(ledger.system("adjustments"), -amount)),
        respond=lambda p: {"available": p.user(user_id).available},
    ))


def _spend_op(economy: str, user_id: str, amount: int, key: str, **fields: Any) -> Operation:
    fields.setdefault("respond", lambda p: {"op": p.op_id, "available": p.user(user_id).available})
    return Operation(
        economy=economy, key=key, fingerprint=ledger.fingerprint("spend", user_id, amount), type="spend",
        legs=(Leg(ledger.user(user_id), -amount), Leg(ledger.system("burn"), amount)), **fields,
    )


def _record(economy: str, key: str) -> Dict[str, Any]:
    item = get_client().get_item(TableName=table_name("operations"), Key={"op_key": {"S": f"{economy}#{key}"}},
                                 ConsistentRead=True)["Item"]
    return item


def _books(economy: str) -> None:
    report = check_economy(economy)
    assert report.ok, report.discrepancies
    assert report.total == 0


def test_an_operation_that_creates_says_so_and_its_replay_says_so_too(eco: str) -> None:
    _credit(eco, "alice", 100)
    first = ledger.post(_spend_op(eco, "alice", 10, "made", created=True))
    again = ledger.post(_spend_op(eco, "alice", 10, "made", created=True))
    plain = ledger.post(_spend_op(eco, "alice", 10, "plain"))
    assert (first.created, first.replayed) == (True, False)
    assert (again.created, again.replayed, again.op_id) == (True, True, first.op_id)
    assert (plain.created, plain.replayed) == (False, False)
    stored = _record(eco, "made")
    assert stored["created"] == {"BOOL": True} and "status_code" not in stored  # no HTTP in the ledger
    assert get_wallet(eco, "alice").available == 80
    _books(eco)


def test_a_record_from_before_created_replays_its_status_as_created(eco: str) -> None:
    for key, status in (("old-201", "201"), ("old-200", "200")):
        get_client().put_item(TableName=table_name("operations"), Item={
            "op_key": {"S": f"{eco}#{key}"}, "op_id": {"S": f"op_{key}"}, "economy": {"S": eco},
            "type": {"S": "spend"}, "fingerprint": {"S": ledger.fingerprint("spend", "alice", 5)},
            "status_code": {"N": status}, "result": {"S": json.dumps({"first": key})}, "legs": {"S": "{}"},
            "created_at": {"S": "2026-01-01T00:00:00Z"},
        })
    old_created = ledger.post(_spend_op(eco, "alice", 5, "old-201"))
    old_plain = ledger.post(_spend_op(eco, "alice", 5, "old-200"))
    assert (old_created.created, old_created.replayed, old_created.result) == (True, True, {"first": "old-201"})
    assert (old_plain.created, old_plain.replayed) == (False, True)
    assert find_wallet(eco, "alice") is None  # a replay moves nothing


def test_every_attempt_of_one_operation_writes_the_same_ids(eco: str) -> None:
    """A wallet that moves under the first attempt makes a second: same op id, same time, new token."""
    _credit(eco, "alice", 100)
    seen: List[tuple] = []

    def respond(posted: ledger.Posted) -> Dict[str, Any]:
        seen.append((posted.op_id, posted.created_at, posted.user("alice").available))
        if len(seen) == 1:  # someone else spends while this attempt is in flight
            ledger.post(_spend_op(eco, "alice", 7, "meanwhile"))
        return {"available": posted.user("alice").available}

    out = ledger.post(_spend_op(eco, "alice", 10, "mine", respond=respond))
    (id1, at1, saw1), (id2, at2, saw2) = seen
    assert (id1, at1) == (id2, at2) == (out.op_id, seen[0][1])
    assert (saw1, saw2) == (90, 83)  # the retry read the wallet again and checked it again
    assert out.result == {"available": 83} and get_wallet(eco, "alice").available == 83
    _books(eco)


def test_a_resend_of_the_same_items_sends_the_same_client_request_token(eco: str, monkeypatch) -> None:
    """DynamoDB failing once after the write is the case the token is for: the resend must be the same request."""
    _credit(eco, "alice", 100)
    client = get_client()
    real = client.transact_write_items
    tokens: List[str] = []

    def flaky(**kwargs: Any) -> Any:
        tokens.append(kwargs["ClientRequestToken"])
        if len(tokens) == 1:
            error = {"Error": {"Code": "InternalServerError", "Message": "try again"}}
            raise client.exceptions.InternalServerError(error, "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", flaky)
    out = ledger.post(_spend_op(eco, "alice", 10, "resent"))
    assert len(tokens) == 2 and tokens[0] == tokens[1] and len(tokens[0]) <= 36
    assert not out.replayed and get_wallet(eco, "alice").available == 90
    monkeypatch.undo()
    _books(eco)


def test_the_token_is_a_digest_of_the_id_and_the_items() -> None:
    items = [{"Put": {"TableName": "t", "Item": {"k": {"S": "1"}}}}]
    assert _token("op_A", items) == _token("op_A", [dict(i) for i in items])
    assert _token("op_A", items) != _token("op_B", items)
    assert _token("op_A", items) != _token("op_A", [{"Put": {"TableName": "t", "Item": {"k": {"S": "2"}}}}])


def _claw_back(economy: str, user_id: str, target: int, key: str) -> Operation:
    """Take back up to ``target``: what the wallet holds now, the rest as debt (which freezes it)."""

    def size(wallets: Mapping[str, Balances]) -> Sized:
        taken = min(target, wallets[user_id].available)
        debt = target - taken
        legs = (Leg(ledger.user(user_id), -taken), Leg(ledger.system("clawback"), taken)) if taken else ()
        change = WalletChange(debt=debt, freeze=frozenset({"debt"}) if debt else frozenset())
        return Sized(legs, {user_id: change}, {"coins_taken": taken, "debt_added": debt})

    return Operation(
        economy=economy, key=key, fingerprint=ledger.fingerprint("claw", user_id, target), type="refund",
        size=size, reads=(user_id,), allow_frozen=True, meta={"why": "refund"},
        respond=lambda p: {"taken": -sum(leg.amount for leg in p.sized.legs if leg.account.is_user),
                           "debt": p.user(user_id).debt},
    )


def test_a_clawback_takes_what_the_wallet_holds_and_the_rest_becomes_debt(eco: str) -> None:
    _credit(eco, "alice", 30)
    out = ledger.post(_claw_back(eco, "alice", 50, "claw"))
    assert out.result == {"taken": 30, "debt": 20}
    wallet = get_wallet(eco, "alice")
    assert (wallet.available, wallet.debt, wallet.frozen) == (0, 20, True)
    entries, _ = list_entries(eco, "alice", limit=1)  # the entry says what was sized, over the operation's meta
    assert entries[0]["details"] == {"why": "refund", "coins_taken": 30, "debt_added": 20}
    assert ledger.post(_claw_back(eco, "alice", 50, "claw")).replayed  # the replay sizes nothing again
    assert get_wallet(eco, "alice").debt == 20
    _books(eco)


def test_a_clawback_racing_a_spend_is_sized_on_the_wallet_it_commits_against(eco: str) -> None:
    """No InsufficientFundsError and no retry in the feature: the ledger sizes again on its retry."""
    _credit(eco, "alice", 30)
    op = _claw_back(eco, "alice", 50, "claw-race")
    first_size = op.size
    calls: List[int] = []

    def size(wallets: Mapping[str, Balances]) -> Sized:
        calls.append(wallets["alice"].available)
        if len(calls) == 1:  # the player spends 12 between the ledger's read and its write
            ledger.post(_spend_op(eco, "alice", 12, "spent-meanwhile"))
        return first_size(wallets)

    out = ledger.post(Operation(**{**op.__dict__, "size": size}))
    assert calls == [30, 18]
    assert out.result == {"taken": 18, "debt": 32}
    wallet = get_wallet(eco, "alice")
    assert (wallet.available, wallet.debt) == (0, 32)
    _books(eco)


def test_a_size_rule_may_touch_only_the_wallets_it_names(eco: str) -> None:
    _credit(eco, "alice", 30)
    sneaky = Operation(
        economy=eco, key="sneaky", fingerprint="f", type="spend", reads=("alice",), respond=lambda p: {},
        size=lambda w: Sized((Leg(ledger.user("bob"), 1), Leg(ledger.system("burn"), -1)), {}),
    )
    with pytest.raises(ValueError):
        ledger.post(sneaky)
    assert get_wallet(eco, "alice").available == 30
    with pytest.raises(ValueError):  # an operation with nothing to do is a programming error
        ledger.post(Operation(economy=eco, key="empty", fingerprint="f", type="spend", respond=lambda p: {}))
    _books(eco)
