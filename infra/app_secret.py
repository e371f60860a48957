"""The stage's one secret: a JSON object of the env names in ``chalicelib.core.config.SECRET_ENV_NAMES``.

The stack creates it with every name present and empty, except the HMAC key
``REDEMPTION_WEBHOOK_SECRET``, which Secrets Manager generates; an operator sets
the others (README, "Setting the secrets"). The Lambda environment gets only
the ARN (``COINS_SECRETS_ARN``): the app reads the secret once per cold start.
No value ever appears in the template.
"""
from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.stages import StageSettings

GENERATED_KEY = "REDEMPTION_WEBHOOK_SECRET"


def add_app_secret(scope: Construct, stage: StageSettings) -> secretsmanager.Secret:
    """The secret ``coinhall/<stage>/app``."""
    from chalicelib.core.config import SECRET_ENV_NAMES

    template = {name: "" for name in SECRET_ENV_NAMES if name != GENERATED_KEY}
    return secretsmanager.Secret(
        scope,
        "AppSecret",
        secret_name=stage.secret_name,
        description=f"Coinhall {stage.name}: " + ", ".join(SECRET_ENV_NAMES),
        generate_secret_string=secretsmanager.SecretStringGenerator(
            secret_string_template=json.dumps(template, sort_keys=True),
            generate_string_key=GENERATED_KEY,
            exclude_punctuation=True,
            password_length=48,
        ),
        removal_policy=cdk.RemovalPolicy.RETAIN if stage.protect_data else cdk.RemovalPolicy.DESTROY,
    )
