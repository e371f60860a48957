"""Untrusted JSON in: raw bytes -> a value every later layer can store, or a 400 naming the field.

Every edge that reads a JSON body (``routes/_http.parse_body``, the Discord
router) goes through ``load_object`` and ``validate``, so the rules are said once:

* the body is UTF-8 JSON whose top level is an object (else ``malformed_json``);
  absurd nesting is ``malformed_json`` too (the parser's recursion guard);
* every value is one DynamoDB can hold and Python can encode, checked before any
  model sees it (else ``validation_error`` with ``details.field`` = the dotted
  path, e.g. ``payload.items.3``):

  - no ``NaN``/``Infinity`` (Python's ``json`` accepts them; JSON does not);
  - integers of at most 38 digits (DynamoDB's precision), and fractional numbers
    within its range (10^-130 .. 10^126 in magnitude);
  - no lone UTF-16 surrogates (``"\\ud800"``) in strings or keys: they cannot be
    encoded as UTF-8, so hashing, signing or storing them would fail later.

The walk is iterative: a body the parser accepted is never too deep for it.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, List, Tuple, Type, TypeVar

from chalicelib.core import errors

MAX_DIGITS = 38  # DynamoDB numbers: 38 significant digits
_LARGEST = 1e126  # magnitudes at or above it do not fit
_SMALLEST = 1e-130  # nor do non-zero ones below it
_SURROGATE = re.compile("[\ud800-\udfff]")

M = TypeVar("M")


def load_object(raw: Any) -> dict:
    """Raw bytes -> a JSON object whose every value is storable; MalformedJsonError / ValidationFailedError."""
    try:
        data = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly nested JSON
        raise errors.MalformedJsonError() from None
    if not isinstance(data, dict):
        raise errors.MalformedJsonError()
    check_storable(data)
    return data


def check_storable(data: Any) -> None:
    """Raise ValidationFailedError naming the first value DynamoDB could not hold (see the module docstring)."""
    stack: List[Tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                child_path = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    raise _refused(path or "body", "has a key that is not valid Unicode (a lone surrogate)")
                stack.append((child_path, child))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}" if path else str(i), child) for i, child in enumerate(value))
        elif isinstance(value, str):
            if _SURROGATE.search(value):
                raise _refused(path, "is not valid Unicode (a lone surrogate)")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if len(str(abs(value))) > MAX_DIGITS:
                raise _refused(path, f"has more than {MAX_DIGITS} digits")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise _refused(path, "must be a number (NaN and Infinity are not JSON)")
            if value != 0 and not _SMALLEST <= abs(value) < _LARGEST:
                raise _refused(path, "is out of the range a number can have here")


def _refused(path: str, message: str) -> errors.ValidationFailedError:
    field = path or "body"
    return errors.ValidationFailedError(f"Invalid field '{field}': {message}.", field=field,
                                        problems=[{"field": field, "message": message, "type": "unstorable"}])


def validate(model: Type[M], data: Any) -> M:
    """``model.model_validate(data)``, its errors as one ValidationFailedError (``details.problems`` lists all)."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data)  # type: ignore[attr-defined]
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: Any) -> errors.ValidationFailedError:
    """A pydantic ValidationError as ours: ``details.field`` is the first field, ``details.problems`` all of them."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        location = ".".join(str(p) for p in err["loc"]) or "body"
        problems.append({"field": location, "message": err["msg"], "type": err["type"]})
    first = problems[0]["field"] if problems else "body"
    return errors.ValidationFailedError(f"Invalid field '{first}': {problems[0]['message']}" if problems else None,
                                        field=first, problems=problems)
