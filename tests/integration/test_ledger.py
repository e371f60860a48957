"""The ledger's contract, run on moto and again on DynamoDB Local.

Worked examples of the one money door; each ends by checking the books.
"""
from __future__ import annotations

import uuid

import pytest

from tests.ledger_helpers import posting
from chalicelib.core import errors
from chalicelib import ledger
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import Leg, SideWrite, WalletChange
from chalicelib.ledger.history import list_entries
from chalicelib.ledger.invariants import check_economy
from chalicelib.ledger.wallets import find_wallet, get_wallet, system_balance
from tests.conftest import new_economy_id

pytestmark = pytest.mark.integration


def _credit(economy: str, user_id: str, amount: int, key: str = None):
    return ledger.post(posting(
        economy, key or f"test:{uuid.uuid4().hex}", ledger.fingerprint("credit", user_id, amount), "adjust",
        [Leg(ledger.user(user_id), amount), Leg(ledger.system("adjustments"), -amount)],
        respond=lambda p: {"available": p.user(user_id).available}, allow_frozen=True,
    ))


def _spend(economy: str, user_id: str, amount: int, key: str, **kwargs):
    return ledger.post(posting(
        economy, key, ledger.fingerprint("spend", user_id, amount), "spend",
        [Leg(ledger.user(user_id), -amount), Leg(ledger.system("burn"), amount)],
        respond=lambda p: {"op": p.op_id, "available": p.user(user_id).available}, **kwargs,
    ))


@pytest.fixture
def eco(any_engine: str) -> str:
    return new_economy_id()


def test_credit_then_spend_moves_money_and_balances_the_books(eco: str) -> None:
    _credit(eco, "alice", 500)
    out = _spend(eco, "alice", 120, "k1")
    assert out.result["available"] == 380 and not out.replayed
    wallet = get_wallet(eco, "alice")
    assert (wallet.available, wallet.held, wallet.earnings, wallet.seq) == (380, 0, 0, 2)
    assert system_balance(eco, ledger.system("burn")) == 120
    assert system_balance(eco, ledger.system("adjustments")) == -500
    report = check_economy(eco)
    assert report.ok, report.discrepancies
    assert report.total == 0 and report.entries_checked == 4


def test_replay_returns_first_result_and_charges_once(eco: str) -> None:
    _credit(eco, "alice", 100)
    first = _spend(eco, "alice", 30, "same-key")
    again = _spend(eco, "alice", 30, "same-key")
    assert again.replayed and again.result == first.result and again.op_id == first.op_id
    assert get_wallet(eco, "alice").available == 70
    assert check_economy(eco).ok


def test_same_key_other_request_is_refused_and_changes_nothing(eco: str) -> None:
    _credit(eco, "alice", 100)
    _spend(eco, "alice", 30, "k")
    with pytest.raises(errors.IdempotencyKeyReusedError):
        _spend(eco, "alice", 31, "k")
    assert get_wallet(eco, "alice").available == 70


def test_keys_are_scoped_per_economy(eco: str) -> None:
    other = new_economy_id()
    _credit(eco, "alice", 100)
    _credit(other, "alice", 100)
    _spend(eco, "alice", 10, "shared-key")
    out = _spend(other, "alice", 10, "shared-key")
    assert not out.replayed and get_wallet(other, "alice").available == 90


def test_insufficient_funds_is_refused_with_details_and_nothing_changes(eco: str) -> None:
    _credit(eco, "alice", 50)
    with pytest.raises(errors.InsufficientFundsError) as info:
        _spend(eco, "alice", 51, "k")
    assert info.value.details == {"user_id": "alice", "bucket": "available", "balance": 50, "required": 51}
    assert get_wallet(eco, "alice").available == 50
    # The key was not consumed: after a top-up the same request succeeds.
    _credit(eco, "alice", 1)
    assert _spend(eco, "alice", 51, "k").result["available"] == 0
    assert check_economy(eco).ok


def test_debit_from_a_wallet_that_never_existed_is_user_not_found(eco: str) -> None:
    with pytest.raises(errors.UserNotFoundError):
        _spend(eco, "ghost", 1, "k")
    assert find_wallet(eco, "ghost") is None


def _freeze(economy: str, user_id: str, add: tuple = (), remove: tuple = ()):
    return ledger.post(posting(
        economy, f"test:{uuid.uuid4().hex}", ledger.fingerprint("freeze", user_id, add, remove), "freeze", [],
        respond=lambda p: {"reasons": list(p.user(user_id).freeze_reasons)}, allow_frozen=True,
        wallet_changes={user_id: WalletChange(freeze=frozenset(add), unfreeze=frozenset(remove))},
    ))


