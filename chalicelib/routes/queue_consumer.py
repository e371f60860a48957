"""The SQS consumer of deferred work (AWS stages; locally a thread does this)."""
from __future__ import annotations

import json
import os
from typing import Any

from chalice import Blueprint

bp = Blueprint(__name__)

# The queue's name is fixed at deploy time; the CDK stack creates it with a DLQ.
QUEUE_NAME = os.environ.get("COINS_QUEUE_NAME", "coinhall-work")


@bp.on_sqs_message(queue=QUEUE_NAME, batch_size=1, name="work-queue")
def consume(event: Any) -> None:
    from chalicelib.queue import dispatch

    for record in event:
        # Raising makes SQS redeliver, and after maxReceiveCount park it in the DLQ.
        dispatch(json.loads(record.body))
