"""A local stand-in for the parts of Stripe's API that Coinhall calls, as a real HTTP server.

It answers what ``chalicelib/purchases/stripe_gateway.py`` sends, the way
Stripe does, so the stripe library talks to it unchanged
(``STRIPE_API_BASE=<url>``):

* ``POST /v1/checkout/sessions`` -> a ``checkout.session`` (its amount,
  currency and ``payment_intent_data[metadata]`` kept for the payment);
* ``POST /v1/refunds`` (``payment_intent``, ``amount`` optional = what is
  left, ``metadata``, ``reason``) -> a ``refund``; ``GET /v1/refunds/{id}``.

Like Stripe it reads form-encoded bodies with nested keys
(``metadata[purchase_id]``, ``line_items[0][quantity]``), wants
``Authorization: Bearer sk_...``, and honours ``Idempotency-Key``: the same
key with the same body answers the first response again
(``Idempotent-Replayed: true``), with another body 400 ``idempotency_error``.
Only a request that ran is remembered under its key: a scripted failure
(``fail_next``) is one Stripe never got to execute, so the retry runs it.

``pay(session_id)`` plays the buyer: it makes the session's PaymentIntent and
charge and, with a webhook URL and signing secret, sends the signed
``checkout.session.completed``. Each refund that succeeds sends
``charge.refunded`` with the charge's cumulative ``amount_refunded``, as
Stripe does, from a thread after the answer (Stripe's events are not part of
the API call). ``requests`` holds every request it saw.

For a run that must replay (the simulation, ``sim/ops_stripe.py``):

* a request's own ``X-Standin-Script`` header says what it meets: ``ok``,
  ``500``, ``429`` (with ``Retry-After``), ``reset`` (none of these runs it), or
  ``hang`` (it runs, then the answer is held ``hang_s`` seconds: a client that
  timed out never learns it happened, and its retry under the same
  Idempotency-Key is answered the first response again);
* ``hold_events=True`` keeps the events in ``outbox`` (``take_events()``) for
  the caller to deliver when, how often and in what order it likes, instead of
  sending them from a thread;
* ``ids`` (a ``random.Random``) and ``clock`` make its ids and ``created``
  times come from the caller's seed and clock, not ``uuid4`` and the wall.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

import requests

FAILURES = ("500", "429", "reset")
SCRIPT_HEADER = "X-Standin-Script"
RETRY_AFTER_S = "1"  # what a 429 tells the client to wait
REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_form(body: str) -> Dict[str, Any]:
    """Stripe's form encoding, nested: ``a[b][0][c]=1`` -> ``{"a": {"b": [{"c": "1"}]}}`` (values stay strings)."""
    root: Dict[str, Any] = {}
    for raw_key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        match = _KEY.match(raw_key)
        if not match:
            raise ValueError(f"Invalid parameter name: {raw_key}")
        path = [match.group(1)] + re.findall(r"\[([^\[\]]*)\]", match.group(2))
        node: Any = root
        for here, after in zip(path, path[1:]):
            node = _child(node, here, {} if not after.isdigit() else [])
        _set(node, path[-1], value)
    return root


def _child(node: Any, key: str, empty: Any) -> Any:
    if isinstance(node, list):
        index = int(key)
        while len(node) <= index:
            node.append(None)
        if node[index] is None:
            node[index] = empty
        return node[index]
    return node.setdefault(key, empty)


def _set(node: Any, key: str, value: str) -> None:
    if isinstance(node, list):
        _child(node, key, None)
        node[int(key)] = value
    else:
        node[key] = value


class StripeError(Exception):
    """An error answer in Stripe's shape: ``{"error": {"type", "code", "message", "param"}}``."""

    def __init__(self, status: int, message: str, code: Optional[str] = None, param: Optional[str] = None,
                 type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {k: v for k, v in {"type": type_, "code": code, "message": message,
                                                  "param": param}.items() if v is not None}}


@dataclass
class Seen:
    method: str
    path: str
    headers: Dict[str, str]
    form: Dict[str, str]  # flat, as sent: ``{"metadata[purchase_id]": ...}``
    params: Dict[str, Any]  # nested, as Stripe reads it
    status: int = 0  # 0: the connection was reset
    script: Optional[str] = None  # what the request was scripted to meet (its X-Standin-Script)
    done: bool = False  # answered (or reset): whatever it does at Stripe is done


@dataclass
class Intent:
    """A PaymentIntent with its one charge: what a refund is made against."""

    id: str
    charge: str
    amount: int
    currency: str
    metadata: Dict[str, str]
    amount_refunded: int = 0
    refunds: List[str] = field(default_factory=list)


