"""Bad input, class by class: the exact refusal, and proof that nothing moved.

Every case checks
* the status and the stable ``error.code`` (and ``details.field`` where a field
  is to blame), with the error body in exactly the documented shape;
* that nothing changed: the wallet, its statement, the audit trail and the
  books (``check_economy``) are the same before and after;
* for writes, that the refused request did not burn its Idempotency-Key: the
  same key still works with a good body afterwards.

DESIGN.md section 4: bad input never gets a 500.
"""
from __future__ import annotations

import base64
import json
import uuid
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.tenancy import apikeys
from tests.conftest import Api, Economy, Resp, new_economy_id

pytestmark = pytest.mark.integration

USER = "alice"
START = 1_000
MAX_AMOUNT = 10**12


# --------------------------------------------------------------------------- helpers


def make_economy(client: Any) -> Economy:
    """A second tenant, built like the ``economy`` fixture builds the first."""
    economy_id = new_economy_id()
    admin, _ = apikeys.create_key(economy_id, {"read", "write", "admin"}, label="test admin")
    write, _ = apikeys.create_key(economy_id, {"read", "write"}, label="test write")
    read, _ = apikeys.create_key(economy_id, {"read"}, label="test read")
    return Economy(economy_id, admin, write, read, Api(client, admin))


def new_key() -> str:
    return f"k-{uuid.uuid4().hex}"


def assert_error(resp: Resp, status: int, code: str, field: Optional[str] = None) -> Dict[str, Any]:
    """The response is exactly ``{"error": {"code", "message", "details"}}`` with these values."""
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.body
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message", "details"}, err
    assert err["code"] == code, err
    assert isinstance(err["message"], str) and err["message"].strip(), err
    assert isinstance(err["details"], dict), err
    if field is not None:
        assert err["details"].get("field") == field, err
    return err


def snapshot(economy: Economy, user: str = USER) -> Dict[str, Any]:
    """Everything a refused request must leave alone, read through the API and the books."""
    api, token = economy.api, economy.admin_token
    wallet = api.get(f"/v1/users/{user}/wallet", token=token)
    statement = api.get(f"/v1/users/{user}/transactions?limit=100", token=token)
    audit = api.get("/v1/admin/audit?limit=200", token=token)
    assert audit.status == 200, audit.body
    report = economy.check()
    return {
        "wallet": (wallet.status, wallet.body),
        "statement": (statement.status, statement.body),
        "audit": audit.body,
        "books": (report.accounts_checked, report.entries_checked, report.total),
    }


@contextmanager
def nothing_changes(economy: Economy, *users: str) -> Iterator[None]:
    users = users or (USER,)
    before = {u: snapshot(economy, u) for u in users}
    yield
    after = {u: snapshot(economy, u) for u in users}
    assert after == before


def available(economy: Economy, user: str = USER) -> int:
    resp = economy.api.get(f"/v1/users/{user}/wallet", token=economy.admin_token)
    assert resp.status == 200, resp.body
    return resp.body["available"]


def spend(economy: Economy, body: Any, key: Optional[str], user: str = USER, token: Optional[str] = None,
          headers: Optional[Dict[str, str]] = None) -> Resp:
    return economy.api.post(f"/v1/users/{user}/spend", body, key=key,
                            token=economy.write_token if token is None else token, headers=headers)


def adjust(economy: Economy, body: Any, key: Optional[str], user: str = USER, token: Optional[str] = None) -> Resp:
    # No X-Audit-Reason: the body's reason is what these tests are about.
    return economy.api.post(f"/v1/admin/users/{user}/adjust", body, key=key,
                            token=economy.admin_token if token is None else token, headers=NO_HEADER_REASON)


NO_HEADER_REASON = {"X-Audit-Reason": None}


def reason_code(body: Any) -> str:
    """An operator write whose reason is missing or blank is ``reason_required``; any other bad field is
    ``validation_error``."""
    given = body.get("reason") if isinstance(body, dict) else None
    return "reason_required" if given is None or isinstance(given, str) and not given.strip() else "validation_error"


