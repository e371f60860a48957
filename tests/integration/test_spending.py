"""Spending flows end to end: the catalog, unlocks, tips, balance checks, holds, escrow.

Every test names the coins it expects to move, bucket by bucket, and ends with
the ledger invariants (``economy.check()``).
"""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import timedelta

import pytest

from chalicelib.core.ids import iso, utc_now
from chalicelib.runtime.jobs import run_job
from tests.clock_helpers import clock  # noqa: F401 (fixture)
from tests.integration.spending_helpers import (
    active_held,
    assert_error,
    key,
    place_hold,
    put,
    put_content,
    treasury,
    wallet,
)

pytestmark = pytest.mark.integration

def freeze(economy, user: str, frozen: bool = True) -> None:
    action = "freeze" if frozen else "unfreeze"
    resp = economy.api.post(f"/v1/admin/users/{user}/{action}", {"reason": "test"})
    assert resp.status == 200, resp.body


# --------------------------------------------------------------------------- catalog


def test_content_put_uses_the_economy_default_share_and_is_audited(economy) -> None:
    created = put_content(economy, "ch-1", 99, creator="bob")
    assert created["creator_share_bps"] == 7000 and created["price"] == 99 and not created["free"]
    updated = put(economy, "/v1/admin/content/ch-1", {"title": "Chapter 1", "price": 0, "creator_id": "bob",
                                                       "creator_share_bps": 5000})
    assert updated.status == 200 and updated.body["free"] and updated.body["creator_share_bps"] == 5000
    assert economy.api.get("/v1/content/ch-1", token=economy.read_token).body == updated.body
    rows = [r for r in economy.api.get("/v1/admin/audit").body["items"] if r["action"] == "content.put"]
    assert len(rows) == 2
    latest = max(rows, key=lambda r: r["audit_id"])
    assert latest["before"]["price"] == 99 and latest["after"]["price"] == 0
    assert latest["target"] == "content:ch-1"


def test_the_economy_default_share_and_escrow_fee_are_configurable(economy) -> None:
    resp = put(economy, "/v1/admin/spending-rates", {"creator_share_bps": 8000, "escrow_fee_bps": 250})
    assert resp.status == 200 and resp.body == {"rates": {"creator_share_bps": 8000, "escrow_fee_bps": 250},
                                                 "changed": True}
    assert put_content(economy, "ch-2", 10)["creator_share_bps"] == 8000
    economy.credit("client", 1000)
    esc = economy.api.post("/v1/escrows", {"client_id": "client", "freelancer_id": "free", "amount": 1000,
                                           "job_ref": "job"}, key=key())
    assert esc.body["fee_bps"] == 250
    assert any(r["action"] == "economy.rates" for r in economy.api.get("/v1/admin/audit").body["items"])
    assert put(economy, "/v1/admin/spending-rates", {"escrow_fee_bps": 1}, token=economy.write_token).status == 403
    economy.check()


# --------------------------------------------------------------------------- unlocks


def test_unlock_charges_once_and_splits_the_price(economy) -> None:
    economy.credit("alice", 500)
    put_content(economy, "ch-1", 99, creator="bob")  # 7,000 bps: bob 69, treasury 30
    first = economy.api.post("/v1/users/alice/unlocks", {"content_id": "ch-1"}, token=economy.write_token)
    assert first.status == 201, first.body
    assert first.body["already_unlocked"] is False
    assert (first.body["price"], first.body["creator_amount"], first.body["platform_amount"]) == (99, 69, 30)
    assert wallet(economy, "alice") == {"available": 401, "held": 0, "earnings": 0}
    assert wallet(economy, "bob") == {"available": 0, "held": 0, "earnings": 69}
    assert treasury(economy) == 30

    put_content(economy, "ch-1", 150, creator="bob")  # a price change does not charge again
    again = economy.api.post("/v1/users/alice/unlocks", {"content_id": "ch-1"})
    assert again.status == 200 and again.body["already_unlocked"] is True
    assert again.body["transaction_id"] == first.body["transaction_id"] and again.body["price"] == 99
    assert wallet(economy, "alice")["available"] == 401

    status = economy.api.get("/v1/users/alice/unlocks/ch-1", token=economy.read_token).body
    assert status["unlocked"] is True and status["entitlement"]["transaction_id"] == first.body["transaction_id"]
    assert economy.api.get("/v1/users/alice/unlocks/ch-2").body == {
        "user_id": "alice", "content_id": "ch-2", "unlocked": False, "entitlement": None}
    statement = economy.api.get("/v1/users/alice/transactions").body["items"]
    assert [(e["type"], e["amount"]) for e in statement[:1]] == [("unlock", -99)]
    economy.check()


