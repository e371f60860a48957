"""DynamoDB's wire format, for code that talks to the low-level client (the ledger, ``db.ops``, stores).

Encodes strings, integers, booleans, None, and maps and lists of those (nested);
decodes those plus string sets. Coins are integers: an integer is never a float
here on the way in, and a number comes back as an ``int`` (a stored decimal is
truncated to one). Features never call this: they go through their
``store.py`` and ``db.ops``, which speak decoded items.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping


def encode(value: Any) -> Dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {str(k): encode(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [encode(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB (not a str, int, bool, None, map or list)")


def decode(attr: Mapping[str, Any]) -> Any:
    if "N" in attr:
        text = attr["N"]
        return int(text) if "." not in text and "e" not in text.lower() else int(float(text))
    if "S" in attr:
        return attr["S"]
    if "BOOL" in attr:
        return attr["BOOL"]
    if "NULL" in attr:
        return None
    if "M" in attr:
        return {k: decode(v) for k, v in attr["M"].items()}
    if "L" in attr:
        return [decode(v) for v in attr["L"]]
    if "SS" in attr:
        return set(attr["SS"])
    raise TypeError(f"unexpected DynamoDB attribute {list(attr)}")


def decode_item(item: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: decode(v) for k, v in item.items()}


def encode_item(values: Mapping[str, Any]) -> Dict[str, Any]:
    return {k: encode(v) for k, v in values.items() if v is not None}
