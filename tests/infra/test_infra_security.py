"""Least privilege and secrets in the synthesized stacks.

No IAM statement allows a ``*`` action, none allows a ``*`` resource on
DynamoDB, and the app's role reaches exactly this stage's tables, indexes,
queue, secret and log groups. Functions get the secret's ARN, never a value.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from aws_cdk.assertions import Match, Template

from chalicelib.core.config import SECRET_ENV_NAMES
from chalicelib.db.schema import table_specs
from infra.role import DYNAMODB_ACTIONS
from infra.stages import STAGES

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]


def _documents(value: Any, where: str = "") -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Every policy document anywhere in the template (roles, policies, resource policies)."""
    if isinstance(value, dict):
        if "Statement" in value and isinstance(value["Statement"], list):
            yield where, value
        for k, v in value.items():
            yield from _documents(v, f"{where}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _documents(v, f"{where}/{i}")


def _allows(template: Dict[str, Any]) -> List[Tuple[str, Dict[str, Any]]]:
    found = []
    for where, doc in _documents(template["Resources"]):
        for statement in doc["Statement"]:
            if statement.get("Effect") == "Allow":
                found.append((where, statement))
    return found


def _listed(value: Any) -> List[Any]:
    return value if isinstance(value, list) else [value]


def test_no_statement_allows_a_wildcard_action(synth: Any) -> None:
    statements = _allows(synth.template)
    assert statements, "the role's policy and the Lambda assume-role policy at least"
    for where, statement in statements:
        for action in _listed(statement.get("Action", [])):
            assert "*" not in action, f"{where}: {action}"
        assert "NotAction" not in statement, where


def test_no_statement_allows_a_wildcard_resource_on_dynamodb(synth: Any) -> None:
    for where, statement in _allows(synth.template):
        actions = _listed(statement.get("Action", []))
        if not any(str(a).startswith("dynamodb:") for a in actions):
            continue
        assert "NotResource" not in statement, where
        for resource in _listed(statement["Resource"]):
            assert resource != "*" and "*" not in json.dumps(resource), f"{where}: {resource}"


def test_the_role_reaches_exactly_its_own_tables_and_indexes(synth: Any) -> None:
    policy = synth.one("AWS::IAM::Policy")
    role = synth.one("AWS::IAM::Role")
    assert policy["Properties"]["Roles"] == [{"Ref": role["id"]}]
    assert "Policies" not in role["Properties"] and "ManagedPolicyArns" not in role["Properties"]
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    tables = statements["Tables"]
    assert sorted(tables["Action"]) == sorted(DYNAMODB_ACTIONS)
    assert "dynamodb:Scan" not in tables["Action"] and "dynamodb:BatchWriteItem" not in tables["Action"]
    ids = {t["Properties"]["TableName"]: k for k, t in synth.resources("AWS::DynamoDB::Table").items()}
    prefix = STAGES[synth.stage].table_prefix
    expected = []
    for spec in table_specs():
        arn = {"Fn::GetAtt": [ids[prefix + spec["base_name"]], "Arn"]}
        expected.append(arn)
        for index in spec.get("GlobalSecondaryIndexes", []):
            expected.append({"Fn::Join": ["", [arn, f"/index/{index['IndexName']}"]]})
    key = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert sorted(tables["Resource"], key=key) == sorted(expected, key=key)


def test_the_role_reaches_only_its_queue_secret_and_logs(synth: Any) -> None:
    policy = synth.one("AWS::IAM::Policy")
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert sorted(statements) == ["ConsumeWork", "Logs", "ReadSecret", "SendWork", "Tables"]
    stage = STAGES[synth.stage]
    work_id = next(k for k, q in synth.resources("AWS::SQS::Queue").items()
                   if q["Properties"]["QueueName"] == stage.queue_name)
    for sid in ("SendWork", "ConsumeWork"):
        assert statements[sid]["Resource"] == {"Fn::GetAtt": [work_id, "Arn"]}
    assert statements["SendWork"]["Action"] == "sqs:SendMessage"
    assert sorted(statements["ConsumeWork"]["Action"]) == ["sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                                          "sqs:ReceiveMessage"]
    secret = synth.one("AWS::SecretsManager::Secret")
    assert statements["ReadSecret"] == {"Sid": "ReadSecret", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                                        "Resource": {"Ref": secret["id"]}}
    log_arns = sorted(json.dumps(r) for r in statements["Logs"]["Resource"])
    assert log_arns == sorted(json.dumps({"Fn::GetAtt": [k, "Arn"]}) for k in synth.resources("AWS::Logs::LogGroup"))
    assert sorted(statements["Logs"]["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]


def test_functions_get_the_secret_arn_and_no_secret_value(synth: Any) -> None:
    secret = synth.one("AWS::SecretsManager::Secret")
    template = Template.from_json(synth.template)
    template.all_resources_properties("AWS::Serverless::Function", {
        "Environment": {"Variables": Match.object_like({"COINS_SECRETS_ARN": {"Ref": secret["id"]}})},
    })
    for name, props in synth.functions().items():
        variables = props["Environment"]["Variables"]
        for secret_name in SECRET_ENV_NAMES:
            assert secret_name not in variables, f"{name} has {secret_name} in its environment"
        for var, value in variables.items():
            # Plain strings are settings (stage, prefix, queue name); anything else is a reference.
            assert isinstance(value, (str, dict)), var
            if isinstance(value, str):
                assert var in {"COINS_STAGE", "COINS_TABLE_PREFIX", "COINS_QUEUE_NAME", "COINS_METRICS_NAMESPACE",
                               "COINS_PUBLIC_URL",
                               "MINECRAFT_API_URL", "LEADERBOARD_CRON"}, f"{name}: unexpected literal {var}"


def test_the_secret_is_seeded_with_names_and_no_values(synth: Any) -> None:
    stage = STAGES[synth.stage]
    secret = synth.one("AWS::SecretsManager::Secret")["Properties"]
    assert secret["Name"] == stage.secret_name
    assert "SecretString" not in secret  # a value in the template would be readable by anyone with the template
    generate = secret["GenerateSecretString"]
    template = json.loads(generate["SecretStringTemplate"])
    assert set(template) | {generate["GenerateStringKey"]} == set(SECRET_ENV_NAMES)
    assert all(v == "" for v in template.values())
    assert generate["GenerateStringKey"] == "REDEMPTION_WEBHOOK_SECRET"  # an HMAC key AWS generates


def test_nothing_secret_in_the_chalice_config() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    blobs = [config.get("environment_variables", {})]
    for stage in config["stages"].values():
        blobs.append(stage.get("environment_variables", {}))
        for function in stage.get("lambda_functions", {}).values():
            blobs.append(function.get("environment_variables", {}))
    for env in blobs:
        assert not set(env) & set(SECRET_ENV_NAMES), env


def test_synthesized_text_holds_no_secret_like_value(synth: Any) -> None:
    text = json.dumps(synth.template)
    for marker in ("sk_live_", "sk_test_", "whsec_", "rk_live_"):
        assert marker not in text
