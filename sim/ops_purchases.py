"""Buying and money going back: checkout with Stripe's events, refunds, disputes, debt, operator freezes.

The rules the model applies (README "Refunds, disputes and debt"): a dispute
freezes the wallet and holds what is left of the purchase's coins; won, the hold
goes back and that dispute's freeze lifts; lost, the coins are taken back from the
hold, then ``available``, and what is gone becomes ``debt`` (frozen ``debt`` until
settled) with the wallet kept frozen for review. A refund takes back from
``available`` the same way.
"""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List

from sim.model import Violation

STRIPE_SECRET = "whsec_local_dev_only"


class PurchaseOps:
    # -- Stripe's side -------------------------------------------------------------------

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
        return {"id": f"evt_sim{self.run_tag}x{self.seq}", "object": "event", "type": etype,
                "created": int(time.time()), "livemode": False, "data": {"object": obj}}

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

    def _dispute(self, p: Dict[str, Any], etype: str, status: str) -> Dict[str, Any]:
        pid = p["purchase_id"]
        return self._event(etype, {"id": "dp_" + pid[4:], "object": "dispute", "status": status,
                                   "payment_intent": "pi_" + pid[4:], "metadata": {"purchase_id": pid}})

    # -- the oracle of one purchase --------------------------------------------------------

    def _credits_of(self, econ: Dict[str, Any], user: str, pid: str) -> int:
        """How many ``purchase`` entries credit ``pid`` on the user's statement (the newest page holds them)."""
        status, page = self._call("GET", f"/v1/users/{user}/transactions?limit=20", token=econ["token"])
        if status != 200:
            raise Violation("statement", f"{user}'s statement answered {status}: {page}")
        return sum(1 for e in page["items"] if e.get("type") == "purchase" and e.get("ref") == pid)

    def _check_credited_once(self, econ: Dict[str, Any], user: str, pid: str, paid_and_kept: bool) -> None:
        with self.faults.quiet():
            credits = self._credits_of(econ, user, pid)
        if credits > 1 or (paid_and_kept and credits != 1):
            raise Violation("credit", f"purchase {pid} was credited {credits} times "
                                      f"({'paid and kept' if paid_and_kept else 'refunded in flight'})")

    # -- operations ----------------------------------------------------------------------

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
        refund = self.rng.random() < 0.25
        if refund:
            events.append(self._refunded(p))
        self.rng.shuffle(events)
        self.outcomes[f"deliveries_{len(events)}"] += 1
        for evt in events:
            self._deliver(evt)
        coins = p["total_coins"]
        pid = p["purchase_id"]
        self._check_credited_once(econ, user, pid, paid_and_kept=not refund)
        if refund:
            self.outcomes["refunded_in_flight"] += 1  # credited then clawed back in full: nothing moves
            m.purchases[pid] = {"user": user, "coins": coins, "state": "refunded", "p": p}
        else:
            m.move(user, available=coins)
            m.purchases[pid] = {"user": user, "coins": coins, "state": "credited", "p": p}

    def _take_back(self, econ: Dict[str, Any], user: str, coins: int, from_held: int = 0) -> int:
        """A clawback of ``coins``: from ``from_held`` first, then available; the rest is debt (returned)."""
        m = econ["model"]
        w = m.w(user)
        held = min(coins, from_held, w["held"])
        available = min(coins - held, w["available"])
        debt = coins - held - available
        m.move(user, held=-held, available=-available, debt=debt)
        if debt:
            m.freeze(user, "debt")
        return debt

    def _credited(self, econ: Dict[str, Any]) -> List[str]:
        # In the order they were made (ids carry random bits: sorting them would not replay).
        return [pid for pid, v in econ["model"].purchases.items() if v["state"] == "credited"]

    def op_late_refund(self, econ: Dict[str, Any]) -> None:
        """A refund days later: what the player spent of it meanwhile becomes debt."""
        m = econ["model"]
        due = self._credited(econ)
        if not due:
            return self.op_checkout(econ)
        if self.rng.random() < 0.5:  # the refund that hurts: of the buyer who kept least of it
            pid = min(due, key=lambda d: m.w(m.purchases[d]["user"])["available"] - m.purchases[d]["coins"])
        else:
            pid = self.rng.choice(due)
        v = m.purchases[pid]
        self._deliver(self._refunded(v["p"]))
        v["state"] = "refunded"
        if self._take_back(econ, v["user"], v["coins"]):
            self.outcomes["refund_left_debt"] += 1

    def op_dispute(self, econ: Dict[str, Any]) -> None:
        """A chargeback opened, and closed now or later, won or lost; the two events sometimes swapped."""
        m = econ["model"]
        open_ = [pid for pid, v in m.purchases.items() if v["state"] == "disputed"]
        if open_ and self.rng.random() < 0.5:
            pid = self.rng.choice(open_)
            return self._close_dispute(econ, pid, [])
        due = self._credited(econ)
        if not due:
            return self.op_checkout(econ)
        pid = self.rng.choice(due)
        v = m.purchases[pid]
        created = self._dispute(v["p"], "charge.dispute.created", "needs_response")
        if self.rng.random() < 0.5:  # opened now, closed by a later operation
            self._deliver(created)
            self._open_dispute(econ, pid)
            self.outcomes["dispute_opened"] += 1
            return
        self._close_dispute(econ, pid, [created])

    def _open_dispute(self, econ: Dict[str, Any], pid: str) -> None:
        m = econ["model"]
        v = m.purchases[pid]
        hold = max(0, min(m.w(v["user"])["available"], v["coins"]))
        m.move(v["user"], available=-hold, held=hold)
        m.freeze(v["user"], f"dispute:{pid}")
        v.update(state="disputed", hold=hold)

    def _close_dispute(self, econ: Dict[str, Any], pid: str, before: List[Dict[str, Any]]) -> None:
        m = econ["model"]
        v = m.purchases[pid]
        won = self.rng.random() < 0.5
        closed = self._dispute(v["p"], "charge.dispute.closed", "won" if won else "lost")
        events = before + [closed]
        if len(events) == 2 and self.rng.random() < 0.3:
            events.reverse()  # closed before created: the facts converge to the same end
            self.outcomes["dispute_events_swapped"] += 1
        for evt in events:
            self._deliver(evt)
        if before:
            self._open_dispute(econ, pid)
        hold, user = v["hold"], v["user"]
        m.unfreeze(user, f"dispute:{pid}")
        if won:
            m.move(user, held=-hold, available=hold)
            v["state"] = "credited_after_dispute"
            self.outcomes["dispute_won"] += 1
        else:
            self._take_back(econ, user, v["coins"], from_held=hold)
            m.freeze(user, f"dispute_lost:{pid}")
            v["state"] = "dispute_lost"
            self.outcomes["dispute_lost"] += 1

    def op_settle_debt(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        owing = sorted(u for u in econ["users"] if m.w(u)["debt"] > 0)
        if not owing:
            return self.op_late_refund(econ)
        user = self.rng.choice(owing)
        if self.rng.random() < 0.7:  # the player earns or buys coins first, mostly: some or all of the debt
            amount = self.rng.randint(1, m.w(user)["debt"] * 2)
            status, _ = self.call("POST", f"/v1/admin/users/{user}/adjust", {"amount": amount, "reason": "sim pay"},
                                  econ["token"], self.key("adj"))
            if status != 200:
                raise Violation("adjust", f"crediting frozen {user} answered {status}")
            m.move(user, available=amount)
        status, resp = self.call("POST", f"/v1/admin/users/{user}/settle-debt", None, econ["token"],
                                 self.key("debt"))
        self.outcomes[f"settle_debt_{status}"] += 1
        w = m.w(user)
        pay = min(w["debt"], w["available"])
        if status == 200:
            if resp.get("paid") != pay:
                raise Violation("debt", f"settling {user}'s debt {w['debt']} from {w['available']} paid "
                                        f"{resp.get('paid')}, the rule says {pay}")
            m.move(user, available=-pay, debt=-pay)
            if w["debt"] == 0:
                m.unfreeze(user, "debt")
            else:
                self.outcomes["settle_debt_partly"] += 1
        elif not (status == 422 and pay == 0):
            raise Violation("debt", f"settle-debt for {user} (debt {w['debt']}, available {w['available']}) "
                                    f"answered {status}: {resp}")

    def op_freeze(self, econ: Dict[str, Any]) -> None:
        """An operator freezes a wallet, or unfreezes one (lifting, sometimes, a review or a debt freeze too)."""
        m = econ["model"]
        frozen = sorted(u for u in econ["users"] if m.frozen(u))
        # Operators work through the review queue faster as it grows: without that, lost disputes and
        # debts freeze most wallets within a long run and the flows after it see only refusals.
        share = len(frozen) / len(econ["users"])
        if frozen and self.rng.random() < min(0.95, 0.4 + 2 * share):
            user = self.rng.choice(frozen)
            if self.rng.random() < 0.6:  # reviewed: every reason it was frozen for is lifted
                lift = sorted({r.split(":", 1)[0] for r in m.reasons[user]} - {"operator"})
            else:
                lift = sorted(self.rng.sample(["dispute_lost", "debt", "dispute"], self.rng.randint(0, 2)))
            status, resp = self.call("POST", f"/v1/admin/users/{user}/unfreeze", {"reason": "sim", "lift": lift},
                                     econ["token"])
            self.outcomes[f"unfreeze_{status}"] += 1
            if status == 200:
                m.unfreeze(user, "operator", *lift)
            return
        user = self.rng.choice(econ["users"])
        status, resp = self.call("POST", f"/v1/admin/users/{user}/freeze", {"reason": "sim"}, econ["token"])
        self.outcomes[f"freeze_{status}"] += 1
        if status == 200:
            m.freeze(user, "operator")
