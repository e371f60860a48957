"""CloudWatch alarms of a stage, all sent to one SNS topic.

* the work DLQ holds anything (a message failed ``MAX_RECEIVES`` times);
* the API answers 5xx to more than the stage's share of requests;
* any function reports Lambda ``Errors`` (an unhandled exception or a timeout);
* the reconciliation job found a discrepancy: ``chalicelib.core.observability.job_scope``
  emits ``Discrepancies`` (dimension ``Job``) in CloudWatch EMF, in the stage's
  namespace ``metrics_namespace(stage)`` (the stack sets ``COINS_METRICS_NAMESPACE``).
"""
from __future__ import annotations

from typing import List, Mapping, Optional

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.stages import StageSettings
from infra.work_queue import WorkQueue

# What job_scope emits for a job whose report counts discrepancies.
DISCREPANCY_METRIC = "Discrepancies"
# The reconciliation job's name when none is registered yet (chalicelib/wiring.py).
DEFAULT_RECONCILE_JOB = "reconcile"


def metrics_namespace(stage: StageSettings) -> str:
    """One namespace per stage, so dev and prod metrics never mix in one account."""
    return f"Coinhall/{stage.name}"


def reconcile_jobs() -> List[str]:
    """The registered jobs that reconcile the ledger (by name), or the default name."""
    import chalicelib.wiring  # noqa: F401 (fills JOBS)
    from chalicelib.runtime.jobs import JOBS

    return sorted(n for n in JOBS if n.startswith("reconcil")) or [DEFAULT_RECONCILE_JOB]

FIVE_MINUTES = cdk.Duration.minutes(5)


def add_alarms(
    scope: Construct,
    stage: StageSettings,
    *,
    work: WorkQueue,
    api_name: str,
    api_stage: str,
    function_names: Mapping[str, str],
    email: Optional[str] = None,
) -> sns.Topic:
    """The alarm topic (with an e-mail subscription when ``email`` is given) and every alarm."""
    topic = sns.Topic(scope, "AlarmTopic", topic_name=f"{stage.stack_name}-alarms")
    if email:
        topic.add_subscription(subscriptions.EmailSubscription(email))
    notify = actions.SnsAction(topic)

    def alarm(alarm_id: str, description: str, metric: cloudwatch.IMetric, threshold: float,
              comparison: cloudwatch.ComparisonOperator) -> None:
        created = cloudwatch.Alarm(
            scope,
            f"Alarm{alarm_id}",
            alarm_name=f"{stage.stack_name}-{alarm_id}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            # No data means nothing happened: no messages, no requests, no discrepancy.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        created.add_alarm_action(notify)

    above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
    alarm(
        "WorkDeadLetters",
        "Deferred work failed 5 times and waits in the DLQ (runbook: webhook backlog / DLQ).",
        work.dead_letters.metric_approximate_number_of_messages_visible(period=FIVE_MINUTES, statistic="Maximum"),
        0,
        above,
    )
    alarm(
        "Api5xxRate",
        f"More than {stage.api_5xx_rate:.0%} of API requests answered 5xx over 5 minutes.",
        # 5XXError is 0 or 1 per request, so its average is the 5xx rate.
        cloudwatch.Metric(namespace="AWS/ApiGateway", metric_name="5XXError",
                          dimensions_map={"ApiName": api_name, "Stage": api_stage},
                          statistic="Average", period=FIVE_MINUTES),
        stage.api_5xx_rate,
        above,
    )
    for logical_id, function_name in sorted(function_names.items()):
        alarm(
            f"{logical_id}Errors",
            f"{function_name} raised or timed out (Lambda Errors > 0 in 5 minutes).",
            cloudwatch.Metric(namespace="AWS/Lambda", metric_name="Errors",
                              dimensions_map={"FunctionName": function_name}, statistic="Sum", period=FIVE_MINUTES),
            0,
            above,
        )
    for job in reconcile_jobs():
        suffix = "".join(part.capitalize() for part in job.split("-"))
        alarm(
            f"{suffix}Discrepancies",
            f"Job {job} found ledger discrepancies (runbook: reconciliation alert).",
            cloudwatch.Metric(namespace=metrics_namespace(stage), metric_name=DISCREPANCY_METRIC,
                              dimensions_map={"Job": job}, statistic="Maximum", period=cdk.Duration.minutes(15)),
            0,
            above,
        )
    return topic
