"""Settings from the environment (chalicelib.core.config.load_settings), with plain dicts.

DESIGN.md section 4: every env name has a documented default for the local
stage, anything set in the environment wins, and a deployed stage without its
secrets refuses to start (ConfigError naming what is missing).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.core.config import REQUIRED_OUTSIDE_LOCAL, ConfigError, env_defaults, load_settings

pytestmark = pytest.mark.unit

SECRETS = {name: f"secret-for-{name.lower()}" for name in REQUIRED_OUTSIDE_LOCAL}

# The env names DESIGN.md section 4 fixes.
DESIGN_ENV_NAMES = {
    "COINS_STAGE", "COINS_PORT", "COINS_DYNAMODB_ENDPOINT", "COINS_TABLE_PREFIX", "COINS_DEV_API_KEY",
    "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID",
    "DISCORD_BOT_TOKEN", "REDEMPTION_WEBHOOK_SECRET", "MINECRAFT_API_URL", "MINECRAFT_API_KEY",
    "MARKET_FEE", "PRICE_FLOOR_PCT", "ESCROW_TIMEOUT_MIN", "VOUCHER_TIMEOUT_H",
}


def config_error(env: dict) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    return str(info.value)


# --------------------------------------------------------------------------- the local stage


def test_local_defaults() -> None:
    s = load_settings({})
    assert s.stage == "local" and s.is_local
    assert s.port == 8000
    assert s.dynamodb_endpoint == "http://127.0.0.1:8001"
    assert s.table_prefix == "coinhall-local-"
    assert s.table_name("accounts") == "coinhall-local-accounts"
    assert s.dev_api_key == "chk_local_dev_key"
    assert s.region == "us-east-1"
    assert s.stripe_secret_key is None  # no Stripe account: the local payment page
    assert s.stripe_webhook_secret == "whsec_local_dev_only"
    assert s.redemption_webhook_secret == "local-redeem-secret"
    assert (s.discord_public_key, s.discord_application_id, s.discord_bot_token) == (None, None, None)
    assert (s.minecraft_api_url, s.minecraft_api_key) == (None, None)
    assert s.market_fee == 0.08 and s.market_fee_bps == 800
    assert s.price_floor_pct == 0.5
    assert s.escrow_timeout_min == 60
    assert s.voucher_timeout_h == 72
    assert s.system_shards == 16
    assert s.ledger_retry_seconds == 20
    assert s.api_key_cache_seconds == 30


def test_every_design_env_name_is_known() -> None:
    assert DESIGN_ENV_NAMES <= set(env_defaults())


def test_documented_defaults_are_the_ones_used() -> None:
    s = load_settings({})
    fields = {"COINS_PORT": ("port", int), "COINS_TABLE_PREFIX": ("table_prefix", str),
              "COINS_DEV_API_KEY": ("dev_api_key", str), "STRIPE_WEBHOOK_SECRET": ("stripe_webhook_secret", str),
              "MARKET_FEE": ("market_fee", float), "ESCROW_TIMEOUT_MIN": ("escrow_timeout_min", int),
              "VOUCHER_TIMEOUT_H": ("voucher_timeout_h", int), "PRICE_FLOOR_PCT": ("price_floor_pct", float)}
    defaults = env_defaults()
    for name, (field, kind) in fields.items():
        assert getattr(s, field) == kind(defaults[name]), name


def test_dict_is_the_only_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COINS_PORT", "1234")
    monkeypatch.setenv("COINS_STAGE", "prod")
    assert load_settings({}).port == 8000
    assert load_settings({}).stage == "local"


def test_without_a_dict_the_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_defaults():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COINS_PORT", "1234")
    assert load_settings().port == 1234


ENV_WINS = [
    ("COINS_PORT", "9001", "port", 9001),
    ("COINS_DYNAMODB_ENDPOINT", "http://localhost:4566", "dynamodb_endpoint", "http://localhost:4566"),
    ("COINS_TABLE_PREFIX", "mine-", "table_prefix", "mine-"),
    ("COINS_DEV_API_KEY", "chk_other_dev_key", "dev_api_key", "chk_other_dev_key"),
    ("COINS_REGION", "eu-west-1", "region", "eu-west-1"),
    ("COINS_SYSTEM_SHARDS", "4", "system_shards", 4),
    ("COINS_API_KEY_CACHE_SECONDS", "0", "api_key_cache_seconds", 0),
    ("STRIPE_SECRET_KEY", "sk_test_123", "stripe_secret_key", "sk_test_123"),
    ("STRIPE_WEBHOOK_SECRET", "whsec_abc", "stripe_webhook_secret", "whsec_abc"),
    ("DISCORD_PUBLIC_KEY", "ab" * 32, "discord_public_key", "ab" * 32),
    ("REDEMPTION_WEBHOOK_SECRET", "rs", "redemption_webhook_secret", "rs"),
    ("MINECRAFT_API_URL", "http://127.0.0.1:9999", "minecraft_api_url", "http://127.0.0.1:9999"),
    ("MARKET_FEE", "0.1", "market_fee", 0.1),
    ("PRICE_FLOOR_PCT", "0.25", "price_floor_pct", 0.25),
    ("ESCROW_TIMEOUT_MIN", "15", "escrow_timeout_min", 15),
    ("VOUCHER_TIMEOUT_H", "1", "voucher_timeout_h", 1),
]


@pytest.mark.parametrize("name,raw,field,expected", ENV_WINS, ids=[c[0] for c in ENV_WINS])
def test_env_wins_over_the_default(name: str, raw: str, field: str, expected: object) -> None:
    assert getattr(load_settings({}), field) != expected
    assert getattr(load_settings({name: raw}), field) == expected


def test_empty_value_means_unset() -> None:
    s = load_settings({"COINS_PORT": "", "COINS_TABLE_PREFIX": "", "MARKET_FEE": ""})
    assert (s.port, s.table_prefix, s.market_fee_bps) == (8000, "coinhall-local-", 800)


def test_empty_stage_is_unset_or_refused_by_name() -> None:
    for env in ({"COINS_STAGE": ""}, {"COINS_STAGE": "", **SECRETS}):
        try:
            s = load_settings(env)
        except ConfigError as exc:
            assert "COINS_STAGE" in str(exc)
            continue
        assert s == load_settings({k: v for k, v in env.items() if k != "COINS_STAGE"})


# --------------------------------------------------------------------------- deployed stages


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deployed_stage_without_secrets_names_every_missing_one(stage: str) -> None:
    message = config_error({"COINS_STAGE": stage})
    assert stage in message
    for name in REQUIRED_OUTSIDE_LOCAL:
        assert name in message
    assert set(REQUIRED_OUTSIDE_LOCAL) == {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "DISCORD_PUBLIC_KEY",
                                           "DISCORD_APPLICATION_ID", "DISCORD_BOT_TOKEN",
                                           "REDEMPTION_WEBHOOK_SECRET"}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_deployed_stage_names_only_what_is_missing(stage: str) -> None:
    env = {"COINS_STAGE": stage, **SECRETS}
    del env["DISCORD_BOT_TOKEN"]
    env["STRIPE_SECRET_KEY"] = ""  # empty is missing
    message = config_error(env)
    assert "DISCORD_BOT_TOKEN" in message and "STRIPE_SECRET_KEY" in message
    for name in set(REQUIRED_OUTSIDE_LOCAL) - {"DISCORD_BOT_TOKEN", "STRIPE_SECRET_KEY"}:
        assert name not in message


def test_local_defaults_do_not_leak_into_a_deployed_stage() -> None:
    """The local webhook secrets are defaults only locally: dev must set its own."""
    message = config_error({"COINS_STAGE": "dev", **{k: v for k, v in SECRETS.items()
                                                      if k not in ("STRIPE_WEBHOOK_SECRET", "REDEMPTION_WEBHOOK_SECRET")}})
    assert "STRIPE_WEBHOOK_SECRET" in message and "REDEMPTION_WEBHOOK_SECRET" in message


def test_dev_stage_settings() -> None:
    s = load_settings({"COINS_STAGE": "dev", "COINS_DEV_API_KEY": "chk_sneaky", **SECRETS})
    assert s.stage == "dev" and not s.is_local
    assert s.dev_api_key is None  # never a god key outside local, even when set
    assert s.dynamodb_endpoint is None  # the SDK finds DynamoDB itself on AWS
    assert s.table_prefix == "coinhall-dev-"
    assert s.stripe_secret_key == SECRETS["STRIPE_SECRET_KEY"]
    assert s.stripe_webhook_secret == SECRETS["STRIPE_WEBHOOK_SECRET"]
    assert s.port == 8000 and s.market_fee_bps == 800  # non-secret defaults still apply


def test_prod_stage_prefix_and_explicit_values() -> None:
    assert load_settings({"COINS_STAGE": "prod", **SECRETS}).table_prefix == "coinhall-prod-"
    s = load_settings({"COINS_STAGE": "prod", "COINS_TABLE_PREFIX": "ch-", "COINS_DYNAMODB_ENDPOINT": "http://x:1",
                       **SECRETS})
    assert (s.table_prefix, s.dynamodb_endpoint) == ("ch-", "http://x:1")


# --------------------------------------------------------------------------- invalid values

INVALID = [
    ("COINS_PORT", "abc"),
    ("COINS_PORT", "0"),
    ("COINS_PORT", "70000"),
    ("COINS_STAGE", "staging"),
    ("MARKET_FEE", "2"),
    ("MARKET_FEE", "1"),
    ("MARKET_FEE", "-0.01"),
    ("MARKET_FEE", "eight percent"),
    ("PRICE_FLOOR_PCT", "1.5"),
    ("ESCROW_TIMEOUT_MIN", "0"),
    ("VOUCHER_TIMEOUT_H", "-1"),
    ("COINS_TABLE_PREFIX", "bad prefix!"),
    ("COINS_SYSTEM_SHARDS", "0"),
    ("COINS_SYSTEM_SHARDS", "1000"),
    ("COINS_API_KEY_CACHE_SECONDS", "-1"),
    ("STRIPE_WEBHOOK_SECRET", "   "),
]


@pytest.mark.parametrize("name,raw", INVALID, ids=[f"{n}={v}" for n, v in INVALID])
def test_invalid_value_names_the_env_var(name: str, raw: str) -> None:
    message = config_error({name: raw})
    assert f"{name}:" in message


def test_every_invalid_value_is_named_at_once() -> None:
    message = config_error({"COINS_PORT": "abc", "MARKET_FEE": "2", "VOUCHER_TIMEOUT_H": "0"})
    for name in ("COINS_PORT", "MARKET_FEE", "VOUCHER_TIMEOUT_H"):
        assert f"{name}:" in message


def test_invalid_values_and_missing_secrets_together() -> None:
    message = config_error({"COINS_STAGE": "prod", "COINS_PORT": "abc"})
    assert "COINS_PORT:" in message and "STRIPE_SECRET_KEY" in message


def test_settings_are_frozen() -> None:
    s = load_settings({})
    with pytest.raises(Exception):
        s.port = 1  # type: ignore[misc]
    assert s.port == 8000


# --------------------------------------------------------------------------- basis points


@pytest.mark.parametrize("fee,bps", [("0.08", 800), ("0.0835", 835), ("0", 0), ("0.1", 1000), ("0.29", 2900),
                                     ("0.9999", 9999), ("0.00005", 1), ("0.08344", 834), ("0.08346", 835)])
def test_market_fee_bps(fee: str, bps: int) -> None:
    assert load_settings({"MARKET_FEE": fee}).market_fee_bps == bps


def test_market_fee_bps_is_exact_for_every_whole_basis_point() -> None:
    wrong = [b for b in range(10_000) if load_settings({"MARKET_FEE": str(Decimal(b) / 10_000)}).market_fee_bps != b]
    assert wrong == []


@pytest.mark.parametrize("fee,bps", [("0.00015", 2), ("0.00145", 15), ("0.01045", 105)])
def test_market_fee_bps_rounds_half_up(fee: str, bps: int) -> None:
    assert load_settings({"MARKET_FEE": fee}).market_fee_bps == bps
