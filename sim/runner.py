"""The simulation: a population, weighted operations through the app's handlers, faults, a money model, oracles.

The model is the simulator's own account of the money: every 2xx (or replay) moves it
as the answer says, computed from the rule (splits re-derived here, not read back),
and a 4xx moves nothing. It is compared with what the API reports every ``check_every``
operations and at the end, with the ledger's invariants and a full reconciliation.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from sim.model import Model, Violation
from sim.faults import Faults

USERS = 20
ECONOMIES = 3
CREATOR_SHARE_BPS = 7_000  # the stage default (chalicelib.spending.rates)
ESCROW_FEE_BPS = 1_000
STRIPE_SECRET = "whsec_local_dev_only"
# 23:00 UTC: the first daily claims straddle a UTC midnight within the first hour of simulated time.
START = datetime(2026, 3, 1, 23, 0, tzinfo=timezone.utc)

WEIGHTS = {
    "adjust": 10, "spend": 12, "tip": 8, "content_put": 3, "unlock": 10,
    "hold_place": 8, "hold_settle": 5, "hold_release": 3, "jobs": 3,
    "escrow_open": 5, "escrow_release": 3, "escrow_refund": 2,
    "checkout": 6, "late_refund": 1, "daily": 6, "replay": 8,
}

_env_ready = False


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _setup_env(endpoint: str, prefix: str) -> None:
    from chalicelib.core import config
    from chalicelib.db import engine as db_engine
    from chalicelib.tenancy import apikeys

    os.environ.update({
        "COINS_STAGE": "local", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "COINS_LEDGER_RETRY_SECONDS": "30",
        "COINS_DYNAMODB_ENDPOINT": endpoint, "COINS_TABLE_PREFIX": prefix,
    })
    os.environ.pop("STRIPE_SECRET_KEY", None)  # local payments: the webhook path is the real one
    config.reset_settings()
    db_engine.reset()
    apikeys.clear_cache()


class Sim:
    def __init__(self, seed: int, ops: int, client: Any, check_every: int, fault_rate: float, run_tag: str) -> None:
        import random

        self.seed, self.ops, self.client = seed, ops, client
        self.check_every = check_every
        self.rng = random.Random(seed)
        self.clock = Clock(START)
        self.faults = Faults(self.rng, fault_rate)
        self.by_kind: Counter = Counter()
        self.outcomes: Counter = Counter()
        self.op_index = -1
        self.run_tag = run_tag
        self.seq = 0
        self.economies: List[Dict[str, Any]] = []

    # -- HTTP through the app's own handlers --------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, token: Optional[str] = None,
              key: Optional[str] = None, headers: Optional[Dict[str, str]] = None, raw: Optional[str] = None
              ) -> Tuple[int, Any]:
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        if key:
            h["Idempotency-Key"] = key
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        resp = self.client.http.request(method, path, headers=h, body=data or b"")
        try:
            parsed = json.loads(resp.body) if resp.body else None
        except ValueError:
            parsed = resp.body
        return resp.status_code, parsed

    def call(self, method: str, path: str, body: Any = None, token: Optional[str] = None,
             key: Optional[str] = None, **kw: Any) -> Tuple[int, Any]:
        """A client that retries a 5xx with the same request (and key) until it gets an answer."""
        for _ in range(8):
            status, parsed = self._call(method, path, body, token, key, **kw)
            if status < 500:
                return status, parsed
            self.outcomes["5xx_retried"] += 1
        raise Violation("availability", f"{method} {path} answered 5xx eight times: {parsed}")

    def key(self, what: str) -> str:
        self.seq += 1
        return f"sim-{self.run_tag}-{what}-{self.seq}"

    # -- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        from chalicelib.purchases.packs import seed_packs
        from chalicelib.tenancy import apikeys

        for n in range(ECONOMIES):
            eid = f"s{self.run_tag}e{n}"
            admin, _ = apikeys.create_key(eid, apikeys.SCOPES, label="sim admin")
            seed_packs(eid)
            econ = {"id": eid, "token": admin, "model": Model(), "users": [f"u{i}" for i in range(USERS)],
                    "content": {}, "packs": []}
            status, packs = self.call("GET", "/v1/packs", token=admin)
            assert status == 200, packs
            items = packs["items"] if isinstance(packs, dict) else packs
            econ["packs"] = [p["id"] for p in items]
            for user in econ["users"]:  # every user starts with a wallet and some coins
                status, _ = self.call("POST", f"/v1/admin/users/{user}/adjust", {"amount": 1_000, "reason": "seed"},
                                      admin, self.key("seed"))
                assert status == 200
                econ["model"].move(user, available=1_000)
            self.economies.append(econ)

    # -- the run -------------------------------------------------------------------------

    def run(self) -> None:
        from chalicelib.core import ids

        kinds = list(WEIGHTS)
        weights = [WEIGHTS[k] for k in kinds]
        saved = ids.clock
        ids.clock = self.clock
        self.faults.install()
        try:
            self.setup()
            for i in range(self.ops):
                self.op_index = i
                self.clock.advance(self.rng.randint(1, 40))
                econ = self.rng.choice(self.economies)
                kind = self.rng.choices(kinds, weights)[0]
                self.by_kind[kind] += 1
                getattr(self, "op_" + kind)(econ)
                if (i + 1) % self.check_every == 0:
                    self.faults.paused = True
                    self.check_all()
                    self.faults.paused = False
            self.op_index = self.ops
            self.faults.paused = True
            self.check_all()
            self.final_checks()
        finally:
            self.faults.uninstall()
            ids.clock = saved

    # -- helpers -------------------------------------------------------------------------

    def two_users(self, econ: Dict[str, Any]) -> Tuple[str, str]:
        a, b = self.rng.sample(econ["users"], 2)
        return a, b

    def amount(self, econ: Dict[str, Any], user: str, spread: int = 120) -> int:
        avail = econ["model"].w(user)["available"]
        # Mostly affordable, sometimes not (a refusal must move nothing).
        if avail > 0 and self.rng.random() < 0.85:
            return self.rng.randint(1, max(1, min(avail, spread)))
        return self.rng.randint(1, spread * 3)

    def remember(self, econ: Dict[str, Any], req: Tuple, ident: Any) -> None:
        rep = econ["model"].replayable
        rep.append((req, ident))
        if len(rep) > 60:
            rep.pop(0)

    # -- operations ----------------------------------------------------------------------

    def op_adjust(self, econ: Dict[str, Any]) -> None:
        user = self.rng.choice(econ["users"])
        m = econ["model"]
        amount = self.rng.randint(1, 500)
        if self.rng.random() < 0.3:
            amount = -self.rng.randint(1, max(1, m.w(user)["available"] + 50))
        req = ("POST", f"/v1/admin/users/{user}/adjust", {"amount": amount, "reason": "sim"}, self.key("adj"))
        status, body = self.call(*req[:2], req[2], econ["token"], req[3])
        self.outcomes[f"adjust_{status}"] += 1
        if status == 200:
            m.move(user, available=amount)
            self.remember(econ, req, body["transaction_id"])

    def op_spend(self, econ: Dict[str, Any], creator: Optional[str] = None) -> None:
        m = econ["model"]
        user = self.rng.choice(econ["users"])
        if creator is None and self.rng.random() < 0:
            creator = None
        amount = self.amount(econ, user)
        body: Dict[str, Any] = {"amount": amount, "reason": "sim"}
        if creator:
            body["creator_id"] = creator
        req = ("POST", f"/v1/users/{user}/spend", body, self.key("spend"))
        status, resp = self.call(*req[:2], req[2], econ["token"], req[3])
        self.outcomes[f"{'tip' if creator else 'spend'}_{status}"] += 1
        if status == 200:
            m.move(user, available=-amount)
            if creator:
                share = amount * CREATOR_SHARE_BPS // 10_000
                if resp.get("creator_amount") != share:
                    raise Violation("split", f"tip of {amount} paid the creator {resp.get('creator_amount')}, "
                                             f"the rule says {share}")
                m.move(creator, earnings=share)
            self.remember(econ, req, resp["transaction_id"])

    def op_tip(self, econ: Dict[str, Any]) -> None:
        self.op_spend(econ, creator=self.rng.choice(econ["users"]))

    def op_content_put(self, econ: Dict[str, Any]) -> None:
        cid = f"c{self.rng.randint(0, 7)}"
        creator = self.rng.choice(econ["users"])
        price = self.rng.randint(1, 80)
        body: Dict[str, Any] = {"title": "A chapter", "price": price, "creator_id": creator}
        share = CREATOR_SHARE_BPS
        if self.rng.random() < 0.5:
            share = body["creator_share_bps"] = self.rng.choice([0, 5_000, 8_500, 10_000])
        status, resp = self.call("PUT", f"/v1/admin/content/{cid}", body, econ["token"])
        self.outcomes[f"content_put_{status}"] += 1
        if status in (200, 201):
            econ["content"][cid] = {"price": price, "creator": creator, "share": share}

    def op_unlock(self, econ: Dict[str, Any]) -> None:
        if not econ["content"]:
            return self.op_content_put(econ)
        m = econ["model"]
        cid = self.rng.choice(sorted(econ["content"]))
        item = econ["content"][cid]
        user = self.rng.choice(econ["users"])
        status, resp = self.call("POST", f"/v1/users/{user}/unlocks", {"content_id": cid}, econ["token"])
        self.outcomes[f"unlock_{status}"] += 1
        if status not in (200, 201):
            return
        if (user, cid) in m.unlocks:
            first = m.unlocks[(user, cid)]
            if resp.get("transaction_id") != first:
                raise Violation("unlock_twice", f"{user} unlocked {cid} again: {resp.get('transaction_id')} "
                                                f"after {first}")
            return
        m.unlocks[(user, cid)] = resp.get("transaction_id")
        if user == item["creator"]:
            return  # a creator's own content is free
        price = item["price"]
        creator_amount = price * item["share"] // 10_000
        if (resp.get("price"), resp.get("creator_amount")) != (price, creator_amount):
            raise Violation("split", f"unlock of {cid} at {price} ({item['share']} bps) answered {resp}")
        m.move(user, available=-price)
        m.move(item["creator"], earnings=creator_amount)

    def op_hold_place(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        user = self.rng.choice(econ["users"])
        amount = self.amount(econ, user)
        expires_in = self.rng.randint(60, 900)
        req = ("POST", "/v1/holds", {"user_id": user, "amount": amount, "purpose": "call",
                                     "expires_in": expires_in}, self.key("hold"))
        status, resp = self.call(*req[:2], req[2], econ["token"], req[3])
        self.outcomes[f"hold_place_{status}"] += 1
        if status == 201 or status == 200:
            m.move(user, available=-amount, held=amount)
            m.holds[resp["hold_id"]] = {"user": user, "amount": amount,
                                        "due": self.clock.now + timedelta(seconds=expires_in), "kind": "hold"}
            self.remember(econ, req, _ident(resp))

    def _live(self, econ: Dict[str, Any], kind: str) -> Optional[str]:
        """An active hold/escrow well before its deadline (a job may take one at its deadline)."""
        margin = self.clock.now + timedelta(seconds=5)
        live = sorted(h for h, v in econ["model"].holds.items() if v["kind"] == kind and v["due"] > margin)
        return self.rng.choice(live) if live else None

    def op_hold_settle(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        hold_id = self._live(econ, "hold")
        if hold_id is None:
            return self.op_hold_place(econ)
        h = m.holds[hold_id]
        amount = self.rng.randint(1, h["amount"] + 5)  # sometimes more than held: refused
        body: Dict[str, Any] = {"amount": amount}
        to = None
        if self.rng.random() < 0.6:
            to = self.rng.choice([u for u in econ["users"] if u != h["user"]])
            body["to_user_id"] = to
        status, resp = self.call("POST", f"/v1/holds/{hold_id}/settle", body, econ["token"], self.key("settle"))
        self.outcomes[f"hold_settle_{status}"] += 1
        if status == 200:
            del m.holds[hold_id]
            m.move(h["user"], held=-h["amount"], available=h["amount"] - amount)
            if to:
                m.move(to, earnings=amount * CREATOR_SHARE_BPS // 10_000)

    def op_hold_release(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        hold_id = self._live(econ, "hold")
        if hold_id is None:
            return self.op_hold_place(econ)
        h = m.holds[hold_id]
        status, resp = self.call("POST", f"/v1/holds/{hold_id}/release", None, econ["token"], self.key("rel"))
        self.outcomes[f"hold_release_{status}"] += 1
        if status == 200:
            del m.holds[hold_id]
            m.move(h["user"], held=-h["amount"], available=h["amount"])

    def op_escrow_open(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        client, freelancer = self.two_users(econ)
        amount = self.amount(econ, client)
        after = self.rng.randint(300, 3_600)
        req = ("POST", "/v1/escrows", {"client_id": client, "freelancer_id": freelancer, "amount": amount,
                                       "job_ref": "job", "auto_release_after": after}, self.key("esc"))
        status, resp = self.call(*req[:2], req[2], econ["token"], req[3])
        self.outcomes[f"escrow_open_{status}"] += 1
        if status in (200, 201):
            m.move(client, available=-amount, held=amount)
            m.holds[resp["escrow_id"]] = {"user": client, "amount": amount, "payee": freelancer,
                                          "due": self.clock.now + timedelta(seconds=after), "kind": "escrow"}
            self.remember(econ, req, _ident(resp))

    def _escrow_end(self, econ: Dict[str, Any], action: str) -> None:
        m = econ["model"]
        escrow_id = self._live(econ, "escrow")
        if escrow_id is None:
            return self.op_escrow_open(econ)
        e = m.holds[escrow_id]
        status, resp = self.call("POST", f"/v1/escrows/{escrow_id}/{action}", None, econ["token"],
                                 self.key(action))
        self.outcomes[f"escrow_{action}_{status}"] += 1
        if status == 200:
            del m.holds[escrow_id]
            if action == "release":
                m.move(e["user"], held=-e["amount"])
                m.move(e["payee"], earnings=e["amount"] * (10_000 - ESCROW_FEE_BPS) // 10_000)
            else:
                m.move(e["user"], held=-e["amount"], available=e["amount"])

    def op_escrow_release(self, econ: Dict[str, Any]) -> None:
        self._escrow_end(econ, "release")

    def op_escrow_refund(self, econ: Dict[str, Any]) -> None:
        self._escrow_end(econ, "refund")

    def op_jobs(self, econ: Dict[str, Any]) -> None:
        """Time passes (holds expire, escrows come due), then the expiry jobs run."""
        from chalicelib.runtime.jobs import run_job

        self.clock.advance(self.rng.randint(0, 1_200))
        # Nothing sits on a deadline to the second: the model must know what a job takes.
        while any(abs((h["due"] - self.clock.now).total_seconds()) <= 2 for e in self.economies
                  for h in e["model"].holds.values()):
            self.clock.advance(5)
        for job in ("expire-holds", "release-escrows"):
            report = run_job(job)
            if report["status"] != "ok":
                self.outcomes[f"job_{job}_failed"] += 1  # a faulted run: the next one resumes
                report = run_job(job)
            if report["status"] != "ok":
                raise Violation("job", f"{job} failed twice: {report}")
        for e in self.economies:
            m = e["model"]
            for hid, h in sorted(m.holds.items()):
                if h["due"] < self.clock.now:
                    del m.holds[hid]
                    self.outcomes[f"{h['kind']}_came_due"] += 1
                    if h["kind"] == "hold":
                        m.move(h["user"], held=-h["amount"], available=h["amount"])
                    else:
                        m.move(h["user"], held=-h["amount"])
                        m.move(h["payee"], earnings=h["amount"] * (10_000 - ESCROW_FEE_BPS) // 10_000)

    def _deliver(self, evt: Dict[str, Any]) -> int:
        import stripe

        payload = json.dumps(evt)
        sig = stripe.WebhookSignature.generate_signature_header(payload, STRIPE_SECRET, int(time.time()))
        status, resp = self.call("POST", "/v1/webhooks/stripe", raw=payload, headers={"Stripe-Signature": sig})
        if status != 200:
            raise Violation("webhook", f"{evt['type']} answered {status}: {resp}")
        return status

    def _event(self, etype: str, obj: Dict[str, Any]) -> Dict[str, Any]:
        self.seq += 1
        return {"id": f"evt_sim{self.run_tag}x{self.seq}", "object": "event", "type": etype, "created": int(time.time()),
                "livemode": False, "data": {"object": obj}}

    def _completed(self, p: Dict[str, Any]) -> Dict[str, Any]:
        pid = p["purchase_id"]
        return self._event("checkout.session.completed", {
            "id": p["session_id"], "object": "checkout.session", "mode": "payment", "status": "complete",
            "payment_status": "paid", "amount_total": p["price"]["amount"], "currency": p["price"]["currency"],
            "client_reference_id": pid, "metadata": {"purchase_id": pid}, "payment_intent": "pi_" + pid[4:]})

    def _refunded(self, p: Dict[str, Any]) -> Dict[str, Any]:
        pid = p["purchase_id"]
        return self._event("charge.refunded", {
            "id": "ch_" + pid[4:], "object": "charge", "amount": p["price"]["amount"],
            "amount_refunded": p["price"]["amount"], "currency": p["price"]["currency"],
            "payment_intent": "pi_" + pid[4:], "metadata": {"purchase_id": pid}})

    def op_checkout(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        user = self.rng.choice(econ["users"])
        pack = self.rng.choice(econ["packs"])
        status, p = self.call("POST", "/v1/checkout", {"user_id": user, "pack_id": pack}, econ["token"],
                              self.key("buy"))
        self.outcomes[f"checkout_{status}"] += 1
        if status not in (200, 201):
            return
        # Stripe delivers at least once, in any order: 1-3 completions, maybe a refund among them.
        events = [self._completed(p) for _ in range(self.rng.randint(1, 3))]
        refund = self.rng.random() < 0.25 and m.w(user)["available"] >= 0
        if refund:
            events.append(self._refunded(p))
        self.rng.shuffle(events)
        self.outcomes[f"deliveries_{len(events)}"] += 1
        for evt in events:
            self._deliver(evt)
        coins = p["total_coins"]
        if refund:
            self.outcomes["refunded_in_flight"] += 1  # credited then clawed back in full: nothing moves
            m.purchases[p["purchase_id"]] = {"user": user, "coins": coins, "state": "refunded", "p": p}
        else:
            m.move(user, available=coins)
            m.purchases[p["purchase_id"]] = {"user": user, "coins": coins, "state": "credited", "p": p}

    def op_late_refund(self, econ: Dict[str, Any]) -> None:
        """A refund days later, of a purchase whose coins are all still there (so no debt)."""
        m = econ["model"]
        due = sorted(pid for pid, v in m.purchases.items()
                     if v["state"] == "credited" and m.w(v["user"])["available"] >= v["coins"])
        if not due:
            return self.op_checkout(econ)
        pid = self.rng.choice(due)
        v = m.purchases[pid]
        self._deliver(self._refunded(v["p"]))
        v["state"] = "refunded"
        m.move(v["user"], available=-v["coins"])

    def op_daily(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        user = self.rng.choice(econ["users"])
        day = self.clock.now.date()
        status, resp = self.call("POST", f"/v1/users/{user}/rewards", {"type": "daily"}, econ["token"])
        self.outcomes[f"daily_{status}"] += 1
        if status not in (200, 201):
            return
        first = m.daily.get((user, day))
        if first is not None:
            if resp["transaction_id"] != first:
                raise Violation("daily_twice", f"{user} paid twice on {day}: {resp['transaction_id']} after {first}")
            return
        m.daily[(user, day)] = resp["transaction_id"]
        if (user, day - timedelta(days=1)) in m.daily:
            self.outcomes["daily_next_day"] += 1
        m.move(user, available=resp["amount"])

    def op_replay(self, econ: Dict[str, Any]) -> None:
        """A client retry of an earlier write with the same Idempotency-Key: it must replay, moving nothing."""
        rep = econ["model"].replayable
        if not rep:
            return self.op_adjust(econ)
        (method, path, body, key), ident = self.rng.choice(rep)
        status, resp = self.call(method, path, body, econ["token"], key)
        self.outcomes[f"replay_{status}"] += 1
        got = _ident(resp)
        if status not in (200, 201) or got != ident:
            raise Violation("replay", f"retry of {method} {path} key={key} answered {status} {resp}, "
                                      f"the first answer was {ident}")

    # -- oracles -------------------------------------------------------------------------

    def check_all(self) -> None:
        from chalicelib.ledger.invariants import check_economy

        for econ in self.economies:
            books = check_economy(econ["id"])
            if not books.ok:
                raise Violation("books", f"{econ['id']}: {books.discrepancies}")
            m = econ["model"]
            for user in econ["users"]:
                status, w = self._call("GET", f"/v1/users/{user}/wallet", token=econ["token"])
                have = {"available": 0, "held": 0, "earnings": 0} if status == 404 else \
                    {b: w[b] for b in ("available", "held", "earnings")}
                if status not in (200, 404):
                    raise Violation("wallet", f"{econ['id']}/{user} answered {status}: {w}")
                want = m.w(user)
                if have != want:
                    raise Violation("model", f"{econ['id']}/{user}: the API says {have}, the model {want}")
                if min(have.values()) < 0:
                    raise Violation("negative", f"{econ['id']}/{user}: {have}")
                if status == 200 and (w.get("debt") or w.get("frozen")):
                    raise Violation("model", f"{econ['id']}/{user} has debt or is frozen: {w}")
        self.outcomes["oracle_checks"] += 1

    def final_checks(self) -> None:
        from chalicelib.runtime.jobs import run_job

        for econ in self.economies:
            for pid, v in sorted(econ["model"].purchases.items()):
                status, view = self._call("GET", f"/v1/purchases/{pid}", token=econ["token"])
                want = "credited" if v["state"] == "credited" else "refunded"
                if status != 200 or view.get("status") != want:
                    raise Violation("purchase", f"{pid} should be {want}: {status} {view}")
        report = run_job("reconcile", full=True)
        self.reconcile = {k: report.get(k) for k in ("accounts_checked", "entries_checked", "purchases_checked")}
        if report["status"] != "ok" or report["discrepancies"]:
            raise Violation("reconcile", f"{report.get('discrepancies') or report.get('error')}")


def _ident(resp: Any) -> Any:
    """What names a write's result: its hold or escrow, else its ledger operation."""
    resp = resp if isinstance(resp, dict) else {}
    return resp.get("hold_id") or resp.get("escrow_id") or resp.get("transaction_id")


