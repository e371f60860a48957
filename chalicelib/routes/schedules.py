"""Every registered job as a Chalice schedule (EventBridge on AWS)."""
from __future__ import annotations

import logging
from typing import Any, Callable

from chalice import Blueprint

import chalicelib.wiring  # noqa: F401 (fills JOBS, read below at import)
from chalicelib.runtime.jobs import JOBS, run_job

bp = Blueprint(__name__)
log = logging.getLogger("coinhall.jobs")


def _handler(name: str) -> Callable[[Any], dict]:
    def run(event: Any) -> dict:
        try:
            # Stop well inside the invocation's own timeout; the next run resumes.
            context = getattr(event, "context", None)
            remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 60.0
            return run_job(name, max_seconds=max(1.0, min(50.0, remaining - 5.0)))
        except Exception as exc:
            # The last resort: run_job reports a job's own failure; this is for the rest
            # (a job that cannot even be loaded). No raise: EventBridge would run it again
            # at once, twice; the next schedule runs it anyway.
            log.exception("scheduled job %s could not run", name)
            return {"job": name, "status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}

    run.__name__ = "job_" + name.replace("-", "_")
    return run


for _spec in JOBS.values():
    _run = _handler(_spec.name)
    # Lambda finds a blueprint's handler as an attribute of this module
    # (``chalicelib.routes.schedules.job_<name>``), so each must be bound here.
    globals()[_run.__name__] = bp.schedule(_spec.schedule, name="job-" + _spec.name,
                                           description=_spec.description)(_run)
