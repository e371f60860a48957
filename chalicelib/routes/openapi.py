"""The OpenAPI 3.1 document, built from the declared routes and their pydantic models."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict

_STATUS_TEXT = {
    400: "Malformed or invalid input (the `details.field` names it).",
    401: "Missing, unknown or revoked API key, or a bad signature.",
    403: "The key lacks the scope (or the role) this route needs.",
    404: "Not found in this economy.",
    409: "State or idempotency conflict.",
    422: "A business rule refuses it (e.g. insufficient_funds, account_frozen).",
    429: "Rate limited; see Retry-After.",
    503: "A dependency is not answering.",
}


def _path_patterns() -> Dict[str, str]:
    """What each path id must match, as the routes check it (``path_param``): anything else is a 400."""
    from chalicelib.ledger.accounts import USER_ID_PATTERN
    from chalicelib.ledger.reversals import OP_ID
    from chalicelib.market import names as market
    from chalicelib.rewards import names as rewards
    from chalicelib.routes.purchases import ID_PATTERN
    from chalicelib.spending import names as spending
    from chalicelib.tenancy import game_servers
    from chalicelib.tenancy.event_names import EVENT_ID

    return {"user_id": USER_ID_PATTERN, "hold_id": spending._HOLD_ID.pattern, "escrow_id": spending._HOLD_ID.pattern,
            "content_id": spending._CONTENT_ID.pattern, "course_id": rewards._COURSE_ID.pattern,
            "sku": market.SKU_PATTERN, "listing_id": market._LISTING_ID.pattern, "order_id": market._ORDER_ID.pattern,
            "server_id": game_servers._SERVER_ID.pattern, "purchase_id": ID_PATTERN, "pack_id": ID_PATTERN,
            "transaction_id": OP_ID.pattern, "question_id": rewards.QUESTION_ID.pattern,
            "event_id": EVENT_ID.pattern}


_IDEMPOTENCY_SCHEMA = {"type": "string", "pattern": r"^[\x21-\x7e]{1,128}$"}

_DESCRIPTION = (
    "A coin economy: buy, earn, spend, hold and trade coins.\n\n"
    "Integers are JSON integers: a number with a fraction or an exponent (`5.0`, `5e0`) is refused with 400 "
    "`validation_error`, even where its value is whole (JSON Schema's `integer` would admit it). Path ids are "
    "matched after URL decoding (`a%7Cb` is `a|b`). Unknown body fields are refused (400); unknown query "
    "parameters are ignored."
)


@lru_cache(maxsize=1)
def document() -> Dict[str, Any]:
    from chalicelib.routes import _http
    from chalicelib.routes.models import ErrorBody

    schemas: Dict[str, Any] = {}

    def ref(model: Any) -> Dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in [*schema.pop("$defs", {}).items(), (model.__name__, schema)]:
            # One name, one model: two models of one name would silently document one route with the other's.
            if schemas.setdefault(name, sub) != sub:
                raise ValueError(f"two different models are both named {name} in the OpenAPI document")
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorBody)
    patterns = _path_patterns()
    paths: Dict[str, Any] = {}
    for route in _http.ROUTES:
        op: Dict[str, Any] = {"summary": route.summary, "tags": route.tags, "parameters": []}
        for name in re.findall(r"{(\w+)}", route.path):
            op["parameters"].append({"name": name, "in": "path", "required": True,
                                     "schema": {"type": "string", "pattern": patterns[name]}})
        for name, declared in route.query.items():
            if not isinstance(declared, dict):
                declared = {"description": declared, "schema": {"type": "string"}}
            op["parameters"].append({"name": name, "in": "query", "required": False, **declared})
        if route.idempotency == "required":
            op["parameters"].append({"name": "Idempotency-Key", "in": "header", "required": True,
                                     "description": "1-128 printable ASCII; a retry with the same key and body "
                                                    "replays the first response. A key is one request of the "
                                                    "economy on any route: reused otherwise, 409.",
                                     "schema": _IDEMPOTENCY_SCHEMA})
        elif route.idempotency == "optional":
            op["parameters"].append({"name": "Idempotency-Key", "in": "header", "required": False,
                                     "description": "Optional: with it a retry replays the first response "
                                                    "(a key is one request of the economy on any route: reused "
                                                    "otherwise, 409); without it a repeat is a new request.",
                                     "schema": _IDEMPOTENCY_SCHEMA})
        if route.action:
            from chalicelib.tenancy import roles

            op["security"] = [{"apiKey": []}]
            op["x-coinhall-action"] = route.action
            op["description"] = (f"Needs a key whose role may `{route.action}`: {roles.least_role(route.action)} "
                                 "or above (a key of the `admin` scope is an ADMIN).")
            if roles.is_write(route.action):
                op["description"] += (" Needs a reason: the body's `reason`, or the X-Audit-Reason header "
                                      "(400 `reason_required`).")
                if not _body_requires_reason(route.body):
                    # Documented as plain ASCII without `%`; percent-encoded UTF-8 is accepted too.
                    op["parameters"].append({
                        "name": "X-Audit-Reason", "in": "header", "required": True,
                        "description": "Why (kept in the audit trail): 1-500 characters, percent-encoded UTF-8 "
                                       "(Discord's convention) or plain ASCII; the body's `reason` wins when given.",
                        "schema": {"type": "string", "maxLength": 500, "pattern": r"^[!-$&-~][ -$&-~]*$"}})
        elif route.scope:
            op["security"] = [{"apiKey": []}]
            op["description"] = f"Needs scope `{route.scope}`."
        else:
            op["security"] = []
        if route.body is not None:
            op["requestBody"] = {"required": route.body_required, "content": {"application/json": {"schema": ref(route.body)}}}
        ok: Dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": ref(route.response)}}
        if route.also_csv:
            ok.setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}
        if route.idempotency == "required":
            ok["headers"] = {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true", "false"]}}}
        op["responses"] = {str(status): ok for status in sorted({route.status, *route.also_ok})}
        statuses = set(route.errors) | ({401, 403} if route.scope or route.action else set())
        if route.action and not route.action.endswith(".read"):
            statuses.add(400)
        for status in sorted(statuses):
            op["responses"][str(status)] = {"description": _STATUS_TEXT.get(status, "Error"),
                                            "content": {"application/json": {"schema": error_ref}}}
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Coinhall", "version": "1.0.0",
                 "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "An API key from `python -m chalicelib.cli api-key create`."}},
        },
    }


def _body_requires_reason(body: Any) -> bool:
    """Whether the route's own body model requires a ``reason`` (else the header is the documented way)."""
    fields = getattr(body, "model_fields", {}) if body is not None else {}
    return "reason" in fields and fields["reason"].is_required()
