"""Buying and refunding through Stripe's API: the app's outbound calls meet a flaky Stripe.

For these operations the app runs in Stripe mode (``STRIPE_SECRET_KEY`` set,
``STRIPE_API_BASE`` = the stand-in, ``scripts/stripe_standin.py``, a real HTTP
server): a checkout opens its session at the stand-in, the stand-in's ``pay``
plays the buyer, and an operator's ``POST /v1/admin/purchases/{id}/refund``
(full or partial) makes a refund there. Every other operation stays in local
mode: the purchase's own ``mode`` says which way its refunds go.

The stripe library is given a network layer that draws, per try, what Stripe
does with it (at ``STRIPE_FAULT_RATE``): answer, 500, 429 with ``Retry-After``
(none of these ran), hang past our timeout (it ran; the answer is lost), reset
the connection (it did not run). The library's own retries (a 5xx, a timeout, a
reset, under the same idempotency key) pass at once; a 429 or a third failure is
a 503 to the operator, who sends the same Idempotency-Key again.

The stand-in keeps its events (``hold_events``); the simulation delivers each
``charge.refunded`` through the app's signed webhook when the seed says: now,
between an operator's retries, or in a later operation; sometimes twice, and
several at once in any order (a refund is often of a purchase whose last
refund's event is still on its way: a later refund's event may overtake it).
The claw-back follows from those deliveries only.

Oracles: each delivery claws back what the model re-derives (``ceil(coins x
refunded / paid)`` of the largest ``amount_refunded`` delivered, less what was
taken: from ``available``, the rest as debt with a ``debt`` freeze); the
purchase's view agrees (``refund_requested``, ``refunded_amount``,
``clawed_back_coins``); Stripe's own record (the stand-in's) has one session per
purchase, one refund per refund the API answered (by its ``refund_ref``), with
the amount asked, and never more refunded than was paid; a paid purchase is
credited exactly once.
"""
from __future__ import annotations

import contextlib
import os
import random
from typing import Any, Dict, Iterator, List, Optional, Tuple

from sim.model import Violation

STRIPE_KEY = "sk_test_sim"
# What Stripe does with one try of an API call (at STRIPE_FAULT_RATE): kind -> (weight, the stand-in's script).
STRIPE_FAULT_RATE = 0.25
STRIPE_FAULTS = {"stripe_500": (3, "500"), "stripe_429": (2, "429"), "stripe_timeout": (2, "hang"),
                 "stripe_reset": (2, "reset")}
HANG_TIMEOUT_S = 0.1  # the client's timeout on a try scripted to hang; every other try gets 30 s
HANG_S = 1.0  # how long the stand-in holds a hung answer (only bounds its thread)


def _scripted_http(sim: Any) -> Any:
    """The stripe library's network: each try carries the script the seed drew; its backoff sleeps pass at once."""
    import stripe

    from scripts.stripe_standin import SCRIPT_HEADER

    class ScriptedStripeHttp(stripe.RequestsClient):
        def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
            behaviour = sim.stripe_behaviour()
            sim.stripe_sent += 1
            # A hang must time out and nothing else may, however loaded the machine.
            self._timeout = HANG_TIMEOUT_S if behaviour == "hang" else 30
            try:
                return super().request(method, url, {**(headers or {}), SCRIPT_HEADER: behaviour}, post_data)
            finally:
                # The next try goes only once Stripe has done this one: a hung try runs before its retry
                # (replayed), never after it, whatever the machine's load.
                if not sim.stripe_api.wait_done(sim.stripe_sent):
                    raise Violation("stripe_standin", f"the stand-in never answered try {sim.stripe_sent}")

        def _sleep_time_seconds(self, num_retries: int) -> float:
            sim.outcomes["stripe_library_retried"] += 1
            return 0.0

    return ScriptedStripeHttp(timeout=30)


