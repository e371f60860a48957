"""JSON logs with a correlation id on every line, and metrics in CloudWatch EMF.

Logs: ``configure_logging()`` makes every ``coinhall.*`` and ``chalicelib.*``
record one JSON object per line (``ts``, ``level``, ``logger``, ``message``,
``request_id`` or ``job_id``, the record's ``extra`` fields, ``exception``).
The id comes from a context variable that the HTTP middleware
(``http_context``) and ``job_scope`` set; on Lambda a line logged outside both
(a queue consumer) falls back to the invocation's ``aws_request_id``.

Metrics: ``emit_metrics`` prints one CloudWatch Embedded Metric Format document
(a JSON line with an ``_aws`` block). On Lambda stdout goes to CloudWatch Logs,
which extracts the metrics with no API call and no extra dependency; elsewhere
the line goes to stderr so that a CLI's JSON answer on stdout stays clean.

Hand-written rather than Powertools: two small classes cost nothing at
``import app`` and add no runtime dependency to the Lambda bundle.
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import time
import traceback
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

NAMESPACE_ENV = "COINS_METRICS_NAMESPACE"
LEVEL_ENV = "COINS_LOG_LEVEL"
_OUR_LOGGERS = ("coinhall", "chalicelib")

# ("request_id" | "job_id", value) of what this thread/task is doing now.
_correlation: contextvars.ContextVar[Optional[Tuple[str, str]]] = contextvars.ContextVar(
    "coinhall_correlation", default=None
)

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "aws_request_id"}


def current_id() -> Optional[Tuple[str, str]]:
    """The (kind, id) this thread is working under, if any."""
    return _correlation.get()


@contextmanager
def correlation(kind: str, value: str) -> Iterator[str]:
    """Tag every log line inside the block with ``kind`` (request_id | job_id) = ``value``."""
    token = _correlation.set((kind, value))
    try:
        yield value
    finally:
        _correlation.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises on an odd ``extra`` value."""

    def format(self, record: logging.LogRecord) -> str:
        doc: Dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        tagged = _correlation.get()
        if tagged is not None:
            doc[tagged[0]] = tagged[1]
        elif getattr(record, "aws_request_id", None):
            doc["request_id"] = record.aws_request_id  # set by the Lambda runtime's log filter
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        return json.dumps(doc, default=str, separators=(",", ":"))


class _JsonHandler(logging.StreamHandler):
    """The handler we install: writes to ``sys.stdout``/``sys.stderr`` as they are *now*.

    Looked up at each write, not kept: test runners and tools swap those
    streams (and close the swapped ones) after the handler was made.
    """

    def __init__(self, target: Any) -> None:
        logging.Handler.__init__(self)
        self.target = target

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return getattr(sys, self.target) if isinstance(self.target, str) else self.target

    @stream.setter
    def stream(self, value: Any) -> None:
        self.target = value


def configure_logging(stream: Any = "stdout", level: Optional[str] = None) -> None:
    """Route our loggers as JSON lines to ``stream`` ("stdout", "stderr" or a file); idempotent.

    Chalice gives the app's logger (``coinhall``) a plain-text handler at level
    ERROR and stops it propagating; that handler is removed and the logger
    propagates again, so every line comes out once, as JSON, at
    ``COINS_LOG_LEVEL`` (default INFO). On Lambda the runtime's own root handler
    is given the JSON formatter instead of adding a second handler.
    """
    wanted = (level or os.environ.get(LEVEL_ENV) or "INFO").upper()
    root = logging.getLogger()
    formatter = JsonFormatter()
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and root.handlers:
        for handler in root.handlers:
            handler.setFormatter(formatter)
    else:
        ours = [h for h in root.handlers if isinstance(h, _JsonHandler)]
        if ours:
            ours[0].target = stream  # configured again (the CLI after the app): the latest target wins
        else:
            handler = _JsonHandler(stream)
            handler.setFormatter(formatter)
            root.addHandler(handler)
    for name in _OUR_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, _JsonHandler):
                logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(wanted)


def http_context(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice HTTP middleware: a request id for every log line of the request.

    API Gateway's own id when there is one (it is also in its access logs),
    else a fresh one; echoed as ``X-Request-Id``.
    """
    from chalicelib.core.ids import new_id

    context = getattr(event, "context", None) or {}
    request_id = context.get("requestId") if isinstance(context, Mapping) else None
    with correlation("request_id", request_id or new_id("req_")) as value:
        response = get_response(event)
    try:
        response.headers.setdefault("X-Request-Id", value)
    except AttributeError:  # a handler that returned something without headers
        pass
    return response


# -- metrics (EMF) ---------------------------------------------------------

_sink: Optional[Callable[[Dict[str, Any]], None]] = None


def set_metrics_sink(sink: Optional[Callable[[Dict[str, Any]], None]]) -> None:
    """Send EMF documents to ``sink`` instead of printing them (tests); None restores printing."""
    global _sink
    _sink = sink


def emit_metrics(
    metrics: Mapping[str, Tuple[float, str]],
    dimensions: Mapping[str, str],
    properties: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """Print one EMF document: ``metrics`` is name -> (value, unit), e.g. ("JobDuration": (1.2, "Seconds")).

    Returns the document. Never raises on a closed stream: a lost metric must
    not fail the job that produced it.
    """
    doc: Dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": os.environ.get(NAMESPACE_ENV) or "Coinhall",
                "Dimensions": [sorted(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
            }],
        },
        **dict(dimensions),
        **{name: value for name, (value, _) in metrics.items()},
    }
    tagged = _correlation.get()
    if tagged is not None:
        doc[tagged[0]] = tagged[1]
    if properties:
        for key, value in properties.items():
            doc.setdefault(key, value)
    if _sink is not None:
        _sink(doc)
        return doc
    stream = sys.stdout if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") else sys.stderr
    try:
        stream.write(json.dumps(doc, default=str, separators=(",", ":")) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass
    return doc


# -- jobs ------------------------------------------------------------------

_METRIC_COUNTS = {
    "processed": "ItemsProcessed",
    "discrepancies": "Discrepancies",
    "repairs": "Repairs",
    "failed": "ItemsFailed",
}


@contextmanager
def job_scope(name: str) -> Iterator[Dict[str, Any]]:
    """Run a job under a fresh ``job_id``; emits its metrics when the block ends.

    Yields a dict the caller fills with the job's report (``report``); on
    success its duration, items processed, discrepancies and repairs become
    metrics, on an exception (or a report whose ``status`` is ``failed``)
    ``JobFailed`` does, and an exception goes on.
    """
    from chalicelib.core.ids import new_id

    job_id = new_id("job_")
    started = time.monotonic()
    state: Dict[str, Any] = {"job_id": job_id, "report": None}
    with correlation("job_id", job_id):
        try:
            yield state
        except BaseException:
            emit_metrics({"JobFailed": (1, "Count"), "JobDuration": (round(time.monotonic() - started, 3), "Seconds")},
                         {"Job": name})
            raise
        report = state.get("report") or {}
        metrics: Dict[str, Tuple[float, str]] = {
            "JobDuration": (round(time.monotonic() - started, 3), "Seconds"),
            "JobFailed": (1 if report.get("status") == "failed" else 0, "Count"),  # run_job caught it
        }
        for key, metric in _METRIC_COUNTS.items():
            value = report.get(key)
            if isinstance(value, list):
                value = len(value)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[metric] = (value, "Count")
        emit_metrics(metrics, {"Job": name})