def test_free_items_and_a_creators_own_content_move_no_coins(economy) -> None:
    economy.credit("alice", 10)
    put_content(economy, "free-1", 0, creator="bob")
    put_content(economy, "mine", 500, creator="alice")
    before = economy.check().entries_checked
    free = economy.api.post("/v1/users/alice/unlocks", {"content_id": "free-1"})
    assert free.status == 201 and free.body["basis"] == "free" and free.body["transaction_id"] is None
    own = economy.api.post("/v1/users/alice/unlocks", {"content_id": "mine"})
    assert own.status == 201 and own.body["basis"] == "creator" and own.body["price"] == 0
    assert economy.api.post("/v1/users/alice/unlocks", {"content_id": "mine"}).body["already_unlocked"] is True
    # a user with no wallet at all can take a free item
    assert economy.api.post("/v1/users/newcomer/unlocks", {"content_id": "free-1"}).status == 201
    assert wallet(economy, "alice")["available"] == 10
    assert economy.check().entries_checked == before


def test_an_item_unlocked_free_stays_unlocked_when_it_gets_a_price(economy) -> None:
    economy.credit("alice", 100)
    put_content(economy, "ch-1", 0)
    assert economy.api.post("/v1/users/alice/unlocks", {"content_id": "ch-1"}).status == 201
    put_content(economy, "ch-1", 40)
    again = economy.api.post("/v1/users/alice/unlocks", {"content_id": "ch-1"})
    assert again.status == 200 and again.body["basis"] == "free"
    assert wallet(economy, "alice")["available"] == 100
    economy.check()


def test_unlock_listing_pages_with_a_cursor_bound_to_the_user(economy) -> None:
    economy.credit("alice", 100)
    for i in range(5):
        put_content(economy, f"c{i}", 1)
        assert economy.api.post("/v1/users/alice/unlocks", {"content_id": f"c{i}"}).status == 201
    page1 = economy.api.get("/v1/users/alice/unlocks?limit=3").body
    assert [e["content_id"] for e in page1["items"]] == ["c0", "c1", "c2"]
    page2 = economy.api.get(f"/v1/users/alice/unlocks?limit=3&cursor={page1['next_cursor']}").body
    assert [e["content_id"] for e in page2["items"]] == ["c3", "c4"]
    assert_error(economy.api.get(f"/v1/users/bob/unlocks?cursor={page1['next_cursor']}"), 400, "invalid_cursor")
    economy.check()


def test_unlock_refusals(economy) -> None:
    economy.credit("alice", 50)
    put_content(economy, "dear", 80)
    put_content(economy, "cheap", 5)
    assert_error(economy.api.post("/v1/users/alice/unlocks", {"content_id": "dear"}), 422, "insufficient_funds")
    assert economy.api.get("/v1/users/alice/unlocks/dear").body["unlocked"] is False
    assert_error(economy.api.post("/v1/users/alice/unlocks", {"content_id": "nope"}), 404, "content_not_found")
    assert_error(economy.api.post("/v1/users/ghost/unlocks", {"content_id": "cheap"}), 404, "user_not_found")
    put_content(economy, "gratis", 0)
    assert economy.api.post("/v1/users/alice/unlocks", {"content_id": "gratis"}).status == 201
    put_content(economy, "gratis2", 0)
    freeze(economy, "alice")
    assert_error(economy.api.post("/v1/users/alice/unlocks", {"content_id": "cheap"}), 422, "account_frozen")
    # the rule is literal: a frozen wallet unlocks nothing new, even for free...
    assert_error(economy.api.post("/v1/users/alice/unlocks", {"content_id": "gratis2"}), 422, "account_frozen")
    assert economy.api.get("/v1/users/alice/unlocks/gratis2").body["unlocked"] is False
    # ...but keeps what it already has
    assert economy.api.post("/v1/users/alice/unlocks", {"content_id": "gratis"}).status == 200
    freeze(economy, "alice", False)
    # a refusal leaves nothing behind: the same unlock works once the wallet can pay
    assert economy.api.post("/v1/users/alice/unlocks", {"content_id": "cheap"}).status == 201
    assert wallet(economy, "alice")["available"] == 45
    economy.check()


