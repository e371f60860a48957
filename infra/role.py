"""The app's Lambda role: only the actions the code uses, on only this stage's resources.

Chalice would generate a policy from the code it sees (``autogen_policy``), but
it cannot see through PynamoDB or our own botocore calls; so the stack builds
the role itself and Chalice uses it (``manage_iam_role: false``).

DynamoDB actions, from reading the code (``grep -rn`` for client and model calls):

* ``GetItem``: model ``get``, ``exists``, and ``get_item``;
* ``BatchGetItem``: the ledger reads wallets and the operation record in one call;
* ``Query``: histories, indexes (holds due, leaderboards), ``count``;
* ``PutItem``, ``UpdateItem``, ``DeleteItem``: model writes, and the items of every
  ``TransactWriteItems`` (IAM authorises a transaction item by item: there is
  no TransactWriteItems action);
* ``ConditionCheckItem``: a ledger ``SideWrite`` may be a ConditionCheck element;
* ``DescribeTable``: ``/healthz`` and PynamoDB's first use of a model.

Not granted: ``Scan`` (only the operator CLI lists API keys, with the operator's
own credentials), ``BatchWriteItem`` (unused), any table administration.
"""
from __future__ import annotations

from typing import Iterable, List, Sequence

from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.tables import AppTable
from infra.work_queue import WorkQueue

DYNAMODB_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
# The app sends deferred work; Lambda's SQS event source polls with the function's role.
SQS_SEND_ACTIONS = ("sqs:SendMessage",)
SQS_CONSUME_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def add_app_role(scope: Construct, stage_name: str) -> iam.Role:
    """The role every function of the app runs as (its policy is attached by ``attach_app_policy``)."""
    return iam.Role(
        scope,
        "AppRole",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Coinhall {stage_name}: the Chalice app's functions",
    )


def app_policy_statements(
    tables: Sequence[AppTable],
    work: WorkQueue,
    secret: secretsmanager.ISecret,
    log_groups: Iterable[logs.LogGroup],
) -> List[iam.PolicyStatement]:
    """Every statement of the app's policy: named actions on named resources only."""
    table_arns: List[str] = []
    for table in tables:
        table_arns.append(table.arn)
        table_arns.extend(table.index_arns())
    return [
        iam.PolicyStatement(sid="Tables", actions=list(DYNAMODB_ACTIONS), resources=table_arns),
        iam.PolicyStatement(sid="SendWork", actions=list(SQS_SEND_ACTIONS), resources=[work.queue.queue_arn]),
        iam.PolicyStatement(sid="ConsumeWork", actions=list(SQS_CONSUME_ACTIONS), resources=[work.queue.queue_arn]),
        iam.PolicyStatement(sid="ReadSecret", actions=list(SECRET_ACTIONS), resources=[secret.secret_arn]),
        iam.PolicyStatement(sid="Logs", actions=list(LOG_ACTIONS), resources=[g.log_group_arn for g in log_groups]),
    ]


def attach_app_policy(scope: Construct, role: iam.Role, statements: Sequence[iam.PolicyStatement]) -> iam.Policy:
    """One policy on the role (the functions must depend on it: see ``stack``)."""
    return iam.Policy(
        scope, "AppPolicy", roles=[role], document=iam.PolicyDocument(statements=list(statements))
    )
