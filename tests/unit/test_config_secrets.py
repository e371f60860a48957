"""A deployed stage reads its secrets from Secrets Manager (COINS_SECRETS_ARN), on moto.

The Lambda environment holds only the secret's ARN; ``load_settings`` fetches
the JSON once per cold start, caches it, and lets any non-empty environment
variable win over it. A secret that cannot be read, or holds something other
than known env names to strings, is a start-up error that never shows a value.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterator

import pytest

from chalicelib.core import config
from chalicelib.core.config import REQUIRED_OUTSIDE_LOCAL, SECRET_ENV_NAMES, ConfigError, load_settings

pytestmark = pytest.mark.unit

VALUES = {name: f"value-of-{name.lower()}" for name in SECRET_ENV_NAMES}


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's Secrets Manager in eu-west-2 (not the default region, on purpose), and a call counter."""
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    config.reset_settings()
    with mock_aws():
        import boto3

        client = boto3.client("secretsmanager", region_name="eu-west-2")
        calls: Dict[str, int] = {"GetSecretValue": 0}
        original = config._fetch_secret_env

        def counted(arn: str) -> Dict[str, str]:
            calls["GetSecretValue"] += 1
            return original(arn)

        monkeypatch.setattr(config, "_fetch_secret_env", counted)
        yield client, calls
    config.reset_settings()


def make_secret(client: Any, value: Any, name: str = "coinhall/dev/app") -> str:
    body = value if isinstance(value, str) else json.dumps(value)
    return client.create_secret(Name=name, SecretString=body)["ARN"]


def test_a_deployed_stage_starts_from_the_secret_alone(secrets: Any) -> None:
    client, _ = secrets
    arn = make_secret(client, VALUES)
    s = load_settings({"COINS_STAGE": "dev", "COINS_SECRETS_ARN": arn})
    assert s.secrets_arn == arn
    assert s.stripe_secret_key == VALUES["STRIPE_SECRET_KEY"]
    assert s.stripe_webhook_secret == VALUES["STRIPE_WEBHOOK_SECRET"]
    assert s.discord_bot_token == VALUES["DISCORD_BOT_TOKEN"]
    assert s.discord_application_id == VALUES["DISCORD_APPLICATION_ID"]
    assert s.redemption_webhook_secret == VALUES["REDEMPTION_WEBHOOK_SECRET"]
    assert s.minecraft_api_key == VALUES["MINECRAFT_API_KEY"]


def test_the_secret_is_fetched_once_per_cold_start(secrets: Any) -> None:
    client, calls = secrets
    arn = make_secret(client, VALUES)
    env = {"COINS_STAGE": "prod", "COINS_SECRETS_ARN": arn}
    for _ in range(3):
        load_settings(env)
    assert calls["GetSecretValue"] == 1
    config.reset_settings()  # a new container
    load_settings(env)
    assert calls["GetSecretValue"] == 2


def test_the_process_environment_is_read_through_get_settings(secrets: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, calls = secrets
    arn = make_secret(client, VALUES)
    monkeypatch.setenv("COINS_STAGE", "dev")
    monkeypatch.setenv("COINS_SECRETS_ARN", arn)
    for name in SECRET_ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    assert config.get_settings().discord_public_key == VALUES["DISCORD_PUBLIC_KEY"]
    assert config.get_settings().stripe_secret_key == VALUES["STRIPE_SECRET_KEY"]
    assert calls["GetSecretValue"] == 1


def test_a_non_empty_environment_variable_wins_over_the_secret(secrets: Any) -> None:
    client, _ = secrets
    arn = make_secret(client, VALUES)
    s = load_settings({"COINS_STAGE": "dev", "COINS_SECRETS_ARN": arn,
                       "STRIPE_WEBHOOK_SECRET": "whsec_from_env", "DISCORD_BOT_TOKEN": ""})
    assert s.stripe_webhook_secret == "whsec_from_env"
    assert s.discord_bot_token == VALUES["DISCORD_BOT_TOKEN"]  # empty means unset, as everywhere


def test_a_rotation_keeps_two_webhook_secrets_in_the_secret(secrets: Any) -> None:
    client, _ = secrets
    arn = make_secret(client, {**VALUES, "STRIPE_WEBHOOK_SECRET": "whsec_new,whsec_old"})
    s = load_settings({"COINS_STAGE": "prod", "COINS_SECRETS_ARN": arn})
    assert s.stripe_webhook_secrets == ["whsec_new", "whsec_old"]


def test_placeholders_left_empty_name_what_is_missing(secrets: Any) -> None:
    """The stack seeds the secret with empty values: the cold start says which to set."""
    client, _ = secrets
    seeded = {name: "" for name in SECRET_ENV_NAMES}
    seeded["REDEMPTION_WEBHOOK_SECRET"] = "generated-by-secrets-manager"
    arn = make_secret(client, seeded)
    with pytest.raises(ConfigError) as info:
        load_settings({"COINS_STAGE": "dev", "COINS_SECRETS_ARN": arn})
    message = str(info.value)
    for name in set(REQUIRED_OUTSIDE_LOCAL) - {"REDEMPTION_WEBHOOK_SECRET"}:
        assert name in message
    assert "REDEMPTION_WEBHOOK_SECRET" not in message


@pytest.mark.parametrize("body,expected", [
    ("not json at all", "JSON object"),
    ('["STRIPE_SECRET_KEY"]', "JSON object"),
    (json.dumps({**VALUES, "STRIPE_SECRET_KEYS": "typo"}), "unknown names: STRIPE_SECRET_KEYS"),
    (json.dumps({**VALUES, "DISCORD_APPLICATION_ID": 1234}), "must be strings: DISCORD_APPLICATION_ID"),
], ids=["not-json", "not-an-object", "unknown-name", "not-a-string"])
def test_a_malformed_secret_is_a_start_up_error_without_values(secrets: Any, body: str, expected: str) -> None:
    client, _ = secrets
    arn = make_secret(client, body)
    with pytest.raises(ConfigError) as info:
        load_settings({"COINS_STAGE": "dev", "COINS_SECRETS_ARN": arn})
    assert expected in str(info.value)
    for value in VALUES.values():
        assert value not in str(info.value)


def test_a_secret_that_cannot_be_read_is_a_start_up_error(secrets: Any) -> None:
    arn = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:coinhall/dev/missing-AbCdEf"
    with pytest.raises(ConfigError) as info:
        load_settings({"COINS_STAGE": "dev", "COINS_SECRETS_ARN": arn})
    assert "COINS_SECRETS_ARN: cannot read the secret" in str(info.value)
    # Not cached: the next cold start (or a retry) tries again.
    assert arn not in config._secrets_cache


def test_without_an_arn_nothing_is_fetched(secrets: Any) -> None:
    _, calls = secrets
    load_settings({})
    load_settings({"COINS_STAGE": "dev", **{n: "x" for n in REQUIRED_OUTSIDE_LOCAL}})
    assert calls["GetSecretValue"] == 0