def test_frozen_wallet_cannot_send_but_operators_can_credit_it(eco: str) -> None:
    _credit(eco, "alice", 100)
    _freeze(eco, "alice", add=("operator",))
    with pytest.raises(errors.AccountFrozenError):
        _spend(eco, "alice", 1, "k")
    _credit(eco, "alice", 5)
    _freeze(eco, "alice", remove=("operator",))
    assert _spend(eco, "alice", 105, "k").result["available"] == 0
    assert check_economy(eco).ok


def test_a_wallet_stays_frozen_until_every_reason_is_lifted_each_journalled(eco: str) -> None:
    _credit(eco, "alice", 100)
    assert _freeze(eco, "alice", add=("operator",)).result == {"reasons": ["operator"]}
    assert _freeze(eco, "alice", add=("dispute:pur_1",)).result == {"reasons": ["dispute:pur_1", "operator"]}
    assert _freeze(eco, "alice", remove=("dispute:pur_1",)).result == {"reasons": ["operator"]}
    with pytest.raises(errors.AccountFrozenError):
        _spend(eco, "alice", 1, "k")
    wallet = get_wallet(eco, "alice")
    assert (wallet.frozen, wallet.freeze_reasons, wallet.seq) == (True, ("operator",), 4)
    entries = list_entries(eco, "alice", 10, None)[0]
    assert [e["type"] for e in entries] == ["freeze", "freeze", "freeze", "adjust"]
    _freeze(eco, "alice", remove=("operator",))
    assert get_wallet(eco, "alice").freeze_reasons == ()
    assert _spend(eco, "alice", 100, "k").result["available"] == 0
    assert check_economy(eco).ok


def test_freezing_a_wallet_that_never_existed_is_user_not_found(eco: str) -> None:
    with pytest.raises(errors.UserNotFoundError):
        _freeze(eco, "ghost", add=("operator",))
    assert find_wallet(eco, "ghost") is None


@pytest.mark.parametrize("add,remove", [(("frozen",), ()), (("operator",), ("operator",)), ((), ("dispute:a b",))])
def test_bad_freeze_reasons_are_refused_before_anything_is_read(eco: str, add: tuple, remove: tuple) -> None:
    _credit(eco, "alice", 1)
    with pytest.raises(ValueError):
        _freeze(eco, "alice", add=add, remove=remove)
    assert get_wallet(eco, "alice").seq == 1


def test_a_wallet_stored_frozen_before_reasons_existed_reads_as_operator_frozen(eco: str) -> None:
    _credit(eco, "alice", 10)
    get_client().update_item(  # what set_frozen wrote before reasons existed: the bare flag
        TableName=table_name("accounts"), Key={"economy": {"S": eco}, "account": {"S": "u:alice"}},
        UpdateExpression="SET frozen = :t", ExpressionAttributeValues={":t": {"BOOL": True}},
    )
    assert get_wallet(eco, "alice").freeze_reasons == ("operator",)
    with pytest.raises(errors.AccountFrozenError):
        _spend(eco, "alice", 1, "k")
    # Lifting what the flag never meant (a debt, a dispute) does not thaw it.
    _freeze(eco, "alice", remove=("debt", "dispute:pur_1"))
    assert get_wallet(eco, "alice").freeze_reasons == ("operator",)
    _credit(eco, "alice", 5)  # any later write stores the reason it reads as
    assert get_wallet(eco, "alice").freeze_reasons == ("operator",)
    assert check_economy(eco).ok


@pytest.mark.books_broken("a wallet put at the cap behind the ledger")
def test_balance_limit(eco: str) -> None:
    _credit(eco, "whale", ledger.MAX_AMOUNT)
    # One credit is capped at MAX_AMOUNT; put the wallet at MAX_BALANCE directly.
    client = get_client()
    client.update_item(
        TableName=table_name("accounts"),
        Key={"economy": {"S": eco}, "account": {"S": "u:whale"}},
        UpdateExpression="SET available = :a",
        ExpressionAttributeValues={":a": {"N": str(ledger.MAX_BALANCE)}},
    )
    with pytest.raises(errors.BalanceLimitError):
        _credit(eco, "whale", 1)


@pytest.mark.parametrize(
    "legs",
    [
        [],
        [Leg(ledger.user("a"), 5), Leg(ledger.system("burn"), -4)],
        [Leg(ledger.user("a"), 0), Leg(ledger.system("burn"), 0)],
        [Leg(ledger.user("a"), ledger.MAX_AMOUNT + 1), Leg(ledger.system("burn"), -ledger.MAX_AMOUNT - 1)],
        [Leg(ledger.user("a"), 5, "savings"), Leg(ledger.system("burn"), -5)],
        [Leg(ledger.user("a"), 5), Leg(ledger.system("burn"), -5, "held")],
        [Leg(ledger.user("a"), True), Leg(ledger.system("burn"), -1)],
    ],
)
def test_malformed_postings_are_bugs_and_write_nothing(eco: str, legs) -> None:
    with pytest.raises(ValueError):
        ledger.post(posting(eco, "k", "f", "adjust", legs, respond=lambda p: {}))
    assert find_wallet(eco, "a") is None


