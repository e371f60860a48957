"""A local game server: the fulfilment contract's reference implementation, as a real HTTP server.

It does what the README's fulfilment contract asks of a game-server plugin: it
checks our ``X-Coinhall-Signature`` with the shared key, delivers each order id
once (a repeat of an ``Idempotency-Key`` it already delivered answers 200
without delivering again) and keeps what it delivered. Tests script its
behaviour per request: ``"ok"``, an HTTP status to answer without delivering,
``"reset"`` (drop the connection, deliver nothing), or ``"hang"``
(deliver, then answer nothing until the client has given up and sent its
retry: a timeout however fast or slow the machine is).

``make run`` starts one and points ``MINECRAFT_API_URL`` at it, so shop orders
and listings of game-server items work out of the box; its switch, for trying
what the app does when the game server misbehaves::

    curl -s -X POST $GAME/control -d '{"mode": "fail", "status": 503}'   # answer 503, deliver nothing
    curl -s -X POST $GAME/control -d '{"mode": "slow", "delay_s": 8}'   # deliver, answer after 8 s
    curl -s -X POST $GAME/control -d '{"mode": "ok"}'
    curl -s $GAME/deliveries                                            # what it handed out
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple, Union

from chalicelib.core import signing

PLUGIN_KEY = "mc-plugin-test-key"
Behaviour = Union[str, int]
MODES = ("ok", "fail", "slow")
RESET = 0  # "answered" of a request the server dropped without a word


@dataclass
class Seen:
    order_id: str
    body: Dict[str, Any]
    signature_ok: bool
    answered: int


class PluginStandIn:
    """``with PluginStandIn() as plugin: ...``; ``plugin.url`` is what MINECRAFT_API_URL points at."""

    def __init__(self, key: str = PLUGIN_KEY, port: int = 0) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.script: List[Behaviour] = []
        self.default: Behaviour = "ok"
        self.delay_s = 0.0  # mode "slow": deliver, then answer this much later
        self.seen: List[Seen] = []
        self.delivered: Dict[str, Dict[str, Any]] = {}
        self.deliveries: Counter = Counter()  # order id -> times the goods were handed out
        self.hanging: Dict[str, threading.Event] = {}  # order id -> released when its next request arrives
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path.split("?")[0] != "/deliveries":
                    return self._send(404, {"error": "not found"})
                with standin.lock:
                    self._send(200, {"mode": standin.mode(), "deliveries": dict(standin.deliveries),
                                     "orders": standin.delivered})

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.split("?")[0] == "/control":
                    return self._send(*standin.control(raw))
                status, answer, hang = standin.answer(dict(self.headers), raw)
                if status == RESET:
                    return self._reset()
                if hang is not None:
                    hang.wait()
                elif status == 200 and standin.delay_s and not answer.get("repeat"):
                    time.sleep(standin.delay_s)  # "slow": what a client with a shorter timeout meets
                self._send(status, answer)

            def _send(self, status: int, answer: Dict[str, Any]) -> None:
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def _reset(self) -> None:
                """Drop the connection with a TCP reset, no answer: what a crashing server does."""
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base_url}/coinhall/fulfil"
        threading.Thread(target=self.server.serve_forever, name="plugin-standin", daemon=True).start()

    def __enter__(self) -> "PluginStandIn":
        return self

    def __exit__(self, *exc: Any) -> None:
        with self.lock:
            for event in self.hanging.values():
                event.set()
        self.server.shutdown()
        self.server.server_close()

    def mode(self) -> Dict[str, Any]:
        if self.default == "ok":
            return {"mode": "slow", "delay_s": self.delay_s} if self.delay_s else {"mode": "ok"}
        return {"mode": "fail", "status": self.default}

    def control(self, raw: bytes) -> Tuple[int, Dict[str, Any]]:
        """The switch: ``{"mode": "ok" | "fail" (+ "status", default 503) | "slow" (+ "delay_s")}``."""
        try:
            wanted = json.loads(raw or b"{}")
            mode = wanted["mode"]
            status = int(wanted.get("status", 503))
            delay = float(wanted.get("delay_s", 8))
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'send {"mode": "ok" | "fail" | "slow"}'}
        if mode not in MODES or not 400 <= status <= 599 or not 0 <= delay <= 120:
            return 400, {"error": f"mode is one of {list(MODES)}; status 400-599; delay_s 0-120"}
        with self.lock:
            self.default = status if mode == "fail" else "ok"
            self.delay_s = delay if mode == "slow" else 0.0
            return 200, self.mode()

    def then(self, *behaviours: Behaviour) -> "PluginStandIn":
        with self.lock:
            self.script.extend(behaviours)
        return self

    def answer(self, headers: Dict[str, str], raw: bytes) -> Tuple[int, Dict[str, Any], Optional[threading.Event]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            signing.verify([self.key], raw, lowered.get("x-coinhall-timestamp"), lowered.get("x-coinhall-signature"))
            signature_ok = True
        except Exception:
            signature_ok = False
        body = json.loads(raw or b"{}")
        order_id = lowered.get("idempotency-key", "")
        with self.lock:
            behaviour = self.script.pop(0) if self.script else self.default
            if order_id in self.hanging:
                self.hanging.pop(order_id).set()  # the client gave up on that one: it may answer now
            if not signature_ok or order_id != body.get("order_id"):
                self.seen.append(Seen(order_id, body, signature_ok, 401))
                return 401, {"error": "bad signature"}, None
            if order_id in self.delivered:  # the contract: a repeat answers like the first, delivers nothing
                self.seen.append(Seen(order_id, body, True, 200))
                return 200, {"status": "delivered", "repeat": True}, None
            if behaviour == "reset":
                self.seen.append(Seen(order_id, body, True, RESET))
                return RESET, {}, None
            if behaviour in ("ok", "hang"):
                self.delivered[order_id] = body
                self.deliveries[order_id] += 1
                self.seen.append(Seen(order_id, body, True, 200))
                hang = self.hanging.setdefault(order_id, threading.Event()) if behaviour == "hang" else None
                return 200, {"status": "delivered"}, hang
            self.seen.append(Seen(order_id, body, True, int(behaviour)))
            return int(behaviour), {"error": f"scripted {behaviour}"}, None

    def calls(self, order_id: str) -> List[Seen]:
        with self.lock:
            return [s for s in self.seen if s.order_id == order_id]




def main() -> None:
    """``python -m scripts.game_server_standin [--port P] [--key K]``: one on its own (``make run`` starts one)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scripts.game_server_standin")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default=PLUGIN_KEY, help="the HMAC key (MINECRAFT_API_KEY of the app)")
    args = parser.parse_args()
    server = PluginStandIn(args.key, args.port)
    print(json.dumps({"url": server.url, "control": f"{server.base_url}/control"}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.__exit__(None)


if __name__ == "__main__":
    main()
