"""Settings from the environment, validated once per cold start.

Every setting has a documented default for the ``local`` stage; anything set in
the environment wins. Secrets a deployed stage needs have no default there: a
missing one is a start-up error (``ConfigError``), never a silent fallback.
"""
from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from typing import Dict, List, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigError(RuntimeError):
    """The environment does not describe a runnable stage."""


# env name -> (field, default in the local stage). Deployed stages get no default
# for the names listed in REQUIRED_OUTSIDE_LOCAL.
_ENV = {
    "COINS_STAGE": ("stage", "local"),
    "COINS_PORT": ("port", "8000"),
    "COINS_DYNAMODB_ENDPOINT": ("dynamodb_endpoint", "http://127.0.0.1:8001"),
    "COINS_TABLE_PREFIX": ("table_prefix", "coinhall-local-"),
    "COINS_DEV_API_KEY": ("dev_api_key", "chk_local_dev_key"),
    "COINS_REGION": ("region", "us-east-1"),
    "COINS_SYSTEM_SHARDS": ("system_shards", "16"),
    "COINS_LEDGER_RETRY_SECONDS": ("ledger_retry_seconds", "20"),
    "COINS_API_KEY_CACHE_SECONDS": ("api_key_cache_seconds", "30"),
    "COINS_LOG_LEVEL": ("log_level", "INFO"),
    "COINS_METRICS_NAMESPACE": ("metrics_namespace", "Coinhall"),
    "COINS_SECRETS_ARN": ("secrets_arn", None),
    "STRIPE_SECRET_KEY": ("stripe_secret_key", None),
    "STRIPE_WEBHOOK_SECRET": ("stripe_webhook_secret", "whsec_local_dev_only"),
    "STRIPE_API_BASE": ("stripe_api_base", None),
    "COINS_PUBLIC_URL": ("public_url", None),
    "COINS_APP_URL": ("app_url", None),
    "CHECKOUT_EXPIRES_MIN": ("checkout_expires_min", "30"),
    "DISCORD_PUBLIC_KEY": ("discord_public_key", None),
    "DISCORD_APPLICATION_ID": ("discord_application_id", None),
    "DISCORD_BOT_TOKEN": ("discord_bot_token", None),
    "REDEMPTION_WEBHOOK_SECRET": ("redemption_webhook_secret", "local-redeem-secret"),
    "MINECRAFT_API_URL": ("minecraft_api_url", None),
    "MINECRAFT_API_KEY": ("minecraft_api_key", None),
    "MARKET_FEE": ("market_fee", "0.08"),
    "PRICE_FLOOR_PCT": ("price_floor_pct", "0.5"),
    "ESCROW_TIMEOUT_MIN": ("escrow_timeout_min", "60"),
    "VOUCHER_TIMEOUT_H": ("voucher_timeout_h", "72"),
    "CREATOR_SHARE_BPS": ("creator_share_bps", "7000"),
    "ESCROW_FEE_BPS": ("escrow_fee_bps", "1000"),
    "DISCORD_API_BASE": ("discord_api_base", "https://discord.com/api/v10"),
    "LEADERBOARD_CRON": ("leaderboard_cron", "rate(15 minutes)"),
    "MINECRAFT_TIMEOUT_S": ("minecraft_timeout_s", "5"),
    "MINECRAFT_MAX_ATTEMPTS": ("minecraft_max_attempts", "5"),
    "MINECRAFT_RETRY_BASE_S": ("minecraft_retry_base_s", "2"),
    "VOUCHER_CODE_SECRET": ("voucher_code_secret", None),
    "COINS_SUPPORT_REVERSE_LIMIT": ("support_reverse_limit", "1000"),
}

# Names that only make sense locally: on AWS the SDK finds DynamoDB itself and
# no key is minted at start.
_LOCAL_ONLY = {"COINS_DYNAMODB_ENDPOINT", "COINS_DEV_API_KEY"}