def post_bytes(economy: Economy, path: str, body: bytes, key: Optional[str] = None,
               content_type: str = "application/json") -> Resp:
    headers = {"Content-Type": content_type, "Authorization": f"Bearer {economy.write_token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return economy.api.request("POST", path, headers=headers, body=body)


def assert_spend_key_still_works(economy: Economy, key: str, user: str = USER, amount: int = 7) -> None:
    before = available(economy, user)
    resp = spend(economy, {"amount": amount, "reason": "good request"}, key, user=user)
    assert resp.status == 200, resp.body
    assert resp.headers["idempotent-replayed"] == "false"
    assert resp.body["balance"]["available"] == before - amount
    assert available(economy, user) == before - amount
    economy.check()


def assert_adjust_key_still_works(economy: Economy, key: str, user: str = USER, amount: int = 5) -> None:
    before = available(economy, user)
    resp = adjust(economy, {"amount": amount, "reason": "good request"}, key, user=user)
    assert resp.status == 200, resp.body
    assert resp.headers["idempotent-replayed"] == "false"
    assert available(economy, user) == before + amount
    economy.check()


@pytest.fixture
def funded(economy: Economy) -> Economy:
    """The fresh economy, with USER holding START coins."""
    economy.credit(USER, START)
    return economy


# --------------------------------------------------------------------------- bodies that are not a JSON object

NOT_JSON = {
    "plain-text": b"not json",
    "js-object-literal": b"{amount: 10, reason: 'x'}",
    "single-quotes": b"{'amount': 10, 'reason': 'x'}",
    "truncated": b'{"amount": 10, "reason": "x"',
    "trailing-garbage": b'{"amount": 10, "reason": "x"} and more',
    "empty": b"",
    "invalid-utf8": b'{"amount": 10, "reason": "\xff\xfe"}',
}

NOT_OBJECT = {
    "empty-list": b"[]",
    "list-of-good-body": b'[{"amount": 10, "reason": "x"}]',
    "string": b'"spend 10 coins"',
    "integer": b"10",
    "float": b"1.5",
    "null": b"null",
    "true": b"true",
}


@pytest.mark.parametrize("raw", list(NOT_JSON.values()) + list(NOT_OBJECT.values()),
                         ids=[f"not-json:{k}" for k in NOT_JSON] + [f"not-object:{k}" for k in NOT_OBJECT])
def test_spend_body_that_is_not_a_json_object(funded: Economy, raw: bytes) -> None:
    key = new_key()
    with nothing_changes(funded):
        resp = post_bytes(funded, f"/v1/users/{USER}/spend", raw, key=key)
        assert_error(resp, 400, "malformed_json")
    assert_spend_key_still_works(funded, key)


@pytest.mark.parametrize("raw", [b"[]", b"null", b"nope"], ids=["list", "null", "not-json"])
def test_adjust_body_that_is_not_a_json_object(funded: Economy, raw: bytes) -> None:
    key = new_key()
    with nothing_changes(funded):
        resp = funded.api.request("POST", f"/v1/admin/users/{USER}/adjust", body=raw, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {funded.admin_token}",
            "Idempotency-Key": key})
        assert_error(resp, 400, "malformed_json")
    assert_adjust_key_still_works(funded, key)


# --------------------------------------------------------------------------- invalid fields in a spend body

SPEND_FIELD_CASES = [
    # missing fields
    ("missing-amount", {"reason": "x"}, "amount"),
    ("missing-reason", {"amount": 10}, "reason"),
    ("missing-everything", {}, "amount"),
    # unknown extra fields: a typo must not silently mean "default"
    ("extra-currency", {"amount": 10, "reason": "x", "currency": "usd"}, "currency"),
    ("extra-case-typo", {"amount": 10, "reason": "x", "Amount": 10}, "Amount"),
    ("extra-user-id", {"amount": 10, "reason": "x", "user_id": "bob"}, "user_id"),
    # wrong types for amount: coins are integers, never strings or floats
    ("amount-string", {"amount": "10", "reason": "x"}, "amount"),
    ("amount-float-integral", {"amount": 10.0, "reason": "x"}, "amount"),
    ("amount-float", {"amount": 10.5, "reason": "x"}, "amount"),
    ("amount-bool", {"amount": True, "reason": "x"}, "amount"),
    ("amount-null", {"amount": None, "reason": "x"}, "amount"),
    ("amount-list", {"amount": [10], "reason": "x"}, "amount"),
    ("amount-object", {"amount": {"value": 10}, "reason": "x"}, "amount"),
    ("amount-exponent-string", {"amount": "1e3", "reason": "x"}, "amount"),
    # wrong types for the strings
    ("reason-number", {"amount": 10, "reason": 5}, "reason"),
    ("reason-null", {"amount": 10, "reason": None}, "reason"),
    ("reason-list", {"amount": 10, "reason": ["x"]}, "reason"),
    ("reason-bool", {"amount": 10, "reason": True}, "reason"),
    ("ref-number", {"amount": 10, "reason": "x", "ref": 5}, "ref"),
    ("ref-object", {"amount": 10, "reason": "x", "ref": {"id": 1}}, "ref"),
    # amounts out of range
    ("amount-zero", {"amount": 0, "reason": "x"}, "amount"),
    ("amount-minus-one", {"amount": -1, "reason": "x"}, "amount"),
    ("amount-negative", {"amount": -500, "reason": "x"}, "amount"),
    ("amount-max-plus-one", {"amount": MAX_AMOUNT + 1, "reason": "x"}, "amount"),
    ("amount-10e40", {"amount": 10**40, "reason": "x"}, "amount"),
    ("amount-2e63", {"amount": 2**63, "reason": "x"}, "amount"),
    ("amount-2e64", {"amount": 2**64, "reason": "x"}, "amount"),
    ("amount-minus-2e63", {"amount": -(2**63), "reason": "x"}, "amount"),
    # strings out of range
    ("reason-empty", {"amount": 10, "reason": ""}, "reason"),
    ("reason-too-long", {"amount": 10, "reason": "x" * 201}, "reason"),
    ("ref-empty", {"amount": 10, "reason": "x", "ref": ""}, "ref"),
    ("ref-too-long", {"amount": 10, "reason": "x", "ref": "r" * 201}, "ref"),
]


