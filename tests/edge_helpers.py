"""The edge tests' kit: every record of an economy, and malformed bodies generated from a route's model.

``economy_records`` reads every record of one economy from every table, by the
backup's own rules (``chalicelib.operations.backup.rule_for``), so a table added later is
compared too: "nothing changed" means nothing, not "the balances we thought of".

``body_cases(model)`` is the malformed-body corpus for a pydantic model: bodies
that are not a JSON object at all, and for every field (nested models too, by
dotted path) values of every wrong JSON type, numbers DynamoDB cannot hold,
NaN and Infinity, huge and unpaired-surrogate strings, and times that overflow
UTC for fields marked ``format: date-time``. Each case says which field the
refusal must name (None for a body refused as a whole).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from chalicelib.tenancy import apikeys
from tests.conftest import Api, Economy, new_economy_id

# The codes a malformed request may get: it is refused as input, never as a state or a rule.
INPUT_CODES = frozenset({"malformed_json", "validation_error", "invalid_cursor", "idempotency_key_required",
                         "invalid_idempotency_key", "bad_request", "not_found", "unsupported_media_type",
                         "invalid_signature"})

HUGE = "x" * 100_000
LONE_SURROGATE = "\\ud800"  # as JSON text: json.dumps would refuse to write one
OVERFLOWING_TIMES = ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+00:01")
NUMBERS_TOO_BIG = ("1" + "0" * 38, "-" + "9" * 39, "1e400", "-1e400", "1e-200")
NOT_JSON_NUMBERS = ("NaN", "Infinity", "-Infinity")


def make_economy(client: Any) -> Economy:
    """Another tenant, built by the ``economy`` fixture's own builder."""
    from tests.conftest import _economy

    return _economy(client)


def economy_records(economy_id: str) -> Dict[str, List[str]]:
    """Every record of ``economy_id`` in every table (sorted JSON lines per table), as ``export`` reads them."""
    from chalicelib.operations import backup

    x = backup.Export(economy_id, accounts=list(backup.query_hash("accounts", "economy", economy_id)))
    records: Dict[str, List[str]] = {}
    for model in backup._ordered_models():
        _, reader = backup.rule_for(model)
        if reader is not None:
            records[model.Meta.base_name] = sorted(json.dumps(backup._to_json(i), sort_keys=True)
                                                   for i in reader(x))
    return records


def changed_tables(before: Dict[str, List[str]], after: Dict[str, List[str]]) -> Dict[str, Any]:
    """Which tables differ, with the records added and removed (for an assertion message)."""
    diff = {}
    for name in sorted(set(before) | set(after)):
        old, new = set(before.get(name, [])), set(after.get(name, []))
        if old != new:
            diff[name] = {"added": sorted(new - old)[:3], "removed": sorted(old - new)[:3]}
    return diff


@dataclass(frozen=True)
class BodyCase:
    name: str
    raw: Union[str, bytes]  # the exact body sent (JSON text, or not)
    field: Optional[str]  # the field the refusal must name; None: refused as a whole


def whole_body_cases() -> List[BodyCase]:
    """Bodies that are not a JSON object (or not one we can read at all)."""
    deep_list = "[" * 10_000 + "]" * 10_000
    deep_object = '{"a":' * 10_000 + "1" + "}" * 10_000
    return [
        BodyCase("not-json", "{not json", None),
        BodyCase("empty", "", None),
        BodyCase("array", "[1, 2]", None),
        BodyCase("string", '"text"', None),
        BodyCase("number", "12", None),
        BodyCase("null", "null", None),
        BodyCase("nested-list-10000", deep_list, None),
        BodyCase("nested-object-10000", deep_object, None),
        BodyCase("digits-5000", '{"x": ' + "9" * 5000 + "}", None),
        BodyCase("invalid-utf8", b'{"x": "\xff\xfe"}', None),
        BodyCase("top-nan", '{"x": NaN}', "x"),
        BodyCase("lone-surrogate-key", '{"\\udc00": 1}', "body"),
    ]


def _resolve(schema: Dict[str, Any], defs: Dict[str, Any]) -> Dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].split("/")[-1]]
    return schema


