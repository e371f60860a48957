"""Discord: ``/give`` through the real signed interaction endpoint, deferred work, faults on Discord's REST API.

One economy is a guild's: its members are Discord users (snowflake ids), so every
other flow (adjusts, freezes, disputes, debt) reaches the same wallets a give
moves. Interactions are signed with the simulation's own Ed25519 key, which the
app is told to trust (``DISCORD_PUBLIC_KEY``); their ids carry the simulated
clock, as Discord's carry theirs, so a follow-up's token expires on it.

A give is ``/give`` (maybe delivered twice by Discord, with the same interaction
id), then Confirm or Cancel now or in a later operation, maybe clicked twice or
by someone else. What the model expects of a Confirm: the gift was cancelled or
is past its 15 minutes (nothing moves), the sender is frozen or short (nothing
moves), it was sent already (the first answer again, nothing moves), or it sends
now. ``gift_once``: each press adds exactly as many ``transfer`` entries to the
sender's statement as the model moved (one the first time, none after).

Discord's side is the REST stand-in (``scripts/discord_standin.py``). The app's
Discord client is given a network layer that draws, per call, what Discord does
with it: answer, 500, 429 with a short or a too long ``retry_after``, hang until
our timeout, reset the connection. The client's own sleeps (backoff,
``retry_after``) pass at once on its own clock, so a fault costs no wall time
but the hang's. ``/coins-setup`` is deferred to the queue and must end with its
reply edited; each channel it makes exists once; each sent gift's line reaches
``#coin-transactions`` exactly once (a line is claimed under a lease before it is
posted, and carries a nonce Discord dedupes by: a worker dying anywhere between
loses it no more than it doubles it).
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import timedelta
from typing import Any, Dict, List, Optional, Tuple

from sim.model import Violation

DISCORD_EPOCH_MS = 1420070400000
ADMINISTRATOR = str(1 << 3)
SIM_APPLICATION_ID = "1100000000000000001"  # fixed: nothing in a run comes from the wall clock
GIVE_WINDOW_S = 15 * 60
SIGNING_SEED = hashlib.sha256(b"coinhall simulation discord key").digest()
# What Discord does with one REST call (at REST_FAULT_RATE): kind -> (weight, what the stand-in is told).
REST_FAULT_RATE = 0.2
REST_FAULTS = {"discord_500": (3, "500"), "discord_429": (3, "429:0.5"), "discord_429_long": (1, "429:120"),
               "discord_hang": (2, "hang"), "discord_reset": (2, "reset")}
HANG_TIMEOUT_S = 0.1  # the client's timeout on a call scripted to hang; every other call gets 30 s
# The refusal a player reads, by what it says (the answers are embeds, not error codes).
REFUSALS = (("yourself", "self"), ("Bots cannot", "bot"), ("enough coins", "funds"), ("frozen", "frozen"),
            ("has expired", "expired"), ("was cancelled", "cancelled"), ("already sent", "already_sent"),
            ("not your confirmation", "not_yours"), ("too busy", "retry"))


def signing_keys() -> Tuple[str, str]:
    """The simulation's Ed25519 key pair (private, public) as hex."""
    from nacl.signing import SigningKey

    key = SigningKey(SIGNING_SEED)
    return key.encode().hex(), key.verify_key.encode().hex()


