"""Derived keys: the one builder for every key, counter id, dedupe id, cursor
scope and custom id made of ids.

Why
---
Keys used to be f-strings joined with ``:``, and user ids, SKUs, content and
course ids may themselves contain ``:``. Then two different tuples of ids gave
one key: buyer ``x:c`` buying SKU ``L`` and buyer ``c`` buying SKU ``L:x``
shared a daily counter; ``course:<user>:<course>`` let one user's course
reward block another's. A key must name exactly one thing, so every key is
built here and nowhere else (``tests/unit/test_keys.py`` greps the code base
for hand-joined ``:``/``|`` keys and fails on a new one).

The scheme: ``join``
--------------------
A key is its parts, each *percent-escaped*, joined by the separator ``:``::

    join("daily", "x:c", "2024-05-01")  ==  "daily:x%3Ac:2024-05-01"

Escaping replaces ``%`` by ``%25`` and the separator by ``%`` and its two hex
digits (``:`` -> ``%3A``), and nothing else. Hence:

* **Injective.** No escaped part contains the separator, so cutting a key at
  every separator gives back exactly the escaped parts, and each unescapes
  exactly (a ``%`` always starts a three-character escape). ``split`` does
  both: ``split(join(*parts)) == parts`` for every tuple of strings of any
  length, so two different tuples never share a key, whatever the ids hold.
* **Compatible.** A part with neither ``:`` nor ``%`` is left as it is, so a
  key whose ids hold neither is byte for byte the key the hand-written
  f-string built: records, counters and buttons made before stay valid. Only
  keys with such an id change (those were the ambiguous ones).
* **Readable.** Keys stay legible in the console and in logs.

Length prefixes (``5:alice``) would be injective too, but would change every
key ever written (orphaning every operation record, so a retry across the
deploy would be applied twice) and be unreadable; hashing would lose the
ability to parse custom ids back. Escaping has neither cost.

``sep`` may be another character for other encodings built the same way: the
inputs of hashed ids use ``|`` (``_purchase_id``, ``_listing_id``, voucher
codes, quest seeds), which keeps every id whose parts hold no ``|`` or ``%``
exactly as it was, and an unlock's pair uses ``/`` (``unlock:<user>/<item>``,
as before: ``/`` is in neither alphabet, so the inner join changes nothing).

One tag, one whole value: ``tag``
---------------------------------
``tag(t, value)`` is ``t:value`` with ``value`` taken whole, unescaped. It is
for a value that is one opaque string or already a key: a caller's
Idempotency-Key under ``api:`` (a retry across the deploy must find its
record), a Discord flow's own key under ``discord:``, a wallet ``u:<user>``
(the stored identity of every wallet), the referred user of ``referral:``,
an audit target ``user:<id>``. Cutting at the first ``:`` gives back the tag
and the value, so ``tag`` is injective for its closed list of tags, ``TAGS``;
``join`` refuses those tags as its first part, so a key's first segment tells
how the rest reads and the two forms never meet.

``#`` joins are left as they are
--------------------------------
Partition keys ``<economy>#<rest>`` (operation records ``<economy>#<key>``,
entries ``<economy>#<account>``, owners ``<economy>#<user>``, SKU keys
``<economy>#<sku>``) need no escaping: economy ids match
``[A-Za-z0-9_.-]{1,64}`` (``ledger/accounts.py``), so the first ``#`` always
ends the economy and ``rest`` is the whole remainder: injective. A shard key
``<account>#NN`` ends in exactly two digits after a ``#``, and account keys hold
no ``#`` (user ids and system names cannot). Sort keys ``<status>#<time>`` and
``<time>#<order id>`` start with a closed word or a fixed-width timestamp.
Changing any of these would move stored items for no gain.

The id alphabet is kept
-----------------------
User ids keep ``:``, ``|``, ``@`` and ``.`` (``[A-Za-z0-9_.:@|-]{1,128}``):
a user id that works today must keep working, and host apps use ids such as
``site:42``. Escaping makes that safe; no alphabet is narrowed. Economy ids
hold none of ``:``, ``|``, ``#`` or ``%``, and the tests hold them to that.

This module imports nothing from the project: it is the bottom layer.
"""
from __future__ import annotations

import string
from typing import Tuple

SEP = ":"
ESCAPE = "%"

