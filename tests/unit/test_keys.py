"""Derived keys are injective: the builder's properties, and a guard that keeps hand-joined keys out.

``chalicelib/core/keys.py`` is the one place keys are made of ids. The properties
below are what makes every key built with it name exactly one tuple of ids;
the guard at the end fails on any new f-string, ``+`` or ``.join`` that glues
ids with ``:`` or ``|`` (or ``.split(":")`` that parses one back) anywhere
else in ``chalicelib``, so the class of bug (buyer ``x:c`` with SKU ``L``
sharing buyer ``c``'s counter for SKU ``L:x``) cannot come back unnoticed.
"""
from __future__ import annotations

import ast
import functools
import os
from typing import Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.core import keys
from chalicelib.spending.content import valid_content_id
from chalicelib.ledger.accounts import valid_economy_id, valid_user_id
from chalicelib.market.catalog import valid_sku

pytestmark = pytest.mark.unit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Ids as they come: the id alphabet's punctuation, the escape and the separators, often.
_CHARS = st.sampled_from(list("ab:%|/#@.-_3A7C2F")) | st.characters(codec="utf-8", exclude_categories=("Cs",))
part = st.text(_CHARS, max_size=12)
parts = st.lists(part, min_size=1, max_size=5).map(tuple)
seps = st.sampled_from([":", "|", "/"])


# -- join / split -----------------------------------------------------------------------


@given(parts, seps)
def test_split_gives_back_the_parts_join_was_given(ps: Tuple[str, ...], sep: str) -> None:
    if sep == ":" and ps[0] in keys.TAGS:
        ps = ("x" + ps[0],) + ps[1:]
    assert keys.split(keys.join(*ps, sep=sep), sep=sep) == ps


@settings(max_examples=500)
@given(parts, parts, seps)
def test_distinct_part_tuples_never_share_a_key(a: Tuple[str, ...], b: Tuple[str, ...], sep: str) -> None:
    if sep == ":":
        a, b = (("x" + p[0],) + p[1:] if p[0] in keys.TAGS else p for p in (a, b))
    if a != b:
        assert keys.join(*a, sep=sep) != keys.join(*b, sep=sep)


@given(st.lists(st.text(st.characters(codec="ascii", exclude_characters=":%"), max_size=12), min_size=1,
                max_size=5))
def test_ids_without_separator_or_escape_keep_the_key_they_had(ps: List[str]) -> None:
    if ps[0] in keys.TAGS:
        ps[0] = "x" + ps[0]
    assert keys.join(*ps) == ":".join(ps) == keys.legacy_join(*ps)


@given(parts)
def test_a_key_is_never_a_prefix_of_another_keys_parts(ps: Tuple[str, ...]) -> None:
    # prefix() is what begins_with scans use: exactly the keys with these first parts, and one more at least.
    head = ("d",) + ps
    assert keys.join(*head, "x").startswith(keys.prefix(*head))
    assert not keys.join(*head).startswith(keys.prefix(*head))
    other = ("d",) + ps[:-1] + (ps[-1] + ":",)
    assert not keys.join(*other, "x").startswith(keys.prefix(*head))


def test_the_two_examples_from_the_issue_get_two_keys() -> None:
    assert keys.join("d", "e1", "L", "x:c", "2024-05-01") == "d:e1:L:x%3Ac:2024-05-01"
    assert keys.join("d", "e1", "L:x", "c", "2024-05-01") == "d:e1:L%3Ax:c:2024-05-01"
    assert keys.join("course", "a:b", "c") != keys.join("course", "a", "b:c")
    assert keys.legacy_join("course", "a:b", "c") == keys.legacy_join("course", "a", "b:c")  # what went wrong


