"""Ed25519 verification of interaction requests (no engine needed)."""
from __future__ import annotations


import pytest
from nacl.signing import SigningKey

from chalicelib.core import errors
from chalicelib.discord import devkey
from chalicelib.discord.signature import MAX_SKEW_SECONDS, sign, verify

pytestmark = pytest.mark.unit

KEY = SigningKey.generate()
PRIVATE, PUBLIC = bytes(KEY).hex(), KEY.verify_key.encode().hex()
BODY = b'{"type":1}'


def headers(body: bytes = BODY, ts: str = None, key: str = PRIVATE) -> dict:
    h = sign(key, body, ts)
    return {k.lower(): v for k, v in h.items()}


def reason(h: dict, body: bytes = BODY, **kwargs) -> str:
    with pytest.raises(errors.SignatureInvalidError) as caught:
        verify(h, body, public_hex=PUBLIC, **kwargs)
    assert caught.value.status == 401 and caught.value.code == "invalid_signature"
    return caught.value.details["reason"]


def test_a_valid_signature_passes() -> None:
    verify(headers(), BODY, public_hex=PUBLIC)


def test_missing_headers() -> None:
    h = headers()
    assert reason({}) == "missing_headers"
    assert reason({"x-signature-ed25519": h["x-signature-ed25519"]}) == "missing_headers"
    assert reason({"x-signature-timestamp": h["x-signature-timestamp"]}) == "missing_headers"


def test_body_altered_after_signing() -> None:
    assert reason(headers(), b'{"type":2}') == "bad_signature"
    assert reason(headers(), BODY + b" ") == "bad_signature"


def test_signed_by_another_key() -> None:
    other = bytes(SigningKey.generate()).hex()
    assert reason(headers(key=other)) == "bad_signature"


def test_stale_and_future_timestamps() -> None:
    # "now" is given, so the window's edges are exact however long the test takes.
    ts, edge = 1_700_000_000, MAX_SKEW_SECONDS
    signed = headers(ts=str(ts))
    assert reason(signed, now=ts + edge + 1) == "stale_timestamp"
    assert reason(signed, now=ts - edge - 1) == "stale_timestamp"  # from the future
    verify(signed, BODY, public_hex=PUBLIC, now=ts + edge)
    verify(signed, BODY, public_hex=PUBLIC, now=ts - edge)


def test_timestamp_swapped_after_signing() -> None:
    h = headers()
    h["x-signature-timestamp"] = str(int(h["x-signature-timestamp"]) - 1)
    assert reason(h) == "bad_signature"


@pytest.mark.parametrize("bad", ["zz" * 64, "ab" * 10, "", "é" * 64])
def test_malformed_signatures(bad: str) -> None:
    h = headers()
    h["x-signature-ed25519"] = bad
    assert reason(h) in ("malformed", "missing_headers")


@pytest.mark.parametrize("ts", ["abc", "-5", "1e9", "١٢٣", "9" * 40])
def test_malformed_timestamps(ts: str) -> None:
    h = headers()
    h["x-signature-timestamp"] = ts
    assert reason(h) == "bad_timestamp"


def test_no_key_configured_refuses(monkeypatch, tmp_path) -> None:
    from chalicelib.core import config

    monkeypatch.delenv("DISCORD_PUBLIC_KEY", raising=False)
    monkeypatch.setenv("COINS_STAGE", "local")
    monkeypatch.setattr(devkey, "KEY_FILE", tmp_path / "missing.json")
    config.reset_settings()
    try:
        with pytest.raises(errors.SignatureInvalidError) as caught:
            verify(headers(), BODY)
        assert caught.value.details["reason"] == "no_public_key"
        # make run's dev key file stands in for DISCORD_PUBLIC_KEY in the local stage
        private, public = devkey.load_or_create(tmp_path / "dev.json")
        monkeypatch.setattr(devkey, "KEY_FILE", tmp_path / "dev.json")
        verify(headers(key=private), BODY)
        assert oct((tmp_path / "dev.json").stat().st_mode)[-3:] == "600"
        assert devkey.load_or_create(tmp_path / "dev.json") == (private, public)  # kept, not regenerated
    finally:
        config.reset_settings()