@pytest.mark.parametrize("body,field", [c[1:] for c in SPEND_FIELD_CASES], ids=[c[0] for c in SPEND_FIELD_CASES])
def test_spend_invalid_field(funded: Economy, body: Dict[str, Any], field: str) -> None:
    key = new_key()
    with nothing_changes(funded):
        err = assert_error(spend(funded, body, key), 400, "validation_error", field)
        problems = err["details"]["problems"]
        assert problems and all(set(p) == {"field", "message", "type"} for p in problems)
    assert_spend_key_still_works(funded, key)


def test_spend_empty_object_names_every_missing_field(funded: Economy) -> None:
    with nothing_changes(funded):
        err = assert_error(spend(funded, {}, new_key()), 400, "validation_error", "amount")
    assert {p["field"] for p in err["details"]["problems"]} == {"amount", "reason"}
    assert {p["type"] for p in err["details"]["problems"]} == {"missing"}


def test_spend_amount_with_thousands_of_digits_is_a_400(funded: Economy) -> None:
    # Python refuses to parse integers past 4300 digits, so today this is
    # malformed_json rather than validation_error; either way a 400, never a 500.
    raw = b'{"amount": ' + b"9" * 5000 + b', "reason": "x"}'
    key = new_key()
    with nothing_changes(funded):
        resp = post_bytes(funded, f"/v1/users/{USER}/spend", raw, key=key)
        assert resp.status == 400, resp.body
        assert_error(resp, 400, resp.code)
        assert resp.code in {"malformed_json", "validation_error"}
    assert_spend_key_still_works(funded, key)


@pytest.mark.parametrize("raw", [b'{"amount": NaN, "reason": "x"}', b'{"amount": Infinity, "reason": "x"}',
                                 b'{"amount": 1e400, "reason": "x"}'], ids=["nan", "infinity", "overflowing-float"])
def test_spend_non_finite_amount(funded: Economy, raw: bytes) -> None:
    key = new_key()
    with nothing_changes(funded):
        assert_error(post_bytes(funded, f"/v1/users/{USER}/spend", raw, key=key), 400, "validation_error", "amount")
    assert_spend_key_still_works(funded, key)


@pytest.mark.parametrize("raw", [b'{"amount": 1, "reason": "\\ud800"}', b'{"amount": 1, "reason": "x", "ref": "\\udfff"}'],
                         ids=["reason", "ref"])
def test_spend_lone_surrogate_in_a_string(funded: Economy, raw: bytes) -> None:
    field = "ref" if b"ref" in raw else "reason"
    key = new_key()
    with nothing_changes(funded):
        assert_error(post_bytes(funded, f"/v1/users/{USER}/spend", raw, key=key), 400, "validation_error", field)
    assert_spend_key_still_works(funded, key)


def test_spend_boundaries_are_accepted(funded: Economy) -> None:
    """The limits above are the real limits: one step inside them is accepted."""
    resp = spend(funded, {"amount": 1, "reason": "x" * 200, "ref": "r" * 200}, new_key())
    assert resp.status == 200, resp.body
    # The largest amount is valid input; this wallet just cannot afford it.
    assert_error(spend(funded, {"amount": MAX_AMOUNT, "reason": "x"}, new_key()), 422, "insufficient_funds")
    resp = spend(funded, {"amount": START - 1, "reason": "everything left"}, new_key())
    assert resp.status == 200, resp.body
    assert resp.body["balance"]["available"] == 0
    funded.check()


@pytest.mark.parametrize("reason", ["   ", "\n\t"], ids=["spaces", "newline-tab"])
@pytest.mark.parametrize("route", ["spend", "freeze"])
def test_blank_reason_is_refused(funded: Economy, route: str, reason: str) -> None:
    key = new_key()
    with nothing_changes(funded):
        if route == "spend":
            resp = spend(funded, {"amount": 10, "reason": reason}, key)
        else:
            resp = funded.api.post(f"/v1/admin/users/{USER}/freeze", {"reason": reason}, headers=NO_HEADER_REASON)
        assert_error(resp, 400, "validation_error" if route == "spend" else "reason_required", "reason")


# --------------------------------------------------------------------------- invalid fields in an adjust body