# Tags whose value is taken whole (see the module docstring). Closed: a new
# one is a design decision, not a convenience.
TAGS = frozenset(
    {
        "u",  # a wallet: ``u:<user id>``, the stored account key (ledger/accounts.py)
        "sys",  # a system account: ``sys:<name>``, from a closed list
        "api",  # a caller's Idempotency-Key, exactly as sent
        "discord",  # a Discord flow's key, interaction id or member id (the adapter's namespace)
        "referral",  # the referred user: once per referred user, ever
        # audit targets and actors: ``<kind>:<one id>``, compared whole
        "user",
        "event",  # an operator event (tenancy/events.py)
        "question",  # a quest question (rewards/quest_admin.py)
        "reward",
        "content",
        "pack",
        "economy",
        "discord_role",
        "api_key",
    }
)


def _check_sep(sep: str) -> None:
    if not isinstance(sep, str) or len(sep) != 1 or sep not in string.punctuation or sep == ESCAPE:
        raise ValueError(f"a separator is one ASCII punctuation character other than {ESCAPE!r}, not {sep!r}")


def escape(part: str, sep: str = SEP) -> str:
    """``part`` with ``%`` and ``sep`` percent-escaped; unchanged when it holds neither."""
    _check_sep(sep)
    if not isinstance(part, str):
        raise TypeError(f"key parts are strings, not {type(part).__name__}")
    if ESCAPE not in part and sep not in part:
        return part
    return part.replace(ESCAPE, f"{ESCAPE}{ord(ESCAPE):02X}").replace(sep, f"{ESCAPE}{ord(sep):02X}")


def unescape(text: str, sep: str = SEP) -> str:
    """The part ``escape`` made ``text`` from. ValueError for text it cannot have made."""
    _check_sep(sep)
    if ESCAPE not in text:
        if sep in text:
            raise ValueError(f"unescaped separator in {text!r}")
        return text
    escapes = {f"{ord(ESCAPE):02X}": ESCAPE, f"{ord(sep):02X}": sep}
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == sep:
            raise ValueError(f"unescaped separator in {text!r}")
        if char == ESCAPE:
            decoded = escapes.get(text[i + 1:i + 3])
            if decoded is None:  # only our two escapes: one key, one spelling
                raise ValueError(f"bad escape in {text!r}")
            out.append(decoded)
            i += 3
        else:
            out.append(char)
            i += 1
    return "".join(out)


def join(*parts: str, sep: str = SEP) -> str:
    """The key of ``parts``: each escaped, joined by ``sep``. Injective over tuples of strings.

    Raises ValueError for no parts, or (with ``:``) a first part from ``TAGS``
    (those read as ``tag``), TypeError for a part that is not a string.
    """
    _check_sep(sep)
    if not parts:
        raise ValueError("a key needs at least one part")
    if sep == SEP and parts[0] in TAGS:
        raise ValueError(f"{parts[0]!r} is a tag: build it with keys.tag")
    return sep.join(escape(part, sep) for part in parts)


def split(key: str, sep: str = SEP) -> Tuple[str, ...]:
    """The parts ``join`` made ``key`` from. ValueError for a key it cannot have made."""
    _check_sep(sep)
    if not isinstance(key, str):
        raise ValueError("a key is a string")
    return tuple(unescape(piece, sep) for piece in key.split(sep))


def prefix(*parts: str) -> str:
    """What every ``join(*parts, *more)`` (one part more or several) begins with, for ``begins_with``."""
    return join(*parts) + SEP


def tag(name: str, value: str) -> str:
    """``name:value``, the value taken whole. Raises ValueError for a tag not in ``TAGS``."""
    if name not in TAGS:
        raise ValueError(f"{name!r} is not a tag: build the key with keys.join")
    if not isinstance(value, str):
        raise TypeError(f"a tagged value is a string, not {type(value).__name__}")
    return f"{name}{SEP}{value}"


def untag(key: str) -> Tuple[str, str]:
    """(tag, value) of a ``tag`` key. ValueError for anything else."""
    name, found, value = key.partition(SEP)
    if not found or name not in TAGS:
        raise ValueError(f"{key[:40]!r} is not a tagged key")
    return name, value


def legacy_join(*parts: str) -> str:
    """The key hand-joined code built before this module: ``":".join(parts)``, unescaped.

    Only to find records written before (it is ambiguous); never to write one.
    """
    return SEP.join(parts)
