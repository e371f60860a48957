"""Faults at the DynamoDB client: one botocore ``before-call`` hook on every DynamoDB operation.

Chosen by the simulation's one seeded generator, so a seed replays its faults.
On a transaction (``TransactWriteItems``, at ``rate``):

- ``conflict``: TransactionCanceled (TransactionConflict) without sending;
- ``throttle``: ProvisionedThroughputExceeded without sending;
- ``lost``: sent for real (it commits), then answered 500, as when a response is lost:
  the caller's retry (same ClientRequestToken, or same Idempotency-Key) must find it.

On any operation, reads included (at ``rate / 4``):

- ``timeout``: a connect timeout before anything is sent (botocore's ConnectTimeoutError);
- ``crash``: the process dies right there, between whatever steps the flow had done
  and the ones it had not (``Crash``, a BaseException no handler of the app catches).
  The request is abandoned; the client sends it again, or a job must finish or undo it.

Calls made by a job's worker threads (reconciliation reads accounts in parallel) are
never faulted: which of them reaches the hook first is up to the machine.
"""
from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import Counter
from typing import Any, Iterator

from sim.simqueue import Crash


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code, self.headers, self.content = status, {}, b""


class Faults:
    KINDS = ("conflict", "throttle", "lost", "timeout", "crash")

    def __init__(self, rng: random.Random, rate: float) -> None:
        self.rng, self.rate = random.Random(rng.random()), rate
        self.injected: Counter = Counter()
        self.calls = 0
        self.operations = 0
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
        self.client.meta.events.register_first("before-call.dynamodb", self)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """No faults inside (an oracle's reads, the setup), and as before after it."""
        paused, self.paused = self.paused, True
        try:
            yield
        finally:
            self.paused = paused

    def next_operation(self, seed: float) -> None:
        """Each operation draws its faults from its own stream, seeded by the simulation's generator:
        a call more or fewer in one operation (a race left a leg on another shard) moves no later one."""
        self.rng.seed(seed)

    def uninstall(self) -> None:
        if self.client is not None:
            self.client.meta.events.unregister("before-call.dynamodb", self)

    def __call__(self, model: Any = None, params: Any = None, **_: Any) -> Any:
        # Only the simulator's own thread draws: the order in which a job's worker threads
        # reach the hook is the machine's, and a draw made there would not replay.
        if self.paused or self.rate <= 0 or threading.current_thread() is not threading.main_thread():
            return None
        self.operations += 1
        if self.rng.random() < self.rate / 4:
            kind = self.rng.choice(("timeout", "crash"))
            self.injected[kind] += 1
            if kind == "crash":
                raise Crash(f"injected: the process died before {model.name}")
            from botocore.exceptions import ConnectTimeoutError

            raise ConnectTimeoutError(endpoint_url="injected-timeout")
        if model.name != "TransactWriteItems":
            return None
        self.calls += 1
        if self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(("conflict", "throttle", "lost"))
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
