"""A small client for Discord's REST API (requests, imported lazily).

* ``Authorization: Bot <token>`` on bot calls; interaction webhooks (editing a
  deferred reply) need no token and get none.
* 429: waits ``retry_after`` (JSON body, else the ``Retry-After`` header) and
  retries; a global limit blocks every route.
* Rate-limit buckets: remembers ``X-RateLimit-Bucket`` per route and, when a
  bucket's ``X-RateLimit-Remaining`` reaches 0, waits ``X-RateLimit-Reset-After``
  before the next call in it, instead of spending a 429.
* 5xx and network errors: retried with jittered exponential backoff.
* Never logs the bot token or an interaction token: logs and errors name the
  route with its ids and tokens replaced (``webhooks/{app}/{token}/...``), and a
  filter on urllib3's request log (DEBUG) redacts webhook tokens there too.

Raises ``DiscordApiError`` (details: ``discord_status``, ``route``, Discord's ``code``).
"""
from __future__ import annotations

import logging
import random
import re
import threading
import time
from typing import Any, Dict, Optional, Tuple

from chalicelib.core import errors

log = logging.getLogger("coinhall.discord.rest")

USER_AGENT = "DiscordBot (https://github.com/coinhall/coinhall, 1.0)"
_SNOWFLAKE = re.compile(r"^[0-9]{15,20}$")


def route_key(method: str, path: str) -> str:
    """The route as Discord buckets it, safe to log: ids and tokens replaced.

    The first id after channels/guilds/webhooks (a "major parameter") is kept
    apart from the others by keeping its position, not its value.
    """
    parts = path.strip("/").split("?")[0].split("/")
    out = []
    for i, part in enumerate(parts):
        if i > 0 and parts[0] == "webhooks" and i == 2:
            out.append("{token}")
        elif _SNOWFLAKE.match(part):
            out.append("{id}")
        else:
            out.append(part)
    return f"{method.upper()} /{'/'.join(out)}"


class _RedactWebhookTokens(logging.Filter):
    """urllib3 logs every request line at DEBUG; interaction webhook paths carry a token."""

    _pattern = re.compile(r"(/webhooks/[0-9]+/)[^/\s?\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and any("/webhooks/" in str(a) for a in record.args):
            record.args = tuple(self._pattern.sub(r"\1{token}", str(a)) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str) and "/webhooks/" in record.msg:
            record.msg = self._pattern.sub(r"\1{token}", record.msg)
        return True


def _install_redaction() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactWebhookTokens) for f in logger.filters):
        logger.addFilter(_RedactWebhookTokens())


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, errors.DiscordApiError) and exc.details.get("discord_status") == 404


class DiscordRest:
    """One client per (base URL, token); safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        token: Optional[str],
        *,
        max_attempts: int = 5,
        max_wait: float = 30.0,
        timeout: float = 10.0,
        backoff: float = 0.25,
    ) -> None:
        import requests

        _install_redaction()
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.timeout = timeout
        self.backoff = backoff
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._route_bucket: Dict[str, str] = {}
        self._blocked_until: Dict[str, float] = {}  # bucket -> monotonic time it reopens
        self._global_until = 0.0

    def __repr__(self) -> str:  # never show the token, even in a traceback's locals
        return f"DiscordRest({self.base_url!r}, token={'***' if self._token else None})"

    def request(self, method: str, path: str, *, json: Any = None, auth: bool = True,
                reason: Optional[str] = None) -> Any:
        """Call Discord; returns the decoded JSON (None for 204). Raises DiscordApiError."""
        import requests

        route = route_key(method, path)
        headers = {"User-Agent": USER_AGENT}
        if auth:
            if not self._token:
                raise errors.DiscordApiError("DISCORD_BOT_TOKEN is not set.", route=route)
            headers["Authorization"] = f"Bot {self._token}"
        if reason:
            headers["X-Audit-Log-Reason"] = reason[:512]
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_bucket(route)
            try:
                response = self._session.request(method, url, json=json, headers=headers, timeout=self.timeout)
            except requests.RequestException as exc:
                if attempt >= self.max_attempts:
                    log.error("discord %s failed after %d attempts: %s", route, attempt, exc.__class__.__name__)
                    raise errors.DiscordApiError("Discord did not answer.", route=route) from None
                self._sleep_backoff(attempt)
                continue
            self._learn(route, response.headers)
            status = response.status_code
            if status == 429:
                wait, is_global = _retry_after(response)
                if is_global:
                    with self._lock:
                        self._global_until = time.monotonic() + wait
                if attempt >= self.max_attempts or wait > self.max_wait:
                    raise errors.DiscordApiError("Discord rate limited the call.", route=route, discord_status=429,
                                                 retry_after=wait)
                log.warning("discord rate limited %s (global=%s); retrying in %.3fs", route, is_global, wait)
                time.sleep(wait)
                continue
            if status >= 500:
                if attempt >= self.max_attempts:
                    raise errors.DiscordApiError("Discord kept failing.", route=route, discord_status=status)
                log.warning("discord %s answered %d; retrying", route, status)
                self._sleep_backoff(attempt)
                continue
            if status >= 400:
                body = _json(response) or {}
                raise errors.DiscordApiError(
                    f"Discord refused the call ({status}).", route=route, discord_status=status,
                    discord_code=body.get("code") if isinstance(body, dict) else None,
                    discord_message=(body.get("message") if isinstance(body, dict) else None),
                )
            return _json(response) if response.content else None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    # --- rate-limit bookkeeping ---------------------------------------------

    def _wait_for_bucket(self, route: str) -> None:
        with self._lock:
            bucket = self._route_bucket.get(route)
            until = max(self._global_until, self._blocked_until.get(bucket, 0.0) if bucket else 0.0)
        wait = until - time.monotonic()
        if wait > 0:
            log.info("discord bucket of %s is empty; waiting %.3fs", route, wait)
            time.sleep(min(wait, self.max_wait))

    def _learn(self, route: str, headers: Any) -> None:
        bucket = headers.get("X-RateLimit-Bucket")
        if not bucket:
            return
        remaining, reset_after = headers.get("X-RateLimit-Remaining"), headers.get("X-RateLimit-Reset-After")
        with self._lock:
            self._route_bucket[route] = bucket
            try:
                if remaining is not None and int(remaining) <= 0 and reset_after is not None:
                    self._blocked_until[bucket] = time.monotonic() + float(reset_after)
                else:
                    self._blocked_until.pop(bucket, None)
            except ValueError:
                pass  # a header we cannot read is a header we do not act on

    def _sleep_backoff(self, attempt: int) -> None:
        time.sleep(random.uniform(0.5, 1.0) * self.backoff * 2 ** (attempt - 1))


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after(response: Any) -> Tuple[float, bool]:
    body = _json(response)
    wait: Optional[float] = None
    is_global = False
    if isinstance(body, dict):
        is_global = bool(body.get("global"))
        try:
            wait = float(body["retry_after"])
        except (KeyError, TypeError, ValueError):
            wait = None
    if wait is None:
        try:
            wait = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            wait = 1.0
    is_global = is_global or response.headers.get("X-RateLimit-Global", "").lower() == "true"
    return max(0.0, wait), is_global


_clients: Dict[Tuple[str, Optional[str]], DiscordRest] = {}
_clients_lock = threading.Lock()


def get_rest() -> DiscordRest:
    """The process's client for the configured ``DISCORD_API_BASE`` and bot token."""
    from chalicelib.core.config import get_settings

    settings = get_settings()
    key = (settings.discord_api_base, settings.discord_bot_token)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = DiscordRest(settings.discord_api_base, settings.discord_bot_token)
        return client