# --------------------------------------------------------------------------- spend with a recipient, check-balance


def test_spend_with_a_creator_splits_and_without_one_burns(economy) -> None:
    economy.credit("fan", 1000)
    k = key()
    tip = economy.api.post("/v1/users/fan/spend", {"amount": 15, "reason": "tip", "creator_id": "star"}, key=k)
    assert tip.status == 200, tip.body
    assert (tip.body["creator_amount"], tip.body["platform_amount"]) == (10, 5)  # floor(10.5) = 10
    replay = economy.api.post("/v1/users/fan/spend", {"amount": 15, "reason": "tip", "creator_id": "star"}, key=k)
    assert replay.body == tip.body and replay.headers["idempotent-replayed"] == "true"
    burn = economy.api.post("/v1/users/fan/spend", {"amount": 20, "reason": "burn"}, key=key())
    assert burn.status == 200 and "creator_id" not in burn.body
    assert wallet(economy, "fan")["available"] == 965
    assert wallet(economy, "star") == {"available": 0, "held": 0, "earnings": 10}
    assert treasury(economy) == 5
    assert_error(economy.api.post("/v1/users/fan/spend", {"amount": 1, "reason": "me", "creator_id": "fan"},
                                  key=key()), 422, "self_payment")
    economy.check()


def test_check_balance_answers_without_changing_anything(economy) -> None:
    economy.credit("alice", 100)
    assert place_hold(economy, "alice", 30).status == 201
    before = economy.check().entries_checked
    ok = economy.api.post("/v1/users/alice/check-balance", {"amount": 70}, token=economy.read_token)
    assert ok.status == 200
    assert ok.body == {"user_id": "alice", "amount": 70, "sufficient": True, "available": 70, "held": 30,
                       "frozen": False}
    assert economy.api.post("/v1/users/alice/check-balance", {"amount": 71}).body["sufficient"] is False
    nobody = economy.api.post("/v1/users/nobody/check-balance", {"amount": 1}).body
    assert (nobody["sufficient"], nobody["available"], nobody["held"]) == (False, 0, 0)
    freeze(economy, "alice")
    frozen = economy.api.post("/v1/users/alice/check-balance", {"amount": 1}).body
    assert frozen["sufficient"] is False and frozen["frozen"] is True
    assert economy.check().entries_checked == before + 1  # the freeze's own ledger entry; the checks wrote none
    assert wallet(economy, "alice") == {"available": 70, "held": 30, "earnings": 0}


# --------------------------------------------------------------------------- holds


def test_partial_settle_pays_the_recipient_and_returns_the_rest(economy) -> None:
    economy.credit("caller", 500)
    hold = place_hold(economy, "caller", 200)
    assert hold.status == 201 and hold.body["status"] == "active"
    assert hold.body["balance"] == {"available": 300, "held": 200, "earnings": 0}
    assert active_held(economy, "caller") == 200
    settled = economy.api.post(f"/v1/holds/{hold.body['hold_id']}/settle", {"amount": 75, "to_user_id": "host"})
    assert settled.status == 200, settled.body
    body = settled.body
    assert (body["status"], body["settled_amount"], body["returned_amount"]) == ("settled", 75, 125)
    assert (body["creator_amount"], body["platform_amount"]) == (52, 23)  # floor(52.5) = 52
    assert wallet(economy, "caller") == {"available": 425, "held": 0, "earnings": 0}
    assert wallet(economy, "host") == {"available": 0, "held": 0, "earnings": 52}
    assert treasury(economy) == 23
    assert economy.api.get(f"/v1/holds/{hold.body['hold_id']}", token=economy.read_token).body["status"] == "settled"
    assert active_held(economy, "caller") == 0
    economy.check()