ADJUST_FIELD_CASES = [
    ("amount-zero", {"amount": 0, "reason": "x"}, "amount"),
    ("amount-max-plus-one", {"amount": MAX_AMOUNT + 1, "reason": "x"}, "amount"),
    ("amount-minus-max-minus-one", {"amount": -(MAX_AMOUNT + 1), "reason": "x"}, "amount"),
    ("amount-10e40", {"amount": 10**40, "reason": "x"}, "amount"),
    ("amount-2e63", {"amount": 2**63, "reason": "x"}, "amount"),
    ("amount-string", {"amount": "10", "reason": "x"}, "amount"),
    ("amount-float", {"amount": 10.0, "reason": "x"}, "amount"),
    ("amount-bool", {"amount": True, "reason": "x"}, "amount"),
    ("amount-null", {"amount": None, "reason": "x"}, "amount"),
    ("missing-amount", {"reason": "x"}, "amount"),
    ("missing-reason", {"amount": 10}, "reason"),
    ("reason-number", {"amount": 10, "reason": 10}, "reason"),
    ("reason-empty", {"amount": 10, "reason": ""}, "reason"),
    ("reason-blank", {"amount": 10, "reason": "   "}, "reason"),
    ("reason-whitespace", {"amount": 10, "reason": "\n\t "}, "reason"),
    ("reason-too-long", {"amount": 10, "reason": "x" * 501}, "reason"),
    ("extra-field", {"amount": 10, "reason": "x", "bucket": "held"}, "bucket"),
]


@pytest.mark.parametrize("body,field", [c[1:] for c in ADJUST_FIELD_CASES], ids=[c[0] for c in ADJUST_FIELD_CASES])
def test_adjust_invalid_field(funded: Economy, body: Dict[str, Any], field: str) -> None:
    key = new_key()
    with nothing_changes(funded):
        code = reason_code(body) if field == "reason" else "validation_error"
        assert_error(adjust(funded, body, key), 400, code, field)
    assert_adjust_key_still_works(funded, key)


@pytest.mark.parametrize("body,field", [({}, "reason"), ({"reason": ""}, "reason"), ({"reason": 1}, "reason"),
                                        ({"reason": "x", "frozen": False}, "frozen")],
                         ids=["missing", "empty", "number", "extra-field"])
def test_freeze_invalid_body(funded: Economy, body: Dict[str, Any], field: str) -> None:
    with nothing_changes(funded):
        code = reason_code(body) if field == "reason" else "validation_error"
        resp = funded.api.post(f"/v1/admin/users/{USER}/freeze", body, headers=NO_HEADER_REASON)
        assert_error(resp, 400, code, field)
    assert funded.api.get(f"/v1/users/{USER}/wallet").body["frozen"] is False


# --------------------------------------------------------------------------- users that do not exist, ids that cannot


def test_spend_from_unknown_user(funded: Economy) -> None:
    key = new_key()
    with nothing_changes(funded, USER, "ghost"):
        err = assert_error(spend(funded, {"amount": 10, "reason": "x"}, key, user="ghost"), 404, "user_not_found")
        assert err["details"] == {"user_id": "ghost"}
    # The refusal did not create a wallet, and did not burn the key.
    assert_error(funded.api.get("/v1/users/ghost/wallet"), 404, "user_not_found")
    assert_spend_key_still_works(funded, key)


def test_debit_adjust_of_unknown_user(funded: Economy) -> None:
    key = new_key()
    with nothing_changes(funded, USER, "ghost"):
        assert_error(adjust(funded, {"amount": -10, "reason": "x"}, key, user="ghost"), 404, "user_not_found")
    assert_adjust_key_still_works(funded, key)


@pytest.mark.parametrize("path", ["/v1/users/ghost/wallet", "/v1/users/ghost/transactions"])
def test_read_unknown_user(funded: Economy, path: str) -> None:
    err = assert_error(funded.api.get(path, token=funded.read_token), 404, "user_not_found")
    assert err["details"] == {"user_id": "ghost"}


def test_freeze_unknown_user(funded: Economy) -> None:
    with nothing_changes(funded, USER, "ghost"):
        assert_error(funded.api.post("/v1/admin/users/ghost/freeze", {"reason": "x"}), 404, "user_not_found")


BAD_USER_IDS = {
    "129-chars": "u" * 129,
    "200-chars": "u" * 200,
    "encoded-space": "a%20b",
    "non-ascii-and-markup": "%3Ccaf%C3%A9%3E",
}

USER_ROUTES = ["wallet", "transactions", "spend", "adjust", "freeze"]


def call_user_route(economy: Economy, route: str, user: str, key: str) -> Resp:
    api = economy.api
    if route == "wallet":
        return api.get(f"/v1/users/{user}/wallet")
    if route == "transactions":
        return api.get(f"/v1/users/{user}/transactions")
    if route == "spend":
        return api.post(f"/v1/users/{user}/spend", {"amount": 1, "reason": "x"}, key=key)
    if route == "adjust":
        return api.post(f"/v1/admin/users/{user}/adjust", {"amount": 1, "reason": "x"}, key=key)
    return api.post(f"/v1/admin/users/{user}/freeze", {"reason": "x"})


