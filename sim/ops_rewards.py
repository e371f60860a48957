"""Rewards and operator events: grants through the rewards API, event windows on the simulated clock.

Every grant (``daily`` too: ``op_daily`` comes here) is ``POST /v1/users/{user}/rewards``
with the economy's admin key, so it also takes that key's daily grant budget. Before
sending, the model decides what the rules of README "Rewards API (host apps)" say the
answer must be: a refusal (frozen, self referral, a referred user or course that is not
there, another referrer already paid, the budget spent), the first answer again (the
same quest day, daily day, course or referred user: nothing paid), or a payment whose
amount it re-derives itself: the streak rule, the economy's settings, the course's
registered reward, then the live ``reward_multiplier`` event's ``floor(base x bps /
10000)``. A payment counts against the model's budget for the UTC day; the ledger's
once-only key makes a crashed or 5xx'd grant, retried by ``call``, pay once (its answer
may then already say ``already_claimed``: allowed only when the request was retried).

Operator events (README "Quests and events") are created, started and stopped here on
the simulated clock: windows that start later or now, that end by themselves or are
stopped early; overlaps of one kind are predicted and must be refused. The shop's
orders (``sim/ops_market.py``) ask ``shop_price`` for the discounted unit price.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, Optional, Tuple

from sim.model import Violation

# Each economy's reward settings (set in setup): defaults, other amounts, a budget that runs out.
DEFAULTS = {"daily_base": 10, "daily_streak_bonus": 2, "daily_cap": 50, "quest_reward": 15,
            "referral_reward": 100, "grant_daily_budget": 100_000}
# (The second's cap is met on a streak's second day; the third's budget runs out most days.)
SETTINGS = ({}, {"daily_base": 12, "daily_streak_bonus": 3, "daily_cap": 14, "quest_reward": 20,
                 "referral_reward": 75}, {"grant_daily_budget": 900})
COURSES = {"py-101": 40, "sql.201": 120, "ml:301": 250}
MULTIPLIERS = (12_500, 13_333, 15_000, 20_000, 30_000)  # 13333: floors show (10 -> 13, 15 -> 19)
DISCOUNTS = (1_000, 1_500, 3_333, 9_000)  # 3333 of 25 is 8.33: 17 paid; 9000 of 40: 4 paid
GRANT_TYPES = ("daily", "quest", "referral", "course_completion")
SHORT = {"daily": "daily", "quest": "quest", "referral": "referral", "course_completion": "course"}
CATEGORY = {"rank": "rank", "pet": "voucher"}  # the shop's SKUs (sim/ops_market.py) and their categories


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class RewardsOps:
    def setup_rewards(self, econ: Dict[str, Any], n: int) -> None:
        changes = SETTINGS[n % len(SETTINGS)]
        if changes:
            status, resp = self.call("PUT", "/v1/admin/reward-settings", changes, econ["token"])
            assert status == 200 and resp["changed"], resp
        econ["rewards"] = {**DEFAULTS, **changes}
        for cid, reward in COURSES.items():
            status, resp = self.call("PUT", f"/v1/admin/courses/{cid}", {"title": cid, "reward": reward},
                                     econ["token"])
            assert status == 201, resp
            econ["model"].courses[cid] = {"reward": reward, "offered": True}

    def _retries(self) -> int:
        """Counts that move when a request may have committed without its first answer reaching anyone."""
        return self.outcomes["crash_retried"] + self.outcomes["5xx_retried"] + self.faults.injected["lost"]

    # -- events: what the model says applies now ----------------------------------------------

    def live_event(self, econ: Dict[str, Any], kind: str, applies: Any) -> Optional[Dict[str, Any]]:
        """The model's event of ``kind`` active now that ``applies`` (at most one: events of a kind never overlap).

        The app reads events through a 30 s cache (EVENTS_CACHE_SECONDS) that a write clears in
        its own container, and the simulation is one container: so the app sees every event
        write at once, except one whose answer was lost (the retry replays and never clears
        the cache). ``_event_write`` lets that window pass on the clock before anything else
        happens, so this is what the app sees. (Setting the cache to 0 would test a cache
        production does not run; waiting after every write would never test the clearing.)
        """
        now = self.clock.now
        live = [e for e in econ["model"].events.values() if e["kind"] == kind and e["stopped_at"] is None
                and e["starts_at"] <= now < e["ends_at"] and applies(e)]
        if len(live) > 1:
            raise Violation("event", f"the model holds overlapping {kind} events: {[e['id'] for e in live]}")
        return live[0] if live else None

    def shop_price(self, econ: Dict[str, Any], sku: str, list_price: int) -> Tuple[int, Optional[Dict[str, Any]]]:
        """The unit price a shop order pays now: the list price less a live discount's floored part."""
        event = self.live_event(econ, "shop_discount", lambda e: (e["skus"] is None or sku in e["skus"]) and (
            e["categories"] is None or CATEGORY[sku] in e["categories"]))
        if event is None:
            return list_price, None
        return list_price - list_price * event["bps"] // 10_000, event

    def check_order_event(self, oid: str, resp: Dict[str, Any], event: Optional[Dict[str, Any]],
                          list_price: int) -> None:
        got = (resp.get("event_id"), resp.get("discount_bps"), resp.get("list_price"))
        want = (event["id"], event["bps"], list_price) if event else (None, None, None)
        if got != want:
            raise Violation("discount", f"order {oid} records event/discount/list price {got}, the model {want}")

    # -- grants ---------------------------------------------------------------------------------

    def op_quest(self, econ: Dict[str, Any]) -> None:
        self.grant(econ, "quest", self.rng.choice(econ["users"]))

    def op_referral(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        user = self.rng.choice(econ["users"])
        r = self.rng.random()
        done = [k[1] for k in m.grants if k[0] == "referral"]
        if r < 0.1:
            ref = user  # self referral: refused
        elif r < 0.18:
            ref = f"ghost{self.rng.randint(0, 9)}"  # no wallet here: refused
        elif r < 0.35 and done:
            ref = self.rng.choice(done)
            if self.rng.random() < 0.5:  # the same referrer again: the first answer
                user = m.grants[("referral", ref)]["user"]
        else:
            ref = self.rng.choice([u for u in econ["users"] if u != user])
        self.grant(econ, "referral", user, ref)

    def op_course(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        cid = self.rng.choice(sorted(COURSES))
        if self.rng.random() < 0.12:  # the operator reprices, retires or brings back a course
            self._course_admin(econ, cid)
            return
        r = self.rng.random()
        if r < 0.05:
            cid = "no-such-course"
        elif r < 0.08:
            cid = "not a course"  # not even a course id: a 400, before anything is read
        self.grant(econ, "course_completion", self.rng.choice(econ["users"]), cid)

    def _course_admin(self, econ: Dict[str, Any], cid: str) -> None:
        course = econ["model"].courses[cid]
        if course["offered"] and self.rng.random() < 0.4:
            status, resp = self.call("DELETE", f"/v1/admin/courses/{cid}", None, econ["token"])
            self.outcomes[f"course_delete_{status}"] += 1
            if status != 200:
                raise Violation("course", f"deleting {cid} answered {status}: {resp}")
            course["offered"] = False
            return
        reward = self.rng.choice((COURSES[cid], COURSES[cid] * 2, 7))
        status, resp = self.call("PUT", f"/v1/admin/courses/{cid}", {"title": cid, "reward": reward}, econ["token"])
        self.outcomes[f"course_put_{status}"] += 1
        # A deleted course comes back through PUT; whether the answer is 200 or 201 for that is the registry's.
        if status not in (200, 201) or resp.get("reward") != reward:
            raise Violation("course", f"putting {cid} at {reward} answered {status}: {resp}")
        course.update(reward=reward, offered=True)

    def _grant_expected(self, econ: Dict[str, Any], kind: str, user: str, ref: Optional[str], day: Any
                ) -> Dict[str, Any]:
        """What the rules say this grant must answer, in the order the engine checks them."""
        m, s = econ["model"], econ["rewards"]
        if kind == "referral":
            if ref == user:
                return {"refuse": (422, "self_referral")}
            if m.frozen(user):
                return {"refuse": (422, "account_frozen")}
            if ref not in econ["users"]:
                return {"refuse": (404, "user_not_found")}
            key: Tuple[Any, ...] = ("referral", ref)
            first = m.grants.get(key)
            if first is not None and first["user"] != user:
                return {"refuse": (409, "reward_already_claimed")}
            base = s["referral_reward"]
        elif kind == "course_completion":
            if " " in (ref or ""):
                return {"refuse": (400, "validation_error")}
            if m.frozen(user):
                return {"refuse": (422, "account_frozen")}
            course = m.courses.get(ref or "")
            if course is None or not course["offered"]:  # a repeat after a delete is refused too
                return {"refuse": (404, "course_not_found")}
            key, base = ("course", user, ref), course["reward"]
        else:
            if m.frozen(user):
                return {"refuse": (422, "account_frozen")}
            key = (kind, user, day)
            if kind == "quest":
                base = s["quest_reward"]
            else:  # the streak goes on from yesterday's claim, else starts again at 1
                last, streak = m.streaks.get(user, (None, 0))
                streak = streak + 1 if last == day - timedelta(days=1) else 1
                uncapped = s["daily_base"] + s["daily_streak_bonus"] * (streak - 1)
                base = min(s["daily_cap"], uncapped)
        if key in m.grants:
            return {"replay": m.grants[key], "key": key}
        event = self.live_event(econ, "reward_multiplier", lambda e: e["rewards"] is None or kind in e["rewards"])
        amount = base * event["bps"] // 10_000 if event else base
        used = m.grant_budget.get(day, 0)
        if used + amount > s["grant_daily_budget"]:
            return {"refuse": (429, "grant_budget_exceeded"), "used": used, "amount": amount}
        expect = {"pay": amount, "base": base, "event": event, "key": key}
        if kind == "daily":
            expect.update(streak=streak, capped=uncapped > base)
        return expect

    def grant(self, econ: Dict[str, Any], kind: str, user: str, ref: Optional[str] = None) -> None:
        m = econ["model"]
        label = SHORT[kind]
        day = self.clock.now.date()
        expect = self._grant_expected(econ, kind, user, ref, day)
        body: Dict[str, Any] = {"type": kind, **({"ref": ref} if ref is not None else {})}
        before = self._retries()
        status, resp = self.call("POST", f"/v1/users/{user}/rewards", body, econ["token"])
        retried = self._retries() != before
        self.outcomes[f"{label}_{status}"] += 1
        self.refused_if_frozen(econ, user, status, resp, f"a {kind} grant")
        resp = resp if isinstance(resp, dict) else {}
        if "refuse" in expect:
            want_status, want_code = expect["refuse"]
            code = (resp.get("error") or {}).get("code")
            if (status, code) != (want_status, want_code):
                raise Violation("grant", f"{kind} for {user} ref={ref}: the model expects {want_status} {want_code}, "
                                         f"the API answered {status} {resp}")
            if want_code == "grant_budget_exceeded":
                d = resp["error"].get("details") or {}
                if (d.get("used"), d.get("requested")) != (expect["used"], expect["amount"]):
                    raise Violation("budget", f"{kind} for {user}: refused with {d}, the model had used "
                                              f"{expect['used']} and asked {expect['amount']}")
                self.outcomes["grant_budget_429"] += 1
            elif want_code != "account_frozen":
                self.outcomes[f"{label}_{want_code}"] += 1
            return
        if status != 200:
            raise Violation("grant", f"{kind} for {user} ref={ref} answered {status} {resp}; the model expects "
                                     f"{'a replay' if 'replay' in expect else expect['pay']}")
        if "replay" in expect:
            first = expect["replay"]
            if (resp.get("transaction_id"), resp.get("amount"), resp.get("already_claimed")) != (
                    first["tx"], first["amount"], True):
                raise Violation("grant_twice", f"{kind} for {user} ref={ref} again answered {resp}, the first "
                                               f"paid {first['amount']} in {first['tx']}")
            self.outcomes[f"{label}_again"] += 1
            return
        amount, event = expect["pay"], expect["event"]
        if resp.get("already_claimed") and not retried:
            raise Violation("grant", f"a first {kind} for {user} answered already_claimed unretried: {resp}")
        if resp.get("already_claimed"):
            self.outcomes["grant_retry_replayed"] += 1  # the first try paid and its answer was lost: paid once
        if (resp.get("amount"), resp.get("type"), resp.get("ref")) != (amount, kind, ref):
            raise Violation("grant_amount", f"{kind} for {user} ref={ref} paid {resp.get('amount')}, the rule says "
                                            f"{amount} (base {expect['base']}, event {event and event['bps']}): {resp}")
        if kind == "daily" and resp.get("streak") != expect["streak"]:
            raise Violation("streak", f"{user}'s daily made streak {resp.get('streak')}, the model {expect['streak']}")
        self._check_grant_event(econ, user, resp, expect)
        m.grants[expect["key"]] = {"tx": resp["transaction_id"], "amount": amount, "user": user}
        m.grant_budget[day] = m.grant_budget.get(day, 0) + amount
        m.move(user, available=amount)
        if kind == "daily":
            last = m.streaks.get(user, (None, 0))[0]
            if last == day - timedelta(days=1):
                self.outcomes["daily_next_day"] += 1
            m.streaks[user] = (day, expect["streak"])
            if expect["capped"]:
                self.outcomes["daily_capped"] += 1

    def _check_grant_event(self, econ: Dict[str, Any], user: str, resp: Dict[str, Any], expect: Dict[str, Any]
                           ) -> None:
        """The answer and the ledger entry's meta record the event that multiplied the grant (or none)."""
        event = expect["event"]
        shown = resp.get("event") or {}
        if event is None:
            if "event" in resp or "base_amount" in resp:
                raise Violation("event", f"a grant outside any event says it was multiplied: {resp}")
            return
        if (shown.get("event_id"), shown.get("multiplier_bps"), resp.get("base_amount")) != (
                event["id"], event["bps"], expect["base"]):
            raise Violation("event", f"a grant in event {event['id']} (x{event['bps']}, base {expect['base']}) "
                                     f"answered {resp}")
        with self.faults.quiet():  # an oracle's read
            status, page = self._call("GET", f"/v1/users/{user}/transactions?limit=10", token=econ["token"])
        entry = next((e for e in (page or {}).get("items", []) if e["id"] == resp["transaction_id"]), None)
        meta = (entry or {}).get("details") or {}
        if (meta.get("event_id"), meta.get("multiplier_bps"), meta.get("base_amount")) != (
                event["id"], event["bps"], expect["base"]):
            raise Violation("event", f"the entry of {resp['transaction_id']} records {meta}, the event was "
                                     f"{event['id']} x{event['bps']} on {expect['base']}")
        self.outcomes["grant_during_event"] += 1
        self.outcomes[f"{SHORT[resp['type']]}_during_event"] += 1

    # -- operator events --------------------------------------------------------------------------

    def op_event(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        now = self.clock.now
        open_ = [e for e in m.events.values() if e["stopped_at"] is None and now < e["ends_at"]]
        scheduled = [e for e in open_ if now < e["starts_at"]]
        r = self.rng.random()
        # Now and then players claim and buy right before and right after the operator's write (the
        # same moment): the app read the events before it, and must see the write at once after it
        # (a write clears its own container's cache), not up to 30 s later.
        around = self.rng.random() < 0.5
        if around:
            self._player_acts(econ)
        if open_ and r < 0.25:
            self._event_write(econ, self.rng.choice(open_), "stop")
        elif scheduled and r < 0.5:
            self._event_write(econ, self.rng.choice(scheduled), "start")
        else:
            self._event_create(econ)
        if around:
            self._player_acts(econ)
            self.outcomes["event_write_between_claims"] += 1

    def _player_acts(self, econ: Dict[str, Any]) -> None:
        getattr(self, self.rng.choice(("op_daily", "op_quest", "op_order")))(econ)

    def _overlapping(self, econ: Dict[str, Any], kind: str, start: datetime, end: datetime,
                     other_than: Optional[str] = None) -> Optional[Dict[str, Any]]:
        now = self.clock.now
        return next((e for e in econ["model"].events.values() if e["id"] != other_than and e["kind"] == kind
                     and e["stopped_at"] is None and e["ends_at"] > now
                     and e["starts_at"] < end and start < e["ends_at"]), None)

    def _event_create(self, econ: Dict[str, Any]) -> None:
        now = self.clock.now
        kind = self.rng.choice(("reward_multiplier", "shop_discount"))
        start = now if self.rng.random() < 0.5 else now + timedelta(seconds=self.rng.randint(60, 3_600))
        end = start + timedelta(seconds=self.rng.randint(900, 7_200))
        body: Dict[str, Any] = {"name": f"sim {kind}", "kind": kind, "ends_at": _stamp(end)}
        if start != now or self.rng.random() < 0.5:
            body["starts_at"] = _stamp(start)
        filters: Dict[str, Any] = {"rewards": None, "skus": None, "categories": None}
        if kind == "reward_multiplier":
            body["multiplier_bps"] = bps = self.rng.choice(MULTIPLIERS)
            if self.rng.random() < 0.4:
                filters["rewards"] = body["rewards"] = self.rng.sample(GRANT_TYPES, self.rng.randint(1, 2))
        else:
            body["discount_bps"] = bps = self.rng.choice(DISCOUNTS)
            r = self.rng.random()
            if r < 0.25:
                filters["skus"] = body["skus"] = ["rank"]
            elif r < 0.45:
                filters["categories"] = body["categories"] = ["voucher"]
        invalid = self.rng.random() < 0.08
        if invalid:  # a window that ends where it starts: no event
            body["starts_at"] = body["ends_at"]
        clash = None if invalid else self._overlapping(econ, kind, start, end)
        req = ("POST", "/v1/admin/events", body, self.key("evt"))
        before = self._retries()
        status, resp = self.call(*req[:2], req[2], econ["token"], req[3])
        retried = self._retries() != before
        self.outcomes[f"event_create_{status}"] += 1
        code = ((resp or {}).get("error") or {}).get("code") if isinstance(resp, dict) else None
        if invalid or clash:
            want = "invalid_event" if invalid else "event_overlap"
            if (status, code) != ((422 if invalid else 409), want):
                raise Violation("event", f"a {kind} {body} should be refused {want} ({clash and clash['id']}): "
                                         f"{status} {resp}")
            self.outcomes[want] += 1
            return self._cache_window(retried)
        if status not in (200, 201) or (status == 200 and not retried):
            raise Violation("event", f"creating {body} answered {status} {resp}")
        if (_parse(resp["starts_at"]), _parse(resp["ends_at"]), resp["status"]) != (
                start, end, "active" if start == now else "scheduled"):
            raise Violation("event", f"{body} was made as {resp} at {now}")
        econ["model"].events[resp["event_id"]] = {"id": resp["event_id"], "kind": kind, "bps": bps,
                                                  "starts_at": start, "ends_at": end, "stopped_at": None, **filters}
        self.outcomes["event_created"] += 1
        if self.rng.random() < 0.2:  # the operator's client sends it again: the same event, nothing new
            status, again = self.call(*req[:2], req[2], econ["token"], req[3])
            if status != 200 or again.get("event_id") != resp["event_id"]:
                raise Violation("replay", f"creating {body} again with its key answered {status} {again}")
            self.outcomes["event_create_replayed"] += 1
        self._cache_window(retried)

    def _event_write(self, econ: Dict[str, Any], event: Dict[str, Any], action: str) -> None:
        """Stop (scheduled or active) or start (scheduled) an event now."""
        now = self.clock.now
        eid = event["id"]
        clash = self._overlapping(econ, event["kind"], now, event["ends_at"], eid) if action == "start" else None
        before = self._retries()
        status, resp = self.call("POST", f"/v1/admin/events/{eid}/{action}", {"reason": f"sim {action}"},
                                 econ["token"])
        retried = self._retries() != before
        self.outcomes[f"event_{action}_{status}"] += 1
        code = ((resp or {}).get("error") or {}).get("code") if isinstance(resp, dict) else None
        if clash:
            if (status, code) != (409, "event_overlap"):
                raise Violation("event", f"starting {eid} over {clash['id']} answered {status} {resp}")
            self.outcomes["event_overlap"] += 1
            return self._cache_window(retried)
        if status == 409 and code == "event_state_conflict" and retried:
            # The first try committed and its answer was lost: the retry finds it done. Read it back.
            with self.faults.quiet():
                status, resp = self._call("GET", f"/v1/admin/events/{eid}", token=econ["token"])
        want = "stopped" if action == "stop" else "active"
        if status != 200 or resp.get("status") != want:
            raise Violation("event", f"{action} of {eid} (model: {event}) answered {status} {resp}")
        if action == "stop":
            if _parse(resp["stopped_at"]) != now:
                raise Violation("event", f"{eid} stopped at {resp['stopped_at']}, the clock says {now}")
            event["stopped_at"] = now
            self.outcomes["event_stopped" if event["starts_at"] <= now else "event_stopped_before_start"] += 1
        else:
            if _parse(resp["starts_at"]) != now:
                raise Violation("event", f"{eid} started at {resp['starts_at']}, the clock says {now}")
            event["starts_at"] = now
            self.outcomes["event_started"] += 1
        self._cache_window(retried)

    def _cache_window(self, retried: bool) -> None:
        """After an event write whose answer was lost, the app's cache may hold the list from before it
        (the retry replayed, and only the first try's commit would have cleared it): let 30 s pass."""
        if retried:
            from chalicelib.tenancy.events import EVENTS_CACHE_SECONDS

            self.clock.advance(EVENTS_CACHE_SECONDS + 1)
            self.outcomes["event_cache_waited"] += 1
