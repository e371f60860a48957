"""Operations recorded under a key's spelling from before keys were escaped.

Keys were once joined by hand with ``:`` (``course:<user>:<course>``); now
``keys.join`` escapes each part. For ids holding ``:`` or ``%`` the spelling
changed, so a claim made before would not be found under the new key and would
pay again. ``replay_earlier`` looks under the old spelling: a record there with
this request's fingerprint is this request's first answer. A record with
another fingerprint belongs to the other ids that spelled the same (the
collision the escaping ended), so it is not ours, and not an error.
"""
from __future__ import annotations

import json
from typing import Optional, Sequence

from chalicelib.core import keys
from chalicelib.db.engine import get_client, table_name
from chalicelib.db import codec
from chalicelib.ledger.operation import Outcome


def replay_earlier(economy: str, parts: Sequence[str], request_fingerprint: str) -> Optional[Outcome]:
    """The replayed outcome this request got under ``parts``' old spelling, or None.

    Reads nothing when the old spelling is the new key (no part holds ``:`` or ``%``).
    """
    legacy = keys.legacy_join(*parts)
    if legacy == keys.join(*parts):
        return None
    response = get_client().get_item(
        TableName=table_name("operations"),
        Key={"op_key": {"S": f"{economy}#{legacy}"}},  # as post() spells an operation's key
        ConsistentRead=True,
    )
    item = response.get("Item")
    if not item:
        return None
    op = codec.decode_item(item)
    if op["fingerprint"] != request_fingerprint:
        return None
    return Outcome.replay(op)