def test_settle_without_a_recipient_pays_the_treasury_and_release_returns_all(economy) -> None:
    economy.credit("u", 100)
    a = place_hold(economy, "u", 40).body["hold_id"]
    b = place_hold(economy, "u", 50).body["hold_id"]
    assert economy.api.post(f"/v1/holds/{a}/settle", {}).body["platform_amount"] == 40
    released = economy.api.post(f"/v1/holds/{b}/release")
    assert released.status == 200 and released.body["status"] == "released"
    assert released.body["returned_amount"] == 50
    assert wallet(economy, "u") == {"available": 60, "held": 0, "earnings": 0}
    assert treasury(economy) == 40
    economy.check()


def test_a_hold_resolves_once(economy) -> None:
    economy.credit("u", 100)
    hold_id = place_hold(economy, "u", 60).body["hold_id"]
    k = key()
    first = economy.api.post(f"/v1/holds/{hold_id}/settle", {"amount": 10}, key=k)
    assert first.status == 200
    # the same request with the same key replays; anything else is a 409 carrying the state
    replay = economy.api.post(f"/v1/holds/{hold_id}/settle", {"amount": 10}, key=k)
    assert replay.status == 200 and replay.body == first.body and replay.headers["idempotent-replayed"] == "true"
    for path, body in ((f"/v1/holds/{hold_id}/settle", {"amount": 10}), (f"/v1/holds/{hold_id}/settle", {}),
                       (f"/v1/holds/{hold_id}/release", {})):
        err = assert_error(economy.api.post(path, body), 409, "hold_not_active")
        assert err["details"]["hold"]["status"] == "settled" and err["details"]["hold"]["settled_amount"] == 10
    other = place_hold(economy, "u", 20).body["hold_id"]
    assert economy.api.post(f"/v1/holds/{other}/release").status == 200
    err = assert_error(economy.api.post(f"/v1/holds/{other}/settle", {"amount": 5}), 409, "hold_not_active")
    assert err["details"]["hold"]["status"] == "released"
    assert wallet(economy, "u") == {"available": 90, "held": 0, "earnings": 0}
    economy.check()


def test_settling_more_than_held_is_a_422_and_changes_nothing(economy) -> None:
    economy.credit("u", 100)
    hold_id = place_hold(economy, "u", 30).body["hold_id"]
    err = assert_error(economy.api.post(f"/v1/holds/{hold_id}/settle", {"amount": 31}), 422, "amount_exceeds_hold")
    assert err["details"] == {"amount": 31, "held": 30, "hold_id": hold_id}
    assert economy.api.get(f"/v1/holds/{hold_id}").body["status"] == "active"
    assert economy.api.post(f"/v1/holds/{hold_id}/settle", {"amount": 30}).status == 200
    economy.check()


def test_a_settle_after_expiry_is_a_409_and_releases_the_hold(economy, clock) -> None:
    economy.credit("u", 100)
    hold_id = place_hold(economy, "u", 40, expires_in=60).body["hold_id"]
    clock.advance(60)  # expires_at <= now: due at the exact second
    err = assert_error(economy.api.post(f"/v1/holds/{hold_id}/settle", {"amount": 5}), 409, "hold_not_active")
    assert err["details"]["hold"]["status"] == "expired" and err["details"]["hold"]["returned_amount"] == 40
    assert wallet(economy, "u") == {"available": 100, "held": 0, "earnings": 0}
    # the job finds nothing left to do for it
    report = run_job("expire-holds", economy=economy.id)
    assert report.get("resolved", 0) == 0
    economy.check()


def test_the_expiry_job_releases_due_holds_only_and_is_bounded(economy) -> None:
    economy.credit("u", 1000)
    due = [place_hold(economy, "u", 10, expires_in=60).body["hold_id"] for _ in range(5)]
    later = place_hold(economy, "u", 7, expires_in=3600).body["hold_id"]
    in_two_minutes = iso(utc_now() + timedelta(minutes=2))
    first = run_job("expire-holds", economy=economy.id, now=in_two_minutes, max_items=3)
    assert first["processed"] == 3 and first["resolved"] == 3 and first["stopped_early"]
    second = run_job("expire-holds", economy=economy.id, now=in_two_minutes)
    assert second["resolved"] == 2
    statuses = {h: economy.api.get(f"/v1/holds/{h}").body["status"] for h in due + [later]}
    assert statuses == {**{h: "expired" for h in due}, later: "active"}
    assert wallet(economy, "u") == {"available": 993, "held": 7, "earnings": 0}
    # an overlapping or repeated run finds nothing: resolved holds left the due index
    assert run_job("expire-holds", economy=economy.id, now=in_two_minutes).get("resolved", 0) == 0
    economy.check()


