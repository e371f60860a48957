"""A local stand-in for Discord's REST API: a real HTTP server on 127.0.0.1.

Tests and ``python -m scripts.discord_send`` point ``DISCORD_API_BASE``
at it. It keeps just enough state to act like Discord for what Coinhall calls:
guild channels, channel messages and pins, the interaction webhook's original
message, and command registration. Every request is recorded, and canned
answers (a 429 with ``retry_after``, a 500) can be queued in front of any route.

A script says what a request meets, whatever its route: the request's own
``X-Standin-Script`` header (what the simulation, ``sim/ops_discord.py``, draws
per call), else the next of ``then``'s list. ``"ok"``, an HTTP status,
``"429:<retry_after>"``, a ``(status, body, headers)`` answer, ``"reset"`` (a TCP
reset, no answer) or ``"hang"`` (no answer until the client gave up and sent
its next request). A scripted failure is never applied: Discord did nothing.
"""
from __future__ import annotations

import itertools
import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

API_PREFIX = "/api/v10"
RESET, HANG = "reset", "hang"
SCRIPT_HEADER = "X-Standin-Script"
HANG_LIMIT_S = 5.0  # a hung request answers nothing; this only bounds the thread that holds it
_ids = itertools.count(1)


def snowflake() -> str:
    """A Discord-style id that encodes the current time (as real ones do)."""
    ms = int(time.time() * 1000) - 1420070400000
    return str((ms << 22) | (next(_ids) % (1 << 22)))


@dataclass
class Recorded:
    method: str
    path: str
    headers: Dict[str, str]
    body: Any


@dataclass
class Canned:
    method: str
    pattern: str
    status: int
    body: Any = None
    headers: Dict[str, str] = field(default_factory=dict)