def _one_run(seed: int, ops: int, endpoint: str, run_tag: str, check_every: int, fault_rate: float
             ) -> Tuple[Sim, Optional[Dict[str, Any]], float]:
    from chalice.test import Client

    _setup_env(endpoint, f"sim{run_tag}-")
    import chalicelib.wiring  # noqa: F401 (every queue topic and job)
    from chalicelib.db.schema import create_tables
    from chalicelib.runtime import queue

    create_tables()
    from app import app

    started = time.monotonic()
    violation = None
    with Client(app, stage_name="local") as client, \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        sim = Sim(seed, ops, client, check_every, fault_rate, run_tag)
        try:
            sim.run()
        except Violation as exc:
            violation = {"op": sim.op_index, "kind": exc.kind, "message": str(exc)[:2000]}
        queue.drain(30)
    return sim, violation, time.monotonic() - started


def simulate(seed: int, ops: int, check_every: int = 200, fault_rate: float = 0.03,
             shrink: bool = True) -> Dict[str, Any]:
    import logging

    from scripts import ddb_local

    logging.disable(logging.CRITICAL)  # faults make the app log errors by design; the summary is the output
    engine = ddb_local.start(in_memory=True)
    try:
        sim, violation, duration = _one_run(seed, ops, engine.endpoint, "0", check_every, fault_rate)
        summary: Dict[str, Any] = {
            "seed": seed, "ops": ops, "ops_by_kind": dict(sorted(sim.by_kind.items())),
            "faults_by_kind": dict(sorted(sim.faults.injected.items())),
            "transactions": sim.faults.calls, "outcomes": dict(sorted(sim.outcomes.items())),
            "violations": 1 if violation else 0, "duration_s": round(duration, 1),
            "ops_per_s": round((violation["op"] if violation else ops) / duration, 1) if duration else None,
            "simulated_days": round((sim.clock.now - START).total_seconds() / 86_400, 2),
            "reconcile": getattr(sim, "reconcile", None),
        }
        if violation:
            summary["violation"] = violation
            if shrink:
                summary["shortest_failing_ops"] = _shrink(seed, violation["op"] + 1, engine.endpoint,
                                                          check_every, fault_rate)
        return summary
    finally:
        engine.stop()


def _shrink(seed: int, failing: int, endpoint: str, check_every: int, fault_rate: float) -> int:
    """Halve the operation count while the run still fails (a prefix of a run is a run)."""
    tag = 1
    while failing > 1:
        half = failing // 2
        _, violation, _ = _one_run(seed, half, endpoint, str(tag), min(check_every, max(1, half)), fault_rate)
        tag += 1
        if not violation:
            break
        failing = min(half, violation["op"] + 1)
    return failing