@pytest.mark.parametrize("route", USER_ROUTES)
@pytest.mark.parametrize("user", list(BAD_USER_IDS.values()), ids=list(BAD_USER_IDS))
def test_invalid_user_id_in_path(funded: Economy, route: str, user: str) -> None:
    key = new_key()
    with nothing_changes(funded):
        assert_error(call_user_route(funded, route, user, key), 400, "validation_error", "user_id")
    if route == "spend":
        assert_spend_key_still_works(funded, key)
    elif route == "adjust":
        assert_adjust_key_still_works(funded, key)


def test_longest_valid_user_id_is_accepted(economy: Economy) -> None:
    user = "u" * 128
    economy.credit(user, 10)
    assert economy.api.get(f"/v1/users/{user}/wallet").body["available"] == 10


def test_a_percent_encoded_user_id_is_the_decoded_one(economy: Economy) -> None:
    # A client that encodes `|` (as it should in a path) reaches the same wallet; it was a 400 (found by fuzzing).
    economy.credit("guild%7Cplayer%3A1", 10)
    assert economy.api.get("/v1/users/guild|player:1/wallet").body["available"] == 10
    assert economy.api.get("/v1/users/guild%7Cplayer%3A1/wallet").body["user_id"] == "guild|player:1"


def test_invalid_user_id_in_audit_query(funded: Economy) -> None:
    assert_error(funded.api.get("/v1/admin/audit?user_id=a%20b"), 400, "validation_error", "user_id")


# --------------------------------------------------------------------------- who is calling

BAD_AUTH = {
    "missing": None,
    "basic-scheme": "Basic dXNlcjpwYXNz",
    "bearer-without-token": "Bearer",
    "bearer-blank-token": "Bearer    ",
    "token-without-scheme": "{token}",
    "other-scheme": "Token {token}",
    "unknown-key": "Bearer chk_" + "A" * 43,
    "token-plus-junk": "Bearer {token} junk",
    "oversized-token": "Bearer " + "x" * 300,
}


@pytest.mark.parametrize("header", list(BAD_AUTH.values()), ids=list(BAD_AUTH))
def test_spend_with_bad_authorization(funded: Economy, header: Optional[str]) -> None:
    key = new_key()
    headers = {} if header is None else {"Authorization": header.format(token=funded.write_token)}
    with nothing_changes(funded):
        resp = spend(funded, {"amount": 10, "reason": "x"}, key, token="", headers=headers)
        assert_error(resp, 401, "unauthenticated")
    assert_spend_key_still_works(funded, key)


@pytest.mark.parametrize("path", ["/v1/users/alice/wallet", "/v1/users/alice/transactions", "/v1/packs",
                                  "/v1/admin/audit"])
def test_reads_without_a_key(funded: Economy, path: str) -> None:
    assert_error(funded.api.get(path, token=""), 401, "unauthenticated")


def test_bearer_scheme_is_case_insensitive(funded: Economy) -> None:
    resp = spend(funded, {"amount": 10, "reason": "x"}, new_key(), token="",
                 headers={"Authorization": f"bearer {funded.write_token}"})
    assert resp.status == 200, resp.body


def test_revoked_key(funded: Economy) -> None:
    token, key_id = apikeys.create_key(funded.id, {"read", "write"}, label="soon revoked")
    assert spend(funded, {"amount": 1, "reason": "before revoke"}, new_key(), token=token).status == 200
    assert apikeys.revoke(key_id) is True
    apikeys.clear_cache()
    key = new_key()
    with nothing_changes(funded):
        assert_error(spend(funded, {"amount": 10, "reason": "x"}, key, token=token), 401, "unauthenticated")
        assert_error(funded.api.get(f"/v1/users/{USER}/wallet", token=token), 401, "unauthenticated")
    assert_spend_key_still_works(funded, key)


WRONG_SCOPE = [
    ("read-key-spends", "read", "POST", f"/v1/users/{USER}/spend", {"amount": 10, "reason": "x"}, "write"),
    ("write-key-adjusts", "write", "POST", f"/v1/admin/users/{USER}/adjust", {"amount": 10, "reason": "x"}, "admin"),
    ("write-key-freezes", "write", "POST", f"/v1/admin/users/{USER}/freeze", {"reason": "x"}, "admin"),
    ("read-key-reads-audit", "read", "GET", "/v1/admin/audit", None, "admin"),
]


@pytest.mark.parametrize("which,method,path,body,needed", [c[1:] for c in WRONG_SCOPE], ids=[c[0] for c in WRONG_SCOPE])
def test_wrong_scope(funded: Economy, which: str, method: str, path: str, body: Any, needed: str) -> None:
    token = {"read": funded.read_token, "write": funded.write_token}[which]
    key = new_key()
    with nothing_changes(funded):
        if method == "GET":
            resp = funded.api.get(path, token=token)
        else:
            resp = funded.api.post(path, body, key=key, token=token)
        err = assert_error(resp, 403, "forbidden")
        if needed == "admin":  # an admin route asks the role matrix; a host app's key holds no role
            assert err["details"]["required_action"] in ("wallet.freeze", "wallet.adjust", "audit.read")
            assert err["details"]["roles"] == []
        else:
            assert err["details"]["required_scope"] == needed
            assert needed not in err["details"]["key_scopes"]
    assert funded.api.get(f"/v1/users/{USER}/wallet").body["frozen"] is False
    if path.endswith("/spend"):
        assert_spend_key_still_works(funded, key)
    elif path.endswith("/adjust"):
        assert_adjust_key_still_works(funded, key)


