"""Spending and earning: adjust, spend, tip, unlock, holds, escrows, the daily reward, retries, the expiry jobs.

Splits are re-derived here from the stage's rates, not read back from the answer.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Dict, Optional

from sim.model import Violation

CREATOR_SHARE_BPS = 7_000  # the stage default (chalicelib.spending.rates)
ESCROW_FEE_BPS = 1_000


class SpendingOps:
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
        amount = self.amount(econ, user)
        body: Dict[str, Any] = {"amount": amount, "reason": "sim"}
        if creator:
            body["creator_id"] = creator
        req = ("POST", f"/v1/users/{user}/spend", body, self.key("spend"))
        status, resp = self.call(*req[:2], req[2], econ["token"], req[3])
        self.outcomes[f"{'tip' if creator else 'spend'}_{status}"] += 1
        self.refused_if_frozen(econ, user, status, resp, "a spend")
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
        self.refused_if_frozen(econ, user, status, resp, "a hold")
        if status == 201 or status == 200:
            m.move(user, available=-amount, held=amount)
            m.holds[resp["hold_id"]] = {"user": user, "amount": amount,
                                        "due": self.clock.now + timedelta(seconds=expires_in), "kind": "hold"}
            self.remember(econ, req, _ident(resp))

    def _live(self, econ: Dict[str, Any], kind: str) -> Optional[str]:
        """An active hold/escrow well before its deadline (a job may take one at its deadline)."""
        margin = self.clock.now + timedelta(seconds=5)
        # In the order they were made (ids carry random bits: sorting them would not replay).
        live = [h for h, v in econ["model"].holds.items() if v["kind"] == kind and v["due"] > margin]
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
        self.refused_if_frozen(econ, client, status, resp, "an escrow")
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
        """Time passes (holds expire, escrows and orders come due), then the scheduled jobs run."""
        self.clock.advance(self.rng.randint(0, 1_200))
        # Nothing sits on a deadline to the second: the model must know what a job takes.
        while any(abs((h["due"] - self.clock.now).total_seconds()) <= 2 for e in self.economies
                  for h in e["model"].holds.values()):
            self.clock.advance(5)
        for job in ("expire-holds", "release-escrows", "expire-orders", "expire-vouchers", "expire-purchases"):
            self.run_job_until_done(job)
        # The jobs that only read (and repair what is overdue): now and then, as their schedules would.
        # Unfaulted: how many shard accounts reconciliation walks depends on the shards a race's
        # threads picked, and a call more or fewer must not move the faults (README "Reliability").
        for job in ("pricing-rollup", "leaderboard", "reconcile"):
            if econ is None or self.rng.random() < 0.25:
                with self.faults.quiet():
                    self.run_job_until_done(job)
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
        self.resolve_orders()

    def run_job_until_done(self, job: str) -> Dict[str, Any]:
        """Run a job as its schedule would: a faulted or crashed run is followed by another that resumes."""
        from chalicelib.runtime.jobs import run_job
        from sim.simqueue import Crash

        report: Any = None
        for attempt in range(8):
            try:
                report = run_job(job)
            except Crash:
                self.outcomes["job_crashed"] += 1
                continue
            if report["status"] == "ok" and not report.get("failures"):
                if report.get("discrepancies"):
                    raise Violation("reconcile", f"{job} found {report['discrepancies']}")
                return report
            self.outcomes["job_failed_then_resumed"] += 1
        raise Violation("job", f"{job} did not finish in 8 runs: {report}")

    def op_daily(self, econ: Dict[str, Any]) -> None:
        """The daily reward through the rewards API: its streak, event and budget rules are sim/ops_rewards.py's."""
        self.grant(econ, "daily", self.rng.choice(econ["users"]))

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



def _ident(resp: Any) -> Any:
    """What names a write's result: its hold or escrow, else its ledger operation."""
    resp = resp if isinstance(resp, dict) else {}
    return resp.get("hold_id") or resp.get("escrow_id") or resp.get("order_id") or resp.get("transaction_id")
