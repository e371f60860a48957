"""The shop and the market: orders and listings delivered by a flaky game server, vouchers, the queue pumped.

The game server is the fulfilment contract's reference implementation
(``scripts/game_server_standin.py``), a real HTTP server; before each try the
simulation scripts what it does: deliver, answer 500/503 or 429 without
delivering, refuse with 404, reset the connection, or deliver and hang past our
timeout. Its own record of what it handed out is the independent oracle: an
order the API calls fulfilled was delivered exactly once, one it refunded was
never delivered (short of the flagged ``delivered_after_resolution``).
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional

from sim.model import Violation

ITEM_PRICE = 40
VOUCHER_PRICE = 25
# What the game server does on one try, and how often.
BEHAVIOURS = (("ok", 60), (500, 8), (503, 6), (429, 6), ("reset", 8), (404, 4), ("hang", 8))


class MarketOps:
    def setup_market(self, econ: Dict[str, Any]) -> None:
        for sku, body in (("rank", {"name": "A rank", "category": "rank", "price": ITEM_PRICE, "fulfilment": "api",
                                    "stock": 100_000}),
                          ("pet", {"name": "A pet", "category": "voucher", "price": VOUCHER_PRICE,
                                   "fulfilment": "voucher"})):
            status, resp = self.call("PUT", f"/v1/admin/rewards/{sku}", body, econ["token"])
            assert status in (200, 201), resp
        status, server = self.call("POST", "/v1/admin/game-servers", {"label": "sim"}, econ["token"])
        assert status == 201, server
        econ["game_server"] = server

    def op_order(self, econ: Dict[str, Any]) -> None:
        m = econ["model"]
        user = self.rng.choice(econ["users"])
        sku = self.rng.choice(("rank", "rank", "pet"))
        qty = self.rng.randint(1, 3)
        list_price = ITEM_PRICE if sku == "rank" else VOUCHER_PRICE
        unit, event = self.shop_price(econ, sku, list_price)  # an operator's live discount (sim/ops_rewards.py)
        total = qty * unit
        req = ("POST", "/v1/orders", {"buyer_id": user, "sku": sku, "qty": qty}, self.key("order"))
        status, resp = self.call(*req[:2], req[2], econ["token"], req[3])
        self.outcomes[f"order_{status}"] += 1
        self.refused_if_frozen(econ, user, status, resp, "an order")
        if status != 201:
            return
        if (resp.get("unit_price"), resp.get("total")) != (unit, total):
            raise Violation("price", f"{qty} x {sku} cost {resp}, the catalog and events say {qty} x {unit}")
        self.check_order_event(resp["order_id"], resp, event, list_price)
        if event:
            self.outcomes["order_during_discount"] += 1
        m.move(user, available=-total, held=total)
        m.orders[resp["order_id"]] = {"user": user, "total": total, "sku": sku, "state": "pending",
                                      "code": resp.get("voucher_code"), "redeemed": False,
                                      "expires_at": resp["expires_at"], "event_id": event and event["id"]}
        if sku == "pet" and not resp.get("voucher_code"):
            raise Violation("voucher", f"voucher order {resp['order_id']} came back without its code: {resp}")
        self.remember(econ, req, resp["order_id"])

    def _before_try(self, message: Dict[str, Any]) -> None:
        if message.get("topic") == "fulfilment.minecraft":
            self._script_plugin(message)
        else:  # Discord's work (sim/ops_discord.py)
            self.before_rest_message(message)

    def _script_plugin(self, message: Dict[str, Any]) -> None:
        """Before each try of a delivery: what the game server will do with it."""
        kinds = [b for b, _ in BEHAVIOURS]
        weights = [w for _, w in BEHAVIOURS]
        behaviour = self.rng.choices(kinds, weights)[0]
        self.outcomes[f"game_server_{behaviour}"] += 1
        self.plugin.script.clear()
        self.plugin.then(behaviour)
        # A hang must time out and nothing else may, however loaded the machine: the seed decides.
        self.set_env(MINECRAFT_TIMEOUT_S="0.25" if behaviour == "hang" else "20")

    def op_deliver(self, econ: Optional[Dict[str, Any]] = None) -> None:
        """The queue runs what is due: each delivery try meets the game server the seed scripted."""
        self.queue.pump(self._before_try)
        self.resolve_orders()

    def op_redeem(self, econ: Dict[str, Any]) -> None:
        """A player redeems a voucher on the game server (sometimes twice), or the buyer cancels it."""
        m = econ["model"]
        open_ = [oid for oid, o in m.orders.items() if o["sku"] == "pet" and o["state"] == "pending"
                 and not o["redeemed"]]
        if not open_:
            return self.op_order(econ)
        oid = self.rng.choice(open_)
        o = m.orders[oid]
        if self.rng.random() < 0.25:
            status, resp = self.call("POST", f"/v1/orders/{oid}/cancel", None, econ["token"], self.key("cancel"))
            self.outcomes[f"voucher_cancel_{status}"] += 1
            if status == 200:
                self._resolved(econ, oid, "cancelled")
            return
        for attempt in range(self.rng.randint(1, 2)):  # a game server that sends its webhook twice
            status, resp = self._redeem(econ, o["code"])
            self.outcomes[f"redeem_{status}"] += 1
            if status == 200:
                o["redeemed"] = True
            elif not (status == 409 and o["redeemed"]):
                if status == 409 and (resp or {}).get("error", {}).get("code") == "voucher_not_redeemable":
                    return  # past its deadline: refunded on the spot, seen by resolve_orders
                raise Violation("redeem", f"redeeming {oid} (try {attempt + 1}) answered {status}: {resp}")
        self.resolve_orders()

    def _redeem(self, econ: Dict[str, Any], code: str) -> Any:
        from chalicelib.core import signing

        raw = json.dumps({"code": code, "player_id": "SimPlayer"})
        server = econ["game_server"]
        headers = {"X-Coinhall-Server": server["server_id"], **signing.signed_headers(server["secret"], raw.encode())}
        return self.call("POST", "/v1/webhooks/redeem", raw=raw, headers=headers)

    def op_list(self, econ: Dict[str, Any]) -> None:
        """A player lists units of the rank for others (or withdraws a listing of theirs)."""
        m = econ["model"]
        if m.listings and self.rng.random() < 0.2:
            lid = self.rng.choice(list(m.listings))
            status, resp = self.call("POST", f"/v1/listings/{lid}/cancel", {"seller_id": m.listings[lid]["seller"]},
                                     econ["token"])
            self.outcomes[f"listing_cancel_{status}"] += 1
            if status == 200:
                del m.listings[lid]
            return
        seller = self.rng.choice(econ["users"])
        body = {"seller_id": seller, "sku": "rank", "qty": self.rng.randint(1, 6),
                "unit_price": self.rng.randint(ITEM_PRICE, ITEM_PRICE * 2), "expires_in": self.rng.randint(600, 7_200)}
        if self.rng.random() < 0.3:
            body["max_per_buyer"] = self.rng.randint(1, 3)
        status, resp = self.call("POST", "/v1/listings", body, econ["token"], self.key("list"))
        self.outcomes[f"listing_{status}"] += 1
        if status == 201:
            m.listings[resp["listing_id"]] = {"seller": seller, "unit_price": body["unit_price"],
                                              "fee_bps": resp["fee_bps"], "expires_at": resp["expires_at"]}

    def op_buy_listing(self, econ: Dict[str, Any]) -> None:
        from chalicelib.core.ids import now_iso

        m = econ["model"]
        for lid in [lid for lid, v in m.listings.items() if v["expires_at"] <= now_iso()]:
            del m.listings[lid]  # closed by its clock (sold-out ones stay: buying one is a fine refusal)
        if not m.listings:
            return self.op_list(econ)
        lid = self.rng.choice(list(m.listings))
        listing = m.listings[lid]
        buyer = self.rng.choice([u for u in econ["users"] if u != listing["seller"]])
        qty = self.rng.randint(1, 2)
        total = qty * listing["unit_price"]
        req = ("POST", f"/v1/listings/{lid}/buy", {"buyer_id": buyer, "qty": qty}, self.key("buyl"))
        status, resp = self.call(*req[:2], req[2], econ["token"], req[3])
        self.outcomes[f"listing_buy_{status}"] += 1
        self.refused_if_frozen(econ, buyer, status, resp, "a listing purchase")
        if status != 201:
            return
        if resp.get("total") != total or resp.get("fee_bps") != listing["fee_bps"]:
            raise Violation("price", f"{qty} of listing {lid} at {listing['unit_price']} (fee {listing['fee_bps']} "
                                     f"bps) answered {resp}")
        self.check_order_event(resp["order_id"], resp, None, 0)  # player listings are never discounted
        if self.shop_price(econ, "rank", ITEM_PRICE)[1]:
            self.outcomes["listing_buy_during_discount"] += 1
        m.move(buyer, available=-total, held=total)
        m.orders[resp["order_id"]] = {"user": buyer, "total": total, "sku": "rank", "state": "pending",
                                      "code": None, "redeemed": False, "expires_at": resp["expires_at"],
                                      "seller": listing["seller"], "fee_bps": listing["fee_bps"]}
        self.remember(econ, req, resp["order_id"])

    # -- resolution and its oracle ---------------------------------------------------------

    def resolve_orders(self) -> None:
        """Read back every pending order (faults paused: an oracle's read); move the model as each ended."""
        with self.faults.quiet():
            for econ in self.economies:
                for oid, o in sorted(econ["model"].orders.items()):
                    if o["state"] != "pending":
                        continue
                    status, view = self._call("GET", f"/v1/orders/{oid}", token=econ["token"])
                    if status != 200:
                        raise Violation("order", f"{oid} answered {status}: {view}")
                    if view["status"] != "pending":
                        self._resolved(econ, oid, view["status"], view)

    def _resolved(self, econ: Dict[str, Any], oid: str, state: str, view: Optional[Dict[str, Any]] = None) -> None:
        m = econ["model"]
        o = m.orders[oid]
        o["state"] = state
        self.outcomes[f"order_{state}"] += 1
        if view and view.get("event_id") != o.get("event_id"):
            raise Violation("discount", f"{oid} records event {view.get('event_id')}, it was placed in "
                                        f"{o.get('event_id')}")
        if state == "fulfilled":
            m.move(o["user"], held=-o["total"])
            if o.get("seller"):  # the seller's net, re-derived from the fee fixed when it was listed
                net = o["total"] * (10_000 - o["fee_bps"]) // 10_000
                if view and view.get("seller_amount") != net:
                    raise Violation("split", f"{oid}: the seller got {view.get('seller_amount')}, the rule says {net}")
                m.move(o["seller"], earnings=net)
        elif state in ("refunded", "cancelled"):
            m.move(o["user"], held=-o["total"], available=o["total"])
        else:
            raise Violation("order", f"{oid} ended {state!r}: {view}")
        self.check_order_end(econ, oid, view or {})

    def check_order_end(self, econ: Dict[str, Any], oid: str, view: Dict[str, Any]) -> None:
        o = econ["model"].orders[oid]
        if o["sku"] == "pet":
            if (o["state"] == "fulfilled") != o["redeemed"]:
                raise Violation("voucher", f"voucher order {oid} ended {o['state']} though "
                                           f"{'redeemed' if o['redeemed'] else 'never redeemed'}")
            return
        handed_out = self.plugin.deliveries.get(oid, 0)
        if o["state"] == "fulfilled" and handed_out != 1:
            raise Violation("delivery", f"{oid} is fulfilled but the game server handed it out {handed_out} times")
        flagged = view.get("delivered_after_resolution") or view.get("delivery_unknown")
        if o["state"] != "fulfilled" and handed_out and not flagged:
            raise Violation("delivery", f"{oid} was refunded and delivered, and nobody was told: {view}")
        if o["state"] != "fulfilled" and handed_out:
            self.outcomes["refunded_but_delivered_flagged"] += 1
