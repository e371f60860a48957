"""Scheduled jobs: one registry for the schedules, the CLI and local timers.

A job is a plain function ``fn(ctx: JobContext) -> dict`` in a feature module,
registered with its schedule by the edge (``chalicelib/wiring.py``: this module
names no feature). Jobs are bounded: they stop when
``ctx.should_stop()`` says so (time or item budget) and resume where they left
off on the next run, because they only ever pick up work that is still due
(an index on status and expiry, never a table scan). They must be safe when two
runs overlap or one dies half-way: every effect goes through the ledger's
idempotency keys or a conditional write.

``python -m chalicelib.cli jobs run <name>`` runs one now; on AWS each is a
Chalice ``schedule`` (``routes/schedules.py``); in the local stage ``make run``
runs them on their schedules in-process.
"""
from __future__ import annotations

import importlib
import inspect
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from chalicelib.core.observability import job_scope

log = logging.getLogger("coinhall.jobs")


@dataclass(frozen=True)
class JobSpec:
    name: str
    target: str  # "module:function"
    schedule: str  # a Chalice/EventBridge expression: "rate(1 minute)" or "cron(...)"
    description: str
    max_items: Optional[int] = None  # the run's item budget when the caller gives none (default 1000)


class JobArgumentError(ValueError):
    """A job refuses the options it was given (the caller's mistake: ``jobs run`` exits 2); raised, not reported."""


# name -> spec, filled by chalicelib/wiring.py (the target is imported only when run).
JOBS: Dict[str, JobSpec] = {}


def register(name: str, target: str, schedule: str, description: str, max_items: Optional[int] = None) -> None:
    """Name a job: ``target`` is ``"module:function"``, imported when the job runs."""
    JOBS[name] = JobSpec(name, target, schedule, description, max_items)


@dataclass
class JobContext:
    """What a run may spend, and what it did."""

    name: str
    deadline: float
    max_items: int
    processed: int = 0
    stats: Dict[str, Any] = field(default_factory=dict)
    # Why items failed (the first MAX_FAILURES): a count alone sends the operator to the logs.
    failures: List[Dict[str, str]] = field(default_factory=list)

    def should_stop(self) -> bool:
        return self.processed >= self.max_items or time.monotonic() >= self.deadline

    def count(self, key: str = "processed", n: int = 1) -> None:
        if key == "processed":
            self.processed += n
        else:
            self.stats[key] = self.stats.get(key, 0) + n

    def note_failure(self, item: Any, reason: str) -> None:
        """Say why ``item`` failed, for the report (counting it is the caller's, as for any outcome)."""
        if len(self.failures) < MAX_FAILURES:
            self.failures.append({"item": str(item), "reason": reason[:300]})


MAX_FAILURES = 20


def resolve(name: str) -> Callable[[JobContext], Dict[str, Any]]:
    """The function of job ``name``. Raises KeyError (unknown job), ImportError/AttributeError (a bad target)."""
    spec = JOBS.get(name)
    if spec is None:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(JOBS))}")
    module, _, function = spec.target.partition(":")
    return getattr(importlib.import_module(module), function)


def run_job(name: str, *, max_seconds: Optional[float] = None, max_items: Optional[int] = None,
            **kwargs: Any) -> Dict[str, Any]:
    """Run one job within its budget; returns a JSON-able report.

    The run gets a ``job_id`` (on every log line and in the report) and emits
    its metrics (duration, items, discrepancies) as CloudWatch EMF. A job that
    raises is the last resort's business: it is logged once with the
    traceback, the report says ``"status": "failed"`` with the ``error``, and
    ``JobFailed`` is 1; what it finished stays done (jobs are resumable), and
    the next run picks up the rest. Raises KeyError for an unknown job or
    option and JobArgumentError for an option the job refuses (the caller's
    mistakes: nothing ran).
    """
    fn = resolve(name)
    accepted = inspect.signature(fn).parameters
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise KeyError(f"job {name!r} takes no {', '.join('--' + k for k in unknown)}")
    if max_items is None:
        max_items = JOBS[name].max_items or 1000
    with job_scope(name) as scope:
        started = time.monotonic()
        ctx = JobContext(name, started + (50.0 if max_seconds is None else max_seconds), max_items)
        error: Optional[str] = None
        failure: Any = None
        try:
            result: Optional[Dict[str, Any]] = fn(ctx, **kwargs) if kwargs else fn(ctx)
        except JobArgumentError:
            raise
        except Exception as exc:
            result, error, failure = None, f"{type(exc).__name__}: {exc}"[:500], sys.exc_info()
        report = {
            "job": name,
            "job_id": scope["job_id"],
            "processed": ctx.processed,
            "stopped_early": ctx.should_stop(),
            "duration_s": round(time.monotonic() - started, 3),
            **ctx.stats,
            **({"failures": ctx.failures} if ctx.failures else {}),
            **(result or {}),
            "status": "failed" if error else "ok",
        }
        if error:
            report["error"] = error
        scope["report"] = report
        if failure:  # one line: the report and the traceback
            log.error("job %s failed", name, exc_info=failure, extra={"job": report})
        else:
            log.info("job finished", extra={"job": report})
    return report