def test_unknown_system_account_and_entry_type_are_refused() -> None:
    with pytest.raises(ValueError):
        ledger.system("mint-anything")
    with pytest.raises(ValueError):
        ledger.post(posting("e", "k", "f", "gift", [], respond=lambda p: {}))


def test_side_write_conflict_refuses_the_whole_operation(eco: str) -> None:
    _credit(eco, "alice", 100)
    guard = {
        "ConditionCheck": {
            "TableName": table_name("economies"),
            "Key": {"economy_id": {"S": f"{eco}-missing"}},
            "ConditionExpression": "attribute_exists(economy_id)",
        }
    }
    with pytest.raises(errors.EconomyNotFoundError):
        _spend(eco, "alice", 10, "k", side_writes=[SideWrite(guard, errors.EconomyNotFoundError())])
    assert get_wallet(eco, "alice").available == 100
    assert check_economy(eco).ok


def test_side_writes_may_not_touch_balances(eco: str) -> None:
    _credit(eco, "alice", 100)
    sneaky = {
        "Update": {
            "TableName": table_name("accounts"),
            "Key": {"economy": {"S": eco}, "account": {"S": "u:alice"}},
            "UpdateExpression": "SET available = :a",
            "ExpressionAttributeValues": {":a": {"N": "1000000"}},
        }
    }
    with pytest.raises(ValueError):
        _spend(eco, "alice", 10, "k", side_writes=[SideWrite(sneaky)])
    assert get_wallet(eco, "alice").available == 100


def test_holds_move_between_buckets_of_one_wallet(eco: str) -> None:
    _credit(eco, "alice", 100)
    ledger.post(posting(eco, "hold-1", "f", "hold",
                [Leg(ledger.user("alice"), -40), Leg(ledger.user("alice"), 40, "held")], respond=lambda p: {}))
    wallet = get_wallet(eco, "alice")
    assert (wallet.available, wallet.held) == (60, 40)
    entries, _ = list_entries(eco, "alice", limit=1)
    assert entries[0]["amount"] == -40 and entries[0]["held_change"] == 40 and entries[0]["held_after"] == 40
    with pytest.raises(errors.InsufficientFundsError) as info:
        ledger.post(posting(eco, "settle-1", "f", "settle",
                    [Leg(ledger.user("alice"), -41, "held"), Leg(ledger.system("treasury"), 41)], respond=lambda p: {}))
    assert info.value.details["bucket"] == "held"
    assert check_economy(eco).ok


def test_statement_is_gap_free_and_balance_after_replays(eco: str) -> None:
    _credit(eco, "alice", 1000)
    for i in range(1, 31):
        _spend(eco, "alice", i, f"k{i}")
    seen, cursor = [], None
    while True:
        page, cursor = list_entries(eco, "alice", limit=7, cursor=cursor)
        seen.extend(page)
        if cursor is None:
            break
    assert [e["seq"] for e in seen] == list(range(31, 0, -1))
    running = 0
    for entry in reversed(seen):
        running += entry["amount"]
        assert entry["balance_after"] == running
    assert running == 1000 - sum(range(1, 31)) == get_wallet(eco, "alice").available


def test_cursor_of_another_wallet_is_refused(eco: str) -> None:
    _credit(eco, "alice", 10)
    _credit(eco, "alice", 10)
    _credit(eco, "bob", 10)
    _, cursor = list_entries(eco, "alice", limit=1)
    assert cursor
    with pytest.raises(errors.InvalidCursorError):
        list_entries(eco, "bob", limit=1, cursor=cursor)


@pytest.mark.books_broken("a balance and an entry tampered behind the ledger")
def test_invariant_check_finds_a_tampered_balance_and_a_missing_entry(eco: str) -> None:
    _credit(eco, "alice", 100)
    _credit(eco, "bob", 100)
    _spend(eco, "bob", 10, "k")
    client = get_client()
    client.update_item(
        TableName=table_name("accounts"),
        Key={"economy": {"S": eco}, "account": {"S": "u:alice"}},
        UpdateExpression="SET available = :a",
        ExpressionAttributeValues={":a": {"N": "150"}},
    )
    client.delete_item(
        TableName=table_name("entries"),
        Key={"account_key": {"S": f"{eco}#u:bob"}, "sk": {"S": f"{1:012d}"}},
    )
    kinds = {(d["type"], d.get("account")) for d in check_economy(eco).discrepancies}
    assert ("zero_sum", None) in kinds
    assert ("ledger_mismatch", "u:alice") in kinds
    assert ("seq_gap", "u:bob") in kinds
    assert ("balance_after_mismatch", "u:bob") in kinds
    assert not any(account == "u:carol" for _, account in kinds)
