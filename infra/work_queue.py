"""The queue behind deferred work (Discord follow-ups, calls to game servers) and its DLQ.

``chalicelib/runtime/queue.py`` sends to ``COINS_QUEUE_URL``; ``routes/queue_consumer.py``
consumes the queue named ``COINS_QUEUE_NAME`` one message at a time. A message
that fails ``MAX_RECEIVES`` times moves to the dead-letter queue, which alarms.
"""
from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.stages import StageSettings

# chalicelib.runtime.queue retries 5 times locally; SQS does the same on AWS.
MAX_RECEIVES = 5
# The consumer's Lambda timeout (.chalice/config.json); AWS asks for a visibility timeout of 6x it.
CONSUMER_TIMEOUT_S = 30


@dataclass(frozen=True)
class WorkQueue:
    queue: sqs.Queue
    dead_letters: sqs.Queue


def add_work_queue(scope: Construct, stage: StageSettings) -> WorkQueue:
    """The work queue ``coinhall-<stage>-work`` and ``coinhall-<stage>-work-dlq``."""
    removal = cdk.RemovalPolicy.RETAIN if stage.protect_data else cdk.RemovalPolicy.DESTROY
    dead_letters = sqs.Queue(
        scope,
        "WorkDeadLetters",
        queue_name=f"{stage.queue_name}-dlq",
        retention_period=cdk.Duration.days(14),  # the most SQS keeps: time to look and redrive
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        removal_policy=removal,
    )
    queue = sqs.Queue(
        scope,
        "WorkQueue",
        queue_name=stage.queue_name,
        visibility_timeout=cdk.Duration.seconds(6 * CONSUMER_TIMEOUT_S),
        # A Discord interaction token lives 15 minutes; work older than a day is not worth doing late.
        retention_period=cdk.Duration.days(1),
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=MAX_RECEIVES),
        removal_policy=removal,
    )
    return WorkQueue(queue, dead_letters)
