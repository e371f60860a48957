"""The one HMAC request signature: valid, wrong key, stale, tampered, missing, rotation; the README's worked example."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from chalicelib.core import errors, signing

pytestmark = pytest.mark.unit

BODY = b'{"code":"ABCD-EFGH-JKMN-PQRS","player_id":"Steve"}'
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z


def _verify(headers, body=BODY, keys=("secret",), now=NOW) -> None:
    signing.verify(list(keys), body, headers.get(signing.TIMESTAMP_HEADER), headers.get(signing.SIGNATURE_HEADER),
                   now=now)


def test_valid_signature_verifies() -> None:
    _verify(signing.signed_headers("secret", BODY, now=NOW))


def test_the_recipe_is_hmac_sha256_over_timestamp_dot_body() -> None:
    headers = signing.signed_headers("secret", BODY, now=NOW)
    expected = hmac.new(b"secret", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers == {"X-Coinhall-Timestamp": str(NOW), "X-Coinhall-Signature": f"sha256={expected}"}


def test_worked_example_in_the_readme() -> None:
    assert signing.signature("mc-secret", "1767225600", b'{"order_id":"ord_1"}') == (
        "sha256=" + hmac.new(b"mc-secret", b'1767225600.{"order_id":"ord_1"}', hashlib.sha256).hexdigest())


@pytest.mark.parametrize("case", ["wrong_key", "tampered", "stale", "future", "missing_sig", "missing_ts",
                                  "bad_ts", "not_hex", "no_prefix", "no_keys", "non_ascii"])
def test_bad_signatures_are_refused(case: str) -> None:
    headers = signing.signed_headers("secret", BODY, now=NOW)
    body, keys, now = BODY, ("secret",), NOW
    if case == "wrong_key":
        headers = signing.signed_headers("other", BODY, now=NOW)
    elif case == "tampered":
        body = BODY.replace(b"Steve", b"Alex_")
    elif case == "stale":
        now = NOW + 301
    elif case == "future":
        now = NOW - 301
    elif case == "missing_sig":
        headers.pop(signing.SIGNATURE_HEADER)
    elif case == "missing_ts":
        headers.pop(signing.TIMESTAMP_HEADER)
    elif case == "bad_ts":
        headers[signing.TIMESTAMP_HEADER] = "2026-01-01"
    elif case == "not_hex":
        headers[signing.SIGNATURE_HEADER] = "sha256=zz"
    elif case == "no_prefix":
        headers[signing.SIGNATURE_HEADER] = headers[signing.SIGNATURE_HEADER][7:]
    elif case == "no_keys":
        keys = ()
    elif case == "non_ascii":
        headers[signing.SIGNATURE_HEADER] = "sha256=é"
    with pytest.raises(errors.SignatureInvalidError) as refused:
        _verify(headers, body, keys, now)
    assert refused.value.status == 401 and refused.value.code == "invalid_signature"


def test_the_window_is_five_minutes_either_way() -> None:
    headers = signing.signed_headers("secret", BODY, now=NOW)
    _verify(headers, now=NOW + 300)
    _verify(headers, now=NOW - 300)


def test_either_key_verifies_during_a_rotation() -> None:
    _verify(signing.signed_headers("new", BODY, now=NOW), keys=("old", "new"))
    _verify(signing.signed_headers("old", BODY, now=NOW), keys=("old", "new"))


def test_the_readme_examples_verify() -> None:
    """The fulfilment contract's two signed examples, byte for byte."""
    call = (b'{"action":"grant_rank","order_id":"ord_01JQ7ZK4V2M6T8X0C3B5N7P9R1","payload":{"category":"rank",'
            b'"data":{"days":30,"rank":"vip"},"qty":1,"sku":"vip-30"},"player_id":"Steve_MC"}')
    assert signing.signature("mc-secret", "1767225600", call) == (
        "sha256=244bc1d355674288d755a38002b0dc8d205476a9b40d17858bbd4ef865aa5a9f")
    redeem = b'{"code":"7K3D-QW9M-X2PA-HF4T","player_id":"Steve_MC"}'
    assert signing.signature("redeem-secret", "1767225600", redeem) == (
        "sha256=eb2bd54c3a83f5333227bed06d48ffd60840b7362ac016d6225cc4851e41b62c")


def test_the_body_we_send_is_the_contract_example() -> None:
    from chalicelib.market.fulfilment.minecraft import request_body

    order = {"order_id": "ord_01JQ7ZK4V2M6T8X0C3B5N7P9R1", "player_id": "Steve_MC", "action": "grant_rank",
             "payload": {"sku": "vip-30", "qty": 1, "category": "rank", "data": {"rank": "vip", "days": 30}}}
    assert signing.signature("mc-secret", "1767225600", request_body(order)) == (
        "sha256=244bc1d355674288d755a38002b0dc8d205476a9b40d17858bbd4ef865aa5a9f")