# --------------------------------------------------------------------------- one economy never sees another


@pytest.fixture
def other(funded: Economy, chalice_client: Any) -> Economy:
    """Economy B, with bob (only in B) and its own alice, next to the funded economy A."""
    b = make_economy(chalice_client)
    b.credit("bob", 500)
    b.credit(USER, 300)
    return b


def test_key_of_a_cannot_read_users_of_b(funded: Economy, other: Economy) -> None:
    for path in ("/v1/users/bob/wallet", "/v1/users/bob/transactions"):
        assert_error(funded.api.get(path, token=funded.admin_token), 404, "user_not_found")
    assert other.api.get("/v1/users/bob/wallet").body["available"] == 500


def test_key_of_a_cannot_move_coins_of_b(funded: Economy, other: Economy) -> None:
    spend_key, adjust_key = new_key(), new_key()
    with nothing_changes(other, "bob", USER), nothing_changes(funded, "bob"):
        assert_error(spend(funded, {"amount": 10, "reason": "x"}, spend_key, user="bob"), 404, "user_not_found")
        assert_error(adjust(funded, {"amount": -10, "reason": "x"}, adjust_key, user="bob"), 404, "user_not_found")
        assert_error(funded.api.post("/v1/admin/users/bob/freeze", {"reason": "x"}), 404, "user_not_found")


def test_same_user_id_in_two_economies_is_two_wallets(funded: Economy, other: Economy) -> None:
    with nothing_changes(other, USER, "bob"):
        resp = spend(funded, {"amount": 100, "reason": "x"}, new_key())
        assert resp.status == 200, resp.body
        funded.credit("bob", 1)  # creates bob in A only
    assert available(funded) == START - 100
    assert available(other) == 300


def test_idempotency_keys_are_per_economy(funded: Economy, other: Economy) -> None:
    key = new_key()
    first = spend(funded, {"amount": 10, "reason": "in A"}, key)
    second = spend(other, {"amount": 20, "reason": "in B"}, key, token=other.write_token)
    assert (first.status, second.status) == (200, 200), (first.body, second.body)
    assert second.headers["idempotent-replayed"] == "false"
    assert (available(funded), available(other)) == (START - 10, 300 - 20)
    funded.check()
    other.check()


# --------------------------------------------------------------------------- business rules


def test_spend_from_frozen_account(funded: Economy) -> None:
    resp = funded.api.post(f"/v1/admin/users/{USER}/freeze", {"reason": "fraud review"})
    assert resp.status == 200 and resp.body["frozen"] is True, resp.body
    key = new_key()
    with nothing_changes(funded):
        err = assert_error(spend(funded, {"amount": 10, "reason": "x"}, key), 422, "account_frozen")
        assert err["details"] == {"user_id": USER}
    assert funded.api.post(f"/v1/admin/users/{USER}/unfreeze", {"reason": "cleared"}).status == 200
    assert_spend_key_still_works(funded, key)


def test_spend_more_than_available(funded: Economy) -> None:
    key = new_key()
    with nothing_changes(funded):
        err = assert_error(spend(funded, {"amount": START + 1, "reason": "x"}, key), 422, "insufficient_funds")
    assert err["details"] == {"user_id": USER, "bucket": "available", "balance": START, "required": START + 1}
    assert_spend_key_still_works(funded, key)


def test_debit_adjust_below_zero(funded: Economy) -> None:
    key = new_key()
    with nothing_changes(funded):
        err = assert_error(adjust(funded, {"amount": -(START + 1), "reason": "x"}, key), 422, "insufficient_funds")
    assert err["details"] == {"user_id": USER, "bucket": "available", "balance": START, "required": START + 1}
    assert_adjust_key_still_works(funded, key)


# --------------------------------------------------------------------------- idempotency keys


@pytest.mark.parametrize("route", ["spend", "adjust"])
def test_write_without_idempotency_key(funded: Economy, route: str) -> None:
    with nothing_changes(funded):
        call = spend if route == "spend" else adjust
        assert_error(call(funded, {"amount": 10, "reason": "x"}, None), 400, "idempotency_key_required")


BAD_KEYS = {
    "empty": "",
    "129-chars": "k" * 129,
    "200-chars": "k" * 200,
    "space": "a b",
    "non-ascii": "clé",
    "emoji": "key-\U0001F4B0",
}