REQUIRED_OUTSIDE_LOCAL = (
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "DISCORD_PUBLIC_KEY",
    "DISCORD_APPLICATION_ID",
    "DISCORD_BOT_TOKEN",
    "REDEMPTION_WEBHOOK_SECRET",
)


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: Literal["local", "dev", "prod"]
    port: int = Field(ge=1, le=65535)
    dynamodb_endpoint: Optional[str]
    table_prefix: str = Field(pattern=r"^[A-Za-z0-9_.-]{0,64}$")
    dev_api_key: Optional[str]
    region: str
    system_shards: int = Field(ge=1, le=256)
    ledger_retry_seconds: float = Field(gt=0, le=60)
    api_key_cache_seconds: float = Field(ge=0, le=3600)
    # Read by chalicelib.core.observability straight from the environment (logging is
    # set up at import, before settings may be loaded); validated here.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"]
    metrics_namespace: str = Field(pattern=r"^[A-Za-z0-9_./#:-]{1,255}$")
    # Deployed stages: the Secrets Manager secret holding SECRET_ENV_NAMES (its ARN, never a value).
    secrets_arn: Optional[str]
    stripe_secret_key: Optional[str]
    stripe_webhook_secret: Optional[str]
    stripe_api_base: Optional[str]
    public_url: Optional[str]
    # Where the purchase pages' "Back to the app" link goes; unset: this API's index (``/``).
    app_url: Optional[str] = Field(pattern=r"^https?://\S+$")
    checkout_expires_min: int = Field(ge=30, le=1440)
    discord_public_key: Optional[str]
    discord_application_id: Optional[str]
    discord_bot_token: Optional[str]
    redemption_webhook_secret: Optional[str]
    minecraft_api_url: Optional[str]
    minecraft_api_key: Optional[str]
    market_fee: float = Field(ge=0, lt=1)
    price_floor_pct: float = Field(ge=0, le=1)
    escrow_timeout_min: int = Field(gt=0)
    voucher_timeout_h: int = Field(gt=0)
    # Defaults for economies that set none in their tunables (basis points).
    creator_share_bps: int = Field(ge=0, le=10_000)
    escrow_fee_bps: int = Field(ge=0, le=10_000)
    # Discord's REST API (tests and `discord send` point it at a local stand-in).
    discord_api_base: str = Field(pattern=r"^https?://\S+$")
    leaderboard_cron: str = Field(pattern=r"^(rate|cron)\(.+\)$")
    # Market fulfilment: the game-server call's timeout, tries, and the first backoff step.
    minecraft_timeout_s: float = Field(gt=0, le=60)
    minecraft_max_attempts: int = Field(ge=1, le=20)
    minecraft_retry_base_s: float = Field(ge=0, le=300)
    # Voucher codes are derived from it (HMAC); unset: from the first REDEMPTION_WEBHOOK_SECRET.
    voucher_code_secret: Optional[str]
    # Coins a SUPPORT operator may reverse in one call; above it the reversal needs ``operations.reverse_any``.
    support_reverse_limit: int = Field(ge=0, le=10**12)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @property
    def stripe_webhook_secrets(self) -> List[str]:
        """Comma-separated: during a rotation both the old and new secret verify."""
        return [s.strip() for s in (self.stripe_webhook_secret or "").split(",") if s.strip()]

    @property
    def local_payments(self) -> bool:
        """The local payment page stands in for Stripe (local stage, no secret key)."""
        return self.is_local and not self.stripe_secret_key

    @property
    def is_local(self) -> bool:
        return self.stage == "local"

    @property
    def market_fee_bps(self) -> int:
        """Rates are stored as basis points; round half up once, here (in decimal, not float)."""
        return to_bps(self.market_fee)

    @property
    def price_floor_bps(self) -> int:
        """PRICE_FLOOR_PCT (0.5) as basis points (5,000), rounded as ``market_fee_bps``."""
        return to_bps(self.price_floor_pct)

    @property
    def redemption_secrets(self) -> List[str]:
        """Comma-separated REDEMPTION_WEBHOOK_SECRET: during a rotation both verify."""
        return [s.strip() for s in (self.redemption_webhook_secret or "").split(",") if s.strip()]

    def table_name(self, base: str) -> str:
        return f"{self.table_prefix}{base}"


def to_bps(rate: float) -> int:
    """A rate such as 0.08 as basis points (800), rounded half up on its decimal digits."""
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(repr(rate)) * 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


# What a deployed stage keeps in its Secrets Manager secret (a JSON object of
# env name -> value); the CDK stack seeds the secret with exactly these keys.
SECRET_ENV_NAMES = (
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "DISCORD_PUBLIC_KEY",
    "DISCORD_APPLICATION_ID",
    "DISCORD_BOT_TOKEN",
    "REDEMPTION_WEBHOOK_SECRET",
    "MINECRAFT_API_KEY",
    "VOUCHER_CODE_SECRET",
)

