"""Every table, derived from the models: the one source of key schemas.

``table_specs()`` is what the local engine, the tests and the CDK stack create;
nobody writes a key schema by hand a second time.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Type

from chalicelib.db.base import CoinhallModel


def all_models() -> List[Type[CoinhallModel]]:
    from chalicelib.db.models.accounts import AccountModel
    from chalicelib.db.models.api_keys import ApiKeyModel
    from chalicelib.db.models.audit import AuditModel
    from chalicelib.db.models.economies import EconomyModel, PackModel
    from chalicelib.db.models.game_servers import GameServerModel
    from chalicelib.db.models.entries import EntryModel
    from chalicelib.db.models.operations import OperationModel
    from chalicelib.db.models.purchases import PaymentModel, PurchaseModel, StripeEventModel
    from chalicelib.db.models.content import ContentModel
    from chalicelib.db.models.courses import CourseModel
    from chalicelib.db.models.events import EventModel
    from chalicelib.db.models.entitlements import EntitlementModel
    from chalicelib.db.models.holds import HoldModel
    from chalicelib.db.models.guilds import GuildModel
    from chalicelib.db.models.players import PlayerModel
    from chalicelib.db.models.discord_interactions import InteractionModel
    from chalicelib.db.models.leaderboards import LeaderboardModel
    from chalicelib.db.models.quests import QuestionModel
    from chalicelib.db.models.job_state import JobStateModel
    from chalicelib.db.models.digests import DigestModel
    from chalicelib.db.models.user_notes import UserNoteModel
    from chalicelib.db.models.market import CounterModel, ListingModel, OrderModel, PriceHistoryModel, PriceModel, RewardModel, SaleModel, VoucherModel

    return [AccountModel, EntryModel, OperationModel, EconomyModel, PackModel, ApiKeyModel, AuditModel,
            PurchaseModel, PaymentModel, StripeEventModel, ContentModel, EntitlementModel, HoldModel,
            GuildModel, PlayerModel, InteractionModel, LeaderboardModel, QuestionModel,
            RewardModel, OrderModel, ListingModel, CounterModel, VoucherModel, SaleModel, PriceModel,
            PriceHistoryModel, JobStateModel, DigestModel, CourseModel, GameServerModel, UserNoteModel,
            EventModel]


def _hash_first(keys: List[Dict[str, str]]) -> List[Dict[str, str]]:
    # DynamoDB wants the HASH element first; PynamoDB lists them in any order.
    return sorted(({"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in keys),
                  key=lambda k: k["KeyType"] != "HASH")


def table_specs() -> List[Dict[str, Any]]:
    """CreateTable requests (without TableName prefix resolution) for every model."""
    specs = []
    for model in all_models():
        schema = model._get_schema()
        spec: Dict[str, Any] = {
            "base_name": model.Meta.base_name,
            "KeySchema": _hash_first(schema["key_schema"]),
            "AttributeDefinitions": sorted(schema["attribute_definitions"], key=lambda a: a["AttributeName"]),
            "BillingMode": "PAY_PER_REQUEST",
        }
        gsis = [
            {
                "IndexName": g["index_name"],
                "KeySchema": _hash_first(g["key_schema"]),
                "Projection": g["projection"],
            }
            for g in schema["global_secondary_indexes"]
        ]
        if gsis:
            spec["GlobalSecondaryIndexes"] = gsis
        ttl = getattr(model.Meta, "ttl_attribute", None)
        if ttl:
            spec["ttl_attribute"] = ttl
        specs.append(spec)
    return specs


def create_tables(wait: bool = True) -> List[str]:
    """Create every missing table; existing ones are left alone. Returns created names."""
    from chalicelib.db.engine import get_client, table_name

    client = get_client()
    existing = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created = []
    for spec in table_specs():
        name = table_name(spec["base_name"])
        if name in existing:
            continue
        request = {k: v for k, v in spec.items() if k not in ("base_name", "ttl_attribute")}
        try:
            client.create_table(TableName=name, **request)
        except client.exceptions.ResourceInUseException:
            continue  # created by a concurrent run
        created.append(name)
    if wait:
        for name in created:
            _wait_active(client, name)
    for spec in table_specs():
        name = table_name(spec["base_name"])
        if spec.get("ttl_attribute") and name in created:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": spec["ttl_attribute"]}
            )
    add_missing_indexes([table_name(s["base_name"]) for s in table_specs() if table_name(s["base_name"]) in existing])
    return created


def add_missing_indexes(names: List[str], timeout: float = 120) -> List[str]:
    """Add GSIs a model declares but an existing table lacks (a local data dir
    kept across upgrades); returns ``table/index`` names added. On AWS the
    infrastructure stack owns indexes; this is for DynamoDB Local."""
    from chalicelib.db.engine import get_client, table_name

    client = get_client()
    added: List[str] = []
    wanted = {table_name(s["base_name"]): s for s in table_specs()}
    for name in names:
        spec = wanted.get(name)
        if not spec or not spec.get("GlobalSecondaryIndexes"):
            continue
        table = client.describe_table(TableName=name)["Table"]
        have = {g["IndexName"] for g in table.get("GlobalSecondaryIndexes", [])}
        for gsi in spec["GlobalSecondaryIndexes"]:
            if gsi["IndexName"] in have:
                continue
            keys = {k["AttributeName"] for k in gsi["KeySchema"]}
            client.update_table(
                TableName=name,
                AttributeDefinitions=[a for a in spec["AttributeDefinitions"] if a["AttributeName"] in keys],
                GlobalSecondaryIndexUpdates=[{"Create": gsi}],
            )
            _wait_index(client, name, gsi["IndexName"], timeout)  # one index at a time, as AWS requires
            added.append(f"{name}/{gsi['IndexName']}")
    return added


def _wait_index(client: Any, table: str, index: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        gsis = client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        if any(g["IndexName"] == index and g.get("IndexStatus", "ACTIVE") == "ACTIVE" for g in gsis):
            return
        time.sleep(0.2)
    raise TimeoutError(f"index {table}/{index} did not become ACTIVE")


def _wait_active(client: Any, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE":
            return
        time.sleep(0.1)
    raise TimeoutError(f"table {name} did not become ACTIVE")


def delete_tables() -> None:
    from chalicelib.db.engine import get_client, table_name

    client = get_client()
    for spec in table_specs():
        try:
            client.delete_table(TableName=table_name(spec["base_name"]))
        except client.exceptions.ResourceNotFoundException:
            pass