def test_the_cli_runs_the_expiry_jobs(economy, clock) -> None:
    from chalicelib.cli import main as cli

    economy.credit("u", 100)
    place_hold(economy, "u", 10, expires_in=60)
    place_hold(economy, "u", 5, expires_in=120)
    clock.advance(61)  # the CLI's job reads "now" from the app clock: only the first is due
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["jobs", "run", "expire-holds", "--economy", economy.id]) == 0
    assert json.loads(out.getvalue())["resolved"] == 1
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["jobs", "list"]) == 0
    listed = json.loads(out.getvalue())
    assert listed["expire-holds"]["schedule"] == listed["release-escrows"]["schedule"] == "rate(1 minute)"
    assert wallet(economy, "u") == {"available": 95, "held": 5, "earnings": 0}
    economy.check()


def test_hold_listing_filters_by_status_and_pages(economy) -> None:
    economy.credit("u", 1000)
    ids = [place_hold(economy, "u", 10 + i).body["hold_id"] for i in range(5)]
    economy.api.post(f"/v1/holds/{ids[0]}/release")
    economy.api.post(f"/v1/holds/{ids[1]}/settle", {})
    active = economy.api.get("/v1/users/u/holds?status=active&limit=2").body
    assert [h["hold_id"] for h in active["items"]] == [ids[4], ids[3]]
    rest = economy.api.get(f"/v1/users/u/holds?status=active&limit=2&cursor={active['next_cursor']}").body
    assert [h["hold_id"] for h in rest["items"]] == [ids[2]] and rest["next_cursor"] is None
    everything = economy.api.get("/v1/users/u/holds").body["items"]
    assert [h["hold_id"] for h in everything] == ids[::-1]
    assert_error(economy.api.get("/v1/users/u/holds?status=pending"), 400, "validation_error", "status")
    assert_error(economy.api.get(f"/v1/users/u/holds?cursor={active['next_cursor']}"), 400, "invalid_cursor")
    assert active_held(economy, "u") == wallet(economy, "u")["held"] == 12 + 13 + 14
    economy.check()


def test_frozen_wallets_cannot_hold_or_spend_but_existing_holds_resolve(economy) -> None:
    economy.credit("u", 300)
    a = place_hold(economy, "u", 50).body["hold_id"]
    b = place_hold(economy, "u", 60).body["hold_id"]
    esc = economy.api.post("/v1/escrows", {"client_id": "u", "freelancer_id": "f", "amount": 70, "job_ref": "j"},
                           key=key()).body["escrow_id"]
    freeze(economy, "u")
    assert_error(place_hold(economy, "u", 1), 422, "account_frozen")
    assert_error(economy.api.post("/v1/users/u/spend", {"amount": 1, "reason": "x"}, key=key()), 422, "account_frozen")
    assert_error(economy.api.post("/v1/escrows", {"client_id": "u", "freelancer_id": "f", "amount": 1,
                                                  "job_ref": "j"}, key=key()), 422, "account_frozen")
    assert economy.api.post(f"/v1/holds/{a}/settle", {"amount": 20, "to_user_id": "host"}).status == 200
    assert economy.api.post(f"/v1/holds/{b}/release").status == 200
    assert economy.api.post(f"/v1/escrows/{esc}/release").status == 200
    assert wallet(economy, "u") == {"available": 300 - 20 - 70, "held": 0, "earnings": 0}
    economy.check()


# --------------------------------------------------------------------------- escrow