@pytest.mark.parametrize("route", ["spend", "adjust"])
@pytest.mark.parametrize("key", list(BAD_KEYS.values()), ids=list(BAD_KEYS))
def test_write_with_invalid_idempotency_key(funded: Economy, route: str, key: str) -> None:
    with nothing_changes(funded):
        call = spend if route == "spend" else adjust
        assert_error(call(funded, {"amount": 10, "reason": "x"}, key), 400, "invalid_idempotency_key")


def test_idempotency_key_boundaries_are_accepted(funded: Economy) -> None:
    for key in ("k" * 128, "!#$%&'()*+,-./:;<=>?@[]^_`{|}~", "x"):
        resp = spend(funded, {"amount": 1, "reason": "x"}, key)
        assert resp.status == 200, (key, resp.body)
    assert available(funded) == START - 3


REUSED = [
    ("other-amount", "spend", USER, {"amount": 11, "reason": "first"}),
    ("other-reason", "spend", USER, {"amount": 10, "reason": "second"}),
    ("added-ref", "spend", USER, {"amount": 10, "reason": "first", "ref": "r1"}),
    ("other-user", "spend", "bob", {"amount": 10, "reason": "first"}),
    ("other-endpoint", "adjust", USER, {"amount": 10, "reason": "first"}),
]


@pytest.mark.parametrize("route,user,body", [c[1:] for c in REUSED], ids=[c[0] for c in REUSED])
def test_same_key_different_request(funded: Economy, route: str, user: str, body: Dict[str, Any]) -> None:
    funded.credit("bob", 100)
    key = new_key()
    original = {"amount": 10, "reason": "first"}
    first = spend(funded, original, key)
    assert first.status == 200, first.body
    with nothing_changes(funded, USER, "bob"):
        call = spend if route == "spend" else adjust
        assert_error(call(funded, body, key, user=user), 409, "idempotency_key_reused")
        # The key still answers for its first request, with the first result.
        replay = spend(funded, original, key)
        assert replay.status == 200, replay.body
        assert replay.headers["idempotent-replayed"] == "true"
        assert replay.body == first.body
    assert available(funded) == START - 10


# --------------------------------------------------------------------------- HTTP framing


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                          "multipart/form-data; boundary=x"])
def test_wrong_content_type(funded: Economy, content_type: str) -> None:
    key = new_key()
    with nothing_changes(funded):
        resp = spend(funded, {"amount": 10, "reason": "x"}, key, headers={"Content-Type": content_type})
        err = assert_error(resp, 415, "unsupported_media_type")
        assert err["details"] == {}
    assert_spend_key_still_works(funded, key)


def test_json_content_type_with_charset_is_accepted(funded: Economy) -> None:
    resp = spend(funded, {"amount": 10, "reason": "x"}, new_key(),
                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert resp.status == 200, resp.body


WRONG_METHODS = [
    ("DELETE", f"/v1/users/{USER}/wallet", "GET"),
    ("POST", f"/v1/users/{USER}/wallet", "GET"),
    ("GET", f"/v1/users/{USER}/spend", "POST"),
    ("PUT", f"/v1/users/{USER}/spend", "POST"),
    ("PATCH", f"/v1/admin/users/{USER}/adjust", "POST"),
    ("DELETE", f"/v1/users/{USER}/transactions", "GET"),
]


@pytest.mark.parametrize("method,path,allowed", WRONG_METHODS, ids=[f"{m} {p}" for m, p, _ in WRONG_METHODS])
def test_wrong_method(funded: Economy, method: str, path: str, allowed: str) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {funded.admin_token}",
               "Idempotency-Key": new_key()}
    with nothing_changes(funded):
        resp = funded.api.request(method, path, headers=headers, body=json.dumps({"amount": 10, "reason": "x"}))
        err = assert_error(resp, 405, "method_not_allowed")
        assert err["details"] == {}
    assert resp.headers.get("allow") == allowed


# --------------------------------------------------------------------------- statement paging


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "1.5", "1e2", "%205", "0x10"])
def test_transactions_bad_limit(funded: Economy, limit: str) -> None:
    err = assert_error(funded.api.get(f"/v1/users/{USER}/transactions?limit={limit}"), 400, "validation_error", "limit")
    assert "1 to 100" in err["message"]


@pytest.mark.parametrize("limit", ["1", "100"])
def test_transactions_limit_bounds_are_accepted(funded: Economy, limit: str) -> None:
    resp = funded.api.get(f"/v1/users/{USER}/transactions?limit={limit}")
    assert resp.status == 200, resp.body
    assert len(resp.body["items"]) == 1


@pytest.mark.parametrize("path", [f"/v1/users/{USER}/transactions?limit=%C2%B2",
                                  f"/v1/users/{USER}/transactions?limit=" + "9" * 5000,
                                  "/v1/admin/audit?limit=%C2%B2"],
                         ids=["superscript-two", "5000-digits", "audit-superscript-two"])
def test_limit_that_crashes_int(funded: Economy, path: str) -> None:
    assert_error(funded.api.get(path), 400, "validation_error", "limit")


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.fixture
def two_pages(funded: Economy) -> Economy:
    """USER has two entries, so limit=1 gives a next_cursor."""
    funded.credit(USER, 1)
    return funded