@pytest.mark.parametrize("bad", ["a%", "a%3", "a%3a", "a%41", "a%zz", "a%%3A", "%2"])
def test_split_refuses_what_join_never_makes(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.split(bad)


@given(st.text(_CHARS, max_size=30))
def test_whatever_split_accepts_joins_back_to_the_same_text(text: str) -> None:
    # One spelling per key: a parsed custom id is the id we built, not a look-alike.
    try:
        ps = keys.split(text)
    except ValueError:
        return
    assert keys.SEP.join(keys.escape(p) for p in ps) == text


def test_join_refuses_no_parts_non_strings_tags_and_bad_separators() -> None:
    for call in (lambda: keys.join(), lambda: keys.join("api", "k"), lambda: keys.join("a", sep="%"),
                 lambda: keys.join("a", sep="ab"), lambda: keys.join("a", sep="x")):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(TypeError):
        keys.join("a", 1)  # type: ignore[arg-type]
    assert keys.join("api", "k", sep="|") == "api|k"  # tags mean nothing in a hashed encoding


# -- tag --------------------------------------------------------------------------------


@given(st.sampled_from(sorted(keys.TAGS)), part)
def test_untag_gives_back_the_tag_and_the_whole_value(name: str, value: str) -> None:
    assert keys.untag(keys.tag(name, value)) == (name, value)


_spec = st.one_of(st.tuples(st.just("tag"), st.sampled_from(sorted(keys.TAGS)), part),
                 st.tuples(st.just("join"), parts))


def _build(spec: tuple) -> Tuple[str, tuple]:
    """(key, the spec as built): tags sort out of join's first part, as callers must."""
    if spec[0] == "tag":
        return keys.tag(spec[1], spec[2]), spec
    ps = spec[1]
    ps = ("x" + ps[0],) + ps[1:] if ps[0] in keys.TAGS else ps
    return keys.join(*ps), ("join", ps)


@settings(max_examples=500)
@given(_spec, _spec)
def test_tagged_and_joined_keys_never_meet(a: tuple, b: tuple) -> None:
    (key_a, built_a), (key_b, built_b) = _build(a), _build(b)
    if built_a != built_b:
        assert key_a != key_b


def test_tag_refuses_names_outside_the_closed_list() -> None:
    with pytest.raises(ValueError):
        keys.tag("daily", "alice")
    with pytest.raises(ValueError):
        keys.untag("daily:alice")


# -- the alphabets the "#" joins and tags rely on ---------------------------------------


@pytest.mark.parametrize("char", [":", "|", "#", "%", "/", " "])
def test_economy_ids_hold_no_separator(char: str) -> None:
    # "<economy>#<rest>" keys and keys.prefix("d", economy) scans are injective because of this.
    assert valid_economy_id("eco") and not valid_economy_id(f"eco{char}x")


@pytest.mark.parametrize("char", ["#", "%", "/"])
def test_user_content_and_sku_ids_hold_no_hash_escape_or_slash(char: str) -> None:
    # "u:<user>#NN" shard keys and "<economy>#<user>" owners need no "#" in user ids.
    assert not valid_user_id(f"a{char}b") and not valid_content_id(f"a{char}b") and not valid_sku(f"a{char}b")


def test_the_id_alphabet_keeps_colon_pipe_at_and_dot() -> None:
    # Public surface: these ids work today and keep working (escaping makes them safe).
    for user in ("site:42", "a|b", "me@example.org", "first.last", "x:c"):
        assert valid_user_id(user)
    assert valid_sku("L:x") and valid_content_id("novel:12")


# -- the hashed ids -----------------------------------------------------------------------


@given(part, part)
def test_listing_ids_hash_an_injective_encoding(a: str, b: str) -> None:
    from chalicelib.market.listings import _listing_id

    if a != b:
        assert _listing_id("eco", a) != _listing_id("eco", b)


_economy = st.from_regex(r"\A[A-Za-z0-9_.-]{1,8}\Z")


@given(st.tuples(_economy, part), st.tuples(_economy, part))
def test_purchase_ids_hash_an_injective_encoding(a: Tuple[str, str], b: Tuple[str, str]) -> None:
    from chalicelib.purchases.checkout import purchase_id_for as _purchase_id

    if a != b:
        assert _purchase_id(*a) != _purchase_id(*b)


@given(st.tuples(part, st.dates()), st.tuples(part, st.dates()))
def test_quest_seeds_hash_an_injective_encoding(a: tuple, b: tuple) -> None:
    from chalicelib.rewards.quests import seed_for

    if a != b:
        assert seed_for("eco", *a) != seed_for("eco", *b)


def test_listing_and_purchase_ids_of_plain_keys_hash_economy_bar_key() -> None:
    import hashlib

    from chalicelib.market.listings import _ALPHABET, _listing_id
    from chalicelib.purchases.checkout import purchase_id_for as _purchase_id

    # Both hash "economy|<namespaced key>" (a key is the economy's, whatever the route or seller).
    digest = int.from_bytes(hashlib.sha256(b"eco|api:k1").digest()[:17], "big")
    assert _listing_id("eco", "api:k1") == "lst_" + "".join(_ALPHABET[(digest >> (5 * i)) & 31]
                                                            for i in reversed(range(26)))
    # A purchase's: the first 128 bits of the hash, as a ULID's 26 characters (the form unkeyed ids have).
    bits = int.from_bytes(hashlib.sha256(b"eco|api:k1").digest()[:16], "big")
    assert _purchase_id("eco", "api:k1") == "pur_" + "".join(_ALPHABET[(bits >> (5 * i)) & 31]
                                                             for i in reversed(range(26)))
    assert _listing_id("eco", "api:a|b") != _listing_id("eco", "api:a%7Cb")
    assert _purchase_id("eco", "api:a|b") != _purchase_id("eco", "api:a%7Cb")


# -- the Discord ids that are parsed back -------------------------------------------------


@given(st.sampled_from(["adjust", "freeze", "unfreeze"]), st.text("0123456789", min_size=1, max_size=20), part,
       st.integers(-10**12, 10**12).filter(bool))
def test_admin_form_ids_round_trip_any_target(action: str, command_id: str, target: str, amount: int) -> None:
    from chalicelib.discord.operators import form_id, parse_form_id

    value = amount if action == "adjust" else None
    assert parse_form_id(form_id(action, command_id, target, value)) == (action, command_id, target, value)


def test_admin_form_ids_of_snowflakes_are_spelled_as_before() -> None:
    from chalicelib.discord.operators import form_id, parse_form_id

    assert form_id("adjust", "11", "22", 5) == "admin:adjust:11:22:5"
    assert form_id("freeze", "11", "site:42") == "admin:freeze:11:site%3A42"
    for junk in ("admin:adjust:11:22", "admin:freeze:11:22:5", "admin:adjust:11:22:x", "admin:pay:1:2",
                 "admin:adjust:11:2%2:5", "nope", "admin:note:11:22:5", "admin:note:x1:22", "admin:note:11:site%3A42"):
        assert parse_form_id(junk) is None
    assert parse_form_id(form_id("note", "11", "22")) == ("note", "11", "22", None)


@given(st.text("0123456789", min_size=1, max_size=20), st.integers(1, 10**7),
       st.from_regex(r"\A[A-Za-z0-9_.:-]{1,64}\Z"))
def test_market_confirm_ids_round_trip_a_sku_with_colons(view_id: str, price: int, sku: str) -> None:
    from chalicelib.discord.market import _parts
    from chalicelib.discord.market_views import sku_view

    item = {"sku": sku, "name": "n", "price": price, "fulfilment": "api", "stock": None}
    confirm = sku_view(item, view_id, True)["data"]["components"][0]["components"][0]["custom_id"]
    assert _parts(confirm) == ("m", "ok", view_id, str(price), sku)


def test_keys_py_depends_on_nothing_of_the_project() -> None:
    # It is core: every module may import it, so it imports nothing of the project.
    with open(os.path.join(ROOT, "chalicelib", "core", "keys.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"__future__", "string", "typing"}


# -- the guard --------------------------------------------------------------------------

# f-strings that glue a value to ":" or "|" but are not keys, each with why. (file, the f-string's source)
ALLOWED_FSTRINGS: Dict[Tuple[str, str], str] = {
    ("chalicelib/ledger/operation.py", 'f"u:{user_id}"'): "a wallet's account key, as keys.tag('u', ...) spells it",
    ("chalicelib/ledger/accounts.py", 'f"{op_id}|{account_key}"'): "a hash input (the shard an operation writes), not a key",
    ("chalicelib/ledger/post.py", 'f"{op_id}|{blob}"'): "a hash input (the ClientRequestToken), not a key",
    ("chalicelib/spending/holds.py", 'f"key:{idempotency_key}"'): "a fingerprint input (hashed as JSON), not a key",
    ("chalicelib/market/settlement.py", 'f"key:{idempotency_key}"'): "a fingerprint input (hashed as JSON), not a key",
    ("chalicelib/market/settlement.py", 'f"fulfilled:{via}"'): "a resolution label from a closed list, never parsed",
    ("chalicelib/purchases/checkout.py", 'f"http://127.0.0.1:{settings.port}"'): "a URL",
    ("chalicelib/ledger/freezes.py", 'f"{DISPUTE}:{purchase_id}"'): "a freeze reason: the id is from _REASON's colon-free alphabet",
    ("chalicelib/ledger/freezes.py", 'f"{DISPUTE_LOST}:{purchase_id}"'): "a freeze reason, as above",
    ("chalicelib/purchases/local_checkout.py", 'f"http://127.0.0.1:{settings.port}"'): "a URL",
    ("chalicelib/db/ops.py", 'f":{prefix}{len(values)}"'): "a DynamoDB expression value placeholder",
    ("chalicelib/discord/views.py", 'f"<t:{stamp}:R>"'): "Discord's timestamp markup",
    ("chalicelib/operations/backup.py", 'f"{path}:{number}: not JSON"'): "an error message (file:line)",
    ("chalicelib/operations/backup.py", 'f"{path}:{number}: data after the footer"'): "an error message (file:line)",
    ("chalicelib/operations/backup.py", 'f"{path}:{number}: not a record"'): "an error message (file:line)",
    ("chalicelib/operations/backup.py", 'f"{path}:{number}: unknown table {table!r} (or no item)"'): "an error message",
    ("chalicelib/tenancy/roles.py", '"|---|---|" + ":-:|" * len(ROLES)'): "a Markdown table's rule line",
    ("chalicelib/operations/market_admin.py", 'f"key:{idempotency_key}"'): "a resolution token, as settlement.py's",
}

# ".join" with ":" or "|" that is not a key: the OpenAPI text listing a query parameter's values.
ALLOWED_JOINS = {
    ("chalicelib/routes/_http.py", '"|".join(values)'),  # query_choice, for every route's enum parameter
}

# ".split(':')" / ".partition(':')" that parse something that is not a key we built.
ALLOWED_SPLITS: Dict[Tuple[str, str], str] = {
    ("chalicelib/runtime/jobs.py", "spec.target.partition(':')"): "a 'module:function' reference",
    ("chalicelib/runtime/queue.py", "target.partition(':')"): "a 'module:function' reference",
    ("chalicelib/core/config.py", "arn.split(':')"): "an AWS ARN",
    ("chalicelib/ledger/freezes.py", "reason.split(':', 1)"): "a freeze reason's kind (the _REASON alphabet)",
}

_GLUE = (":", "|")


def _sources() -> List[str]:
    found = []
    for folder, _, files in os.walk(os.path.join(ROOT, "chalicelib")):
        found += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return sorted(f for f in found if f != os.path.join(ROOT, "chalicelib", "core", "keys.py"))  # the one allowed


def _glues(node: ast.JoinedStr) -> bool:
    """A literal piece ending in ':'/'|' right before a value, or starting with one right after a value.

    Prose (``"{path}: not JSON"``, a glue then a space) and URLs (``"{scheme}://"``) are not keys.
    """
    values = node.values
    for left, right in zip(values, values[1:]):
        if isinstance(left, ast.Constant) and isinstance(right, ast.FormattedValue) and left.value.endswith(_GLUE):
            return True
        if isinstance(left, ast.FormattedValue) and isinstance(right, ast.Constant):
            text = right.value
            if text.startswith(_GLUE) and not text.startswith((": ", "| ", "://")):
                return True
    return False


def _is_glue_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in _GLUE


def _hand_joins(path: str) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    tree = ast.parse(source)
    joins: List[Tuple[str, str]] = []
    splits: List[Tuple[str, str]] = []
    nested = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in ast.walk(n)
              if isinstance(v, ast.JoinedStr) and v is not n}  # format specs are JoinedStrs too
    def segment(node: ast.AST) -> str:
        # Only for the nodes that match: get_source_segment splits the whole file on every call.
        return ast.get_source_segment(source, node) or ""

    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr) and id(node) not in nested and _glues(node):
            joins.append((rel, segment(node)))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = node.left, node.right
            if (isinstance(left, ast.Constant) and isinstance(left.value, str) and left.value.endswith(_GLUE)) or (
                    isinstance(right, ast.Constant) and isinstance(right.value, str) and right.value.startswith(_GLUE)):
                joins.append((rel, segment(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            name, first = node.func.attr, node.args[0]
            if name == "join" and _is_glue_constant(node.func.value):
                joins.append((rel, segment(node)))
            if name in ("split", "rsplit", "partition", "rpartition") and _is_glue_constant(first):
                splits.append((rel, segment(node).replace('"', "'")))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
            if isinstance(node.left.value, str) and any(g in node.left.value for g in ("s:%", "s|%")):
                joins.append((rel, segment(node)))
    return joins, splits


@functools.lru_cache(maxsize=1)
def _scan() -> Tuple[List[Tuple[str, str]], List[Tuple[str, str]]]:
    """Every hand join and split in chalicelib (read once for the tests below)."""
    joins: List[Tuple[str, str]] = []
    splits: List[Tuple[str, str]] = []
    for path in _sources():
        j, s = _hand_joins(path)
        joins += j
        splits += s
    return joins, splits


def test_no_key_is_joined_by_hand_outside_keys_py() -> None:
    joins, splits = _scan()
    new_joins = [j for j in joins if j not in ALLOWED_FSTRINGS and j not in ALLOWED_JOINS]
    new_splits = [s for s in splits if s not in ALLOWED_SPLITS]
    assert not new_joins, (
        "Build keys with chalicelib.core.keys (join escapes each id; tag takes one whole value), not by hand; "
        f"a string that is not a key goes into ALLOWED_FSTRINGS with a reason: {new_joins}")
    assert not new_splits, f"Parse keys with chalicelib.core.keys.split, not by hand: {new_splits}"


def test_every_allow_list_entry_is_still_in_the_code() -> None:
    joins, splits = _scan()
    assert [k for k in (*ALLOWED_FSTRINGS, *ALLOWED_JOINS) if k not in joins] == []
    assert [k for k in ALLOWED_SPLITS if k not in splits] == []


def test_the_guard_sees_the_shapes_it_is_for(tmp_path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'a = f"d:{economy}:{sku}"\n'
        'b = f"{economy}|{seller}"\n'
        'c = "quest:" + user\n'
        'd = ":".join(parts)\n'
        'e = key.split(":")\n'
        'f = "%s:%s" % (x, y)\n'
        'ok = f"{value:02d} and {shard!r} at {n}"\n'
        'ok2 = f"Error: {reason}"\n'
        'ok3 = f"{path}: not JSON, {scheme}://{host}"\n'
    )
    joins, splits = _hand_joins(str(sample))
    assert [t for _, t in joins] == ['f"d:{economy}:{sku}"', 'f"{economy}|{seller}"', '"quest:" + user',
                                     '":".join(parts)', '"%s:%s" % (x, y)']
    assert [t for _, t in splits] == ["key.split(':')"]


# -- keyed ids at a time ------------------------------------------------------------------


@given(st.integers(0, 2 ** 47), st.integers(0, 2 ** 47), st.text(max_size=20), st.text(max_size=20))
def test_a_keyed_id_at_a_time_is_stable_and_sorts_by_its_time(t1: int, t2: int, a: str, b: str) -> None:
    from chalicelib.core.ids import keyed_id_at, new_id

    assert keyed_id_at("note_", t1, a) == keyed_id_at("note_", t1, a)
    if t1 < t2:
        assert keyed_id_at("note_", t1, a) < keyed_id_at("note_", t2, b)
    assert len(keyed_id_at("note_", t1, a)) == len(new_id("note_"))
