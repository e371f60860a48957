"""Operator events: a window of time in which grants pay more, or the shop sells for less.

"Double daily coins this weekend" is a ``reward_multiplier`` event with
``multiplier_bps = 20000`` and ``rewards = ["daily"]``; "10% off ranks" is a
``shop_discount`` with ``discount_bps = 1000`` and ``categories = ["rank"]``.
It lives here, below the capabilities, because both the rewards engine
(``rewards/grants.py``) and the shop (``market/catalog.py``) read it.

Rules (the README's Operators section says the same):

* **Window.** ``[starts_at, ends_at)`` in UTC, by the app's clock
  (``ids.utc_now``). Status: ``scheduled`` before it, ``active`` in it,
  ``ended`` after it; ``stopped`` once an operator stopped it (the window then
  ends at ``stopped_at``). ``start`` moves a scheduled event's start to now;
  ``stop`` ends a scheduled or active event now. Windows are at most 90 days.
* **Overlap.** Two events of the same kind never overlap, whatever their
  filters: a create (or a start) whose window meets another's is 409
  ``event_overlap``, so at most one event of each kind applies at any moment
  and nobody has to guess which one wins. Every write bumps a per-economy guard
  item in the same transaction, so two concurrent creates cannot both pass.
* **Rounding.** Coins stay whole. A multiplier pays ``floor(base * bps / 10000)``
  (bps 10001-100000, x1.0001-x10: never less than the base); a discount takes
  ``floor(price * bps / 10000)`` off the unit price (bps 1-9000: a price of at
  least 1 stays at least 1).
* **Cache.** The economy's events that have not ended are read with one Query
  and kept ``EVENTS_CACHE_SECONDS`` per container; whether one is active is
  decided on every call against the clock. A write drops the container's own
  copy at once; others see it within the window.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from chalicelib import ledger
from chalicelib.core import errors, keys
from chalicelib.core.config import get_settings
from chalicelib.core.ids import iso, keyed_id, new_id, parse_iso, utc_now
from chalicelib.ledger import claims
from chalicelib.tenancy import store
from chalicelib.tenancy.audit import audit_write
from chalicelib.tenancy.event_names import (BPS, DISCOUNT_BOUNDS, KINDS, MAX_SKUS, MULTIPLIER_BOUNDS,  # noqa: F401
                                            REWARD_TYPES, STATUSES)

MAX_WINDOW = timedelta(days=90)
EVENTS_CACHE_SECONDS = 30.0
_ATTEMPTS = 8


@dataclass(frozen=True)
class Event:
    """One event as stored; ``status(now)`` and the ``applies_*`` checks decide what it does."""

    event_id: str
    name: str
    kind: str
    bps: int
    starts_at: str
    ends_at: str
    rewards: Optional[Tuple[str, ...]] = None
    skus: Optional[Tuple[str, ...]] = None
    categories: Optional[Tuple[str, ...]] = None
    stopped_at: Optional[str] = None

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "Event":
        def names(attr: str) -> Optional[Tuple[str, ...]]:
            return tuple(item[attr]) if item.get(attr) is not None else None

        return cls(event_id=item["event_id"], name=item["name"], kind=item["kind"], bps=int(item["bps"]),
                   starts_at=item["starts_at"], ends_at=item["ends_at"], rewards=names("rewards"),
                   skus=names("skus"), categories=names("categories"), stopped_at=item.get("stopped_at"))

    @property
    def until(self) -> str:
        """Where the window really ends: its ``ends_at``, or earlier when it was stopped."""
        return min(self.ends_at, self.stopped_at) if self.stopped_at else self.ends_at

    def status(self, now: str) -> str:
        if self.stopped_at is not None:
            return "stopped"
        if now < self.starts_at:
            return "scheduled"
        return "active" if now < self.ends_at else "ended"

    def overlaps(self, starts_at: str, ends_at: str) -> bool:
        return self.starts_at < ends_at and starts_at < self.until

    def applies_to_grant(self, grant_type: str) -> bool:
        return self.kind == "reward_multiplier" and (self.rewards is None or grant_type in self.rewards)

    def applies_to_item(self, sku: str, category: str) -> bool:
        if self.kind != "shop_discount":
            return False
        return (self.skus is None or sku in self.skus) and (self.categories is None or category in self.categories)

    def multiplied(self, amount: int) -> int:
        """``amount`` under this multiplier, floored to whole coins."""
        return amount * self.bps // BPS

    def discounted(self, price: int) -> int:
        """``price`` less this discount (the discount floored to whole coins)."""
        return price - price * self.bps // BPS

    def tag(self) -> Dict[str, Any]:
        """What a grant or an order records about the event that changed it."""
        field = "multiplier_bps" if self.kind == "reward_multiplier" else "discount_bps"
        return {"event_id": self.event_id, "name": self.name, field: self.bps}


def event_view(item: Mapping[str, Any], now: Optional[str] = None) -> Dict[str, Any]:
    event = Event.from_item(item)
    multiplier = event.kind == "reward_multiplier"
    return {
        "event_id": event.event_id,
        "name": event.name,
        "kind": event.kind,
        "status": event.status(now or iso(utc_now())),
        "multiplier_bps": event.bps if multiplier else None,
        "discount_bps": None if multiplier else event.bps,
        "rewards": list(event.rewards) if event.rewards is not None else None,
        "skus": list(event.skus) if event.skus is not None else None,
        "categories": list(event.categories) if event.categories is not None else None,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "stopped_at": event.stopped_at,
        "created_by": item.get("created_by"),
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }


def _audit_state(item: Optional[Mapping[str, Any]], now: str) -> Optional[Dict[str, Any]]:
    if item is None:
        return None
    view = event_view(item, now)
    return {k: view[k] for k in ("name", "kind", "status", "multiplier_bps", "discount_bps", "rewards", "skus",
                                 "categories", "starts_at", "ends_at", "stopped_at")}


# -- reading -------------------------------------------------------------------------------


_cache: Dict[Tuple[int, str], Tuple[List[Event], float]] = {}
_cache_lock = threading.Lock()
_clock = time.monotonic  # a seam: the simulation runs it on its own clock


def _forget(economy: str) -> None:
    with _cache_lock:
        for cache_key in [k for k in _cache if k[1] == economy]:
            del _cache[cache_key]


def _live_events(economy: str) -> List[Event]:
    """The economy's events that had not ended when read (cached ``EVENTS_CACHE_SECONDS``)."""
    cache_key = (id(get_settings()), economy)  # new settings (tests, another stage) never see old values
    now = _clock()
    with _cache_lock:
        hit = _cache.get(cache_key)
    if hit and hit[1] > now:
        return hit[0]
    found = [Event.from_item(item) for item in store.query_events(economy, ending_after=iso(utc_now()))
             if item.get("stopped_at") is None]
    with _cache_lock:
        _cache[cache_key] = (found, now + EVENTS_CACHE_SECONDS)
    return found