def test_transactions_valid_cursor_pages(two_pages: Economy) -> None:
    first = two_pages.api.get(f"/v1/users/{USER}/transactions?limit=1")
    assert first.status == 200 and first.body["next_cursor"], first.body
    second = two_pages.api.get(f"/v1/users/{USER}/transactions?limit=1&cursor={first.body['next_cursor']}")
    assert second.status == 200, second.body
    assert [i["seq"] for i in first.body["items"] + second.body["items"]] == [2, 1]


GARBAGE_CURSORS = {
    "percent-signs": "%25%25%25",
    "not-base64-json": "abc",
    "base64-of-empty-object": _cursor({}),
    "base64-of-list": _cursor(["a", "b"]),
    "base64-of-number": _cursor(12),
    "seq-not-digits": None,  # built with the right partition below
    "seq-wrong-length": None,
    "very-long": "A" * 5000,
}


@pytest.mark.parametrize("name", list(GARBAGE_CURSORS))
def test_transactions_garbage_cursor(two_pages: Economy, name: str) -> None:
    cursor = GARBAGE_CURSORS[name]
    partition = f"{two_pages.id}#u:{USER}"
    if name == "seq-not-digits":
        cursor = _cursor({"p": partition, "s": "abcdefghijkl"})
    elif name == "seq-wrong-length":
        cursor = _cursor({"p": partition, "s": "1"})
    assert_error(two_pages.api.get(f"/v1/users/{USER}/transactions?limit=1&cursor={cursor}"), 400, "invalid_cursor")


def test_transactions_cursor_of_another_user(two_pages: Economy) -> None:
    two_pages.credit("bob", 1)
    two_pages.credit("bob", 1)
    bobs = two_pages.api.get("/v1/users/bob/transactions?limit=1").body["next_cursor"]
    assert bobs
    assert_error(two_pages.api.get(f"/v1/users/{USER}/transactions?limit=1&cursor={bobs}"), 400, "invalid_cursor")


def test_transactions_cursor_of_another_economy(two_pages: Economy, chalice_client: Any) -> None:
    b = make_economy(chalice_client)
    b.credit(USER, 1)
    b.credit(USER, 1)
    theirs = b.api.get(f"/v1/users/{USER}/transactions?limit=1").body["next_cursor"]
    assert theirs
    assert_error(two_pages.api.get(f"/v1/users/{USER}/transactions?limit=1&cursor={theirs}"), 400, "invalid_cursor")


# --------------------------------------------------------------------------- never a 500


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000],
                         ids=["nested-lists", "nested-objects"])
def test_deeply_nested_json_is_not_a_500(funded: Economy, raw: bytes) -> None:
    key = new_key()
    with nothing_changes(funded):
        assert_error(post_bytes(funded, f"/v1/users/{USER}/spend", raw, key=key), 400, "malformed_json")


_any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=20)
_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _any_text,
                       st.sampled_from([0, 1, -1, MAX_AMOUNT, MAX_AMOUNT + 1, 2**63, 10**40, 10.0, "10", ""]))
_json = st.recursive(_json_leaf, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_any_text, inner, max_size=4), max_leaves=12)
_spendish = st.fixed_dictionaries({}, optional={"amount": _json, "reason": _json, "ref": _json, "extra": _json})
_junk_bodies = st.one_of(
    _spendish.map(lambda d: json.dumps(d).encode()),
    _json.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    _any_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
)


def _refusals_for(raw: bytes, balance: int) -> set:
    """The refusals a junk body may get, worked out from the body itself, not from the answer."""
    try:
        body = json.loads(raw)
    except ValueError:
        return {(400, "malformed_json")}
    if not isinstance(body, dict):
        return {(400, "malformed_json")}
    refusals = {(400, "validation_error")}
    amount = body.get("amount")
    if isinstance(amount, int) and not isinstance(amount, bool) and amount > balance:
        refusals.add((422, "insufficient_funds"))
    return refusals


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=_junk_bodies)
def test_junk_spend_bodies_never_get_a_500(funded: Economy, raw: bytes) -> None:
    before = available(funded)
    statement = funded.api.get(f"/v1/users/{USER}/transactions?limit=100").body["items"]
    resp = post_bytes(funded, f"/v1/users/{USER}/spend", raw, key=new_key())
    assert resp.status in (200, 400, 422), (raw, resp.status, resp.body)
    if resp.status == 200:
        amount = resp.body["amount"]
        assert available(funded) == before - amount
    else:
        assert (resp.status, resp.code) in _refusals_for(raw, before), (raw, resp.status, resp.body)
        assert_error(resp, resp.status, resp.code)  # the error's shape; its status and code are checked above
        assert available(funded) == before
        assert funded.api.get(f"/v1/users/{USER}/transactions?limit=100").body["items"] == statement
    funded.check()
