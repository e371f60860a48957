"""The export/restore tool's raw table access: items copied exactly as DynamoDB stores them.

Backup is the one operations module that must see the wire format (an export
holds DynamoDB's typed JSON, so a restore writes back byte-for-byte what was
read), so its reads and writes live here, apart from ``store.py``'s typed
records: Query/Get/filtered parallel Scan pages, BatchGet through
``db.ops.batch_get_raw`` (it retries unprocessed keys), the tables' key
schema, and the put-if-absent a restore makes.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterator, List, Optional

from chalicelib.db import ops
from chalicelib.db.engine import get_client, table_name
from chalicelib.db.schema import all_models, create_tables

__all__ = ["Item", "all_models", "batch_get", "create_tables", "filtered_scan", "get_item", "get_key", "put_new",
           "query_hash", "query_index", "table_name"]

SCAN_SEGMENTS = 4

Item = Dict[str, Any]  # one item in DynamoDB's typed wire format


def _pages(method: str, **kwargs: Any) -> Iterator[Item]:
    client = get_client()
    call = getattr(client, method)
    while True:
        page = call(**kwargs)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def query_hash(table: str, attr: str, value: str) -> Iterator[Item]:
    return _pages("query", TableName=table_name(table), KeyConditionExpression="#k = :v",
                  ExpressionAttributeNames={"#k": attr}, ExpressionAttributeValues={":v": {"S": value}},
                  ConsistentRead=True)


def get_key(table: str, attr: str, value: str) -> Iterator[Item]:
    response = get_client().get_item(TableName=table_name(table), Key={attr: {"S": value}}, ConsistentRead=True)
    if "Item" in response:
        yield response["Item"]


def filtered_scan(table: str, condition: str, names: Dict[str, str], values: Dict[str, Any]) -> Iterator[Item]:
    """A parallel Scan with a filter (operator tool: costs the whole table's reads)."""
    def segment(n: int) -> List[Item]:
        kwargs: Dict[str, Any] = {"TableName": table_name(table), "FilterExpression": condition,
                                  "ExpressionAttributeNames": names, "Segment": n,
                                  "TotalSegments": SCAN_SEGMENTS, "ConsistentRead": True}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        return list(_pages("scan", **kwargs))

    with ThreadPoolExecutor(SCAN_SEGMENTS) as pool:
        for items in pool.map(segment, range(SCAN_SEGMENTS)):
            yield from items


def query_index(table: str, index: str, attr: str, value: str) -> Iterator[Item]:
    """Every item of ``index`` whose hash key ``attr`` is ``value`` (an index: eventually consistent)."""
    return _pages("query", TableName=table_name(table), IndexName=index, KeyConditionExpression="#k = :v",
                  ExpressionAttributeNames={"#k": attr}, ExpressionAttributeValues={":v": {"S": value}})


def batch_get(table: str, keys: List[Item]) -> List[Item]:
    """The raw items under ``keys`` (wire format, at most 100), consistent; retries unprocessed keys.

    Raises UnavailableError when DynamoDB keeps leaving keys unprocessed.
    """
    return ops.batch_get_raw({table: keys}).get(table, []) if keys else []


def get_item(table: str, key: Item) -> Optional[Item]:
    """The raw item under ``key`` (wire format), consistent, or None."""
    return get_client().get_item(TableName=table_name(table), Key=key, ConsistentRead=True).get("Item")


def put_new(table: str, item: Item, key_attr: str) -> bool:
    """Write the raw ``item`` unless its key exists; False when it does (never overwrites)."""
    client = get_client()
    try:
        client.put_item(TableName=table_name(table), Item=item, ConditionExpression="attribute_not_exists(#k)",
                        ExpressionAttributeNames={"#k": key_attr})
        return True
    except client.exceptions.ConditionalCheckFailedException:
        return False
