"""The last resort on each edge: anything unexpected becomes that channel's own error reply, logged once.

* HTTP (``endpoint()``): 500 ``internal_error`` in our shape; HTML pages: a 500 page.
* Discord: a handler that breaks is an ephemeral apology (the player is told);
  a failure before a handler runs is a 500 (Discord retries nothing).
* The queue (SQS's consumer and the local worker): the message fails, so it is
  delivered again and at last dead-lettered, never swallowed.
* Scheduled jobs (EventBridge's handler, the CLI, the local timers): the
  report says ``failed`` with the reason, and ``JobFailed`` is counted.

Each failure is logged exactly once with its traceback, and nothing changed.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Dict, Iterator, List

import pytest

from chalicelib.runtime import jobs, queue
from chalicelib.core import observability
from tests.discord_helpers import assert_ephemeral, discord, embed_text  # noqa: F401 (discord is a fixture)
from tests.edge_helpers import changed_tables, economy_records

pytestmark = pytest.mark.integration


class Boom(RuntimeError):
    """What a bug raises."""


def boom(*_: Any, **__: Any) -> Any:
    raise Boom("a bug, with a secret-looking detail sk_live_123")


@pytest.fixture
def logged() -> Iterator[List[logging.LogRecord]]:
    """Every record at ERROR or above on our loggers (Chalice's ``coinhall`` logger does not propagate)."""
    records: List[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("coinhall", "chalicelib")]
    for lg in loggers:
        lg.addHandler(handler)
    yield records
    for lg in loggers:
        lg.removeHandler(handler)


def with_traceback(records: List[logging.LogRecord]) -> List[logging.LogRecord]:
    return [r for r in records if r.exc_info and r.exc_info[0] is not None]


def causes(records: List[logging.LogRecord]) -> List[str]:
    """The exception class of each record logged with a traceback (by name: the consumers import this
    module under its package path, pytest under another)."""
    return [r.exc_info[0].__name__ for r in with_traceback(records)]


# --- HTTP -----------------------------------------------------------------------------


def test_an_endpoint_that_breaks_is_a_500_in_our_shape_logged_once(economy, monkeypatch, logged) -> None:
    from chalicelib.ledger import wallets

    economy.credit("alice", 10)
    before = economy_records(economy.id)
    monkeypatch.setattr(wallets, "get_wallet", boom)
    resp = economy.api.get("/v1/users/alice/wallet")
    assert resp.status == 500 and resp.body == {"error": {
        "code": "internal_error", "message": "An internal error occurred; it has been logged.", "details": {}}}
    assert "sk_live" not in json.dumps(resp.body)
    assert causes(logged) == ["Boom"]
    assert changed_tables(before, economy_records(economy.id)) == {}


def test_an_html_page_that_breaks_is_a_500_page_logged_once(economy, monkeypatch, logged) -> None:
    from chalicelib.purchases import local_checkout

    monkeypatch.setattr(local_checkout, "result_page", boom)
    resp = economy.api.get("/checkout/success?purchase_id=pur_x")
    assert resp.status == 500 and resp.headers["content-type"].startswith("text/html")
    assert "logged" in resp.body.decode() if isinstance(resp.body, bytes) else "logged" in str(resp.body)
    assert causes(logged) == ["Boom"]


# --- Discord --------------------------------------------------------------------------


def test_a_discord_handler_that_breaks_is_an_ephemeral_apology_logged_once(discord, monkeypatch, logged) -> None:
    from chalicelib.discord import router

    alice = discord.player()
    before = economy_records(discord.economy.id)
    monkeypatch.setitem(router.COMMANDS, "help", boom)
    resp = alice.command("help")
    assert_ephemeral(resp)
    assert "Something went wrong on our side" in embed_text(resp) and "sk_live" not in embed_text(resp)
    assert causes(logged) == ["Boom"]
    assert changed_tables(before, economy_records(discord.economy.id)) == {}


def test_a_discord_failure_before_any_handler_is_a_500_logged_once(discord, monkeypatch, logged) -> None:
    from chalicelib.discord import interaction

    monkeypatch.setattr(interaction.Interaction, "parse", classmethod(boom))
    resp = discord.player().command("help")
    assert resp.status == 500 and resp.code == "internal_error"  # Discord retries nothing: "interaction failed"
    assert causes(logged) == ["Boom"]


# --- the queue -------------------------------------------------------------------------


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(queue.CONSUMERS, "test.boom", "tests.integration.test_last_resort:boom")
    return "test.boom"


def test_the_sqs_consumer_fails_the_message_so_sqs_retries_it(chalice_client, topic, logged) -> None:
    message = json.dumps({"topic": topic, "payload": {}, "dedupe_id": "d1", "attempt": 1})
    for body in (message, "not json at all", json.dumps({"no": "topic"})):
        event = chalice_client.events.generate_sqs_event(message_bodies=[body], queue_name="coinhall-work")
        with pytest.raises(queue.MessageFailedError) as failed:
            chalice_client.lambda_.invoke("work-queue", event)
        assert "(logged)" in str(failed.value) and "sk_live" not in str(failed.value)
    assert causes(logged) == ["Boom", "JSONDecodeError", "KeyError"]  # one line each, with what went wrong
    assert "attempt 1" in logged[0].getMessage() and topic in logged[0].getMessage()


def test_the_local_worker_retries_a_failing_message_then_dead_letters_it(topic, monkeypatch, logged) -> None:
    monkeypatch.setattr(queue, "MAX_ATTEMPTS", 3)
    monkeypatch.setattr(queue.random, "uniform", lambda low, high: 0.0)
    worker = queue.LocalWorker()
    worker.put({"topic": topic, "payload": {}, "dedupe_id": "d2", "attempt": 1})
    assert worker.drain(20)
    assert [m["attempt"] for m in worker.failed] == [3] and worker.failed[0]["dedupe_id"] == "d2"
    assert causes(logged) == ["Boom", "Boom", "Boom"]  # once per try


# --- scheduled jobs -----------------------------------------------------------------------


def _broken_job(ctx: Any) -> Dict[str, Any]:
    ctx.count(n=2)  # did some work before it broke: that work stays done
    raise Boom("the job's bug")


def scheduled(client: Any) -> Dict[str, Any]:
    """The event EventBridge sends a schedule."""
    return client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                           resources=["arn:aws:events:us-east-1:123456789012:rule/job"])


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(jobs.JOBS, "expire-holds", jobs.JobSpec(
        "expire-holds", "tests.integration.test_last_resort:_broken_job", "rate(1 minute)", "broken for the test"))
    return "expire-holds"


