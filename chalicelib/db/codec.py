"""DynamoDB's wire format for the few shapes the ledger writes and reads.

The ledger talks to the low-level client (one BatchGetItem, one
TransactWriteItems), so it marshals by hand: strings, integers, booleans and
flat maps of those. Integers are never floats here, on the way in or out.
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
    raise TypeError(f"cannot store {type(value).__name__} in the ledger")


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