def active_for_grant(economy: str, grant_type: str) -> Optional[Event]:
    """The reward multiplier that applies to a ``grant_type`` grant now, if any."""
    now = iso(utc_now())
    return next((e for e in _live_events(economy) if e.status(now) == "active" and e.applies_to_grant(grant_type)),
                None)


def active_for_item(economy: str, sku: str, category: str) -> Optional[Event]:
    """The shop discount that applies to ``sku`` (of ``category``) now, if any."""
    now = iso(utc_now())
    return next((e for e in _live_events(economy) if e.status(now) == "active" and e.applies_to_item(sku, category)),
                None)


def get_event(economy: str, event_id: str) -> Dict[str, Any]:
    """Raises EventNotFoundError."""
    item = store.find_event(economy, event_id)
    if item is None:
        raise errors.EventNotFoundError(event_id=event_id)
    return event_view(item)


def list_events(economy: str, status: Optional[str] = None, limit: int = 25,
                cursor: Optional[str] = None) -> Dict[str, Any]:
    """One page of the economy's events (or those in ``status`` now), the latest end first.

    ``next_cursor`` is bound to the economy and the status; a status can leave
    a page short while more follow. Raises InvalidCursorError.
    """
    now = iso(utc_now())
    page = store.page_events(economy, status, now, limit, cursor)
    return {"items": [event_view(item, now) for item in page.items], "next_cursor": page.next_cursor}


# -- writing -------------------------------------------------------------------------------