class StripeOps:
    # -- wiring ------------------------------------------------------------------------------

    def install_stripe(self, standin: Any) -> None:
        from chalicelib.purchases import stripe_gateway

        self.stripe_api = standin
        standin.ids = random.Random(self.rng.random())  # its ids replay with the seed
        standin.clock = lambda: self.clock.now.timestamp()
        standin.hang_s = HANG_S
        self.stripe_rng = random.Random(self.rng.random())
        self.stripe_sent = 0  # tries sent to the stand-in
        self.stripe_in_flight: Optional[str] = None  # the purchase an operator's refund is being asked for
        self.stripe_pending: List[Tuple[Dict[str, Any], Dict[str, Any]]] = []  # (economy, event) not yet delivered
        self.saved_stripe_http = stripe_gateway.http_client
        stripe_gateway.http_client = _scripted_http(self)

    def uninstall_stripe(self) -> None:
        from chalicelib.purchases import stripe_gateway

        if hasattr(self, "saved_stripe_http"):
            stripe_gateway.http_client = self.saved_stripe_http

    def stripe_behaviour(self) -> str:
        """What Stripe does with the try being made (never a fault while the faults are paused)."""
        if self.faults.paused or self.stripe_rng.random() >= STRIPE_FAULT_RATE:
            return "ok"
        kinds = list(STRIPE_FAULTS)
        kind = self.stripe_rng.choices(kinds, [STRIPE_FAULTS[k][0] for k in kinds])[0]
        self.faults.injected[kind] += 1
        self.outcomes[kind] += 1
        return STRIPE_FAULTS[kind][1]

    @contextlib.contextmanager
    def stripe_mode(self) -> Iterator[None]:
        """The app talks to the stand-in inside (a checkout made here is a Stripe one), local payments after."""
        from chalicelib.core import config

        os.environ.update({"STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_API_BASE": self.stripe_api.url})
        config.reset_settings()
        try:
            yield
        finally:
            os.environ.pop("STRIPE_SECRET_KEY", None)
            os.environ.pop("STRIPE_API_BASE", None)
            config.reset_settings()

    def _stripe_call(self, method: str, path: str, body: Any, token: str, key: str) -> Tuple[int, Any]:
        """An operator's client: a 5xx or a dropped connection is sent again with the same key; between
        tries Stripe's events may reach the webhook (the seed says)."""
        from sim.simqueue import Crash

        with self.stripe_mode():
            for _ in range(8):
                try:
                    status, resp = self._call(method, path, body, token, key)
                except Crash:
                    self.outcomes["crash_retried"] += 1
                    status, resp = 0, None
                if 0 < status < 500:
                    return status, resp
                if status == 503:
                    self.outcomes["stripe_503_retried"] += 1
                if self.stripe_pending and self.stripe_rng.random() < 0.5:
                    self._deliver_pending(some=True)
        raise Violation("availability", f"{method} {path} answered 5xx eight times: {resp}")

    # -- the model's side of a purchase -------------------------------------------------------

    def _stripe_view(self, econ: Dict[str, Any], pid: str) -> None:
        """The purchase's view agrees with the model: what was asked, refunded, clawed back, and its status."""
        v = econ["model"].stripe[pid]
        with self.faults.quiet():
            status, view = self._call("GET", f"/v1/admin/purchases/{pid}", token=econ["token"])
        want = {"status": "refunded" if v["refunded"] else "credited", "refund_requested": v["requested"],
                "refunded_amount": v["refunded"], "clawed_back_coins": v["clawed"]}
        have = {k: (view or {}).get(k) for k in want} if status == 200 else {"answered": status}
        if have != want:
            raise Violation("stripe_refund", f"{pid}: the API says {have}, the model {want}")

    def _on_refunded(self, econ: Dict[str, Any], evt: Dict[str, Any]) -> None:
        """A ``charge.refunded`` reached the webhook: the claw-back of what is now refunded, if more than taken."""
        charge = evt["data"]["object"]
        pid = charge["metadata"]["purchase_id"]
        v = econ["model"].stripe[pid]
        if charge["amount_refunded"] < v["refunded"]:
            self.outcomes["stripe_refund_overtaken"] += 1  # a later refund's event came first: this one is stale
        v["refunded"] = max(v["refunded"], charge["amount_refunded"])
        target = -(-v["coins"] * min(v["refunded"], v["paid"]) // v["paid"])
        if target <= v["clawed"]:
            self.outcomes["stripe_refund_event_stale"] += 1  # a duplicate, or overtaken by a later refund's
            return
        if self._take_back(econ, v["user"], target - v["clawed"]):
            self.outcomes["stripe_refund_left_debt"] += 1
        v["clawed"] = target
        self.outcomes["stripe_refund_clawed"] += 1

    def _deliver_pending(self, some: bool = False) -> None:
        """Stripe's events reach the webhook: all that wait (or, ``some``, a few), in any order."""
        pending = self.stripe_pending
        if not pending:
            return
        count = self.stripe_rng.randint(1, len(pending)) if some else len(pending)
        chosen = self.stripe_rng.sample(range(len(pending)), count)  # a random subset, in a random order
        if count > 1 and chosen != sorted(chosen):
            self.outcomes["stripe_events_reordered"] += 1
        batch, taken = [pending[i] for i in chosen], set(chosen)
        self.stripe_pending = [e for i, e in enumerate(pending) if i not in taken]
        touched = []
        for econ, evt in batch:
            self._deliver(evt)
            self._on_refunded(econ, evt)
            touched.append((econ, evt["data"]["object"]["metadata"]["purchase_id"]))
        for econ, pid in touched:
            if pid != self.stripe_in_flight:  # its refund may be reserved already: checked once answered
                self._stripe_view(econ, pid)

    def _take_events(self, econ: Dict[str, Any]) -> None:
        """What the stand-in sent since: waiting for delivery, sometimes twice (Stripe delivers at least once)."""
        for evt in self.stripe_api.take_events():
            self.stripe_pending.append((econ, evt))
            if self.stripe_rng.random() < 0.2:
                self.stripe_pending.append((econ, evt))
                self.outcomes["stripe_event_twice"] += 1

    # -- operations ------------------------------------------------------------------------------

    def op_stripe_checkout(self, econ: Dict[str, Any]) -> None:
        """A pack bought through Stripe: the session made at Stripe once, paid, the completion delivered 1-2 times."""
        self.stripe_rng.seed(self.rng.random())
        m = econ["model"]
        user = self.rng.choice(econ["users"])
        pack = self.rng.choice(econ["packs"])
        status, p = self._stripe_call("POST", "/v1/checkout", {"user_id": user, "pack_id": pack}, econ["token"],
                                      self.key("sbuy"))
        self.outcomes[f"stripe_checkout_{status}"] += 1
        self.refused_if_frozen(econ, user, status, p, "a Stripe checkout")
        if status not in (200, 201):
            return
        pid = p["purchase_id"]
        sessions = [s for s in self.stripe_api.sessions.values() if s["client_reference_id"] == pid]
        if [s["id"] for s in sessions] != [p["session_id"]]:
            raise Violation("stripe_session", f"{pid} has sessions {[s['id'] for s in sessions]} at Stripe, "
                                              f"the API answered {p['session_id']}")
        completed = self.stripe_api.pay(p["session_id"])
        for _ in range(self.rng.randint(1, 2)):
            self._deliver(completed)
        self._check_credited_once(econ, user, pid, paid_and_kept=True)
        m.move(user, available=p["total_coins"])
        m.stripe[pid] = {"user": user, "coins": p["total_coins"], "paid": p["price"]["amount"], "requested": 0,
                         "refunded": 0, "clawed": 0, "refs": {}}
        self._stripe_view(econ, pid)

    def op_admin_refund(self, econ: Dict[str, Any]) -> None:
        """An operator refunds a Stripe purchase in full or in part (now and then more than is left)."""
        m = econ["model"]
        if not m.stripe:
            return self.op_stripe_checkout(econ)
        self.stripe_rng.seed(self.rng.random())
        if self.stripe_pending and self.stripe_rng.random() < 0.3:
            self._deliver_pending(some=True)  # what an earlier refund sent arrives first
        pid = None
        if self.stripe_pending and self.rng.random() < 0.5:  # a refund whose last one's event is on its way
            econ, evt = self.rng.choice(self.stripe_pending)
            m = econ["model"]
            pid = evt["data"]["object"]["metadata"]["purchase_id"]
            if m.stripe[pid]["requested"] >= m.stripe[pid]["paid"]:
                pid = None
        if pid is None:
            open_ = [p for p, v in m.stripe.items() if v["requested"] < v["paid"]]
            pid = self.rng.choice(open_ if open_ and self.rng.random() < 0.95 else list(m.stripe))
        v = m.stripe[pid]
        left = v["paid"] - max(v["requested"], v["refunded"])
        draw = self.rng.random()
        amount: Optional[int] = None  # all that is left
        if left > 1 and draw < 0.6:
            amount = self.rng.randint(1, left - 1)
        elif draw > 0.92:
            amount = left + self.rng.randint(1, 500)
        body = {"reason": "sim refund", **({} if amount is None else {"amount": amount})}
        key = self.key("refund")
        before = len(self.stripe_api.refunds)
        self.stripe_in_flight = pid
        try:
            status, resp = self._stripe_call("POST", f"/v1/admin/purchases/{pid}/refund", body, econ["token"], key)
        finally:
            self.stripe_in_flight = None
        self.outcomes[f"admin_refund_{status}"] += 1
        code = (resp or {}).get("error", {}).get("code") if isinstance(resp, dict) else None
        if left <= 0 or (amount is not None and amount > left):
            want = ("409", "purchase_fully_refunded") if left <= 0 else ("422", "refund_exceeds_remaining")
            if (str(status), code) != want or (left > 0 and resp["error"]["details"].get("remaining") != left):
                raise Violation("refund", f"refunding {amount} of {pid} with {left} left answered {status}: {resp}")
            if len(self.stripe_api.refunds) != before:
                raise Violation("refund", f"a refused refund of {pid} reached Stripe")
            return
        if status not in (200, 201):
            raise Violation("refund", f"refunding {amount} of {pid} ({left} left) answered {status}: {resp}")
        wanted = left if amount is None else amount
        self.outcomes["admin_refund_full" if wanted == left else "admin_refund_partial"] += 1
        refund = resp["refund"]
        v["requested"] += wanted
        v["refs"][refund["refund_ref"]] = wanted
        self._check_stripe_refund(pid, v, refund, wanted)
        if self.rng.random() < 0.15:  # the operator's client sends it again: the first answer, nothing more
            again_status, again = self._stripe_call("POST", f"/v1/admin/purchases/{pid}/refund", body,
                                                    econ["token"], key)
            if again_status != 200 or again["refund"]["refund_id"] != refund["refund_id"]:
                raise Violation("refund", f"the same key again answered {again_status}: {again}")
            self.outcomes["admin_refund_replayed"] += 1
            self._check_stripe_refund(pid, v, refund, wanted)
        self._take_events(econ)
        if self.stripe_rng.random() < 0.6:
            self._deliver_pending()
        self._stripe_view(econ, pid)

    # -- Stripe's own record -------------------------------------------------------------------

    def _check_stripe_refund(self, pid: str, v: Dict[str, Any], refund: Dict[str, Any], wanted: int) -> None:
        """The refund the API answered is the one refund Stripe made for it, of the amount asked."""
        made = [r for r in self.stripe_api.refunds.values() if r["metadata"].get("refund_ref") == refund["refund_ref"]]
        if [(r["id"], r["amount"]) for r in made] != [(refund["refund_id"], wanted)] or refund["amount"] != wanted:
            raise Violation("stripe_refund_once", f"{pid}: the API answered {refund}, Stripe made "
                                                  f"{[(r['id'], r['amount']) for r in made]}")
        self._check_stripe_books(pid, v)

    def _check_stripe_books(self, pid: str, v: Dict[str, Any]) -> None:
        refunds = [r for r in self.stripe_api.refunds.values() if r["metadata"].get("purchase_id") == pid]
        total = sum(r["amount"] for r in refunds)
        intents = [i for i in self.stripe_api.intents.values() if i.metadata.get("purchase_id") == pid]
        refs = sorted(r["metadata"]["refund_ref"] for r in refunds)
        if (total != v["requested"] or total > v["paid"] or len(intents) != 1
                or intents[0].amount_refunded != total or refs != sorted(v["refs"])):
            raise Violation("stripe_refund_once", f"{pid}: Stripe refunded {total} in {len(refunds)} refunds "
                                                  f"({refs}) of {v['paid']}, the API asked {v['requested']} "
                                                  f"({sorted(v['refs'])})")

    def finish_stripe(self) -> None:
        """After the last operation: every event Stripe sent reaches the webhook."""
        self.faults.next_operation(self.rng.random())
        self.stripe_rng.seed(self.rng.random())
        self._deliver_pending()

    def final_stripe_checks(self) -> None:
        for econ in self.economies:
            for pid, v in econ["model"].stripe.items():
                self._stripe_view(econ, pid)
                self._check_stripe_books(pid, v)
                sessions = [s for s in self.stripe_api.sessions.values() if s["client_reference_id"] == pid]
                if len(sessions) != 1:
                    raise Violation("stripe_session", f"{pid} has {len(sessions)} sessions at Stripe")