class DiscordStandIn:
    """``with DiscordStandIn() as discord: ...``; ``discord.api_base`` is the base URL."""

    def __init__(self, application_id: Optional[str] = None, bot_token: str = "standin-bot-token",
                 port: int = 0) -> None:
        self.application_id = application_id or snowflake()
        self.bot_token = bot_token
        self.requests: List[Recorded] = []
        self.canned: List[Canned] = []
        self.channels: Dict[str, Dict[str, Any]] = {}  # id -> channel (with guild_id)
        self.messages: Dict[str, Dict[str, Dict[str, Any]]] = {}  # channel id -> message id -> message
        self.originals: Dict[Tuple[str, str], Dict[str, Any]] = {}  # (app id, token) -> body
        self.followups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}  # (app id, token) -> messages
        self.replies: List[Dict[str, Any]] = []  # every edit and follow-up, newest first (for /local/discord)
        self.commands: Dict[str, List[Dict[str, Any]]] = {}  # "global" | guild id -> commands
        self.script: List[Any] = []  # what the next requests meet (``then``)
        self.faulted: Counter = Counter()  # scripted failures answered, by kind
        self._hung: List[threading.Event] = []  # released by the next request (the client's retry) or close
        self.lock = threading.RLock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                if self.command == "GET" and self.path.split("?")[0].rstrip("/") == "/local/discord":
                    page = standin.page().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                scripted = standin.scripted(self.headers.get(SCRIPT_HEADER))
                if scripted == RESET:
                    return self._reset()
                if isinstance(scripted, threading.Event):
                    scripted.wait(HANG_LIMIT_S)
                    return self._reset()
                status, payload, headers = scripted or standin.answer(self.command, self.path, dict(self.headers),
                                                                       body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if data:
                    self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def _reset(self) -> None:
                """Drop the connection with a TCP reset, no answer: what a crashing server does."""
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_base = self.url + API_PREFIX
        self.page_url = self.url + "/local/discord"
        self._thread = threading.Thread(target=self.server.serve_forever, name="discord-standin", daemon=True)
        self._thread.start()

    def __enter__(self) -> "DiscordStandIn":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        with self.lock:
            for hung in self._hung:
                hung.set()
        self.server.shutdown()
        self.server.server_close()

    # --- test helpers -----------------------------------------------------------

    def queue(self, method: str, pattern: str, status: int, body: Any = None,
              headers: Optional[Dict[str, str]] = None) -> None:
        """Answer the next ``method`` request whose path matches ``pattern`` (regex) with this."""
        with self.lock:
            self.canned.append(Canned(method.upper(), pattern, status, body, headers or {}))

    def then(self, *behaviours: Any) -> "DiscordStandIn":
        """Script the next requests that carry no script header (see the module docstring for the behaviours)."""
        with self.lock:
            self.script.extend(behaviours)
        return self

    def scripted(self, header: Optional[str] = None) -> Any:
        """What this request meets: None (answer normally), RESET, an Event to hang on, or an answer."""
        with self.lock:
            for hung in self._hung:
                hung.set()  # the client gave up on those: they may go now
            self._hung.clear()
            behaviour = header or (self.script.pop(0) if self.script else "ok")
            if isinstance(behaviour, str) and behaviour.startswith("429:"):
                wait = float(behaviour[4:])
                behaviour = (429, {"message": "You are being rate limited.", "retry_after": wait, "global": False},
                             {"Retry-After": str(max(1, round(wait)))})
            elif isinstance(behaviour, str) and behaviour.isdigit():
                behaviour = int(behaviour)
            if behaviour == "ok":
                return None
            if behaviour == HANG:
                self._hung.append(threading.Event())
                self.faulted[HANG] += 1
                return self._hung[-1]
            if behaviour == RESET:
                self.faulted[RESET] += 1
                return RESET
            status, body, headers = behaviour if isinstance(behaviour, tuple) else (behaviour, None, {})
            self.faulted[str(status)] += 1
            return status, body if body is not None else {"message": f"scripted {status}", "code": 0}, headers

    def calls(self, method: Optional[str] = None, pattern: str = "") -> List[Recorded]:
        with self.lock:
            return [r for r in self.requests if (method is None or r.method == method) and re.search(pattern, r.path)]

    def guild_channels(self, guild_id: str) -> List[Dict[str, Any]]:
        with self.lock:
            return [c for c in self.channels.values() if c["guild_id"] == guild_id]

    def channel_named(self, guild_id: str, name: str) -> Optional[Dict[str, Any]]:
        return next((c for c in self.guild_channels(guild_id) if c["name"] == name), None)

    def delete_channel(self, channel_id: str) -> None:
        with self.lock:
            self.channels.pop(channel_id, None)
            self.messages.pop(channel_id, None)

    def add_guild_channel(self, guild_id: str, name: str) -> Dict[str, Any]:
        with self.lock:
            channel = {"id": snowflake(), "guild_id": guild_id, "name": name, "type": 0, "permission_overwrites": []}
            self.channels[channel["id"]] = channel
            self.messages[channel["id"]] = {}
            return channel

    def page(self) -> str:
        from scripts.discord_page import render_page

        with self.lock:
            return render_page(list(self.channels.values()), self.messages, list(self.replies))

    # --- the fake API -------------------------------------------------------------

    def answer(self, method: str, raw_path: str, headers: Dict[str, str], body: Any) -> Tuple[int, Any, Dict[str, str]]:
        path = raw_path[len(API_PREFIX):] if raw_path.startswith(API_PREFIX) else raw_path
        with self.lock:
            self.requests.append(Recorded(method, path, headers, body))
            for canned in self.canned:
                if canned.method == method and re.search(canned.pattern, path):
                    self.canned.remove(canned)
                    return canned.status, canned.body, canned.headers
        route = path.split("?")[0].strip("/").split("/")
        if route[0] != "webhooks" and headers.get("Authorization") != f"Bot {self.bot_token}":
            return 401, {"message": "401: Unauthorized", "code": 0}, {}
        with self.lock:
            return self._route(method, route, body)

    def _route(self, method: str, r: List[str], body: Any) -> Tuple[int, Any, Dict[str, str]]:
        not_found = (404, {"message": "Unknown", "code": 10003}, {})
        if r[0] == "guilds" and len(r) == 3 and r[2] == "channels":
            if method == "GET":
                return 200, self.guild_channels(r[1]), {}
            channel = {"id": snowflake(), "guild_id": r[1], "name": body["name"], "type": body.get("type", 0),
                       "topic": body.get("topic"), "permission_overwrites": body.get("permission_overwrites", [])}
            self.channels[channel["id"]] = channel
            self.messages[channel["id"]] = {}
            return 201, channel, {}
        if r[0] == "channels" and len(r) >= 2:
            channel = self.channels.get(r[1])
            if channel is None:
                return not_found
            if len(r) == 2 and method == "PATCH":
                channel.update(body or {})
                return 200, channel, {}
            messages = self.messages[r[1]]
            if len(r) == 3 and r[2] == "messages":
                if method == "GET":
                    return 200, sorted(messages.values(), key=lambda m: int(m["id"]), reverse=True)[:50], {}
                nonce = (body or {}).get("nonce")
                if nonce is not None and (body or {}).get("enforce_nonce"):
                    # As Discord: the same author's message with this nonce comes back, no new one is made
                    # (Discord keeps nonces for a few minutes; the stand-in for its whole life).
                    same = [m for m in messages.values() if m.get("nonce") == nonce]
                    if same:
                        return 200, same[0], {}
                message = {"id": snowflake(), "channel_id": r[1], "author": {"id": self.application_id, "bot": True},
                           "pinned": False, **(body or {})}
                messages[message["id"]] = message
                return 200, message, {}
            if len(r) == 4 and r[2] == "messages":
                message = messages.get(r[3])
                if message is None:
                    return not_found
                if method == "PATCH":
                    message.update(body or {})
                elif method == "DELETE":
                    messages.pop(r[3])
                    return 204, None, {}
                return 200, message, {}
            if len(r) == 4 and r[2] == "pins" and method == "PUT":
                if r[3] not in messages:
                    return not_found
                messages[r[3]]["pinned"] = True
                return 204, None, {}
        if r[0] == "webhooks" and len(r) == 5 and r[3] == "messages" and r[4] == "@original":
            if method == "PATCH":
                self.originals[(r[1], r[2])] = body
                self.replies.insert(0, {"what": f"reply to interaction …{r[2][-6:]} (edited by the worker)",
                                        "message": body or {}})
                return 200, {"id": snowflake(), **(body or {})}, {}
            if method == "GET":
                original = self.originals.get((r[1], r[2]))
                return (200, {"id": "@original", **original}, {}) if original is not None else not_found
        if r[0] == "webhooks" and len(r) == 3 and method == "POST":  # a follow-up message
            message = {"id": snowflake(), **(body or {})}
            self.followups.setdefault((r[1], r[2]), []).append(message)
            self.replies.insert(0, {"what": f"follow-up to interaction …{r[2][-6:]}", "message": message})
            return 200, message, {}
        if r[0] == "applications" and r[-1] == "commands" and method == "PUT":
            scope = r[3] if len(r) == 5 else "global"
            stored = [{"id": snowflake(), "application_id": r[1], **c} for c in body or []]
            self.commands[scope] = stored
            return 200, stored, {}
        return not_found
