"""Deferred work: a queue with named topics and idempotent consumers.

Work that must not run inside a request (Discord follow-ups, posts to a
channel, calls to a game server) is enqueued as ``{topic, payload,
dedupe_id, attempt}``. On AWS it goes to SQS (``COINS_QUEUE_URL``) and
``routes/queue_consumer.py`` consumes it with ``on_sqs_message``; when no queue
URL is set (the ``local`` stage and tests) an in-process worker thread consumes
it, retrying a failed message ``MAX_ATTEMPTS`` times with backoff and then
keeping it in ``failed`` (the local dead-letter queue). Either way consumers
must be idempotent by ``dedupe_id``: SQS delivers at least once.

This module is the mechanism only: which function consumes a topic is
registered by the edge (``chalicelib/wiring.py``), so a process must load that
before it enqueues or consumes. ``enqueue`` refuses a topic with no consumer.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import queue as stdlib_queue
import random
import threading
import time
from typing import Any, Callable, Dict, Optional

from chalicelib.db.engine import get_sqs_client

log = logging.getLogger("coinhall.queue")

# topic -> "module:function", filled by chalicelib/wiring.py; the consumer gets (payload: dict, dedupe_id: str).
CONSUMERS: Dict[str, str] = {}

MAX_ATTEMPTS = 5


def register(topic: str, target: str) -> None:
    """Name the consumer of ``topic``: ``target`` is ``"module:function"``, imported when a message arrives."""
    CONSUMERS[topic] = target


def _consumer(topic: str) -> Callable[[Dict[str, Any], str], None]:
    target = CONSUMERS.get(topic)
    if target is None:
        raise KeyError(f"no consumer for topic {topic!r}")
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def dispatch(message: Dict[str, Any]) -> None:
    """Run the consumer of one message (raises so the queue retries it)."""
    _consumer(message["topic"])(message["payload"], message["dedupe_id"])


class MessageFailedError(RuntimeError):
    """A queued message could not be handled; raised so the queue delivers it again (and at last dead-letters it)."""


def consume(body: Any, attempt: Any = None) -> None:
    """The last resort of both consumers (SQS's and the local worker's) for one message.

    ``body`` is the message as sent (JSON text) or already decoded. Anything
    unexpected, a body that is not one of our messages included, is logged
    once with its traceback and raised again as MessageFailedError: the message
    is never swallowed, the queue retries it and then parks it in the DLQ.
    """
    topic = "?"
    try:
        message = json.loads(body) if isinstance(body, (str, bytes)) else body
        topic = str(message.get("topic", "?"))[:100] if isinstance(message, dict) else "?"
        dispatch(message)
    except Exception as exc:
        log.exception("consumer failed for %s (attempt %s)", topic, attempt)
        raise MessageFailedError(f"message for {topic} failed: {type(exc).__name__} (logged)") from None


def enqueue(topic: str, payload: Dict[str, Any], dedupe_id: str, delay_seconds: int = 0) -> None:
    """Queue one message (SQS when ``COINS_QUEUE_URL`` is set, else the local worker).

    Raises KeyError when no consumer is registered for ``topic``.
    """
    if topic not in CONSUMERS:
        raise KeyError(f"no consumer for topic {topic!r}")
    message = {"topic": topic, "payload": payload, "dedupe_id": dedupe_id, "attempt": 1}
    url = os.environ.get("COINS_QUEUE_URL")
    if url:
        get_sqs_client().send_message(QueueUrl=url, MessageBody=json.dumps(message), DelaySeconds=min(delay_seconds, 900))
    else:
        _local().put(message, delay_seconds)


class LocalWorker:
    """One daemon thread draining an in-memory queue, with retries and backoff."""

    def __init__(self) -> None:
        self._queue: "stdlib_queue.PriorityQueue[tuple]" = stdlib_queue.PriorityQueue()
        self._pending = 0
        self._lock = threading.Condition()
        self._seq = 0
        self.failed: list = []  # messages that used up their attempts (the local DLQ)
        self._thread = threading.Thread(target=self._run, name="coinhall-local-queue", daemon=True)
        self._thread.start()

    def put(self, message: Dict[str, Any], delay_seconds: float = 0) -> None:
        with self._lock:
            self._pending += 1
            self._seq += 1
            self._queue.put((time.monotonic() + delay_seconds, self._seq, message))

    def _run(self) -> None:
        while True:
            due, seq, message = self._queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                self._queue.put((due, seq, message))
                time.sleep(min(wait, 0.05))
                continue
            attempt = message.get("attempt", 1) if isinstance(message, dict) else 1
            try:
                consume(message, attempt)
            except Exception:  # MessageFailedError, already logged: retry like SQS, then the local DLQ
                if attempt < MAX_ATTEMPTS:
                    retry = {**message, "attempt": attempt + 1}
                    self.put(retry, random.uniform(0, 0.2 * 2 ** attempt))
                else:
                    self.failed.append(message)
            with self._lock:
                self._pending -= 1
                self._lock.notify_all()

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or running; False on timeout."""
        end = time.monotonic() + timeout
        with self._lock:
            while self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True


_worker: Optional[LocalWorker] = None
_worker_lock = threading.Lock()


def _local() -> LocalWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = LocalWorker()
        return _worker


def drain(timeout: float = 10.0) -> bool:
    """Tests and the CLI: wait for the local worker to finish what it has."""
    return _local().drain(timeout)
