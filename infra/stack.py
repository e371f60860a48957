"""One stage's stack: tables, queue, secret, role, alarms, and the Chalice app itself.

Chalice's CDK construct (``chalice.cdk.Chalice``) runs ``chalice package`` for
the stage named like this stack's construct id (``dev`` / ``prod`` in
``.chalice/config.json``) and includes the SAM template it writes: one function
for the API, one per scheduled job (``chalicelib/runtime/jobs.py``), one consuming the
work queue. The stack then names those functions, gives each a log group with
a retention, makes them depend on the role's policy (so the SQS event source
never starts before the role may read the queue), and throttles the API stage.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.alarms import add_alarms, metrics_namespace
from infra.app_secret import add_app_secret
from infra.role import add_app_role, app_policy_statements, attach_app_policy
from infra.stages import StageSettings
from infra.tables import add_tables
from infra.work_queue import add_work_queue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API_STAGE = "api"  # api_gateway_stage of dev and prod in .chalice/config.json


class CoinhallStack(cdk.Stack):
    """The whole deployment of one stage. ``options``: optional ``public_url``, ``minecraft_api_url``, ``alarm_email``."""

    def __init__(self, scope: Construct, stage: StageSettings, options: Optional[Mapping[str, str]] = None,
                 **kwargs: Any) -> None:
        # The construct id is the Chalice stage name: the Chalice construct packages ``scope.to_string()``.
        super().__init__(scope, stage.name, stack_name=stage.stack_name,
                         description=f"Coinhall {stage.name}: coin economy on Lambda and DynamoDB", **kwargs)
        from chalice.cdk import Chalice

        options = dict(options or {})
        self.stage = stage
        self.tables = add_tables(self, stage)
        self.work = add_work_queue(self, stage)
        self.secret = add_app_secret(self, stage)
        self.role = add_app_role(self, stage.name)
        environment = {
            "COINS_STAGE": stage.name,
            "COINS_TABLE_PREFIX": stage.table_prefix,
            "COINS_REGION": self.region,
            "COINS_SECRETS_ARN": self.secret.secret_arn,
            "COINS_QUEUE_URL": self.work.queue.queue_url,
            # Also read by routes/queue_consumer.py when Chalice packages the app (the consumer's queue).
            "COINS_QUEUE_NAME": stage.queue_name,
            "COINS_METRICS_NAMESPACE": metrics_namespace(stage),
        }
        if options.get("public_url"):
            environment["COINS_PUBLIC_URL"] = options["public_url"]
        if options.get("minecraft_api_url"):
            environment["MINECRAFT_API_URL"] = options["minecraft_api_url"]
        self.chalice = Chalice(
            self,
            "App",
            source_dir=ROOT,
            stage_config={
                "manage_iam_role": False,
                "iam_role_arn": self.role.role_arn,
                "environment_variables": environment,
            },
        )
        self.functions = self._sam_functions()
        self.function_names: Dict[str, str] = {}
        log_groups = []
        for logical_id in sorted(self.functions):
            name = f"{stage.stack_name}-{logical_id}"
            self.function_names[logical_id] = name
            resource = self.chalice.get_resource(logical_id)
            resource.add_property_override("FunctionName", name)
            group = logs.LogGroup(
                self,
                f"{logical_id}Logs",
                log_group_name=f"/aws/lambda/{name}",
                retention=_retention(stage.log_retention_days),
                removal_policy=cdk.RemovalPolicy.RETAIN if stage.protect_data else cdk.RemovalPolicy.DESTROY,
            )
            resource.add_resource_dependency(group.node.default_child)  # else Lambda creates it first, without retention
            log_groups.append(group)
        policy = attach_app_policy(
            self, self.role, app_policy_statements(self.tables, self.work, self.secret, log_groups)
        )
        for logical_id in self.functions:
            self.chalice.get_resource(logical_id).add_resource_dependency(policy.node.default_child)
        self._wire_queue_consumer()
        self._throttle_api()
        self._answer_unknown_routes()
        topic = add_alarms(
            self, stage, work=self.work, api_name=self.api_name, api_stage=API_STAGE,
            function_names=self.function_names, email=options.get("alarm_email"),
        )
        self._outputs(topic.topic_arn)

    @property
    def api_name(self) -> str:
        return self.stage.stack_name

    def _sam_functions(self) -> Dict[str, Dict[str, Any]]:
        """Logical id -> properties of every function in the SAM template Chalice wrote.

        The construct keeps that template's folder in ``_sam_package_dir`` (chalice
        is pinned in requirements-dev.txt); reading it is how we learn which jobs exist.
        """
        path = os.path.join(self.chalice._sam_package_dir, "sam.json")
        with open(path) as f:
            resources = json.load(f)["Resources"]
        return {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}

    def _wire_queue_consumer(self) -> None:
        for logical_id, props in self.functions.items():
            for event_id, event in (props.get("Events") or {}).items():
                if event["Type"] != "SQS":
                    continue
                # The event names the queue by ARN text, so nothing there orders the two; the
                # function's COINS_QUEUE_URL (a Ref) already makes CloudFormation create the queue first.
                self.chalice.get_resource(logical_id).add_property_override(
                    f"Events.{event_id}.Properties.ScalingConfig.MaximumConcurrency", self.stage.queue_max_concurrency
                )

    def _throttle_api(self) -> None:
        api = self.chalice.get_resource("RestAPI")
        # One name per stage, so the API Gateway metrics (keyed by ApiName) of dev and prod never mix.
        api.add_property_override("Name", self.api_name)
        api.add_property_override("DefinitionBody.info.title", self.api_name)
        api.add_property_override("MethodSettings", [{
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": self.stage.api_rate_limit,
            "ThrottlingBurstLimit": self.stage.api_burst_limit,
        }])

    def _answer_unknown_routes(self) -> None:
        """A path no route matches: 404 ``not_found`` in our error shape, not API Gateway's 403.

        In the API's definition (not a separate GatewayResponse resource) so a
        change to it is part of the deployment Chalice's template makes.
        """
        from chalicelib.core.errors import NoRouteError

        self.chalice.get_resource("RestAPI").add_property_override(
            "DefinitionBody.x-amazon-apigateway-gateway-responses", {
                "MISSING_AUTHENTICATION_TOKEN": {
                    "statusCode": NoRouteError.status,
                    "responseParameters": {
                        "gatewayresponse.header.Content-Type": "'application/json'",
                        "gatewayresponse.header.X-Request-Id": "context.requestId",
                    },
                    # A VTL template: the body has no '$' or '#', so it is sent as written.
                    "responseTemplates": {"application/json": json.dumps(NoRouteError().to_body())},
                },
            })

    def _outputs(self, topic_arn: str) -> None:
        base = cdk.Fn.sub("https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/" + API_STAGE + "/")
        cdk.CfnOutput(self, "ApiUrl", value=base, description="The API's base URL")
        cdk.CfnOutput(self, "DiscordInteractionsUrl", value=cdk.Fn.join("", [base, "discord/interactions"]),
                      description="Discord developer portal: Interactions Endpoint URL")
        cdk.CfnOutput(self, "StripeWebhookUrl", value=cdk.Fn.join("", [base, "v1/webhooks/stripe"]),
                      description="Stripe dashboard: webhook endpoint URL")
        cdk.CfnOutput(self, "SecretArn", value=self.secret.secret_arn, description="Set the stage's secrets here")
        cdk.CfnOutput(self, "WorkQueueUrl", value=self.work.queue.queue_url)
        cdk.CfnOutput(self, "WorkDeadLetterQueueUrl", value=self.work.dead_letters.queue_url)
        cdk.CfnOutput(self, "AlarmTopicArn", value=topic_arn, description="Subscribe on-call here")


_RETENTION = {7: "ONE_WEEK", 14: "TWO_WEEKS", 30: "ONE_MONTH", 90: "THREE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR"}


def _retention(days: int) -> logs.RetentionDays:
    if days not in _RETENTION:
        raise ValueError(f"log retention must be one of {sorted(_RETENTION)} days, not {days}")
    return logs.RetentionDays[_RETENTION[days]]
