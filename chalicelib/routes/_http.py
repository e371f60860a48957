"""The HTTP edge: auth, body parsing, idempotency headers and error mapping.

Every route is declared with ``endpoint()``, which records it for the OpenAPI
document and wraps the view so that:

* the bearer key is checked (its scope, or for an admin route its role against
  the action, ``tenancy/roles.py``) before anything else;
* an admin write needs a reason (the body's ``reason`` or the ``X-Audit-Reason``
  header), which every audit row the request writes then carries;
* the body is parsed from the raw bytes into the route's pydantic model;
* a ``CoinhallError`` becomes ``{"error": {...}}`` with its status, and anything
  unexpected becomes a 500 in the same shape (logged, never leaked).

Feature modules never see a Chalice request; views are a few lines.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Type
from urllib.parse import unquote

from chalice import Blueprint, Chalice, Response

from chalicelib.core import errors

log = logging.getLogger("coinhall.http")

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


class CoinhallApp(Chalice):
    """Chalice, with ``current_request`` kept per thread.

    Chalice stores the request on the app object. On Lambda one invocation runs
    at a time, but ``chalice local`` (and tests driving the app from many
    threads) serve requests concurrently, and a shared attribute would hand one
    request's body to another's view.
    """

    _tls = threading.local()

    @property  # type: ignore[override]
    def current_request(self):  # noqa: D401
        return getattr(self._tls, "request", None)

    @current_request.setter
    def current_request(self, value):
        self._tls.request = value


@dataclass
class RouteDoc:
    """What the OpenAPI document says about one route."""

    path: str
    method: str
    summary: str
    scope: Optional[str]
    body: Optional[Type[Any]]
    response: Optional[Type[Any]]
    status: int
    idempotency: str  # "required" | "none"
    query: Dict[str, Any] = field(default_factory=dict)  # name -> description, or a ``query_*`` declaration
    tags: List[str] = field(default_factory=list)
    errors: List[int] = field(default_factory=list)
    also_ok: List[int] = field(default_factory=list)  # other success statuses, same body (e.g. 200 on a replace)
    body_required: bool = True  # False: an empty body means the model's defaults
    action: Optional[str] = None  # an admin route: the role matrix's action (``tenancy/roles.py``)
    reason_field: str = "reason"  # the body field that is an admin write's reason
    also_csv: bool = False  # the 200 may be text/csv too (``?format=csv``)


ROUTES: List[RouteDoc] = []


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: Dict[str, str] = field(default_factory=dict)
    text: Optional[str] = None  # sent as it is (a CSV page) instead of ``body`` as JSON; ``headers`` give its type


@dataclass
class Call:
    """What a view gets: the parsed parts of the request."""

    principal: Any
    body: Any
    query: Dict[str, str]
    headers: Any
    raw_body: bytes
    context: Dict[str, Any] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        """This API's public base URL as the caller reached it (links we hand out)."""
        host = self.headers.get("host")
        if not host:
            return ""
        scheme = self.headers.get("x-forwarded-proto", "http")
        stage = self.context.get("stage")
        # API Gateway's default domain serves the app under /<stage>; a custom
        # domain (or chalice local) does not.
        prefix = f"/{stage}" if stage and "execute-api" in host else ""
        return f"{scheme}://{host}{prefix}"

    def idempotency_key(self) -> str:
        key = self.headers.get("idempotency-key")
        if key is None:
            raise errors.IdempotencyKeyMissingError()
        if not _IDEMPOTENCY_KEY.match(key):
            raise errors.InvalidIdempotencyKeyError()
        return key


def error_response(exc: errors.CoinhallError, request_id: Optional[str] = None) -> Response:
    headers = {"Content-Type": "application/json"}
    retry_after = exc.details.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    if request_id:
        headers["X-Request-Id"] = request_id
    return Response(body=json.dumps(exc.to_body()), status_code=exc.status, headers=headers)


def parse_body(raw: Optional[bytes], model: Type[Any], reason: Optional[str] = None) -> Any:
    """Raw bytes -> pydantic model; MalformedJsonError / ValidationFailedError (see ``chalicelib.core.inputs``).

    ``reason``: the request's audit reason; a model with a ``reason`` field whose body left it out gets it
    (so the header serves every admin write, whatever its body).
    """
    from chalicelib.core import inputs

    doc = inputs.load_object(raw)
    if reason is not None and "reason" in model.model_fields and "reason" not in doc:
        doc = {**doc, "reason": reason}
    return inputs.validate(model, doc)


REASON_HEADER = "x-audit-reason"
_BARE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")  # unquote would keep it as is: the header is not encoded
_REASON_MAX = 500


