"""Every registered job as a Chalice schedule (EventBridge on AWS)."""
from __future__ import annotations

from typing import Any, Callable

from chalice import Blueprint

from chalicelib.jobs import JOBS

bp = Blueprint(__name__)


def _handler(name: str) -> Callable[[Any], dict]:
    def run(event: Any) -> dict:
        from chalicelib.jobs import run_job

        return run_job(name)

    run.__name__ = "job_" + name.replace("-", "_")
    return run


for _spec in JOBS.values():
    bp.schedule(_spec.schedule, name="job-" + _spec.name, description=_spec.description)(_handler(_spec.name))
