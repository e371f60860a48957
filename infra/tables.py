"""Every DynamoDB table the app uses, derived from ``chalicelib.db.schema.table_specs()``.

The PynamoDB models are the one source of key schemas and indexes: this module
only adds what CloudFormation needs on top (names, on-demand billing, PITR,
TTL, deletion protection). No streams: nothing consumes a table's changes
today; a feature that needs them adds ``stream_view_type`` here with its consumer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.stages import StageSettings


@dataclass(frozen=True)
class AppTable:
    """A created table and what the role needs to know about it."""

    base_name: str
    resource: dynamodb.CfnTable
    index_names: List[str]

    @property
    def arn(self) -> str:
        return self.resource.attr_arn

    def index_arns(self) -> List[str]:
        return [f"{self.arn}/index/{name}" for name in self.index_names]


def _key_schema(keys: List[Dict[str, str]]) -> List[dynamodb.CfnTable.KeySchemaProperty]:
    return [dynamodb.CfnTable.KeySchemaProperty(attribute_name=k["AttributeName"], key_type=k["KeyType"]) for k in keys]


def _gsi(index: Dict[str, Any]) -> dynamodb.CfnTable.GlobalSecondaryIndexProperty:
    projection = index["Projection"]
    return dynamodb.CfnTable.GlobalSecondaryIndexProperty(
        index_name=index["IndexName"],
        key_schema=_key_schema(index["KeySchema"]),
        projection=dynamodb.CfnTable.ProjectionProperty(
            projection_type=projection["ProjectionType"],
            non_key_attributes=projection.get("NonKeyAttributes"),
        ),
    )


def add_tables(scope: Construct, stage: StageSettings) -> List[AppTable]:
    """One ``AWS::DynamoDB::Table`` per model, named ``<stage prefix><base_name>``."""
    from chalicelib.db.schema import table_specs

    tables = []
    for spec in table_specs():
        base = spec["base_name"]
        indexes = spec.get("GlobalSecondaryIndexes", [])
        ttl = spec.get("ttl_attribute")
        table = dynamodb.CfnTable(
            scope,
            "Table" + "".join(part.capitalize() for part in base.split("_")),
            table_name=f"{stage.table_prefix}{base}",
            key_schema=_key_schema(spec["KeySchema"]),
            attribute_definitions=[
                dynamodb.CfnTable.AttributeDefinitionProperty(
                    attribute_name=a["AttributeName"], attribute_type=a["AttributeType"]
                )
                for a in spec["AttributeDefinitions"]
            ],
            global_secondary_indexes=[_gsi(i) for i in indexes] or None,
            # On-demand: no capacity to plan, and a burst never throttles below the table's limits.
            billing_mode="PAY_PER_REQUEST",
            point_in_time_recovery_specification=dynamodb.CfnTable.PointInTimeRecoverySpecificationProperty(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_specification=(
                dynamodb.CfnTable.TimeToLiveSpecificationProperty(attribute_name=ttl, enabled=True) if ttl else None
            ),
            deletion_protection_enabled=stage.protect_data,
        )
        table.apply_removal_policy(cdk.RemovalPolicy.RETAIN if stage.protect_data else cdk.RemovalPolicy.DESTROY)
        tables.append(AppTable(base, table, [i["IndexName"] for i in indexes]))
    return tables