def _window(starts_at: Optional[str], ends_at: str, now: datetime) -> Tuple[str, str]:
    def moment(name: str, text: str) -> str:
        try:
            return parse_iso(text)
        except ValueError as exc:
            raise errors.ValidationFailedError(f"'{name}' {exc}.", field=name) from None

    start = moment("starts_at", starts_at) if starts_at is not None else iso(now)
    end = moment("ends_at", ends_at)
    if end <= start:
        raise errors.InvalidEventError("'ends_at' must be after 'starts_at'.", field="ends_at")
    if end <= iso(now):
        raise errors.InvalidEventError("'ends_at' must be in the future.", field="ends_at")
    if end > iso(max(now, datetime.fromisoformat(start.replace("Z", "+00:00"))) + MAX_WINDOW):
        raise errors.InvalidEventError("An event lasts at most 90 days.", field="ends_at")
    return start, end


def _names(name: str, values: Optional[Sequence[str]], allowed: Optional[Sequence[str]] = None
           ) -> Optional[List[str]]:
    if values is None:
        return None
    values = list(values)
    if not 1 <= len(values) <= MAX_SKUS:
        raise errors.ValidationFailedError(f"'{name}' must list 1-{MAX_SKUS} values.", field=name)
    if len(set(values)) != len(values):
        raise errors.InvalidEventError(f"'{name}' lists a value twice.", field=name)
    if allowed is not None and any(v not in allowed for v in values):
        raise errors.ValidationFailedError(f"'{name}' may name {', '.join(allowed)}.", field=name)
    return values


def _terms(fields: Mapping[str, Any]) -> Dict[str, Any]:
    """The validated kind, bps and filters. Raises ValidationFailedError, InvalidEventError."""
    kind = fields.get("kind")
    if kind not in KINDS:
        raise errors.ValidationFailedError(f"'kind' must be one of {', '.join(KINDS)}.", field="kind")
    name = fields.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise errors.ValidationFailedError("'name' must be 1-100 characters.", field="name")
    field, (low, high), wrong = (("multiplier_bps", MULTIPLIER_BOUNDS, "discount_bps") if kind == "reward_multiplier"
                                 else ("discount_bps", DISCOUNT_BOUNDS, "multiplier_bps"))
    bps = fields.get(field)
    if fields.get(wrong) is not None:
        raise errors.InvalidEventError(f"A {kind} event takes '{field}', not '{wrong}'.", field=wrong)
    if bps is None:  # each field is optional in the body; which one is needed depends on the kind
        raise errors.InvalidEventError(f"A {kind} event needs '{field}'.", field=field)
    if isinstance(bps, bool) or not isinstance(bps, int) or not low <= bps <= high:
        raise errors.ValidationFailedError(f"'{field}' must be {low:,}-{high:,}.", field=field)
    if kind == "reward_multiplier":
        for other in ("skus", "categories"):
            if fields.get(other) is not None:
                raise errors.InvalidEventError(f"'{other}' is a shop_discount filter.", field=other)
        return {"kind": kind, "name": name, "bps": bps, "rewards": _names("rewards", fields.get("rewards"),
                                                                           REWARD_TYPES)}
    if fields.get("rewards") is not None:
        raise errors.InvalidEventError("'rewards' is a reward_multiplier filter.", field="rewards")
    return {"kind": kind, "name": name, "bps": bps, "skus": _names("skus", fields.get("skus")),
            "categories": _names("categories", fields.get("categories"))}


def _refuse_overlap(economy: str, event_id: str, kind: str, starts_at: str, ends_at: str, now: str) -> None:
    # A consistent read of the table, not the by_end index: the guard only proves nobody wrote between our
    # read of it and our commit. An event committed a moment before that read can still be missing from the
    # (eventually consistent) index, and an overlap with it would pass. The cached live read may lag; this may not.
    for item in store.query_events(economy, ending_after=now, consistent=True):
        other = Event.from_item(item)
        if other.event_id != event_id and other.kind == kind and other.stopped_at is None \
                and other.overlaps(starts_at, ends_at):
            raise errors.EventOverlapError(event_id=other.event_id, starts_at=other.starts_at, ends_at=other.until)


