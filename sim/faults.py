"""Faults at the DynamoDB client: a botocore ``before-call`` hook on TransactWriteItems.

Chosen by the simulation's one seeded generator, so a seed replays its faults:

- ``conflict``: TransactionCanceled (TransactionConflict) without sending;
- ``throttle``: ProvisionedThroughputExceeded without sending;
- ``lost``: sent for real (it commits), then answered 500, as when a response is lost:
  the caller's retry (same ClientRequestToken, or same Idempotency-Key) must find it.
"""
from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code, self.headers, self.content = status, {}, b""


class Faults:
    KINDS = ("conflict", "throttle", "lost")

    def __init__(self, rng: random.Random, rate: float) -> None:
        self.rng, self.rate = rng, rate
        self.injected: Counter = Counter()
        self.calls = 0
        self.paused = False
        self.client: Any = None
        self.passthrough: Any = None

    def install(self) -> None:
        import botocore.session

        from chalicelib.core.config import get_settings
        from chalicelib.db.engine import get_client

        settings = get_settings()
        self.passthrough = botocore.session.get_session().create_client(
            "dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint,
            aws_access_key_id="local", aws_secret_access_key="local")
        self.client = get_client()
        self.client.meta.events.register_first("before-call.dynamodb.TransactWriteItems", self)

    def uninstall(self) -> None:
        if self.client is not None:
            self.client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", self)

    def __call__(self, model: Any = None, params: Any = None, **_: Any) -> Any:
        if self.paused or self.rate <= 0:
            return None
        self.calls += 1
        if self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self.KINDS)
        self.injected[kind] += 1
        request = json.loads(params["body"])
        if kind == "conflict":
            reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(request["TransactItems"]) - 1)
            return _Http(400), {"Error": {"Code": "TransactionCanceledException", "Message": "injected"},
                                "CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}}
        if kind == "throttle":
            return _Http(400), {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"},
                                "ResponseMetadata": {"HTTPStatusCode": 400}}
        try:
            self.passthrough.transact_write_items(**request)
        except self.passthrough.exceptions.TransactionCanceledException:
            self.injected["lost_but_cancelled"] += 1  # it would have failed anyway: the retry sees the truth
        return _Http(500), {"Error": {"Code": "InternalServerError", "Message": "injected: response lost"},
                            "ResponseMetadata": {"HTTPStatusCode": 500}}