class StripeStandIn:
    """``with StripeStandIn() as stripe_api: ...``; point ``STRIPE_API_BASE`` at ``stripe_api.url``."""

    def __init__(self, secret_key_prefix: str = "sk_", webhook_url: Optional[str] = None,
                 webhook_secret: Optional[str] = None, port: int = 0, hold_events: bool = False,
                 ids: Optional[random.Random] = None, clock: Callable[[], float] = time.time,
                 hang_s: float = 5.0) -> None:
        self.key_prefix = secret_key_prefix
        self.hold_events = hold_events
        self.outbox: List[Dict[str, Any]] = []  # events kept for the caller (hold_events)
        self.ids, self.clock, self.hang_s = ids, clock, hang_s
        self.closing = threading.Event()  # ends the hangs at close
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.lock = threading.RLock()
        self.requests: List[Seen] = []
        self.failures: List[str] = []
        self.sessions: Dict[str, Dict[str, Any]] = {}
        self.intents: Dict[str, Intent] = {}
        self.refunds: Dict[str, Dict[str, Any]] = {}
        self.idempotent: Dict[str, Tuple[str, int, Dict[str, Any]]] = {}  # key -> (body digest, status, answer)
        self.webhooks: List[Dict[str, Any]] = []  # {"type", "status"} of every event sent
        self._senders: List[threading.Thread] = []
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._serve("GET", "")

            def do_POST(self) -> None:  # noqa: N802
                self._serve("POST", self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())

            def _serve(self, method: str, body: str) -> None:
                status, answer, headers = standin.answer(method, self.path, dict(self.headers), body)
                if status == 0:
                    return self._reset()
                if self.headers.get(SCRIPT_HEADER) == "hang":  # done; the client gives up before hearing it
                    standin.closing.wait(standin.hang_s)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client hung up (a hang's): the answer is lost, as on the network
                    self.close_connection = True

            def _reset(self) -> None:
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="stripe-standin", daemon=True).start()

    def __enter__(self) -> "StripeStandIn":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.closing.set()
        self.wait_webhooks()
        self.server.shutdown()
        self.server.server_close()

    # --- scripting ------------------------------------------------------------------

    def fail_next(self, count: int, kind: str = "500") -> "StripeStandIn":
        """The next ``count`` API calls fail as ``kind``: ``500``, ``429`` or ``reset`` (connection dropped)."""
        if kind not in FAILURES:
            raise ValueError(f"kind is one of {FAILURES}")
        with self.lock:
            self.failures.extend([kind] * count)
        return self

    def take_events(self) -> List[Dict[str, Any]]:
        """The events kept since the last call (``hold_events``), oldest first."""
        with self.lock:
            events, self.outbox = self.outbox, []
        return events

    def wait_done(self, count: int, timeout: float = 10) -> bool:
        """Until ``count`` requests have been received and done (a client that gave up on a hang knows its
        request ran before it tries again, however late the server's thread got to it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if sum(1 for s in self.requests if s.done) >= count:
                    return True
            time.sleep(0.005)
        return False

    def calls(self, path: str, method: str = "POST") -> List[Seen]:
        with self.lock:
            return [s for s in self.requests if s.path.split("?")[0] == path and s.method == method]

    # --- the API ----------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: Dict[str, str], body: str
               ) -> Tuple[int, Dict[str, Any], Dict[str, str]]:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            params = parse_form(body)
        except ValueError as exc:
            params = {}
            problem: Optional[StripeError] = StripeError(400, str(exc))
        else:
            problem = None
        script = lowered.get(SCRIPT_HEADER.lower())
        seen = Seen(method, path, headers, dict(urllib.parse.parse_qsl(body, keep_blank_values=True)), params,
                    script=script)
        with self.lock:
            self.requests.append(seen)
            if script is not None:  # the request's own script, in place of the queued failures
                failure = script if script in FAILURES else None
            else:
                failure = self.failures.pop(0) if self.failures else None
        status, answer, extra = self._answer(method, path, lowered, body, params, failure, problem)
        with self.lock:
            seen.status, seen.done = status, True
        return status, answer, extra

    def _answer(self, method: str, path: str, headers: Dict[str, str], body: str, params: Dict[str, Any],
                failure: Optional[str], problem: Optional[StripeError]) -> Tuple[int, Dict[str, Any], Dict[str, str]]:
        auth = headers.get("authorization", "")
        if not auth.startswith(f"Bearer {self.key_prefix}") or len(auth) <= len(f"Bearer {self.key_prefix}"):
            return 401, StripeError(401, "Invalid API Key provided.", type_="invalid_request_error").body, {}
        if failure == "reset":
            return 0, {}, {}
        if failure == "500":
            return 500, StripeError(500, "An unknown error occurred.", type_="api_error").body, {}
        if failure == "429":
            return 429, StripeError(429, "Too many requests hit the API too quickly.", code="rate_limit",
                                    type_="invalid_request_error").body, {"Retry-After": RETRY_AFTER_S}
        if problem is not None:
            return problem.status, problem.body, {}
        key = headers.get("idempotency-key") if method == "POST" else None
        digest = hashlib.sha256(f"{path}\n{body}".encode()).hexdigest()
        with self.lock:
            if key is not None and key in self.idempotent:
                first, status, answer = self.idempotent[key]
                if first != digest:
                    return 400, StripeError(400, "Keys for idempotent requests can only be used with the same "
                                                 "parameters they were first used with. Try using a key other "
                                                 f"than '{key}' if you meant to execute a different request.",
                                            type_="idempotency_error").body, {}
                return status, answer, {"Idempotent-Replayed": "true", "Idempotency-Key": key}
            try:
                status, answer, after = self._route(method, path.split("?")[0], params)
            except StripeError as exc:
                return exc.status, exc.body, {}
            if key is not None:
                self.idempotent[key] = (digest, status, answer)
        if after is not None:
            self._send_later(after)
        return status, answer, {"Idempotency-Key": key} if key else {}

    def _route(self, method: str, path: str, params: Dict[str, Any]
               ) -> Tuple[int, Dict[str, Any], Optional[Dict[str, Any]]]:
        if method == "POST" and path == "/v1/checkout/sessions":
            return 200, self._create_session(params), None
        if method == "POST" and path == "/v1/refunds":
            return self._create_refund(params)
        match = re.match(r"^/v1/refunds/([A-Za-z0-9_]+)$", path)
        if method == "GET" and match:
            refund = self.refunds.get(match.group(1))
            if refund is None:
                raise StripeError(404, f"No such refund: '{match.group(1)}'", code="resource_missing", param="id")
            return 200, refund, None
        raise StripeError(404, f"Unrecognized request URL ({method}: {path}).")

    def _create_session(self, params: Dict[str, Any]) -> Dict[str, Any]:
        items = params.get("line_items") or []
        try:
            amount = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items)
            currency = items[0]["price_data"]["currency"]
        except (KeyError, IndexError, TypeError, ValueError):
            raise StripeError(400, "Missing required param: line_items[0][price_data].", code="parameter_missing",
                              param="line_items") from None
        session_id = f"cs_test_{self._hex(32)}"
        session = {
            "id": session_id, "object": "checkout.session", "mode": params.get("mode"), "status": "open",
            "payment_status": "unpaid", "amount_total": amount, "currency": currency,
            "client_reference_id": params.get("client_reference_id"), "metadata": params.get("metadata") or {},
            "payment_intent": None, "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "success_url": params.get("success_url"), "cancel_url": params.get("cancel_url"),
            "expires_at": int(params["expires_at"]) if str(params.get("expires_at", "")).isdigit() else None,
        }
        self.sessions[session_id] = {**session, "_intent_metadata": (params.get("payment_intent_data") or {})
                                     .get("metadata") or {}}
        return session

    def _create_refund(self, params: Dict[str, Any]) -> Tuple[int, Dict[str, Any], Optional[Dict[str, Any]]]:
        pi = params.get("payment_intent")
        if not pi:
            raise StripeError(400, "One of the following params should be provided for this request: "
                                   "payment_intent or charge.", code="parameter_missing", param="payment_intent")
        intent = self.intents.get(pi)
        if intent is None:
            raise StripeError(400, f"No such payment_intent: '{pi}'", code="resource_missing", param="payment_intent")
        left = intent.amount - intent.amount_refunded
        if left <= 0:
            raise StripeError(400, f"Charge {intent.charge} has already been refunded.",
                              code="charge_already_refunded")
        raw_amount = params.get("amount")
        if raw_amount is None:
            amount = left
        elif not (str(raw_amount).isdigit() and int(raw_amount) > 0):
            raise StripeError(400, "Invalid positive integer", code="parameter_invalid_integer", param="amount")
        else:
            amount = int(raw_amount)
        if amount > left:
            raise StripeError(400, f"Refund amount ({amount / 100:.2f}) is greater than unrefunded amount on charge "
                                   f"({left / 100:.2f})", code="amount_too_large", param="amount")
        reason = params.get("reason")
        if reason is not None and reason not in REFUND_REASONS:
            raise StripeError(400, f"Invalid reason: must be one of {', '.join(REFUND_REASONS)}",
                              code="parameter_invalid_string", param="reason")
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise StripeError(400, "Invalid object", code="parameter_invalid_string", param="metadata")
        refund_id = f"re_test_{self._hex(24)}"
        refund = {"id": refund_id, "object": "refund", "amount": amount, "currency": intent.currency,
                  "charge": intent.charge, "payment_intent": intent.id, "metadata": metadata, "reason": reason,
                  "status": "succeeded", "created": int(self.clock())}
        intent.amount_refunded += amount
        intent.refunds.append(refund_id)
        self.refunds[refund_id] = refund
        return 200, refund, self._event("charge.refunded", self._charge(intent))

    # --- the buyer and the events ---------------------------------------------------------

    def pay(self, session_id: str) -> Dict[str, Any]:
        """The buyer pays the session: its PaymentIntent and charge exist, and the completion event is sent."""
        with self.lock:
            session = self.sessions[session_id]
            if session["payment_intent"] is None:
                pi = f"pi_test_{self._hex(24)}"
                self.intents[pi] = Intent(pi, f"ch_test_{self._hex(24)}", session["amount_total"],
                                          session["currency"], dict(session["_intent_metadata"]))
                session.update(payment_intent=pi, status="complete", payment_status="paid")
            public = {k: v for k, v in session.items() if not k.startswith("_")}
            event = self._event("checkout.session.completed", public)
        if self.webhook_url:
            self._send(event)
        return event

    def _charge(self, intent: Intent) -> Dict[str, Any]:
        return {"id": intent.charge, "object": "charge", "amount": intent.amount,
                "amount_refunded": intent.amount_refunded, "currency": intent.currency,
                "refunded": intent.amount_refunded >= intent.amount, "payment_intent": intent.id,
                "metadata": dict(intent.metadata)}

    def _hex(self, n: int) -> str:
        """``n`` random hex digits: from the caller's generator when given (a run that replays), else uuid4's."""
        with self.lock:
            return f"{self.ids.getrandbits(4 * n):0{n}x}" if self.ids is not None else uuid.uuid4().hex[:n]

    def _event(self, event_type: str, obj: Dict[str, Any]) -> Dict[str, Any]:
        return {"id": f"evt_test_{self._hex(32)}", "object": "event", "type": event_type,
                "created": int(self.clock()), "livemode": False, "data": {"object": obj}}

    def _send_later(self, event: Dict[str, Any]) -> None:
        if self.hold_events:
            with self.lock:
                self.outbox.append(event)
            return
        if not self.webhook_url:
            return
        sender = threading.Thread(target=self._send, args=(event,), name="stripe-standin-webhook", daemon=True)
        with self.lock:
            self._senders.append(sender)
        sender.start()

    def _send(self, event: Dict[str, Any]) -> None:
        """POST the event signed as Stripe signs (``t=..,v1=HMAC-SHA256(secret, "t.payload")``); retried on 5xx."""
        import stripe

        assert self.webhook_url and self.webhook_secret, "a webhook needs a URL and a signing secret"
        payload = json.dumps(event)
        status = 0
        for attempt in range(5):
            header = stripe.WebhookSignature.generate_signature_header(payload, self.webhook_secret,
                                                                        int(time.time()))
            try:
                status = requests.post(self.webhook_url, data=payload.encode(), timeout=30,
                                       headers={"Content-Type": "application/json",
                                                "Stripe-Signature": header}).status_code
            except requests.RequestException:
                status = 0
            if 200 <= status < 300:
                break
            time.sleep(0.2 * (attempt + 1))
        with self.lock:
            self.webhooks.append({"type": event["type"], "id": event["id"], "status": status,
                                  "object": event["data"]["object"]})

    def wait_webhooks(self, timeout: float = 30) -> None:
        """Until every event sent so far was answered (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                pending = [t for t in self._senders if t.is_alive()]
            if not pending or time.monotonic() > deadline:
                return
            pending[0].join(max(0.0, deadline - time.monotonic()))


def main() -> None:
    """``python -m scripts.stripe_standin [--port P] [--webhook URL --secret WHSEC]``: one on its own."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m scripts.stripe_standin")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--webhook", default=None, help="where to send signed events (the app's /v1/webhooks/stripe)")
    parser.add_argument("--secret", default=None, help="the webhook signing secret (STRIPE_WEBHOOK_SECRET)")
    args = parser.parse_args()
    server = StripeStandIn(webhook_url=args.webhook, webhook_secret=args.secret, port=args.port)
    print(json.dumps({"url": server.url}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.close()


if __name__ == "__main__":
    main()
