"""Races: the same Stripe event delivered by several threads at once, and concurrent spends on one wallet.

The app runs in-process and Chalice's request object is one per app, so the racing
threads call the code behind the routes (``handle_event``, ``spend``) rather than the
HTTP handlers. Their interleaving is the machine's, so what they may decide is fixed
first: none of their calls is faulted (``Faults`` draws only on the main thread), and
after they join, the app's own generators are reseeded from the simulation's, so the
rest of the run replays whatever order the threads took. What must come out is exact:
one credit however many deliveries, and exactly as many spends as the wallet covers.
"""
from __future__ import annotations

import json
import random
import threading
import time
from typing import Any, Callable, Dict, List

from sim.model import Violation


class RaceOps:
    def _together(self, work: List[Callable[[], Any]]) -> List[Any]:
        """Run ``work`` on threads released at once; each result, or the exception it raised."""
        gate = threading.Barrier(len(work), timeout=30)
        results: List[Any] = [None] * len(work)

        def run(i: int) -> None:
            gate.wait()
            try:
                results[i] = work[i]()
            except Exception as exc:  # noqa: BLE001 (the caller judges each outcome)
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        if any(t.is_alive() for t in threads):
            raise Violation("race", "a racing thread did not finish in 60 s")
        random.seed(self.rng.random())
        self.id_rng.seed(self.rng.random())
        return results

    def op_race(self, econ: Dict[str, Any]) -> None:
        if self.rng.random() < 0.5:
            return self._race_deliveries(econ)
        return self._race_spends(econ)

    def _race_deliveries(self, econ: Dict[str, Any]) -> None:
        import stripe

        from chalicelib.purchases.stripe_events import parse_event
        from chalicelib.purchases.stripe_gateway import verify_event
        from chalicelib.purchases.webhooks import handle_event
        from sim.ops_purchases import STRIPE_SECRET

        user = self.rng.choice(econ["users"])
        status, p = self.call("POST", "/v1/checkout", {"user_id": user, "pack_id": self.rng.choice(econ["packs"])},
                              econ["token"], self.key("buy"))
        if status not in (200, 201):
            return
        copies = self.rng.randint(2, 4)
        payload = json.dumps(self._completed(p))  # one event, delivered by several of Stripe's workers at once

        def deliver() -> Any:
            for _ in range(50):  # Stripe retries a 5xx ("this purchase is busy") with the same event
                try:
                    header = stripe.WebhookSignature.generate_signature_header(payload, STRIPE_SECRET,
                                                                               int(time.time()))
                    return handle_event(parse_event(verify_event(payload.encode(), header)))
                except Exception as exc:  # noqa: BLE001
                    if getattr(exc, "status", 500) < 500:
                        raise
                    time.sleep(0.01)
            raise RuntimeError("still busy after 50 deliveries")

        results = self._together([deliver] * copies)
        failed = [r for r in results if isinstance(r, Exception)]
        if failed:
            raise Violation("webhook", f"{copies} concurrent deliveries of one event: {failed[0]!r}")
        self.outcomes[f"raced_deliveries_{copies}"] += 1
        self._check_credited_once(econ, user, p["purchase_id"], paid_and_kept=True)
        econ["model"].move(user, available=p["total_coins"])
        econ["model"].purchases[p["purchase_id"]] = {"user": user, "coins": p["total_coins"], "state": "credited",
                                                     "p": p}

    def _race_spends(self, econ: Dict[str, Any]) -> None:
        from chalicelib.core import errors
        from chalicelib.spending.spend import spend

        m = econ["model"]
        user = self.rng.choice(econ["users"])
        if m.frozen(user):
            return
        available = m.w(user)["available"]
        racers = self.rng.randint(3, 6)
        amount = max(1, available // self.rng.randint(1, racers))  # some of them cannot all be paid
        keys = [self.key("race") for _ in range(racers)]
        work = [lambda k=k: spend(econ["id"], user, amount, "sim race", None, k) for k in keys]
        results = self._together(work)
        paid = [r for r in results if not isinstance(r, Exception)]
        refused = [r for r in results if isinstance(r, errors.InsufficientFundsError)]
        others = [r for r in results if isinstance(r, Exception) and not isinstance(r, errors.InsufficientFundsError)]
        if others:
            raise Violation("race", f"{racers} spends of {amount} on {user}: {others[0]!r}")
        want = min(racers, available // amount)
        if len(paid) != want:
            raise Violation("race", f"{racers} spends of {amount} on {user} holding {available}: {len(paid)} paid "
                                    f"({len(refused)} refused), exactly {want} should have")
        self.outcomes["raced_spends"] += 1
        m.move(user, available=-amount * len(paid))
