"""Bad input to every spending endpoint: the exact 4xx and stable code, and proof nothing moved.

Each case runs against a small world (a funded wallet, a catalog item, an
active hold and an active escrow) and checks the wallets, the treasury, the
ledger entries, the audit trail, the holds and the unlocks before and after.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Optional

import pytest

from tests.conftest import Economy, Resp
from tests.integration.spending_helpers import assert_error, key, nothing_changes, place_hold, put_content

pytestmark = pytest.mark.integration

MAX = 10**12


@dataclass
class World:
    economy: Economy
    hold: str
    escrow: str


@pytest.fixture
def world(economy: Economy) -> World:
    economy.credit("alice", 1000)
    put_content(economy, "ch", 10, creator="bob")
    hold = place_hold(economy, "alice", 100).body["hold_id"]
    escrow = economy.api.post("/v1/escrows", {"client_id": "alice", "freelancer_id": "dev", "amount": 100,
                                              "job_ref": "j"}, key=key()).body["escrow_id"]
    return World(economy, hold, escrow)


def call(w: World, method: str, path: str, body: Any = None, token: str = "write", idem: Optional[str] = None,
         raw: Optional[bytes] = None) -> Resp:
    e = w.economy
    token_value = {"write": e.write_token, "read": e.read_token, "admin": e.admin_token, "none": ""}[token]
    headers = {"Content-Type": "application/json"}
    if token_value:
        headers["Authorization"] = f"Bearer {token_value}"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    path = path.format(hold=w.hold, escrow=w.escrow)
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    return e.api.request(method, path, headers=headers, body=data)  # with a reason: the body is what is walked


HOLD = {"user_id": "alice", "amount": 10, "purpose": "call", "expires_in": 60}
ESCROW = {"client_id": "alice", "freelancer_id": "dev", "amount": 10, "job_ref": "j"}
CONTENT = {"title": "T", "price": 5, "creator_id": "bob"}

# (id, method, path, body, token, needs key, status, code, field)
CASES = [
    # --- content (admin) ---
    ("content-not-json", "PUT", "/v1/admin/content/ch", b"nope", "admin", False, 400, "malformed_json", None),
    ("content-missing-title", "PUT", "/v1/admin/content/ch", {"price": 5, "creator_id": "bob"}, "admin", False, 400,
     "validation_error", "title"),
    ("content-blank-title", "PUT", "/v1/admin/content/ch", {**CONTENT, "title": "  "}, "admin", False, 400,
     "validation_error", "title"),
    ("content-negative-price", "PUT", "/v1/admin/content/ch", {**CONTENT, "price": -1}, "admin", False, 400,
     "validation_error", "price"),
    ("content-float-price", "PUT", "/v1/admin/content/ch", {**CONTENT, "price": 5.5}, "admin", False, 400,
     "validation_error", "price"),
    ("content-string-price", "PUT", "/v1/admin/content/ch", {**CONTENT, "price": "5"}, "admin", False, 400,
     "validation_error", "price"),
    ("content-huge-price", "PUT", "/v1/admin/content/ch", {**CONTENT, "price": MAX + 1}, "admin", False, 400,
     "validation_error", "price"),
    ("content-bad-creator", "PUT", "/v1/admin/content/ch", {**CONTENT, "creator_id": "a b"}, "admin", False, 400,
     "validation_error", "creator_id"),
    ("content-share-too-big", "PUT", "/v1/admin/content/ch", {**CONTENT, "creator_share_bps": 10_001}, "admin",
     False, 400, "validation_error", "creator_share_bps"),
    ("content-share-negative", "PUT", "/v1/admin/content/ch", {**CONTENT, "creator_share_bps": -1}, "admin", False,
     400, "validation_error", "creator_share_bps"),
    ("content-share-float", "PUT", "/v1/admin/content/ch", {**CONTENT, "creator_share_bps": 70.5}, "admin", False,
     400, "validation_error", "creator_share_bps"),
    ("content-extra-field", "PUT", "/v1/admin/content/ch", {**CONTENT, "currency": "usd"}, "admin", False, 400,
     "validation_error", "currency"),
    ("content-bad-id", "PUT", "/v1/admin/content/bad!id", CONTENT, "admin", False, 400, "validation_error",
     "content_id"),
    ("content-long-id", "PUT", "/v1/admin/content/" + "c" * 129, CONTENT, "admin", False, 400, "validation_error",
     "content_id"),
    ("content-write-key", "PUT", "/v1/admin/content/ch", CONTENT, "write", False, 403, "forbidden", None),
    ("content-no-key", "PUT", "/v1/admin/content/ch", CONTENT, "none", False, 401, "unauthenticated", None),
    ("content-get-unknown", "GET", "/v1/content/nope", None, "read", False, 404, "content_not_found", None),
    ("rates-empty", "PUT", "/v1/admin/spending-rates", {}, "admin", False, 400, "validation_error", None),
    ("rates-too-big", "PUT", "/v1/admin/spending-rates", {"escrow_fee_bps": 10_001}, "admin", False, 400,
     "validation_error", "escrow_fee_bps"),
    ("rates-write-key", "PUT", "/v1/admin/spending-rates", {"escrow_fee_bps": 5}, "write", False, 403, "forbidden",
     None),
    # --- unlocks ---
    ("unlock-missing-content", "POST", "/v1/users/alice/unlocks", {}, "write", False, 400, "validation_error",
     "content_id"),
    ("unlock-bad-content-id", "POST", "/v1/users/alice/unlocks", {"content_id": "a b"}, "write", False, 400,
     "validation_error", "content_id"),
    ("unlock-content-number", "POST", "/v1/users/alice/unlocks", {"content_id": 7}, "write", False, 400,
     "validation_error", "content_id"),
    ("unlock-extra-field", "POST", "/v1/users/alice/unlocks", {"content_id": "ch", "price": 0}, "write", False, 400,
     "validation_error", "price"),
    ("unlock-bad-user", "POST", "/v1/users/bad!user/unlocks", {"content_id": "ch"}, "write", False, 400,
     "validation_error", "user_id"),
    ("unlock-unknown-content", "POST", "/v1/users/alice/unlocks", {"content_id": "nope"}, "write", False, 404,
     "content_not_found", None),
    ("unlock-read-key", "POST", "/v1/users/alice/unlocks", {"content_id": "ch"}, "read", False, 403, "forbidden",
     None),
    ("unlocks-bad-limit", "GET", "/v1/users/alice/unlocks?limit=0", None, "read", False, 400, "validation_error",
     "limit"),
    ("unlocks-garbage-cursor", "GET", "/v1/users/alice/unlocks?cursor=xyz", None, "read", False, 400,
     "invalid_cursor", None),
    ("unlock-status-bad-content", "GET", "/v1/users/alice/unlocks/bad!id", None, "read", False, 400,
     "validation_error", "content_id"),
    # --- check-balance ---
    ("check-zero", "POST", "/v1/users/alice/check-balance", {"amount": 0}, "read", False, 400, "validation_error",
     "amount"),
    ("check-string", "POST", "/v1/users/alice/check-balance", {"amount": "5"}, "read", False, 400,
     "validation_error", "amount"),
    ("check-missing", "POST", "/v1/users/alice/check-balance", {}, "read", False, 400, "validation_error", "amount"),
    ("check-no-key", "POST", "/v1/users/alice/check-balance", {"amount": 5}, "none", False, 401, "unauthenticated",
     None),
    # --- spend with a recipient ---
    ("spend-bad-creator", "POST", "/v1/users/alice/spend", {"amount": 5, "reason": "tip", "creator_id": "a b"},
     "write", True, 400, "validation_error", "creator_id"),
    ("spend-self-tip", "POST", "/v1/users/alice/spend", {"amount": 5, "reason": "tip", "creator_id": "alice"},
     "write", True, 422, "self_payment", "creator_id"),
    # --- holds ---
    ("hold-no-key", "POST", "/v1/holds", HOLD, "write", False, 400, "idempotency_key_required", None),
    ("hold-read-key", "POST", "/v1/holds", HOLD, "read", True, 403, "forbidden", None),
    ("hold-zero", "POST", "/v1/holds", {**HOLD, "amount": 0}, "write", True, 400, "validation_error", "amount"),
    ("hold-float", "POST", "/v1/holds", {**HOLD, "amount": 1.5}, "write", True, 400, "validation_error", "amount"),
    ("hold-expires-zero", "POST", "/v1/holds", {**HOLD, "expires_in": 0}, "write", True, 400, "validation_error",
     "expires_in"),
    ("hold-expires-too-long", "POST", "/v1/holds", {**HOLD, "expires_in": 30 * 86_400 + 1}, "write", True, 400,
     "validation_error", "expires_in"),
    ("hold-missing-expiry", "POST", "/v1/holds", {k: v for k, v in HOLD.items() if k != "expires_in"}, "write",
     True, 400, "validation_error", "expires_in"),
    ("hold-blank-purpose", "POST", "/v1/holds", {**HOLD, "purpose": " "}, "write", True, 400, "validation_error",
     "purpose"),
    ("hold-empty-ref", "POST", "/v1/holds", {**HOLD, "ref": ""}, "write", True, 400, "validation_error", "ref"),
    ("hold-bad-user", "POST", "/v1/holds", {**HOLD, "user_id": ""}, "write", True, 400, "validation_error",
     "user_id"),
    ("hold-too-much", "POST", "/v1/holds", {**HOLD, "amount": 801}, "write", True, 422, "insufficient_funds", None),
    ("hold-unknown-user", "POST", "/v1/holds", {**HOLD, "user_id": "ghost"}, "write", True, 404, "user_not_found",
     None),
    ("hold-get-garbage-id", "GET", "/v1/holds/nope", None, "read", False, 400, "validation_error", "hold_id"),
    ("hold-get-unknown", "GET", "/v1/holds/hold_01ARZ3NDEKTSV4RRFFQ69G5FAV", None, "read", False, 404,
     "hold_not_found", None),
    ("settle-zero", "POST", "/v1/holds/{hold}/settle", {"amount": 0}, "write", False, 400, "validation_error",
     "amount"),
    ("settle-negative", "POST", "/v1/holds/{hold}/settle", {"amount": -5}, "write", False, 400, "validation_error",
     "amount"),
    ("settle-string", "POST", "/v1/holds/{hold}/settle", {"amount": "5"}, "write", False, 400, "validation_error",
     "amount"),
    ("settle-bad-recipient", "POST", "/v1/holds/{hold}/settle", {"to_user_id": "a b"}, "write", False, 400,
     "validation_error", "to_user_id"),
    ("settle-extra", "POST", "/v1/holds/{hold}/settle", {"amount": 5, "fee": 1}, "write", False, 400,
     "validation_error", "fee"),
    ("settle-not-json", "POST", "/v1/holds/{hold}/settle", b"[]", "write", False, 400, "malformed_json", None),
    ("settle-too-much", "POST", "/v1/holds/{hold}/settle", {"amount": 101}, "write", False, 422,
     "amount_exceeds_hold", None),
    ("settle-to-payer", "POST", "/v1/holds/{hold}/settle", {"to_user_id": "alice"}, "write", False, 422,
     "self_payment", "to_user_id"),
    ("settle-bad-key", "POST", "/v1/holds/{hold}/settle", {"amount": 5}, "write", "x" * 129, 400,
     "invalid_idempotency_key", None),
    ("settle-unknown", "POST", "/v1/holds/hold_01ARZ3NDEKTSV4RRFFQ69G5FAV/settle", {}, "write", False, 404,
     "hold_not_found", None),
    ("settle-garbage-id", "POST", "/v1/holds/hold_x/settle", {}, "write", False, 400, "validation_error", "hold_id"),
    ("settle-read-key", "POST", "/v1/holds/{hold}/settle", {}, "read", False, 403, "forbidden", None),
    ("settle-escrow", "POST", "/v1/holds/{escrow}/settle", {}, "write", False, 409, "hold_is_escrow", None),
    ("release-escrow", "POST", "/v1/holds/{escrow}/release", None, "write", False, 409, "hold_is_escrow", None),
    ("release-unknown", "POST", "/v1/holds/hold_01ARZ3NDEKTSV4RRFFQ69G5FAV/release", None, "write", False, 404,
     "hold_not_found", None),
    ("release-read-key", "POST", "/v1/holds/{hold}/release", None, "read", False, 403, "forbidden", None),
    ("holds-bad-status", "GET", "/v1/users/alice/holds?status=done", None, "read", False, 400, "validation_error",
     "status"),
    ("holds-bad-limit", "GET", "/v1/users/alice/holds?limit=101", None, "read", False, 400, "validation_error",
     "limit"),
    ("holds-garbage-cursor", "GET", "/v1/users/alice/holds?cursor=%%%", None, "read", False, 400, "invalid_cursor",
     None),
    # --- escrow ---
    ("escrow-no-key", "POST", "/v1/escrows", ESCROW, "write", False, 400, "idempotency_key_required", None),
    ("escrow-missing-job", "POST", "/v1/escrows", {k: v for k, v in ESCROW.items() if k != "job_ref"}, "write", True,
     400, "validation_error", "job_ref"),
    ("escrow-blank-job", "POST", "/v1/escrows", {**ESCROW, "job_ref": "\t"}, "write", True, 400,
     "validation_error", "job_ref"),
    ("escrow-zero-deadline", "POST", "/v1/escrows", {**ESCROW, "auto_release_after": 0}, "write", True, 400,
     "validation_error", "auto_release_after"),
    ("escrow-zero", "POST", "/v1/escrows", {**ESCROW, "amount": 0}, "write", True, 400, "validation_error",
     "amount"),
    ("escrow-bad-freelancer", "POST", "/v1/escrows", {**ESCROW, "freelancer_id": "x/y"}, "write", True, 400,
     "validation_error", "freelancer_id"),
    ("escrow-self", "POST", "/v1/escrows", {**ESCROW, "freelancer_id": "alice"}, "write", True, 422,
     "self_payment", "freelancer_id"),
    ("escrow-too-much", "POST", "/v1/escrows", {**ESCROW, "amount": 801}, "write", True, 422,
     "insufficient_funds", None),
    ("escrow-read-key", "POST", "/v1/escrows", ESCROW, "read", True, 403, "forbidden", None),
    ("escrow-release-read-key", "POST", "/v1/escrows/{escrow}/release", None, "read", False, 403, "forbidden",
     None),
    ("escrow-refund-read-key", "POST", "/v1/escrows/{escrow}/refund", None, "read", False, 403, "forbidden", None),
    ("escrow-release-a-hold", "POST", "/v1/escrows/{hold}/release", None, "write", False, 404, "escrow_not_found",
     None),
    ("escrow-get-garbage", "GET", "/v1/escrows/esc_", None, "read", False, 400, "validation_error", "escrow_id"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refused_and_nothing_changes(world: World, case: tuple) -> None:
    _, method, path, body, token, needs_key, status, code, field = case
    idem = needs_key if isinstance(needs_key, str) else (key() if needs_key else None)
    raw = body if isinstance(body, bytes) else None
    with nothing_changes(world.economy, "alice", "bob", "dev"):
        resp = call(world, method, path, None if raw else body, token, idem, raw)
        assert_error(resp, status, code, field)
    assert world.economy.api.get(f"/v1/holds/{world.hold}").body["status"] == "active"
    assert world.economy.api.get(f"/v1/escrows/{world.escrow}").body["status"] == "active"


def test_a_refused_hold_does_not_burn_its_key(world: World) -> None:
    k = key()
    assert_error(call(world, "POST", "/v1/holds", {**HOLD, "amount": 10_000}, idem=k), 422, "insufficient_funds")
    ok = call(world, "POST", "/v1/holds", HOLD, idem=k)
    assert ok.status == 201 and ok.headers["idempotent-replayed"] == "false"
    replay = call(world, "POST", "/v1/holds", HOLD, idem=k)
    assert replay.status == 201 and replay.body == ok.body and replay.headers["idempotent-replayed"] == "true"
    assert_error(call(world, "POST", "/v1/holds", {**HOLD, "amount": 11}, idem=k), 409, "idempotency_key_reused")
    world.economy.check()


def test_every_new_route_is_in_the_openapi_document(world: World) -> None:
    from chalicelib.routes.openapi import document

    paths: Dict[str, Any] = document()["paths"]
    for path in ("/v1/admin/content/{content_id}", "/v1/users/{user_id}/unlocks", "/v1/holds",
                 "/v1/holds/{hold_id}/settle", "/v1/escrows/{escrow_id}/refund", "/v1/users/{user_id}/check-balance"):
        assert path in paths, path
    settle = paths["/v1/holds/{hold_id}/settle"]["post"]
    assert any(p["name"] == "Idempotency-Key" and not p["required"] for p in settle["parameters"])