def create_event(economy: str, fields: Mapping[str, Any], actor: str,
                 idempotency_key: Optional[str] = None) -> Tuple[Dict[str, Any], bool]:
    """Schedule an event (active at once when its window has begun), audited. Returns (view, replayed).

    ``fields``: name, kind, multiplier_bps or discount_bps, rewards / skus / categories, starts_at (default
    now), ends_at. With ``idempotency_key`` a replay returns the event the key made. Raises
    ValidationFailedError, InvalidEventError, EventOverlapError, IdempotencyKeyReusedError, ContentionError.
    """
    terms = _terms(fields)
    moment = utc_now()
    starts_at, ends_at = _window(fields.get("starts_at"), fields["ends_at"], moment)
    key = keys.tag("api", idempotency_key) if idempotency_key is not None else None
    fp = ledger.fingerprint("event-create", economy, dict(fields))
    if key is not None:
        claim = claims.find(economy, key)
        if claim is not None:
            return get_event(economy, claims.replayed_ref(claim, fp, key)["event_id"]), True
    event_id = keyed_id("evt_", keys.join(economy, key, sep="|")) if key is not None else new_id("evt_")
    now = iso(moment)
    for _ in range(_ATTEMPTS):
        guard = store.event_guard_version(economy)
        _refuse_overlap(economy, event_id, terms["kind"], starts_at, ends_at, now)
        after = {"economy": economy, "event_id": event_id, **terms, "starts_at": starts_at, "ends_at": ends_at,
                 "version": 1, "created_by": actor, "created_at": now, "updated_at": now}
        row = audit_write(economy, actor, "event.create", keys.tag("event", event_id), before=None,
                          after=_audit_state(after, now))
        items = [*store.event_writes(economy, guard, None, after), row]
        if key is not None:
            items.append(claims.claim_write(economy, key, fp, "event", {"event_id": event_id}))
        if claims.commit(items):
            _forget(economy)
            return event_view(after, now), False
        if key is not None:
            claim = claims.find(economy, key)
            if claim is not None:  # a twin with the same key won, or another request holds it
                return get_event(economy, claims.replayed_ref(claim, fp, key)["event_id"]), True
    raise errors.ContentionError(economy_id=economy)


def start_event(economy: str, event_id: str, actor: str) -> Dict[str, Any]:
    """Start a scheduled event now, audited. Raises EventNotFoundError, EventStateError, EventOverlapError."""
    def change(before: Event, now: str) -> Dict[str, Any]:
        if before.status(now) != "scheduled":
            raise errors.EventStateError("Only a scheduled event can be started.", event_id=event_id,
                                         status=before.status(now))
        _refuse_overlap(economy, event_id, before.kind, now, before.ends_at, now)
        return {"starts_at": now}

    return _edit(economy, event_id, actor, "event.start", change)


def stop_event(economy: str, event_id: str, actor: str) -> Dict[str, Any]:
    """End a scheduled or active event now, audited. Raises EventNotFoundError, EventStateError."""
    def change(before: Event, now: str) -> Dict[str, Any]:
        if before.status(now) not in ("scheduled", "active"):
            raise errors.EventStateError("Only a scheduled or active event can be stopped.", event_id=event_id,
                                         status=before.status(now))
        return {"stopped_at": now}

    return _edit(economy, event_id, actor, "event.stop", change)


def _edit(economy: str, event_id: str, actor: str, action: str, change: Any) -> Dict[str, Any]:
    """Read the event, apply ``change(before, now) -> fields`` (which raises to refuse), commit with its audit row."""
    for _ in range(_ATTEMPTS):
        guard = store.event_guard_version(economy)
        before = store.find_event(economy, event_id)
        if before is None:
            raise errors.EventNotFoundError(event_id=event_id)
        now = iso(utc_now())
        after = {**before, **change(Event.from_item(before), now), "version": int(before["version"]) + 1,
                 "updated_at": now}
        row = audit_write(economy, actor, action, keys.tag("event", event_id), before=_audit_state(before, now),
                          after=_audit_state(after, now))
        if claims.commit([*store.event_writes(economy, guard, before, after), row]):
            _forget(economy)
            return event_view(after, now)
    raise errors.ContentionError(event_id=event_id)
