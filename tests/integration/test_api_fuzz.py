"""schemathesis over ``/openapi.json`` on a running `make run` stack: every operation, the dev key (every scope).

Each operation gets positive cases (valid by its documented schema) and negative
ones (invalid by it), generated deterministically (``derandomize``), and every
answer must pass: no 5xx; the status is one the operation documents; the body
matches the documented schema for that status, and its content type and headers
too; data the schema calls invalid is refused with a 4xx; every 4xx is our error
shape with a stable snake_case code. ``COINS_FUZZ_EXAMPLES`` sets the examples
per operation and mode for a bigger run.
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.stack_helpers import Stack, stack  # noqa: F401 (stack is a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Examples per operation and mode (positive, negative): 12 is about two minutes on the shared 2-core machine.
EXAMPLES = int(os.environ.get("COINS_FUZZ_EXAMPLES", "12"))
_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


class ErrorShapeFailure(AssertionError):
    pass


def error_shape(ctx: Any, response: Any, case: Any) -> bool:
    """Every 4xx is ``{"error": {"code": <snake_case>, "message": <text>, "details": {...}}}``."""
    if not 400 <= response.status_code < 500:
        return True
    try:
        body = response.json()
    except ValueError:
        raise ErrorShapeFailure(f"{response.status_code} with a body that is not JSON: {response.text[:200]!r}")
    error = body.get("error") if isinstance(body, dict) else None
    ok = (isinstance(error, dict) and isinstance(error.get("code"), str) and bool(_CODE.match(error["code"]))
          and isinstance(error.get("message"), str) and error["message"] != ""
          and isinstance(error.get("details"), dict))
    if not ok:
        raise ErrorShapeFailure(f"{response.status_code} not in our error shape: {body!r:.300}")
    return True


# A generated signature is never valid, so these refuse every case; test_signed_channel_fuzz.py signs its own.
SIGNED = {"POST /v1/webhooks/stripe", "POST /discord/interactions", "POST /v1/webhooks/redeem"}
# Valid by the document yet refusable: a cursor is opaque (only one we handed out reads), which no schema says.
OPAQUE = {"invalid_cursor"}


# Rules of a body (400 validation_error on that field) that JSON Schema cannot state: cross-field or recursive.
UNSTATABLE = {("PUT /v1/admin/packs/{pack_id}", "bonus_coins"),  # coins + bonus_coins <= 10^12
              ("POST /v1/listings", "min_per_buyer"),  # min_per_buyer <= qty and <= max_per_buyer
              ("POST /v1/listings", "max_per_buyer"),
              # payload: keys 1-64 and no fractions at every level, nesting <= 6, <= 2 KiB (stated in words)
              ("PUT /v1/admin/rewards/{sku}", "payload")}


def positive_data_accepted(ctx: Any, response: Any, case: Any) -> Any:
    """schemathesis' positive_data_acceptance, less the refusals no schema can foresee (above)."""
    if case.operation.label in SIGNED:
        return None
    error = _error(response)
    if response.status_code == 400 and error.get("code") in OPAQUE:
        return None
    field = str(error.get("details", {}).get("field") or "").split(".", 1)[0]  # payload.<key>.1 is payload's
    if response.status_code == 400 and (case.operation.label, field) in UNSTATABLE:
        return None
    return positive_data_acceptance(ctx, response, case)


def _error(response: Any) -> Dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body.get("error") or {} if isinstance(body, dict) else {}


def _whole_numbers_as_ints(value: Any) -> Any:
    """5.0 -> 5: JSON Schema calls 5.0 an integer, the API refuses it (documented), so it is not valid data."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_ints(v) for v in value]
    return value


def negative_data_rejected(ctx: Any, response: Any, case: Any) -> Any:
    # A negative draw with nothing to negate (an optional body left out) is valid: schemathesis says so itself.
    if case.meta is not None and case.meta.phase.data.description == "Positive test case":
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejected, positive_data_accepted, error_shape]


def _fuzz(operation: Any, base_url: str, session: requests.Session, counts: Dict[str, int]) -> None:
    strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                         operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @settings(max_examples=2 * EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case: Any) -> None:
        counts["examples"] += 1
        if case.meta is not None and case.meta.generation.mode.is_positive:
            case.body = _whole_numbers_as_ints(case.body)
        case.call_and_validate(base_url=base_url, session=session, checks=CHECKS)

    run()


def _config() -> Any:
    return schemathesis.Config.from_dict({
        # The session sends the key on every request (auth itself is tested in test_api_keys.py), and an
        # unknown query parameter is ignored, as HTTP APIs commonly do (a cache-buster must not fail a read):
        # neither is generated as "invalid data".
        "generation": {"with-security-parameters": False, "allow-extra-parameters": False},
        # Data the document calls valid is never refused as malformed (400): it may be missing (404), in the
        # wrong state (409), refused by a business rule (422) or rate limited (429).
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422", "429"]}},
    })


def test_every_operation_of_the_openapi_document_survives_fuzzing(stack: Stack) -> None:
    info = stack.info
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {info['dev_api_key']}"
    document = session.get(f"{stack.url}/openapi.json", timeout=10).json()
    documented = sorted((method.upper(), path) for path, ops in document["paths"].items() for method in ops)
    schema = schemathesis.openapi.from_dict(document, config=_config())
    counts = {"examples": 0}
    covered: List[str] = []
    failures: List[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        covered.append(f"{operation.method.upper()} {operation.path}")
        try:
            _fuzz(operation, stack.url, session, counts)
        except (Exception, BaseExceptionGroup) as exc:  # every failing operation is reported, not the first only
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    print(f"schemathesis: {len(covered)} operations, {counts['examples']} examples, {len(failures)} failing")
    assert sorted(tuple(label.split(" ", 1)) for label in covered) == documented
    # Hypothesis stops early only where an operation has little to vary (GET /healthz): not the rule.
    assert counts["examples"] >= EXAMPLES * len(covered), counts
    assert not failures, "\n\n".join(failures)
