"""The synthesized stacks hold what the code needs: tables, queue, schedules, throttling, alarms.

Every expectation is derived from the code's own registries (``table_specs()``,
``chalicelib.runtime.jobs.JOBS``, ``routes/queue_consumer.py``), so a new table, job or
index shows up here without anyone editing a test.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest
from aws_cdk.assertions import Match, Template

from chalicelib.db.schema import table_specs
from chalicelib.runtime.jobs import JOBS
from infra.alarms import reconcile_jobs
from infra.stages import STAGES
from infra.work_queue import CONSUMER_TIMEOUT_S, MAX_RECEIVES

pytestmark = pytest.mark.infra


def _tables_by_name(synth: Any) -> Dict[str, Dict[str, Any]]:
    return {t["Properties"]["TableName"]: t for t in synth.resources("AWS::DynamoDB::Table").values()}


def _gsis(props: Dict[str, Any]) -> List[Dict[str, Any]]:
    return sorted(props.get("GlobalSecondaryIndexes", []), key=lambda g: g["IndexName"])


def test_every_table_and_index_equals_its_model(synth: Any) -> None:
    stage = STAGES[synth.stage]
    tables = _tables_by_name(synth)
    specs = table_specs()
    assert sorted(tables) == sorted(stage.table_prefix + s["base_name"] for s in specs)
    template = Template.from_json(synth.template)
    for spec in specs:
        props = tables[stage.table_prefix + spec["base_name"]]["Properties"]
        assert props["KeySchema"] == spec["KeySchema"], spec["base_name"]
        assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == spec["AttributeDefinitions"]
        assert _gsis(props) == sorted(spec.get("GlobalSecondaryIndexes", []), key=lambda g: g["IndexName"])
        assert "LocalSecondaryIndexes" not in props
        template.has_resource_properties("AWS::DynamoDB::Table", {
            "TableName": stage.table_prefix + spec["base_name"],
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": spec["KeySchema"],
        })


def test_point_in_time_recovery_is_on_everywhere(synth: Any) -> None:
    for name, table in _tables_by_name(synth).items():
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, name


def test_ttl_exactly_where_a_model_expires_records(synth: Any) -> None:
    stage = STAGES[synth.stage]
    tables = _tables_by_name(synth)
    expiring = [s for s in table_specs() if s.get("ttl_attribute")]
    assert expiring, "stripe_events and discord_interactions expire records"
    for spec in table_specs():
        props = tables[stage.table_prefix + spec["base_name"]]["Properties"]
        if spec.get("ttl_attribute"):
            assert props["TimeToLiveSpecification"] == {"AttributeName": spec["ttl_attribute"], "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in props, spec["base_name"]


def test_no_streams_since_nothing_consumes_them(synth: Any) -> None:
    for name, table in _tables_by_name(synth).items():
        assert "StreamSpecification" not in table["Properties"], name
    assert not synth.resources("AWS::Lambda::EventSourceMapping")
    for props in synth.functions().values():
        assert all(e["Type"] != "DynamoDB" for e in (props.get("Events") or {}).values())


def test_prod_keeps_its_data_and_dev_can_be_torn_down(synthesized: Dict[str, Any]) -> None:
    prod, dev = synthesized["prod"], synthesized["dev"]
    for table in prod.resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is True
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    for kind in ("AWS::SecretsManager::Secret", "AWS::SQS::Queue", "AWS::Logs::LogGroup"):
        for resource in prod.resources(kind).values():
            assert resource["DeletionPolicy"] == "Retain", kind
    for table in dev.resources("AWS::DynamoDB::Table").values():
        assert table["Properties"]["DeletionProtectionEnabled"] is False
        assert table["DeletionPolicy"] == "Delete"


def test_the_work_queue_has_a_dead_letter_queue(synth: Any) -> None:
    stage = STAGES[synth.stage]
    queues = {q["Properties"]["QueueName"]: (k, q["Properties"]) for k, q in synth.resources("AWS::SQS::Queue").items()}
    assert sorted(queues) == [stage.queue_name, f"{stage.queue_name}-dlq"]
    dlq_id, dlq = queues[f"{stage.queue_name}-dlq"]
    _, work = queues[stage.queue_name]
    assert work["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                                     "maxReceiveCount": MAX_RECEIVES}
    assert "RedrivePolicy" not in dlq
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    # Lambda's SQS event source wants a visibility timeout of at least 6x the function timeout.
    assert work["VisibilityTimeout"] >= 6 * CONSUMER_TIMEOUT_S
    Template.from_json(synth.template).has_resource_properties("AWS::SQS::Queue", {
        "QueueName": stage.queue_name,
        "RedrivePolicy": {"deadLetterTargetArn": Match.any_value(), "maxReceiveCount": MAX_RECEIVES},
    })


def test_the_consumer_reads_that_queue_and_the_app_sends_to_it(synth: Any) -> None:
    stage = STAGES[synth.stage]
    work_id = next(k for k, q in synth.resources("AWS::SQS::Queue").items()
                   if q["Properties"]["QueueName"] == stage.queue_name)
    consumers = []
    for name, props in synth.functions().items():
        for event in (props.get("Events") or {}).values():
            if event["Type"] == "SQS":
                consumers.append((name, props, event["Properties"]))
    assert len(consumers) == 1
    _, props, source = consumers[0]
    assert props["Handler"] == "chalicelib.routes.queue_consumer.consume"
    assert source["Queue"]["Fn::Sub"].endswith(f":{stage.queue_name}")
    assert source["BatchSize"] == 1
    assert source["ScalingConfig"] == {"MaximumConcurrency": stage.queue_max_concurrency}
    assert props["Timeout"] <= CONSUMER_TIMEOUT_S
    for name, props in synth.functions().items():
        assert props["Environment"]["Variables"]["COINS_QUEUE_URL"] == {"Ref": work_id}, name


def test_every_registered_job_has_its_schedule(synth: Any) -> None:
    assert {"expire-holds", "release-escrows"} <= set(JOBS)
    schedules = {}
    for props in synth.functions().values():
        for event in (props.get("Events") or {}).values():
            if event["Type"] == "Schedule":
                schedules[props["Handler"]] = event["Properties"]["Schedule"]
    expected = {"chalicelib.routes.schedules.job_" + name.replace("-", "_"): spec.schedule for name, spec in JOBS.items()}
    assert schedules == expected


def test_functions_run_as_the_stacks_role_with_their_own_log_groups(synth: Any) -> None:
    stage = STAGES[synth.stage]
    role = synth.one("AWS::IAM::Role")
    groups = {g["Properties"]["LogGroupName"]: (k, g) for k, g in synth.resources("AWS::Logs::LogGroup").items()}
    for logical_id, props in synth.functions().items():
        assert props["Role"] == {"Fn::GetAtt": [role["id"], "Arn"]}
        assert props["FunctionName"] == f"{stage.stack_name}-{logical_id}"
        group_id, group = groups[f"/aws/lambda/{props['FunctionName']}"]
        assert group["Properties"]["RetentionInDays"] == stage.log_retention_days
        # Created before the function (else Lambda makes it, unretained) and the policy before it too.
        depends = synth.template["Resources"][logical_id]["DependsOn"]
        assert group_id in depends
        assert synth.one("AWS::IAM::Policy")["id"] in depends
    assert len(groups) == len(synth.functions())


def test_the_api_stage_is_throttled_and_named_per_stage(synth: Any) -> None:
    stage = STAGES[synth.stage]
    Template.from_json(synth.template).has_resource_properties("AWS::Serverless::Api", {
        "Name": stage.stack_name,
        "StageName": "api",
        "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "ThrottlingRateLimit": stage.api_rate_limit,
                            "ThrottlingBurstLimit": stage.api_burst_limit}],
    })
    assert stage.api_burst_limit >= stage.api_rate_limit > 0


def test_an_unknown_route_answers_404_not_found_in_our_error_shape(synth: Any) -> None:
    from chalicelib.core.errors import NoRouteError

    api = synth.one("AWS::Serverless::Api")["Properties"]
    response = api["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert response["statusCode"] == 404
    assert response["responseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
    body = json.loads(response["responseTemplates"]["application/json"])
    assert body == {"error": {"code": "not_found", "message": NoRouteError.message, "details": {}}}
    # The same bytes as scripts/local_api.py sends for an unknown path (no VTL syntax to evaluate).
    assert not set("$#") & set(response["responseTemplates"]["application/json"])


def _alarms(synth: Any) -> Dict[str, Dict[str, Any]]:
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in synth.resources("AWS::CloudWatch::Alarm").values()}


def test_alarms_cover_dlq_5xx_lambda_errors_and_reconciliation(synth: Any) -> None:
    stage = STAGES[synth.stage]
    alarms = _alarms(synth)
    topic = synth.one("AWS::SNS::Topic")
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic["id"]}]
        assert props["TreatMissingData"] == "notBreaching"
    dlq_id = next(k for k, q in synth.resources("AWS::SQS::Queue").items()
                  if q["Properties"]["QueueName"].endswith("-dlq"))
    dlq = alarms[f"{stage.stack_name}-WorkDeadLetters"]
    assert (dlq["Namespace"], dlq["MetricName"], dlq["Threshold"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", 0)
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    api = alarms[f"{stage.stack_name}-Api5xxRate"]
    assert (api["Namespace"], api["MetricName"], api["Statistic"]) == ("AWS/ApiGateway", "5XXError", "Average")
    assert api["Dimensions"] == [{"Name": "ApiName", "Value": stage.stack_name}, {"Name": "Stage", "Value": "api"}]
    assert api["Threshold"] == stage.api_5xx_rate
    for logical_id, props in synth.functions().items():
        errors = alarms[f"{stage.stack_name}-{logical_id}Errors"]
        assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
        assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": props["FunctionName"]}]
    # job_scope's EMF metric, in the namespace the functions are given.
    jobs = reconcile_jobs()
    for job in jobs:
        reconcile = alarms[f"{stage.stack_name}-{''.join(p.capitalize() for p in job.split('-'))}Discrepancies"]
        assert (reconcile["Namespace"], reconcile["MetricName"]) == (f"Coinhall/{stage.name}", "Discrepancies")
        assert reconcile["Dimensions"] == [{"Name": "Job", "Value": job}]
    for props in synth.functions().values():
        assert props["Environment"]["Variables"]["COINS_METRICS_NAMESPACE"] == f"Coinhall/{stage.name}"
    assert len(alarms) == 2 + len(synth.functions()) + len(jobs)


def test_outputs_name_the_urls_an_operator_registers(synth: Any) -> None:
    outputs = synth.template["Outputs"]
    for name in ("ApiUrl", "DiscordInteractionsUrl", "StripeWebhookUrl", "SecretArn", "WorkDeadLetterQueueUrl",
                 "AlarmTopicArn"):
        assert name in outputs
    assert outputs["DiscordInteractionsUrl"]["Value"]["Fn::Join"][1][1] == "discord/interactions"
    assert outputs["StripeWebhookUrl"]["Value"]["Fn::Join"][1][1] == "v1/webhooks/stripe"


def test_every_function_handler_resolves_the_way_lambda_imports_it(synth: Any) -> None:
    """Lambda imports only the handler's module (not app.py) and looks the name up on it."""
    import subprocess
    import sys
    from pathlib import Path

    handlers = sorted({props["Handler"] for props in synth.functions().values()})
    probe = (
        "import importlib, sys\n"
        "missing = []\n"
        "for handler in sys.argv[1:]:\n"
        "    module, _, name = handler.rpartition('.')\n"
        "    if not callable(getattr(importlib.import_module(module), name, None)):\n"
        "        missing.append(handler)\n"
        "print(' '.join(missing))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, *handlers], cwd=str(Path(__file__).resolve().parents[2]),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "", f"handlers Lambda would not find: {done.stdout.strip()}"
