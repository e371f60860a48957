"""The SQS consumer of deferred work (AWS stages; locally a thread does this)."""
from __future__ import annotations

import os
from typing import Any

from chalice import Blueprint

bp = Blueprint(__name__)

# The queue's name is fixed at deploy time; the CDK stack creates it with a DLQ.
QUEUE_NAME = os.environ.get("COINS_QUEUE_NAME", "coinhall-work")


@bp.on_sqs_message(queue=QUEUE_NAME, batch_size=1, name="work-queue")
def consume(event: Any) -> None:
    from chalicelib.runtime.queue import consume as consume_one

    for record in event:
        attempt = (record.to_dict().get("attributes") or {}).get("ApproximateReceiveCount")
        # Raises MessageFailedError (logged once, with the traceback): SQS redelivers
        # the message, and after maxReceiveCount parks it in the DLQ.
        consume_one(record.body, attempt)