class _RestTime:
    """The REST client's ``time``: its sleeps (backoff, ``retry_after``) pass at once and move only its clock."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


class _ScriptedSession:
    """The Discord client's network: each call carries what the stand-in does with it, drawn from the seed."""

    def __init__(self, session: Any, sim: Any) -> None:
        self.session, self.sim = session, sim

    def request(self, method: str, url: str, headers: Optional[Dict[str, str]] = None, timeout: Any = None,
                **kwargs: Any) -> Any:
        from scripts.discord_standin import SCRIPT_HEADER

        behaviour = self.sim.rest_behaviour()
        # A hang must time out and nothing else may, however loaded the machine.
        return self.session.request(method, url, headers={**(headers or {}), SCRIPT_HEADER: behaviour},
                                    timeout=HANG_TIMEOUT_S if behaviour == "hang" else 30, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


class DiscordOps:
    # -- wiring ------------------------------------------------------------------------------

    def install_discord(self) -> None:
        import random

        from chalicelib.core.config import get_settings
        from chalicelib.discord import rest

        settings = get_settings()
        self.rest_key = (settings.discord_api_base, settings.discord_bot_token)
        client = rest.DiscordRest(*self.rest_key)
        client._session = _ScriptedSession(client._session, self)
        self.saved_rest = rest._clients.get(self.rest_key), rest.time
        rest._clients[self.rest_key], rest.time = client, _RestTime()
        self.rest_rng = random.Random(self.rng.random())
        self.flake = 0
        self.private_hex = signing_keys()[0]

    def uninstall_discord(self) -> None:
        from chalicelib.discord import rest

        if not hasattr(self, "saved_rest"):
            return
        client, rest.time = self.saved_rest
        if client is None:
            rest._clients.pop(self.rest_key, None)
        else:
            rest._clients[self.rest_key] = client

    def rest_behaviour(self) -> str:
        """What Discord does with the call being made (never a fault while the faults are paused)."""
        if self.faults.paused or self.rest_rng.random() >= REST_FAULT_RATE:
            return "ok"
        kinds = list(REST_FAULTS)
        kind = self.rest_rng.choices(kinds, [REST_FAULTS[k][0] for k in kinds])[0]
        self.faults.injected[kind] += 1
        return REST_FAULTS[kind][1]

    def before_rest_message(self, message: Dict[str, Any]) -> None:
        """Each queued message draws its Discord faults from its own stream (as an operation does its DynamoDB's)."""
        self.rest_rng.seed(self.rng.random())

    def snowflake(self) -> str:
        """An id made now on the simulated clock, as Discord's carry the moment they were made."""
        self.flake += 1
        ms = int(self.clock.now.timestamp() * 1000) - DISCORD_EPOCH_MS
        return str((ms << 22) | (self.flake % (1 << 22)))

    # -- the guild -----------------------------------------------------------------------------

    def discord_members(self, n: int) -> List[str]:
        return [self.snowflake() for _ in range(n)]

    def setup_discord(self, econ: Dict[str, Any]) -> None:
        from chalicelib.discord.guild_setup import link_guild

        econ["guild"] = {"id": self.snowflake(), "application_id": self.discord.application_id,
                         "channel": self.snowflake(), "admin": self.snowflake(), "bot": self.snowflake(),
                         "setups": []}
        link_guild(econ["guild"]["id"], econ["id"])
        self.discord_econ = econ
        self.op_discord_setup(econ)

    def _payload(self, econ: Dict[str, Any], user: str, type_: int, data: Dict[str, Any],
                 admin: bool = False) -> Dict[str, Any]:
        g = econ["guild"]
        return {"id": self.snowflake(), "application_id": g["application_id"], "type": type_, "data": data,
                "guild_id": g["id"], "channel_id": g["channel"], "token": "tok_" + self.snowflake(), "version": 1,
                "member": {"user": {"id": user, "username": f"member{user[-4:]}"}, "roles": [],
                           "permissions": ADMINISTRATOR if admin else "0"},
                "locale": "en-US"}

    def interact(self, payload: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
        """Post one signed interaction; (what the player read, the response). A player retries an apology.

        A dropped connection or a 5xx is Discord sending the same interaction again (``call``);
        "Something went wrong" or "too busy" is the player pressing again: the same interaction
        here too, which is the harder case (the same id arrives twice)."""
        from chalicelib.discord.signature import sign

        raw = json.dumps(payload)
        headers = sign(self.private_hex, raw.encode())
        for _ in range(8):
            status, resp = self.call("POST", "/discord/interactions", headers=headers, raw=raw)
            if status != 200 or not isinstance(resp, dict):
                raise Violation("discord", f"an interaction answered {status}: {resp}")
            said = _read(resp)
            if said not in ("sorry", "retry"):
                return said, resp
            self.outcomes["discord_pressed_again"] += 1
        raise Violation("discord", f"an interaction kept failing: {resp}")

    # -- /coins-setup: the deferred work ---------------------------------------------------------

    def op_discord_setup(self, econ: Dict[str, Any]) -> None:
        """An admin runs /coins-setup (it makes or repairs the hub); the queue does it and edits the reply."""
        from chalicelib.discord import store

        econ = self.discord_econ if econ is None or "guild" not in econ else econ
        g = econ["guild"]
        payload = self._payload(econ, g["admin"], 2, {"id": self.snowflake(), "name": "coins-setup", "type": 1},
                                admin=True)
        for _ in range(self.rng.choice((1, 1, 2))):  # sometimes Discord delivers it twice
            _, resp = self.interact(payload)
            if resp.get("type") != 5:
                raise Violation("discord", f"/coins-setup answered {resp}, not a deferred reply")
        g["setups"].append(payload["token"])
        for _ in range(12):  # the worker picks it up at once: retries wait their backoff, not the next delivery op
            with self.faults.quiet():
                state = store.followup_status(payload["id"])
            if state == "done":
                self.outcomes["discord_setup_done"] += 1
                return
            due = self.queue.next_due()
            if due is not None and due > self.clock.now:
                self.clock.advance((due - self.clock.now).total_seconds())
            self.op_deliver()
        raise Violation("discord", f"/coins-setup {payload['id']} never finished: follow-up {state}")

    # -- /give -------------------------------------------------------------------------------------

    def op_give(self, econ: Dict[str, Any]) -> None:
        econ = self.discord_econ
        m, g = econ["model"], econ["guild"]
        sender = self.rng.choice(econ["users"])
        pick = self.rng.random()
        bot = pick < 0.06
        to = g["bot"] if bot else sender if pick < 0.12 else self.rng.choice([u for u in econ["users"] if u != sender])
        amount = self.amount(econ, sender)
        note = None if self.rng.random() < 0.2 else f"sim gift {self.seq}"
        self.seq += 1
        options = [{"name": "user", "type": 6, "value": to}, {"name": "amount", "type": 4, "value": amount}]
        if note:
            options.append({"name": "note", "type": 3, "value": note})
        user = {"id": to, "username": f"member{to[-4:]}", **({"bot": True} if bot else {})}
        data = {"id": self.snowflake(), "name": "give", "type": 1, "options": options,
                "resolved": {"users": {to: user}}}
        payload = self._payload(econ, sender, 2, data)
        short = m.w(sender)["available"] < amount
        want = "self" if to == sender else "bot" if bot else "funds" if short else "offered"
        for _ in range(self.rng.choice((1, 1, 1, 2))):  # Discord's retry: the same interaction id again
            said, resp = self.interact(payload)
            self.outcomes[f"give_{said}"] += 1
            if said != want:
                raise Violation("give", f"/give {amount} from {sender} (available {m.w(sender)['available']}) "
                                        f"to {to}: the player read {said!r}, the rule says {want!r}: {resp}")
        if want != "offered":
            return
        ids = _custom_ids(resp)
        give_id = payload["id"]
        if ids != [f"give:ok:{give_id}", f"give:no:{give_id}"]:
            raise Violation("give", f"/give {give_id} offered the buttons {ids}")
        m.gifts[give_id] = {"from": sender, "to": to, "amount": amount, "note": note, "state": "pending",
                            "deadline": self.clock.now + timedelta(seconds=GIVE_WINDOW_S), "payload": payload}
        choice = self.rng.random()
        if choice < 0.6:
            self._press(econ, give_id, "ok", clicks=self.rng.choice((1, 1, 2)))
        elif choice < 0.75:
            self._press(econ, give_id, "no")
        # else: the sender answers in a later operation, or never (the confirmation expires)

    def op_give_confirm(self, econ: Dict[str, Any]) -> None:
        """A gift left waiting: confirmed or cancelled now (maybe too late), or pressed again once sent."""
        econ = self.discord_econ
        gifts = econ["model"].gifts
        waiting = [gid for gid, v in gifts.items() if v["state"] == "pending"]
        sent = [gid for gid, v in gifts.items() if v["state"] == "sent"][-20:]
        if not waiting and not sent:
            return self.op_give(econ)
        give_id = self.rng.choice(waiting if waiting and (not sent or self.rng.random() < 0.8) else sent)
        if self.rng.random() < 0.2:
            self._redeliver(econ, give_id)
        intruder = self.rng.random() < 0.1
        self._press(econ, give_id, "ok" if self.rng.random() < 0.75 else "no", intruder=intruder)

    def _redeliver(self, econ: Dict[str, Any], give_id: str) -> None:
        """Discord delivers the /give again, late: the same confirmation (or "too few coins" now), nothing reopened.

        The gift keeps its state and its deadline: a cancelled one stays cancelled, a sent one sent."""
        m = econ["model"]
        gift = m.gifts[give_id]
        want = "funds" if m.w(gift["from"])["available"] < gift["amount"] else "offered"
        said, resp = self.interact(gift["payload"])
        self.outcomes[f"give_redelivered_{gift['state']}"] += 1
        if said != want:
            raise Violation("give", f"/give {give_id} ({gift['state']}) delivered again: the player read {said!r}, "
                                    f"the rule says {want!r}: {resp}")

    def _press(self, econ: Dict[str, Any], give_id: str, button: str, clicks: int = 1, intruder: bool = False
               ) -> None:
        m = econ["model"]
        gift = m.gifts[give_id]
        # Nothing on the window's last second: which side of it a press lands is the machine's to say.
        while abs((gift["deadline"] - self.clock.now).total_seconds()) <= 2:
            self.clock.advance(5)
        sender = gift["from"]
        who = self.rng.choice([u for u in econ["users"] if u != sender]) if intruder else sender
        for n in range(clicks):
            payload = self._payload(econ, who, 3, {"custom_id": f"give:{button}:{give_id}", "component_type": 2})
            for _ in range(self.rng.choice((1, 1, 1, 2))):  # Discord's retry of this click
                want = self._expect(econ, give_id, button, intruder)
                before = self._transfers(econ, sender)
                said, resp = self.interact(payload)
                self.outcomes[f"give_{button}_{said}"] += 1
                if said != want and not (want == "frozen_or_funds" and said in ("frozen", "funds")):
                    shown = {k: v for k, v in gift.items() if k != "payload"}
                    raise Violation("give", f"{button} on gift {give_id} ({shown}) by {who}: the player read "
                                            f"{said!r}, the rule says {want!r}: {resp}")
                moved = want == "sent" and gift["state"] == "pending"
                self._apply(econ, give_id, said, resp, moved)
                # Nothing else moves the sender's coins meanwhile: every new transfer is this press's.
                new = self._transfers(econ, sender) - before
                if len(new) != int(moved):
                    raise Violation("gift_once", f"gift {give_id} ({gift['amount']} from {sender}): a press added "
                                                 f"{len(new)} transfers to the sender's statement, {int(moved)} moved")

    def _expect(self, econ: Dict[str, Any], give_id: str, button: str, intruder: bool) -> str:
        m = econ["model"]
        gift = m.gifts[give_id]
        if intruder:
            return "not_yours"
        state = gift["state"]
        if state == "cancelled":
            return "cancelled"
        if state == "sent":
            return "sent" if button == "ok" else "already_sent"
        if self.clock.now > gift["deadline"]:
            return "expired"
        if button == "no":
            return "cancelled_now"
        short = m.w(gift["from"])["available"] < gift["amount"]
        if m.frozen(gift["from"]):
            return "frozen_or_funds" if short else "frozen"
        return "funds" if short else "sent"

    def _apply(self, econ: Dict[str, Any], give_id: str, said: str, resp: Dict[str, Any], moved: bool) -> None:
        m = econ["model"]
        gift = m.gifts[give_id]
        if said == "cancelled_now":
            gift["state"] = "cancelled"
        elif said == "expired":
            gift["state"] = "expired"  # it stays so: no later press may send it
        elif moved:
            gift["state"] = "sent"
            m.move(gift["from"], available=-gift["amount"])
            m.move(gift["to"], available=gift["amount"])
            shown = _balance(resp)
            if shown != m.w(gift["from"])["available"]:
                raise Violation("give", f"gift {give_id} told the sender their balance is {shown}, "
                                        f"the model says {m.w(gift['from'])['available']}")
        if said == "frozen" or said == "frozen_or_funds":
            self.outcomes["frozen_refused"] += 1

    def _transfers(self, econ: Dict[str, Any], user: str) -> set:
        """The ids of the ``transfer`` entries on the newest page of ``user``'s statement (faults paused)."""
        with self.faults.quiet():
            status, page = self._call("GET", f"/v1/users/{user}/transactions?limit=10", token=econ["token"])
        if status != 200:
            raise Violation("statement", f"{user}'s statement answered {status}: {page}")
        return {e["id"] for e in page["items"] if e.get("type") == "transfer"}

    # -- at the end ----------------------------------------------------------------------------

    def final_discord_checks(self) -> None:
        from chalicelib.discord.hub import CHANNELS
        from chalicelib.tenancy.guilds import find_guild

        econ = self.discord_econ
        g = econ["guild"]
        for token in g["setups"]:
            if (g["application_id"], token) not in self.discord.originals:
                raise Violation("discord", f"/coins-setup with token {token} never had its reply edited")
        names = [c["name"] for c in self.discord.guild_channels(g["id"])]
        for spec in CHANNELS:
            if names.count(spec.name) != 1:
                raise Violation("discord", f"#{spec.name} exists {names.count(spec.name)} times: {sorted(names)}")
        channel = find_guild(g["id"]).channels["transactions"]
        lines = [msg.get("content") or "" for msg in self.discord.messages.get(channel, {}).values()]
        for gid, gift in econ["model"].gifts.items():
            if gift["state"] != "sent" or not gift["note"]:
                continue
            said = sum(1 for line in lines if line.endswith(f" - {gift['note']}"))
            if said != 1:
                raise Violation("discord_line", f"gift {gid}'s line was posted {said} times")
            self.outcomes["discord_line_posted"] += 1


def _read(resp: Dict[str, Any]) -> str:
    """What a player reads in an answer, as one word."""
    data = resp.get("data") or {}
    embeds = data.get("embeds") or [{}]
    title, text = embeds[0].get("title", ""), embeds[0].get("description", "")
    if resp.get("type") == 5:
        return "deferred"
    if title == "Sorry":
        return "sorry"
    named = {"Confirm gift": "offered", "Coins sent": "sent", "Gift cancelled": "cancelled_now"}
    if title in named:
        return named[title]
    for words, said in REFUSALS:
        if words in text:
            return said
    return f"unknown: {title}: {text}"


def _custom_ids(resp: Dict[str, Any]) -> List[str]:
    rows = (resp.get("data") or {}).get("components") or []
    return [c.get("custom_id") for row in rows for c in row.get("components") or [] if c.get("custom_id")]


def _balance(resp: Dict[str, Any]) -> Optional[int]:
    text = ((resp.get("data") or {}).get("embeds") or [{}])[0].get("description", "")
    found = re.search(r"Your balance: \**([0-9,]+)", text)
    return int(found.group(1).replace(",", "")) if found else None