def _alternatives(schema: Dict[str, Any], defs: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The schemas a value may match (``anyOf`` flattened, refs resolved; ``null`` dropped)."""
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        out: List[Dict[str, Any]] = []
        for option in schema["anyOf"]:
            out.extend(_alternatives(option, defs))
        return out
    return [] if schema.get("type") == "null" else [schema]


def _json_types(alternatives: List[Dict[str, Any]]) -> set:
    types = set()
    for alt in alternatives:
        kind = alt.get("type")
        if kind is None and "const" in alt:
            kind = {str: "string", int: "integer", bool: "boolean"}.get(type(alt["const"]), "string")
        if kind is None and "enum" in alt:
            kind = {str: "string", int: "integer", bool: "boolean"}.get(type(alt["enum"][0]), "string")
        types.add(kind or "any")
        if kind == "integer":
            types.add("number-int")  # an integer is also a JSON number
    return types


_WRONG_BY_TYPE = {  # JSON text of a value of each type, and the types it is valid for
    "string": ('"text"', {"string", "any"}),
    "integer": ("7", {"integer", "number", "any"}),
    "fraction": ("1.5", {"number", "any"}),
    "boolean": ("true", {"boolean", "any"}),
    "null": ("null", {"any"}),
    "list": ("[1]", {"array", "any"}),
    "object": ('{"k": 1}', {"object", "any"}),
}


def _field_values(schema: Dict[str, Any], alternatives: List[Dict[str, Any]], nullable: bool
                  ) -> Iterator[Tuple[str, str]]:
    """(case name, JSON text) of values the field must refuse."""
    types = _json_types(alternatives)
    for name, (text, valid_for) in _WRONG_BY_TYPE.items():
        if name == "null" and nullable:
            continue
        if not types & valid_for:
            yield f"wrong-type-{name}", text
    for text in NOT_JSON_NUMBERS:
        yield f"not-a-number-{text}", text
    for text in NUMBERS_TOO_BIG:
        yield f"unstorable-{text[:8]}", text
    if "string" in types or "any" in types or "object" in types or "array" in types:
        yield "lone-surrogate", f'"a{LONE_SURROGATE}b"' if "string" in types else f'["{LONE_SURROGATE}"]'
    strings = [a for a in alternatives if a.get("type") == "string"]
    if strings and all(a.get("maxLength") or a.get("pattern") or "enum" in a or "const" in a for a in strings):
        yield "huge-string", json.dumps(HUGE)
    if any(a.get("format") == "date-time" for a in alternatives) or schema.get("format") == "date-time":
        for moment in OVERFLOWING_TIMES:
            yield f"overflowing-time-{moment[:4]}", json.dumps(moment)
    if "object" in types:  # a free-form object: the bad value is inside it
        for text in NOT_JSON_NUMBERS + NUMBERS_TOO_BIG[:2]:
            yield f"inner-{text[:8]}", '{"deep": {"n": ' + text + "}}"


def field_cases(model: Any) -> List[BodyCase]:
    """For every field of ``model`` (nested models by dotted path): a body with only that field, malformed."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    cases: List[BodyCase] = []

    def walk(node: Dict[str, Any], prefix: List[str]) -> None:
        for name, prop in (node.get("properties") or {}).items():
            path = prefix + [name]
            alternatives = _alternatives(prop, defs)
            nullable = any(_resolve(o, defs).get("type") == "null" for o in prop.get("anyOf", [])) \
                or "default" in prop and prop["default"] is None
            for case, text in _field_values(_resolve(prop, defs), alternatives, nullable):
                field = ".".join(path)
                expect = f"{field}.deep.n" if case.startswith("inner-") else field
                cases.append(BodyCase(f"{field}:{case}", _nest(path, text), expect))
            for alt in alternatives:
                if alt.get("type") == "object" and alt.get("properties"):
                    walk(alt, path)
                items = _resolve(alt.get("items") or {}, defs) if alt.get("type") == "array" else {}
                if items.get("properties"):
                    walk(items, path + ["0"])  # the first element of a list of objects

    walk(schema, [])
    return cases


def _nest(path: List[str], text: str) -> str:
    """JSON text with ``text`` at ``path`` (``"0"`` is a list's first element)."""
    for part in reversed(path):
        text = f"[{text}]" if part == "0" else "{" + json.dumps(part) + ": " + text + "}"
    return text


def body_cases(model: Any) -> List[BodyCase]:
    return whole_body_cases() + field_cases(model)


def named_fields(error: Dict[str, Any]) -> List[str]:
    """Every field an error body names (``details.field`` and each of ``details.problems``)."""
    details = error.get("details") or {}
    return [details.get("field")] + [p.get("field") for p in details.get("problems") or []]


def names_field(error: Dict[str, Any], field: str) -> bool:
    """Whether the refusal names ``field`` (or a part of it: ``member.user`` for ``member.user.id``)."""
    return any(f and (f == field or f.startswith(field + ".") or field.startswith(f + "."))
               for f in named_fields(error))
