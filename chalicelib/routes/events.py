"""Operator events: reward multipliers and shop discounts for a window of time (``tenancy/events.py``)."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.routes._http import (CURSOR, Call, Reply, endpoint, optional_key, path_param, query_choice, query_int,
                                     query_limit, query_value)
from chalicelib.routes.events_models import Event, EventAction, EventBody, EventList
from chalicelib.tenancy.event_names import STATUSES, valid_event_id as _event_id

bp = Blueprint(__name__)
_WRITE = [400, 401, 403, 404, 409]


@endpoint(bp, "/v1/admin/events", "POST", summary="Schedule a reward multiplier or a shop discount, audited.",
          action="config.write", body=EventBody, response=Event, status=201, also_ok=[200], idempotency="optional",
          tags=["events", "admin"], error_statuses=[400, 401, 403, 409, 422])
def create_event(call: Call) -> Reply:
    from chalicelib.tenancy.events import create_event as create

    fields = call.body.model_dump(exclude_none=True, exclude={"reason"})
    view, replayed = create(call.principal.economy, fields, call.principal.actor, optional_key(call))
    return Reply(view, 200 if replayed else 201, {"Idempotent-Replayed": "true" if replayed else "false"})


@endpoint(bp, "/v1/admin/events", "GET", summary="The economy's events, the latest end first, a page at a time.",
          action="config.read", response=EventList,
          query={"status": query_choice(STATUSES), "limit": query_limit(100, 25), "cursor": CURSOR},
          tags=["events", "admin"], error_statuses=[400, 401, 403])
def list_events(call: Call) -> Reply:
    from chalicelib.tenancy.events import list_events as listing

    status = query_value(call, "status", STATUSES)
    limit = query_int(call, "limit", default=25, low=1, high=100)
    return Reply(listing(call.principal.economy, status, limit, call.query.get("cursor") or None))


@endpoint(bp, "/v1/admin/events/{event_id}", "GET", summary="One event and its status now.", action="config.read",
          response=Event, tags=["events", "admin"], error_statuses=[400, 401, 403, 404])
def get_event(call: Call, event_id: str) -> Reply:
    from chalicelib.tenancy.events import get_event as get

    return Reply(get(call.principal.economy, path_param("event_id", event_id, _event_id)))


@endpoint(bp, "/v1/admin/events/{event_id}/start", "POST", summary="Start a scheduled event now, audited.",
          action="config.write", body=EventAction, response=Event, tags=["events", "admin"],
          error_statuses=_WRITE)
def start_event(call: Call, event_id: str) -> Reply:
    from chalicelib.tenancy.events import start_event as start

    path_param("event_id", event_id, _event_id)
    return Reply(start(call.principal.economy, event_id, call.principal.actor))


@endpoint(bp, "/v1/admin/events/{event_id}/stop", "POST", summary="End a scheduled or active event now, audited.",
          action="config.write", body=EventAction, response=Event, tags=["events", "admin"],
          error_statuses=_WRITE)
def stop_event(call: Call, event_id: str) -> Reply:
    from chalicelib.tenancy.events import stop_event as stop

    path_param("event_id", event_id, _event_id)
    return Reply(stop(call.principal.economy, event_id, call.principal.actor))