def audit_reason(raw: bytes, headers: Any, field: str = "reason") -> str:
    """The reason an operator gave for a write: the body's ``reason`` when it is a string, else the
    ``X-Audit-Reason`` header (percent-decoded UTF-8, as Discord's own audit header); ReasonRequiredError when
    neither says anything. ``raw``: the body the route parses (empty for a route that reads none).

    A body the parser will refuse, or a ``reason`` that is not a string, is left to the parser: its
    answer (malformed_json, validation_error) says more than "no reason".
    """
    from chalicelib.core import inputs

    try:
        doc = inputs.load_object(raw) if raw.strip() else {}  # depth-guarded, as the body parser reads it
    except errors.CoinhallError:
        return ""
    given = doc.get(field)
    if isinstance(given, str):
        if not given.strip():
            raise errors.ReasonRequiredError(field=field)
        return given
    if given is not None:
        return ""
    header = headers.get(REASON_HEADER)
    try:
        if header is not None and _BARE_PERCENT.search(header):
            raise UnicodeDecodeError("utf-8", b"%", 0, 1, "a % that starts no escape")
        text = unquote(header, errors="strict").strip() if header is not None else ""
    except UnicodeDecodeError:
        raise errors.ValidationFailedError("X-Audit-Reason must be percent-encoded UTF-8.",
                                           field="X-Audit-Reason") from None
    if not text:
        raise errors.ReasonRequiredError(field="reason")
    if len(text) > _REASON_MAX or any(ord(ch) < 32 for ch in text):
        raise errors.ValidationFailedError(f"X-Audit-Reason must be 1-{_REASON_MAX} printable characters.",
                                           field="X-Audit-Reason")
    return text


def path_param(name: str, value: str, check: Callable[[str], bool]) -> str:
    if not check(value):
        raise errors.ValidationFailedError(f"Invalid {name} in the path.", field=name)
    return value


def endpoint(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    summary: str,
    scope: Optional[str] = None,
    body: Optional[Type[Any]] = None,
    response: Optional[Type[Any]] = None,
    status: int = 200,
    idempotency: str = "none",
    query: Optional[Dict[str, Any]] = None,
    tags: Optional[List[str]] = None,
    error_statuses: Optional[List[int]] = None,
    authenticated: bool = True,
    body_required: bool = True,
    also_ok: Optional[List[int]] = None,
    action: Optional[str] = None,
    reason_field: str = "reason",
    also_csv: bool = False,
) -> Callable[[Callable[..., Reply]], Callable[..., Any]]:
    """Declare a JSON route: auth by bearer key with ``scope`` (or, for an admin route, a role that may do
    ``action``), body parsed into ``body``.

    ``body_required=False``: a request without a body gets the model's defaults
    (a body that is sent is parsed as strictly as ever). ``reason_field``: the body field that is the
    write's reason (a note's ``text`` is its own reason).
    """
    from chalicelib.tenancy import roles

    if action is not None and action not in roles.MATRIX:
        raise ValueError(f"{path}: {action!r} is not an action of the role matrix")
    needs_reason = action is not None and roles.is_write(action)

    def decorate(view: Callable[..., Reply]) -> Callable[..., Any]:
        ROUTES.append(
            RouteDoc(path, method, summary, scope if authenticated else None, body, response, status, idempotency,
                     query or {}, tags or [], error_statuses or [], also_ok or [], body_required, action,
                     reason_field, also_csv)
        )

        @functools.wraps(view)
        def handler(**params: str) -> Response:
            request = bp.current_request
            request_id = (request.context or {}).get("requestId") if request else None
            try:
                principal = None
                if authenticated:
                    principal = authenticate(request.headers.get("authorization"), scope)
                if action is not None:
                    roles.require(principal, action)
                raw = request.raw_body or b""
                reason = (audit_reason(raw if body is not None else b"", request.headers, reason_field)
                          if needs_reason else None)
                parsed = None
                if body is not None:
                    empty = not body_required and not raw.strip()
                    parsed = body.model_validate({}) if empty else parse_body(raw, body, reason)
                call = Call(principal, parsed, dict(request.query_params or {}), request.headers,
                            raw, dict(request.context or {}))
                # Ids are matched decoded: a client that encodes `a|b` as `a%7Cb` means `a|b`. Chalice (as API
                # Gateway's REST API) hands the segment over still encoded; no id admits `%`, so decoding
                # one already decoded changes nothing.
                from chalicelib.tenancy.audit import acting  # the store's import chain, on the cold path only

                role = roles.strongest(principal.roles) if action is not None else None
                with acting(role, reason):
                    reply = view(call, **{name: unquote(value) for name, value in params.items()})
            except errors.CoinhallError as exc:
                return error_response(exc, request_id)
            except Exception:
                log.exception("unhandled error on %s %s", method, path)
                return error_response(_internal(), request_id)
            headers = {"Content-Type": "application/json", **reply.headers}
            if request_id:
                headers["X-Request-Id"] = request_id
            sent = reply.text if reply.text is not None else json.dumps(reply.body)
            return Response(body=sent, status_code=reply.status, headers=headers)

        bp.route(path, methods=[method])(handler)
        return handler

    return decorate


