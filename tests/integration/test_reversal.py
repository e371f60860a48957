"""Reversing an operation (issue #16): each reversible kind partial, then full, then refused; races; gone coins;
refusals that change nothing. Expected figures are worked out here from the original, not read from the code."""
from __future__ import annotations

import threading
import uuid
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest

from chalicelib.tenancy import apikeys
from tests.conftest import Economy, Resp
from tests.edge_helpers import changed_tables, economy_records
from tests.integration.spending_helpers import assert_error, key, place_hold, put_content, treasury, wallet
from tests.market_helpers import buy, plugin, put_reward, signed_redeem  # noqa: F401  (plugin: a fixture)

pytestmark = pytest.mark.integration

Case = Tuple[str, List[str]]  # the original's id, the wallets it touched


def _u(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def reverse(e: Economy, txid: str, token: Optional[str] = None, idem: Optional[str] = None,
            headers: Optional[Dict[str, str]] = None, **body: Any) -> Resp:
    body.setdefault("reason", "support ticket 42")
    return e.api.post(f"/v1/admin/operations/{txid}/reverse", body, key=idem or key(), token=token or e.admin_token,
                      headers=headers)


def last_id(e: Economy, user: str, type_: Optional[str] = None) -> str:
    items = e.api.get(f"/v1/users/{user}/transactions?limit=20").body["items"]
    return next(i["id"] for i in items if type_ is None or i["type"] == type_)


def spend(e: Economy, user: str, amount: int, creator: Optional[str] = None) -> str:
    body = {"amount": amount, "reason": "sword", **({"creator_id": creator} if creator else {})}
    resp = e.api.post(f"/v1/users/{user}/spend", body, key=key(), token=e.write_token)
    assert resp.status == 200, resp.body
    return resp.body["transaction_id"]


# -- each kind: (setup before the original, the original) -> id and wallets -------------------------------------


def _spend(e: Economy) -> Case:
    u = _u("payer")
    e.credit(u, 100)
    return (lambda: spend(e, u, 40)), [u]


def _tip(e: Economy) -> Case:
    u, c = _u("fan"), _u("creator")
    e.credit(u, 200)
    return (lambda: spend(e, u, 100, creator=c)), [u, c]


def _unlock(e: Economy) -> Case:
    u, c, content = _u("reader"), _u("author"), _u("ch")
    e.credit(u, 200)
    put_content(e, content, 100, creator=c, share=7000)

    def go() -> str:
        resp = e.api.post(f"/v1/users/{u}/unlocks", {"content_id": content}, token=e.write_token)
        assert resp.status == 201, resp.body
        return resp.body["transaction_id"]
    return go, [u, c]


def _adjust(e: Economy) -> Case:
    u = _u("adjusted")
    return (lambda: e.credit(u, 100).body["transaction_id"]), [u]


def _reward(e: Economy) -> Case:
    u = _u("rewarded")

    def go() -> str:
        resp = e.api.post(f"/v1/users/{u}/rewards", {"type": "daily"}, token=e.rewards_token)
        assert resp.status in (200, 201), resp.body
        return resp.body["transaction_id"]
    return go, [u]


def _transfer(e: Economy) -> Case:
    from chalicelib.spending.transfers import transfer

    a, b = _u("giver"), _u("taker")
    e.credit(a, 100)
    return (lambda: transfer(e.id, a, b, 60, "thanks", f"give:{uuid.uuid4().hex}").op_id), [a, b]


def _settled_hold(e: Economy) -> Case:
    u, c = _u("caller"), _u("talker")
    e.credit(u, 150)

    def go() -> str:
        hold = place_hold(e, u, 100).body
        resp = e.api.post(f"/v1/holds/{hold['hold_id']}/settle", {"amount": 80, "to_user_id": c},
                          token=e.write_token)
        assert resp.status == 200, resp.body
        return last_id(e, u, "settle")
    return go, [u, c]


def _escrow(e: Economy) -> Case:
    client, worker = _u("client"), _u("freelancer")
    e.credit(client, 300)

    def go() -> str:
        made = e.api.post("/v1/escrows", {"client_id": client, "freelancer_id": worker, "amount": 250,
                                          "job_ref": "logo"}, key=key(), token=e.write_token)
        assert made.status == 201, made.body
        resp = e.api.post(f"/v1/escrows/{made.body['escrow_id']}/release", {}, token=e.write_token)
        assert resp.status == 200, resp.body
        return last_id(e, client, "settle")
    return go, [client, worker]


KINDS: Dict[str, Callable[[Economy], Case]] = {
    "spend": _spend, "tip": _tip, "unlock": _unlock, "adjust": _adjust, "reward": _reward,
    "transfer": _transfer, "settled_hold": _settled_hold, "escrow_release": _escrow,
}


def _coins(e: Economy, users: List[str]) -> Dict[str, Dict[str, int]]:
    return {u: wallet(e, u) for u in users}


def _moved(before: Dict[str, Dict[str, int]], after: Dict[str, Dict[str, int]]) -> int:
    """Coins the original took from its payers' wallets (what a reversal in full gives back)."""
    nets = [sum(after[u].values()) - sum(before[u].values()) for u in before]
    return -sum(n for n in nets if n < 0) or sum(n for n in nets if n > 0)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_partial_then_full_then_refused(economy: Economy, kind: str) -> None:
    go, users = KINDS[kind](economy)
    start = _coins(economy, users)
    txid = go()
    done = _coins(economy, users)
    total = _moved(start, done) if kind not in ("adjust", "reward") else sum(done[users[0]].values()) - sum(
        start[users[0]].values())
    assert total > 0
    part = total // 3

    first = reverse(economy, txid, amount=part)
    assert first.status == 200, first.body
    r = first.body
    assert (r["reverses"], r["amount"], r["reversed"], r["unreversed"], r["fully_reversed"]) == (
        txid, part, part, total - part, False)
    assert sum(r["changes"].values()) == 0 and r["debt"] == {}
    economy.check()

    second = reverse(economy, txid)
    assert second.status == 200, second.body
    assert (second.body["amount"], second.body["reversed"], second.body["fully_reversed"]) == (total - part, total,
                                                                                               True)
    # In full, in two steps: every wallet is back where the original found it, to the coin.
    assert _coins(economy, users) == start
    economy.check()

    before = economy_records(economy.id)
    third = reverse(economy, txid)
    err = assert_error(third, 409, "already_reversed")
    assert err["details"]["reversed_by"] == [r["transaction_id"], second.body["transaction_id"]]
    assert assert_error(reverse(economy, txid, amount=1), 409, "already_reversed")
    assert changed_tables(before, economy_records(economy.id)) == {}


def test_a_tip_partial_scales_by_the_one_rounding_rule(economy: Economy) -> None:
    go, (fan, creator) = _tip(economy)
    txid = go()  # 100 coins: creator 70 (earnings), treasury 30
    t0 = treasury(economy)
    resp = reverse(economy, txid, amount=33)
    assert resp.status == 200, resp.body
    # The recipient's part rounds down (floor(33 * 70 / 100) = 23), the platform takes the remainder (10).
    assert resp.body["changes"] == {f"u:{fan}": 33, f"u:{creator}": -23, "sys:treasury": -10}
    assert wallet(economy, creator)["earnings"] == 70 - 23 and treasury(economy) == t0 - 10
    rest = reverse(economy, txid, amount=67)
    assert rest.body["changes"] == {f"u:{fan}": 67, f"u:{creator}": -47, "sys:treasury": -20}
    assert wallet(economy, creator)["earnings"] == 0 and treasury(economy) == t0 - 30
    economy.check()


def test_the_statement_links_the_reversal_to_the_original(economy: Economy) -> None:
    go, (u,) = _spend(economy)
    txid = go()
    resp = reverse(economy, txid, amount=10)
    items = economy.api.get(f"/v1/users/{u}/transactions").body["items"]
    line = next(i for i in items if i["id"] == resp.body["transaction_id"])
    assert (line["type"], line["reverses"], line["amount"], line["ref"]) == ("reversal", txid, 10, txid)
    assert any(i["id"] == txid and i["type"] == "spend" for i in items)


def test_a_full_unlock_reversal_revokes_the_entitlement_unless_kept(economy: Economy) -> None:
    for keep in (False, True):
        go, (reader, _author) = _unlock(economy)
        txid = go()
        content = economy.api.get(f"/v1/users/{reader}/unlocks").body["items"][0]["content_id"]
        half = reverse(economy, txid, amount=50)
        assert half.body["entitlement_revoked"] is False
        assert economy.api.get(f"/v1/users/{reader}/unlocks/{content}").body["unlocked"] is True
        full = reverse(economy, txid, keep_entitlement=keep)
        assert full.body["entitlement_revoked"] is (not keep)
        assert economy.api.get(f"/v1/users/{reader}/unlocks/{content}").body["unlocked"] is keep
        economy.check()


def test_a_completed_shop_order_is_reversed(economy: Economy, plugin) -> None:  # noqa: F811
    kid = _u("kid")
    economy.credit(kid, 500)
    put_reward(economy, "rev-coins", price=200, fulfilment="voucher", category="money", payload={"coins": 1000})
    placed = buy(economy, kid, "rev-coins")
    assert placed.status == 201, placed.body
    assert signed_redeem(economy, placed.body["voucher_code"], "KidPlayer").status == 200
    settled = last_id(economy, kid, "settle")
    t0 = treasury(economy)
    assert reverse(economy, last_id(economy, kid, "order")).code == "nothing_to_reverse"  # the escrow moved none
    resp = reverse(economy, settled)
    assert resp.status == 200, resp.body
    assert wallet(economy, kid) == {"available": 500, "held": 0, "earnings": 0} and treasury(economy) == t0 - 200
    economy.check()


def test_coins_that_are_gone_become_debt_and_freeze(economy: Economy) -> None:
    go, (fan, creator) = _tip(economy)
    txid = go()  # the creator earned 70
    assert economy.api.post(f"/v1/admin/users/{creator}/adjust", {"amount": 5, "reason": "r"}, key=key()).status == 200
    # The creator withdraws 50 of the 70 earned (a payout's shape: earnings to the payouts account).
    from chalicelib import ledger
    from chalicelib.ledger import Leg, Operation

    ledger.post(Operation(economy=economy.id, key=f"withdraw:{uuid.uuid4().hex}", fingerprint="w", type="payout",
                          legs=(Leg(ledger.user(creator), -50, "earnings"), Leg(ledger.system("payouts"), 50)),
                          respond=lambda p: {}))
    fan_before = wallet(economy, fan)["available"]
    resp = reverse(economy, txid)
    assert resp.status == 200, resp.body
    # 70 to take back; 20 earnings and 5 available are there; 45 is debt.
    assert resp.body["debt"] == {creator: 45} and resp.body["frozen"] == [creator]
    assert wallet(economy, creator) == {"available": 0, "held": 0, "earnings": 0}
    assert wallet(economy, fan)["available"] == fan_before + 100  # the payer is made whole all the same
    w = economy.api.get(f"/v1/users/{creator}/wallet").body
    assert w["frozen"] is True and w["debt"] == 45 and "debt" in w["freeze_reasons"]
    economy.check()


def test_concurrent_reversals_never_overshoot(economy: Economy) -> None:
    go, (u,) = _spend(economy)
    txid = go()  # 40 coins
    results: List[Resp] = []
    lock = threading.Lock()

    def one(amount: Optional[int]) -> None:
        resp = reverse(economy, txid, **({"amount": amount} if amount else {}))
        with lock:
            results.append(resp)

    threads = [threading.Thread(target=one, args=(15,)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if r.status == 200]
    assert len(won) == 2 and sum(r.body["amount"] for r in won) == 30, [r.body for r in results]
    assert all(r.code == "exceeds_unreversed" for r in results if r.status != 200)
    assert wallet(economy, u)["available"] == 60 + 30

    results.clear()
    threads = [threading.Thread(target=one, args=(None,)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if r.status == 200]
    assert len(won) == 1 and won[0].body["amount"] == 10 and won[0].body["fully_reversed"] is True
    assert all(r.code == "already_reversed" for r in results if r.status != 200)
    assert wallet(economy, u)["available"] == 100
    economy.check()


def test_a_reversal_of_a_reversal_and_a_purchase_are_refused(shop: Economy) -> None:
    economy = shop
    from tests import purchase_helpers as ph

    go, (u,) = _spend(economy)
    reversal = reverse(economy, go(), amount=5).body["transaction_id"]
    buyer = _u("buyer")
    purchase = economy.api.post("/v1/checkout", {"user_id": buyer, "pack_id": "coins_100"}).body
    assert ph.deliver(economy.api, ph.completed(purchase)).body["outcome"] == "paid"
    bought = last_id(economy, buyer, "purchase")
    before = economy_records(economy.id)
    assert_error(reverse(economy, reversal), 409, "reversal_not_reversible")
    assert_error(reverse(economy, bought), 409, "purchase_not_reversible")
    assert changed_tables(before, economy_records(economy.id)) == {}


def _role_token(e: Economy, role: str) -> str:
    token, _ = apikeys.create_key(e.id, set(), label=role.lower(), role=role)
    return token


def test_support_above_the_limit_is_refused_operator_is_not(economy: Economy) -> None:
    u = _u("big")
    txid = economy.credit(u, 5000).body["transaction_id"]
    support, operator = _role_token(economy, "SUPPORT"), _role_token(economy, "OPERATOR")
    before = economy_records(economy.id)
    err = assert_error(reverse(economy, txid, token=support), 403, "forbidden")
    assert err["details"]["required_action"] == "operations.reverse_any"
    assert_error(reverse(economy, txid, token=support, amount=1001), 403, "forbidden")
    assert changed_tables(before, economy_records(economy.id)) == {}
    small = reverse(economy, txid, token=support, amount=1000)  # at the limit: allowed
    assert small.status == 200, small.body
    big = reverse(economy, txid, token=operator)
    assert big.status == 200 and big.body["amount"] == 4000, big.body
    assert wallet(economy, u)["available"] == 0
    economy.check()


BAD = [
    ({"amount": 0}, 400, "validation_error"),
    ({"amount": -5}, 400, "validation_error"),
    ({"amount": 2.5}, 400, "validation_error"),
    ({"amount": "10"}, 400, "validation_error"),
    ({"amount": 41}, 409, "exceeds_unreversed"),
    ({"keep_entitlement": "yes"}, 400, "validation_error"),
    ({"colour": "red"}, 400, "validation_error"),
]


@pytest.mark.parametrize("body,status,code", BAD, ids=[str(b) for b, _s, _c in BAD])
def test_bad_input_is_refused_and_changes_nothing(economy: Economy, body: Dict[str, Any], status: int,
                                                  code: str) -> None:
    go, _users = _spend(economy)
    txid = go()  # 40 coins
    before = economy_records(economy.id)
    assert_error(reverse(economy, txid, **body), status, code)
    assert changed_tables(before, economy_records(economy.id)) == {}


def test_bad_ids_missing_reason_and_key_are_refused_and_change_nothing(economy: Economy) -> None:
    go, _users = _spend(economy)
    txid = go()
    other = economy.credit(_u("x"), 10).body["transaction_id"]
    before = economy_records(economy.id)
    assert_error(reverse(economy, "not-an-op"), 400, "validation_error", field="transaction_id")
    assert_error(reverse(economy, "op_" + "Z" * 26), 404, "transaction_not_found")
    # Another economy's operation is not found from this one.
    from tests.conftest import _economy

    stranger = _economy(economy.api.client)
    assert_error(reverse(stranger, other), 404, "transaction_not_found")
    resp = economy.api.post(f"/v1/admin/operations/{txid}/reverse", {}, key=key(), headers={"X-Audit-Reason": None})
    assert_error(resp, 400, "reason_required")
    assert_error(economy.api.post(f"/v1/admin/operations/{txid}/reverse", {"reason": "r"}),
                 400, "idempotency_key_required")
    assert changed_tables(before, economy_records(economy.id)) == {}


def test_a_retried_request_replays_and_a_reused_key_is_refused(economy: Economy) -> None:
    go, (u,) = _spend(economy)
    txid = go()
    idem = key()
    first = reverse(economy, txid, idem=idem)
    again = reverse(economy, txid, idem=idem)
    assert again.status == 200 and again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert assert_error(reverse(economy, txid, idem=idem, amount=3), 409, "idempotency_key_reused")
    assert wallet(economy, u)["available"] == 100
    economy.check()
