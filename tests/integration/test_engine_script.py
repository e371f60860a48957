"""The local-engine tooling (scripts/ddb_local.py) against a real DynamoDB Local."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) leaves cwd off sys.path
    sys.path.insert(0, str(ROOT))

from scripts import ddb_local  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _client(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _create_table(client: Any) -> None:
    client.create_table(
        TableName="probe",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")


def test_in_memory_engine_round_trip_and_stop() -> None:
    engine = ddb_local.start(port=ddb_local.free_port(), in_memory=True)
    with engine:
        assert engine.endpoint.startswith("http://127.0.0.1:")
        client = _client(engine.endpoint)
        _create_table(client)
        client.put_item(TableName="probe", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        item = client.get_item(TableName="probe", Key={"pk": {"S": "a"}}, ConsistentRead=True)
        assert item["Item"]["n"] == {"N": "1"}
    assert engine.process.poll() is not None, "engine process still running after stop()"


def test_db_path_data_survives_restart(tmp_path: Path) -> None:
    with ddb_local.start(db_path=tmp_path) as engine:
        client = _client(engine.endpoint)
        _create_table(client)
        client.put_item(TableName="probe", Item={"pk": {"S": "kept"}})
    assert engine.process.poll() is not None

    with ddb_local.start(db_path=tmp_path) as engine:
        got = _client(engine.endpoint).get_item(
            TableName="probe", Key={"pk": {"S": "kept"}}, ConsistentRead=True)
        assert got.get("Item") == {"pk": {"S": "kept"}}