def test_a_scheduled_job_that_breaks_reports_failed_with_the_reason(chalice_client, broken, logged) -> None:
    docs: List[Dict[str, Any]] = []
    observability.set_metrics_sink(docs.append)
    try:
        report = chalice_client.lambda_.invoke(f"job-{broken}", scheduled(chalice_client)).payload
    finally:
        observability.set_metrics_sink(None)
    assert (report["status"], report["error"], report["processed"]) == ("failed", "Boom: the job's bug", 2)
    assert report["job"] == broken and report["job_id"].startswith("job_")
    assert [d["JobFailed"] for d in docs] == [1]
    failures = with_traceback(logged)
    assert causes(failures) == ["Boom"] and failures[0].job["status"] == "failed"


def test_a_job_that_cannot_even_load_is_reported_failed_by_the_schedule(chalice_client, monkeypatch, logged) -> None:
    monkeypatch.setitem(jobs.JOBS, "digest", jobs.JobSpec("digest", "tests.no_such_module:run", "rate(1 day)", "x"))
    report = chalice_client.lambda_.invoke("job-digest", scheduled(chalice_client)).payload
    assert report["status"] == "failed" and report["error"].startswith("ModuleNotFoundError")
    assert causes(logged) == ["ModuleNotFoundError"]


def test_the_cli_and_the_local_timers_see_the_same_failed_report(broken, capsys, logged, monkeypatch) -> None:
    from datetime import datetime, timedelta, timezone

    from chalicelib.cli.main import main
    from chalicelib.runtime.scheduler import Timers

    # `jobs run` needs an engine named (else it looks for `make run`'s); this job never reaches it.
    monkeypatch.setenv("COINS_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")
    assert main(["jobs", "run", broken]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "failed"
    reports: List[Dict[str, Any]] = []
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    timers = Timers({broken: "rate(1 minute)"}, lambda name: reports.append(jobs.run_job(name)), start)
    assert timers.tick(start + timedelta(minutes=1)) == [broken]
    timers.join()
    assert [r["status"] for r in reports] == ["failed"]
    assert causes(logged) == ["Boom", "Boom"]  # one per run, no second line