def authenticate(header: Optional[str], scope: Optional[str]) -> Any:
    from chalicelib.tenancy.apikeys import authenticate as check_key

    if not header or not header.lower().startswith("bearer "):
        raise errors.UnauthenticatedError()
    principal = check_key(header[7:].strip())
    if scope:
        principal.require(scope)
    return principal


def _internal() -> errors.CoinhallError:
    err = errors.CoinhallError("An internal error occurred; it has been logged.")
    err.status, err.code = 500, "internal_error"
    return err


# Chalice answers some requests itself (wrong method, wrong content type) in its
# own shape; this middleware gives them ours, so clients parse one error format.
_CHALICE_CODES = {
    "UnsupportedMediaType": ("unsupported_media_type", "Send JSON with Content-Type: application/json."),
    "MethodNotAllowedError": ("method_not_allowed", "This path does not take that method."),
    "BadRequest": ("bad_request", "The request is not valid."),
    "BadRequestError": ("bad_request", "The request is not valid."),
    "NotFoundError": ("not_found", "Not found."),
    "InternalServerError": ("internal_error", "An internal error occurred; it has been logged."),
}


def reshape_errors(event: Any, get_response: Callable[[Any], Response]) -> Response:
    response = get_response(event)
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and "Code" in body:
        code, message = _CHALICE_CODES.get(body["Code"], ("error", str(body.get("Message", "Error."))))
        response.body = json.dumps({"error": {"code": code, "message": message, "details": {}}})
        response.headers = {**(response.headers or {}), "Content-Type": "application/json"}
    return response


def query_limit(high: int, default: int) -> Dict[str, Any]:
    """A page size query parameter as ``query_int`` reads it, for the document."""
    # Empty (`limit=`) is the default too.
    return {"description": f"1-{high}, default {default}",
            "schema": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": high},
                                 {"type": "string", "maxLength": 0}],
                       "default": default}}


def query_choice(values: Any) -> Dict[str, Any]:
    """A query parameter that is one of ``values`` (empty or absent: no filter)."""
    return {"description": "|".join(values) + " (empty or absent: no filter)",
            "schema": {"type": "string", "enum": [*values, ""]}}


def query_pattern(pattern: str, text: str) -> Dict[str, Any]:
    """A filter matching ``pattern``; empty (``name=``) is no filter, as absent is."""
    return {"description": f"{text} (empty or absent: no filter)",
            "schema": {"anyOf": [{"type": "string", "pattern": pattern}, {"type": "string", "maxLength": 0}]}}


def query_value(call: Call, name: str, allowed: Sequence[str]) -> Optional[str]:
    """A ``query_choice`` parameter's value: None when empty or absent; ValidationFailedError when not allowed."""
    value = call.query.get(name) or None
    if value is not None and value not in allowed:
        raise errors.ValidationFailedError(f"'{name}' must be one of {', '.join(allowed)}.", field=name)
    return value


CURSOR = {"description": "next_cursor of the previous page (opaque)", "schema": {"type": "string"}}


def query_int(call: Call, name: str, *, default: int, low: int, high: int) -> int:
    raw = call.query.get(name)
    if raw is None or raw == "":
        return default
    # isdigit() alone admits '²' and other Unicode digits that int() refuses.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not low <= int(raw) <= high:
        raise errors.ValidationFailedError(f"'{name}' must be an integer from {low} to {high}.", field=name)
    return int(raw)


def replay_headers(outcome: Any) -> Dict[str, str]:
    """``Idempotent-Replayed: true|false`` for a ledger ``Outcome``."""
    return {"Idempotent-Replayed": "true" if outcome.replayed else "false"}


def posted_status(outcome: Any) -> int:
    """HTTP's word for a ledger ``Outcome``: 201 when the operation made something (a replay too), else 200."""
    return 201 if outcome.created else 200


def replied(outcome: Any, body: Optional[Dict[str, Any]] = None) -> Reply:
    """A ledger ``Outcome`` as the route's answer: its result (or ``body``), status and replay header."""
    return Reply(outcome.result if body is None else body, posted_status(outcome), replay_headers(outcome))


def optional_key(call: Call) -> Optional[str]:
    """The Idempotency-Key when one was sent (validated: raises ValidationFailedError), else None."""
    return call.idempotency_key() if call.headers.get("idempotency-key") is not None else None
