"""JSON logs with a correlation id on every line; CloudWatch EMF metrics."""
from __future__ import annotations

import io
import json
import logging
from typing import Any, Dict, List

import pytest

from chalicelib.core import observability


def line(logger: str, message: str, **extra: Any) -> Dict[str, Any]:
    record = logging.getLogger(logger).makeRecord(logger, logging.INFO, __file__, 1, message, (), None, extra=extra)
    return json.loads(observability.JsonFormatter().format(record))


def test_a_log_line_is_json_with_the_job_id_and_extras() -> None:
    with observability.correlation("job_id", "job_1"):
        doc = line("coinhall.jobs", "job finished", job={"processed": 3})
    assert doc["message"] == "job finished" and doc["level"] == "INFO" and doc["logger"] == "coinhall.jobs"
    assert doc["job_id"] == "job_1" and doc["job"] == {"processed": 3} and doc["ts"].endswith("Z")
    assert "job_id" not in line("coinhall.jobs", "outside")


def test_exceptions_are_kept_in_the_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    doc = json.loads(observability.JsonFormatter().format(record))
    assert "ValueError: bad" in doc["exception"]


def test_configure_logging_sends_our_loggers_as_json_lines(monkeypatch) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        observability.configure_logging(stream, level="INFO")
        with observability.correlation("request_id", "req_9"):
            logging.getLogger("coinhall.test").info("hello %s", "there")
        docs = [json.loads(l) for l in stream.getvalue().splitlines()]
        assert {"message": "hello there", "request_id": "req_9"}.items() <= docs[-1].items()
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        for handler in before:
            if isinstance(handler, observability._JsonHandler):
                handler.target = "stdout"


def test_job_scope_emits_emf_metrics() -> None:
    docs: List[Dict[str, Any]] = []
    observability.set_metrics_sink(docs.append)
    try:
        with observability.job_scope("reconcile") as scope:
            scope["report"] = {"processed": 5, "discrepancies": [{"type": "zero_sum"}], "repairs": []}
        with pytest.raises(RuntimeError):
            with observability.job_scope("expire-holds"):
                raise RuntimeError("died")
    finally:
        observability.set_metrics_sink(None)
    ok, failed = docs
    metrics = ok["_aws"]["CloudWatchMetrics"][0]
    assert metrics["Dimensions"] == [["Job"]] and ok["Job"] == "reconcile"
    assert {m["Name"] for m in metrics["Metrics"]} == {"JobDuration", "JobFailed", "ItemsProcessed",
                                                      "Discrepancies", "Repairs"}
    assert (ok["ItemsProcessed"], ok["Discrepancies"], ok["Repairs"], ok["JobFailed"]) == (5, 1, 0, 0)
    assert ok["job_id"].startswith("job_") and failed["JobFailed"] == 1 and failed["Job"] == "expire-holds"


def test_run_job_tags_its_lines_and_report_with_one_job_id(monkeypatch) -> None:
    from chalicelib.runtime import jobs

    seen: List[Any] = []
    monkeypatch.setitem(jobs.JOBS, "probe", jobs.JobSpec("probe", "tests.unit.test_observability:_probe",
                                                         "rate(1 minute)", "test"))
    observability.set_metrics_sink(seen.append)
    try:
        report = jobs.run_job("probe")
    finally:
        observability.set_metrics_sink(None)
    assert report["job_id"] == report["seen_id"] == seen[0]["job_id"]


def _probe(ctx: Any) -> Dict[str, Any]:
    tagged = observability.current_id()
    return {"seen_id": tagged[1] if tagged else None}


def test_http_responses_carry_the_request_id(unit_economy) -> None:
    resp = unit_economy.api.get("/v1/packs")
    assert resp.headers.get("x-request-id", "").startswith("req_")
