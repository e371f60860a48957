"""``verify_event``'s time window on explicit timestamps: 300 s either side of now, for every secret."""
from __future__ import annotations

import json

import pytest

from chalicelib.core import config, errors
from chalicelib.purchases.stripe_gateway import TOLERANCE_S, sign_payload, verify_event

pytestmark = pytest.mark.unit

NOW = 1_900_000_000
BODY = json.dumps({"id": "evt_1", "type": "customer.created", "data": {"object": {}}})


@pytest.fixture(autouse=True)
def two_secrets(monkeypatch) -> None:
    monkeypatch.setenv("COINS_STAGE", "local")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b")
    config.reset_settings()
    yield
    config.reset_settings()


@pytest.mark.parametrize("secret", ["whsec_a", "whsec_b"])
@pytest.mark.parametrize("offset", [-TOLERANCE_S, -1, 0, 1, TOLERANCE_S])
def test_inside_the_window_verifies(secret: str, offset: int) -> None:
    header = sign_payload(BODY, secret, NOW + offset)
    assert verify_event(BODY.encode(), header, now=NOW) == json.loads(BODY)


@pytest.mark.parametrize("secret", ["whsec_a", "whsec_b"])
@pytest.mark.parametrize("offset", [-TOLERANCE_S - 1, TOLERANCE_S + 1, 86_400, 10**9])
def test_outside_the_window_is_refused_both_ways(secret: str, offset: int) -> None:
    header = sign_payload(BODY, secret, NOW + offset)
    with pytest.raises(errors.StripeSignatureError) as refused:
        verify_event(BODY.encode(), header, now=NOW)
    assert refused.value.code == "invalid_signature" and refused.value.details == {"tolerance_s": 300}


def test_a_fractional_now_keeps_the_edges_exact() -> None:
    header = sign_payload(BODY, "whsec_a", NOW + TOLERANCE_S)
    assert verify_event(BODY.encode(), header, now=NOW + 0.0)["id"] == "evt_1"
    with pytest.raises(errors.StripeSignatureError):
        verify_event(BODY.encode(), header, now=NOW - 0.5)


def test_a_foreign_secret_is_refused_inside_the_window() -> None:
    with pytest.raises(errors.StripeSignatureError) as refused:
        verify_event(BODY.encode(), sign_payload(BODY, "whsec_other", NOW), now=NOW)
    assert refused.value.details == {}  # the signature, not the clock
