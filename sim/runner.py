"""The simulation: a population, weighted operations through the app's handlers, faults, a money model, oracles.

The model is the simulator's own account of the money: every 2xx (or replay) moves it
as the rule says (splits re-derived here, not read back), and a 4xx moves nothing. It
is compared with what the API reports every ``check_every`` operations and at the end,
with the ledger's invariants and a full reconciliation. The operations live by
capability in ``sim/ops_*.py``; this module runs them.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Optional, Tuple

from sim.faults import Faults
from sim.model import BUCKETS, Model, Violation
from sim.ops_discord import SIM_APPLICATION_ID, DiscordOps, signing_keys
from sim.ops_market import MarketOps
from sim.ops_purchases import PurchaseOps
from sim.ops_races import RaceOps
from sim.ops_rewards import RewardsOps
from sim.ops_spending import SpendingOps
from sim.ops_stripe import StripeOps
from sim.simqueue import Crash, SimQueue

USERS = 20
ECONOMIES = 3
# 23:00 UTC: the first daily claims straddle a UTC midnight within the first hour of simulated time.
START = datetime(2026, 3, 1, 23, 0, tzinfo=timezone.utc)

WEIGHTS = {
    "adjust": 10, "spend": 12, "tip": 8, "content_put": 3, "unlock": 10,
    "hold_place": 8, "hold_settle": 5, "hold_release": 3, "jobs": 3,
    "escrow_open": 5, "escrow_release": 3, "escrow_refund": 2,
    "checkout": 6, "late_refund": 2, "dispute": 3, "settle_debt": 3, "freeze": 5, "daily": 6, "replay": 8,
    "order": 6, "deliver": 5, "redeem": 3, "list": 3, "buy_listing": 4,
    "race": 3, "give": 8, "give_confirm": 3, "discord_setup": 1,
    "quest": 3, "referral": 2, "course": 3, "event": 2,
    "stripe_checkout": 3, "admin_refund": 3,
}
# Oracles every ``check_every`` operations read only what changed; every this many, everything.
FULL_CHECK_EVERY = 5
# The game server's side of a delivery try, in simulated seconds: fast retries, a short timeout.
MARKET_ENV = {"MINECRAFT_TIMEOUT_S": "0.25", "MINECRAFT_RETRY_BASE_S": "30", "MINECRAFT_MAX_ATTEMPTS": "4"}


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
    os.environ.update(MARKET_ENV)
    os.environ.pop("STRIPE_SECRET_KEY", None)  # local payments: the webhook path is the real one
    config.reset_settings()
    db_engine.reset()
    apikeys.clear_cache()


class Sim(SpendingOps, PurchaseOps, MarketOps, RaceOps, DiscordOps, RewardsOps, StripeOps):
    def __init__(self, seed: int, ops: int, client: Any, check_every: int, fault_rate: float, run_tag: str,
                 plugin: Any, discord: Any, stripe_api: Any = None) -> None:
        self.seed, self.ops, self.client, self.plugin, self.discord = seed, ops, client, plugin, discord
        self.check_every = check_every
        self.rng = random.Random(seed)
        self.clock = Clock(START)
        self.faults = Faults(self.rng, fault_rate)
        self.queue = SimQueue(self.clock)
        self.by_kind: Counter = Counter()
        self.outcomes: Counter = Counter()
        self.op_index = -1
        self.run_tag = run_tag
        self.seq = 0
        self.economies: List[Dict[str, Any]] = []
        self.wallets_seen = self.frozen_seen = 0  # at the oracle checks: how much of the population was frozen
        self.stripe_api = stripe_api

    # -- HTTP through the app's own handlers --------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, token: Optional[str] = None,
              key: Optional[str] = None, headers: Optional[Dict[str, str]] = None, raw: Optional[str] = None
              ) -> Tuple[int, Any]:
        h = {"Content-Type": "application/json", "X-Audit-Reason": "sim"}  # operators say why (admin writes)
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
        """A client that retries a 5xx or a dropped connection with the same request (and key) until answered."""
        status, parsed = 0, None
        for _ in range(8):
            try:
                status, parsed = self._call(method, path, body, token, key, **kw)
            except Crash:  # the server died mid-request: the client saw the connection drop
                self.outcomes["crash_retried"] += 1
                continue
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
            # The first economy is a Discord guild's: its users are members (snowflake ids) who /give.
            users = self.discord_members(USERS) if n == 0 else [f"u{i}" for i in range(USERS)]
            econ = {"id": eid, "token": admin, "model": Model(), "users": users, "content": {}, "packs": []}
            status, packs = self.call("GET", "/v1/packs", token=admin)
            assert status == 200, packs
            items = packs["items"] if isinstance(packs, dict) else packs
            econ["packs"] = [p["id"] for p in items]
            for user in econ["users"]:  # every user starts with a wallet and some coins
                status, _ = self.call("POST", f"/v1/admin/users/{user}/adjust", {"amount": 1_000, "reason": "seed"},
                                      admin, self.key("seed"))
                assert status == 200
                econ["model"].move(user, available=1_000)
            self.setup_market(econ)
            self.setup_rewards(econ, n)
            self.economies.append(econ)
            if n == 0:
                self.setup_discord(econ)

    # -- the run -------------------------------------------------------------------------

    def run(self) -> None:
        from chalicelib.core import ids
        from chalicelib.runtime import queue
        from chalicelib.spending import rates
        from chalicelib.market import pricing_config
        from chalicelib.tenancy import apikeys, events, game_servers

        kinds = list(WEIGHTS)
        weights = [WEIGHTS[k] for k in kinds]
        saved, saved_worker, saved_ids = ids.clock, queue._worker, (ids.millis, ids.entropy)
        ids.clock = self.clock
        self.id_rng = random.Random(self.seed)  # its own stream: ids never move the main one
        ids.millis = lambda: int(self.clock.now.timestamp() * 1000)
        ids.entropy = lambda n: self.id_rng.randbytes(n)
        queue._worker = self.queue
        random.seed(self.seed)  # the app's own jitter (delivery backoff) comes from the global generator
        # Caches expire on the simulated clock: a miss (one more read, one more chance of a fault)
        # happens where the seed puts it, not where the machine's speed does.
        cached = (apikeys, game_servers, rates, pricing_config, events)
        saved_caches = [m._clock for m in cached]
        for module in cached:
            module._clock = lambda: self.clock.now.timestamp()
        self.faults.install()
        try:
            self.install_discord()
            self.install_stripe(self.stripe_api)
            with self.faults.quiet():  # the population is made before the weather turns
                self.setup()
            for i in range(self.ops):
                self.op_index = i
                self.clock.advance(self.rng.randint(1, 40))
                econ = self.rng.choice(self.economies)
                kind = self.rng.choices(kinds, weights)[0]
                self.by_kind[kind] += 1
                self.faults.next_operation(self.rng.random())
                getattr(self, "op_" + kind)(econ)
                if (i + 1) % self.check_every == 0:
                    with self.faults.quiet():
                        self.check_all()
            self.op_index = self.ops
            self.finish_stripe()
            self.finish_work()
            self.faults.paused = True
            self.check_all(full=True)
            self.final_checks()
        finally:
            self.faults.uninstall()
            self.uninstall_discord()
            self.uninstall_stripe()
            ids.clock, queue._worker = saved, saved_worker
            ids.millis, ids.entropy = saved_ids
            for module, saved_clock in zip(cached, saved_caches):
                module._clock = saved_clock

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

    def refused_if_frozen(self, econ: Dict[str, Any], user: str, status: int, resp: Any, what: str) -> None:
        """A frozen wallet pays for nothing; an unfrozen one is never refused as frozen."""
        m = econ["model"]
        code = (resp or {}).get("error", {}).get("code") if isinstance(resp, dict) else None
        if m.frozen(user) and status in (200, 201):
            raise Violation("frozen", f"{user} is frozen ({sorted(m.reasons[user])}) and {what} went through: {resp}")
        if not m.frozen(user) and code == "account_frozen":
            raise Violation("frozen", f"{user} is not frozen and {what} was refused as frozen: {resp}")
        if code == "account_frozen":
            self.outcomes["frozen_refused"] += 1

    def set_env(self, **values: str) -> None:
        from chalicelib.core import config

        if any(os.environ.get(k) != v for k, v in values.items()):
            os.environ.update(values)
            config.reset_settings()

    def finish_work(self) -> None:
        """After the last operation: time passes until every queued try, order and voucher has ended."""
        for _ in range(50):
            pending = [o for e in self.economies for o in e["model"].orders.values() if o["state"] == "pending"]
            if not self.queue.messages and not pending:
                return
            due = self.queue.next_due()
            if due is None:  # nothing left to try: the deadlines, then the expiry jobs
                due = max(datetime.strptime(o["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
                          for o in pending)
            self.clock.advance(max(1.0, (due - self.clock.now).total_seconds() + 1))
            self.faults.next_operation(self.rng.random())
            self.op_deliver()
            self.op_jobs(None)
        raise Violation("stuck", f"work never ended: {len(self.queue.messages)} queued, "
                                 f"{len(pending)} orders pending")

    # -- oracles -------------------------------------------------------------------------

    def check_all(self, full: bool = False) -> None:
        from chalicelib.ledger.invariants import BooksWatch, check_economy

        # Every check reads what changed since the last one; every FULL_CHECK_EVERY-th and the last
        # read every entry again (the one thing a tail misses: an entry that moved no account).
        full = full or self.outcomes["oracle_checks"] % FULL_CHECK_EVERY == FULL_CHECK_EVERY - 1
        for econ in self.economies:
            watch = econ.setdefault("books", BooksWatch(econ["id"]))
            books = check_economy(econ["id"]) if full else watch.check()
            if not books.ok:
                raise Violation("books", f"{econ['id']}: {books.discrepancies}")
            m = econ["model"]
            for user in econ["users"]:
                status, w = self._call("GET", f"/v1/users/{user}/wallet", token=econ["token"])
                if status not in (200, 404):
                    raise Violation("wallet", f"{econ['id']}/{user} answered {status}: {w}")
                have = {b: 0 for b in BUCKETS} if status == 404 else {b: w[b] for b in BUCKETS}
                want = m.w(user)
                if have != want:
                    raise Violation("model", f"{econ['id']}/{user}: the API says {have}, the model {want}")
                if min(have.values()) < 0:
                    raise Violation("negative", f"{econ['id']}/{user}: {have}")
                reasons = set(w.get("freeze_reasons") or []) if status == 200 else set()
                if reasons != m.reasons.get(user, set()) or (status == 200 and w["frozen"] != bool(reasons)):
                    raise Violation("freeze", f"{econ['id']}/{user} is frozen for {sorted(reasons)}, the model "
                                              f"says {sorted(m.reasons.get(user, set()))}")
        self.outcomes["oracle_checks"] += 1
        self.wallets_seen += sum(len(e["users"]) for e in self.economies)
        self.frozen_seen += sum(e["model"].frozen(u) for e in self.economies for u in e["users"])
        self.outcomes["oracle_checks_full"] += int(full)

    def final_checks(self) -> None:
        from chalicelib.runtime.jobs import run_job

        for econ in self.economies:
            for pid, v in sorted(econ["model"].purchases.items()):
                status, view = self._call("GET", f"/v1/purchases/{pid}", token=econ["token"])
                want = {"credited": "credited", "credited_after_dispute": "credited", "refunded": "refunded",
                        "disputed": "disputed", "dispute_lost": "disputed"}[v["state"]]
                if status != 200 or view.get("status") != want:
                    raise Violation("purchase", f"{pid} should be {want}: {status} {view}")
            if self.queue.failed:
                raise Violation("queue", f"messages dead-lettered: {self.queue.failed[:3]}")
            for oid, o in sorted(econ["model"].orders.items()):
                if o["state"] == "pending":
                    raise Violation("order", f"{oid} never ended")
        self.final_discord_checks()
        self.final_stripe_checks()
        report = run_job("reconcile", full=True)
        self.reconcile = {k: report.get(k) for k in ("accounts_checked", "entries_checked", "purchases_checked")}
        if report["status"] != "ok" or report["discrepancies"]:
            raise Violation("reconcile", f"{report.get('discrepancies') or report.get('error')}")


def _one_run(seed: int, ops: int, endpoint: str, run_tag: str, check_every: int, fault_rate: float
             ) -> Tuple[Sim, Optional[Dict[str, Any]], float]:
    from chalice.test import Client

    from scripts.discord_standin import DiscordStandIn
    from scripts.game_server_standin import PluginStandIn
    from scripts.stripe_standin import StripeStandIn

    _setup_env(endpoint, f"sim{run_tag}-")
    import chalicelib.wiring  # noqa: F401 (every queue topic and job)
    from chalicelib.core import config
    from chalicelib.db.schema import create_tables

    create_tables()
    from app import app

    started = time.monotonic()
    violation = None

    with Client(app, stage_name="local") as client, PluginStandIn() as plugin, \
            DiscordStandIn(SIM_APPLICATION_ID) as discord, StripeStandIn(hold_events=True) as stripe_api, \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        os.environ.update({"MINECRAFT_API_URL": plugin.url, "MINECRAFT_API_KEY": plugin.key,
                           "DISCORD_API_BASE": discord.api_base, "DISCORD_BOT_TOKEN": discord.bot_token,
                           "DISCORD_APPLICATION_ID": discord.application_id,
                           "DISCORD_PUBLIC_KEY": signing_keys()[1]})  # the app trusts the simulation's key
        config.reset_settings()
        sim = Sim(seed, ops, client, check_every, fault_rate, run_tag, plugin, discord, stripe_api)
        try:
            sim.run()
        except Violation as exc:
            violation = {"op": sim.op_index, "kind": exc.kind, "message": str(exc)[:2000]}
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
            "frozen_share": round(sim.frozen_seen / sim.wallets_seen, 3) if sim.wallets_seen else None,
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