_secrets_lock = threading.Lock()
_secrets_cache: Dict[str, Dict[str, str]] = {}


def secret_env(arn: str) -> Dict[str, str]:
    """The env names stored in secret ``arn``: fetched once per process (cold start), then cached.

    Raises ConfigError when the secret cannot be read or is not a JSON object of
    known env names to strings. Messages never include a value.
    """
    with _secrets_lock:
        cached = _secrets_cache.get(arn)
        if cached is None:
            cached = _fetch_secret_env(arn)
            _secrets_cache[arn] = cached
        return cached


def _fetch_secret_env(arn: str) -> Dict[str, str]:
    import botocore.exceptions
    import botocore.session

    parts = arn.split(":")
    # The secret's own region (arn:aws:secretsmanager:<region>:...), whatever the app's is.
    region = parts[3] if len(parts) >= 7 and parts[2] == "secretsmanager" else os.environ.get("AWS_REGION")
    client = botocore.session.get_session().create_client("secretsmanager", region_name=region or "us-east-1")
    try:
        raw = client.get_secret_value(SecretId=arn).get("SecretString")
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise ConfigError(f"COINS_SECRETS_ARN: cannot read the secret: {exc}") from exc
    try:
        values = json.loads(raw or "")
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise ConfigError("COINS_SECRETS_ARN: the secret must be a JSON object of env names to strings")
    unknown = sorted(k for k in values if k not in _ENV)
    if unknown:
        raise ConfigError(f"COINS_SECRETS_ARN: the secret holds unknown names: {', '.join(unknown)}")
    not_text = sorted(k for k, v in values.items() if not isinstance(v, str))
    if not_text:
        raise ConfigError(f"COINS_SECRETS_ARN: values must be strings: {', '.join(not_text)}")
    return values


def _with_secrets(env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` over the stage secret's names: a non-empty environment variable wins."""
    arn = env.get("COINS_SECRETS_ARN")
    if not arn:
        return env
    merged = dict(secret_env(arn))
    merged.update({k: v for k, v in env.items() if v != ""})
    return merged


def load_settings(environ: Optional[dict] = None) -> Settings:
    """Build settings from ``environ``; raises ConfigError naming every problem.

    With ``COINS_SECRETS_ARN`` set, the names stored in that secret fill in what
    the environment leaves unset (see ``secret_env``).
    """
    env = _with_secrets(os.environ if environ is None else environ)
    stage = env.get("COINS_STAGE") or "local"  # empty means unset, as for every variable
    local = stage == "local"
    values: dict = {}
    for name, (field, default) in _ENV.items():
        raw = env.get(name)
        if raw == "":
            raw = None
        if raw is None and (local or name not in REQUIRED_OUTSIDE_LOCAL):
            raw = default if local or name not in _LOCAL_ONLY else None
        values[field] = raw
    values["stage"] = stage
    if env.get("COINS_TABLE_PREFIX") in (None, "") and not local:
        values["table_prefix"] = f"coinhall-{stage}-"
    problems = []
    if not local:
        missing = [n for n in REQUIRED_OUTSIDE_LOCAL if not env.get(n)]
        if missing:
            problems.append(f"stage {stage!r} needs {', '.join(missing)}")
        values["dev_api_key"] = None  # never mint a god key outside local
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        for err in exc.errors():
            field = err["loc"][0] if err["loc"] else "?"
            env_name = next((n for n, (f, _) in _ENV.items() if f == field), field)
            problems.append(f"{env_name}: {err['msg']}")
        settings = None
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``reset_settings``)."""
    return load_settings()


def reset_settings() -> None:
    get_settings.cache_clear()
    with _secrets_lock:
        _secrets_cache.clear()


def env_defaults() -> dict:
    """Env name -> local default, for the README and the CLI's ``config`` command."""
    return {name: default for name, (_, default) in _ENV.items()}


def check_at_cold_start() -> None:
    """Fail the cold start (not the first request) when a stage lacks a secret.

    Skipped when the app is only imported to be packaged (``chalice deploy``
    loads app.py on the deployer's machine, where the secrets are not).
    """
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or (os.environ.get("COINS_STAGE") or "local") == "local":
        get_settings()