def test_escrow_release_pays_the_freelancer_minus_the_fee(economy) -> None:
    economy.credit("client", 1000)
    opened = economy.api.post("/v1/escrows", {"client_id": "client", "freelancer_id": "dev", "amount": 999,
                                              "job_ref": "logo-42"}, key=key())
    assert opened.status == 201, opened.body
    escrow_id = opened.body["escrow_id"]
    assert opened.body["status"] == "active" and opened.body["fee_bps"] == 1000
    assert wallet(economy, "client") == {"available": 1, "held": 999, "earnings": 0}
    hold_view = economy.api.get(f"/v1/holds/{escrow_id}").body
    assert hold_view["kind"] == "escrow" and hold_view["payee_id"] == "dev"
    assert_error(economy.api.post(f"/v1/holds/{escrow_id}/settle", {}), 409, "hold_is_escrow")
    released = economy.api.post(f"/v1/escrows/{escrow_id}/release")
    assert released.status == 200, released.body
    # 999 * 9,000 / 10,000 = 899.1 -> the freelancer 899, the fee 100 (99.9 rounded up)
    assert (released.body["freelancer_amount"], released.body["fee_amount"]) == (899, 100)
    assert wallet(economy, "dev") == {"available": 0, "held": 0, "earnings": 899}
    assert wallet(economy, "client") == {"available": 1, "held": 0, "earnings": 0}
    assert treasury(economy) == 100
    err = assert_error(economy.api.post(f"/v1/escrows/{escrow_id}/refund"), 409, "escrow_not_active")
    assert err["details"]["escrow"]["status"] == "released"
    assert economy.api.get(f"/v1/escrows/{escrow_id}", token=economy.read_token).body["status"] == "released"
    economy.check()


def test_escrow_refund_returns_everything_to_the_client(economy) -> None:
    economy.credit("client", 500)
    escrow_id = economy.api.post("/v1/escrows", {"client_id": "client", "freelancer_id": "dev", "amount": 400,
                                                 "job_ref": "j"}, key=key()).body["escrow_id"]
    refunded = economy.api.post(f"/v1/escrows/{escrow_id}/refund")
    assert refunded.status == 200 and refunded.body["status"] == "refunded"
    assert refunded.body["refunded_amount"] == 400
    assert wallet(economy, "client") == {"available": 500, "held": 0, "earnings": 0}
    assert_error(economy.api.post(f"/v1/escrows/{escrow_id}/release"), 409, "escrow_not_active")
    assert treasury(economy) == 0
    economy.check()


def test_escrows_auto_release_after_their_deadline(economy, clock) -> None:
    economy.credit("client", 500)
    soon = economy.api.post("/v1/escrows", {"client_id": "client", "freelancer_id": "dev", "amount": 100,
                                            "job_ref": "a", "auto_release_after": 60}, key=key()).body["escrow_id"]
    late = economy.api.post("/v1/escrows", {"client_id": "client", "freelancer_id": "dev", "amount": 200,
                                            "job_ref": "b", "auto_release_after": 60}, key=key()).body["escrow_id"]
    hold = place_hold(economy, "client", 50, expires_in=60).body["hold_id"]
    clock.advance(61)
    report = run_job("release-escrows", economy=economy.id, max_items=1)
    assert report["resolved"] == 1
    # a refund that comes after the deadline finds it due: it auto-releases and answers 409
    first = economy.api.get(f"/v1/escrows/{soon}").body["status"]
    pending = late if first == "released" else soon
    err = assert_error(economy.api.post(f"/v1/escrows/{pending}/refund"), 409, "escrow_not_active")
    assert err["details"]["escrow"]["resolution"] == "escrow-auto"
    assert run_job("release-escrows", economy=economy.id).get("resolved", 0) == 0
    # the escrow job leaves plain holds to the hold job
    assert economy.api.get(f"/v1/holds/{hold}").body["status"] == "active"
    assert wallet(economy, "dev")["earnings"] == 90 + 180
    assert treasury(economy) == 30
    economy.check()


def test_escrow_refusals(economy) -> None:
    economy.credit("client", 10)
    body = {"client_id": "client", "freelancer_id": "client", "amount": 5, "job_ref": "j"}
    assert_error(economy.api.post("/v1/escrows", body, key=key()), 422, "self_payment")
    body["freelancer_id"] = "dev"
    assert_error(economy.api.post("/v1/escrows", {**body, "amount": 11}, key=key()), 422, "insufficient_funds")
    assert_error(economy.api.post("/v1/escrows", body), 400, "idempotency_key_required")
    assert_error(economy.api.get("/v1/escrows/esc_01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404, "escrow_not_found")
    hold_id = place_hold(economy, "client", 3).body["hold_id"]
    assert_error(economy.api.get(f"/v1/escrows/{hold_id}"), 404, "escrow_not_found")
    assert_error(economy.api.post(f"/v1/escrows/{hold_id}/release"), 404, "escrow_not_found")
    assert wallet(economy, "client") == {"available": 7, "held": 3, "earnings": 0}
    economy.check()
