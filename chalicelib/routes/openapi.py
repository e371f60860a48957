"""The OpenAPI 3.1 document, built from the declared routes and their pydantic models."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict

_STATUS_TEXT = {
    400: "Malformed or invalid input (the `details.field` names it).",
    401: "Missing, unknown or revoked API key, or a bad signature.",
    403: "The key lacks the scope this route needs.",
    404: "Not found in this economy.",
    409: "State or idempotency conflict.",
    422: "A business rule refuses it (e.g. insufficient_funds, account_frozen).",
    429: "Rate limited; see Retry-After.",
    503: "A dependency is not answering.",
}


@lru_cache(maxsize=1)
def document() -> Dict[str, Any]:
    from chalicelib.routes import _http
    from chalicelib.routes.models import ErrorBody

    schemas: Dict[str, Any] = {}

    def ref(model: Any) -> Dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}

    error_ref = ref(ErrorBody)
    paths: Dict[str, Any] = {}
    for route in _http.ROUTES:
        op: Dict[str, Any] = {"summary": route.summary, "tags": route.tags, "parameters": []}
        for name in re.findall(r"{(\w+)}", route.path):
            op["parameters"].append({"name": name, "in": "path", "required": True, "schema": {"type": "string"}})
        for name, text in route.query.items():
            op["parameters"].append({"name": name, "in": "query", "required": False, "description": text,
                                     "schema": {"type": "string"}})
        if route.idempotency == "required":
            op["parameters"].append({"name": "Idempotency-Key", "in": "header", "required": True,
                                     "description": "1-128 printable ASCII; a retry with the same key and body "
                                                    "replays the first response. A key is one request of the "
                                                    "economy on any route: reused otherwise, 409.",
                                     "schema": {"type": "string", "maxLength": 128}})
        elif route.idempotency == "optional":
            op["parameters"].append({"name": "Idempotency-Key", "in": "header", "required": False,
                                     "description": "Optional: with it a retry replays the first response "
                                                    "(a key is one request of the economy on any route: reused "
                                                    "otherwise, 409); without it a repeat is a new request.",
                                     "schema": {"type": "string", "maxLength": 128}})
        if route.scope:
            op["security"] = [{"apiKey": []}]
            op["description"] = f"Needs scope `{route.scope}`."
        else:
            op["security"] = []
        if route.body is not None:
            op["requestBody"] = {"required": route.body_required, "content": {"application/json": {"schema": ref(route.body)}}}
        ok: Dict[str, Any] = {"description": "OK"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": ref(route.response)}}
        if route.idempotency == "required":
            ok["headers"] = {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true", "false"]}}}
        op["responses"] = {str(route.status): ok}
        statuses = set(route.errors) | ({401, 403} if route.scope else set())
        for status in sorted(statuses):
            op["responses"][str(status)] = {"description": _STATUS_TEXT.get(status, "Error"),
                                            "content": {"application/json": {"schema": error_ref}}}
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Coinhall", "version": "1.0.0",
                 "description": "A coin economy: buy, earn, spend, hold and trade coins."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "An API key from `python -m chalicelib.cli api-key create`."}},
        },
    }
