"""Export one economy to a JSON Lines file, and restore it into fresh tables.

Export reads every record of the economy from every table that
``schema.all_models()`` lists (so tables added later are included) and writes
one line per record, in DynamoDB's typed JSON (``{"S": ...}``, ``{"N": "12"}``,
binary as base64), between a header and a footer that counts them:

    {"format": "coinhall-export/1", "economy": "E", "exported_at": ..., "tables": [...]}
    {"t": "accounts", "item": {...}}
    ...
    {"footer": true, "records": N, "counts": {"accounts": ..., ...}}

How a table's records belong to an economy is said once, here (``RULES``):
most tables are keyed by the economy (one Query) or carry an ``economy``
attribute; the rest have a rule of their own. Tables whose records belong to
no economy are listed in ``SKIPPED`` with the reason. A new model that fits
none of these makes ``export`` fail loudly (and ``tests`` say so first).

Consistency: the economy's accounts (buckets, version, updated_at) are read
before and after; if anything moved, the export is thrown away and made again
(a few times, then it fails: quiesce the economy, or use point-in-time
recovery). Every money movement changes an account, so an export whose
accounts did not move holds a complete, consistent ledger.

Operator tool: ``operations`` and the few tables with no economy key are read
with a filtered parallel Scan (cost: the whole table's read units), never on
a request path.

Restore creates the tables under another prefix (``--table-prefix``) and
writes each record with ``attribute_not_exists``: it never overwrites. A record
already there and identical is skipped (a restore that died can be run again);
one that differs is a conflict, and the restore fails listing them.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from chalicelib.core import config, keys
from chalicelib.core.ids import now_iso
from chalicelib.ledger.accounts import entry_partition, valid_economy_id
from chalicelib.operations.backup_store import (
    Item, all_models, batch_get, create_tables, filtered_scan, get_item, get_key, put_new, query_hash, query_index,
    table_name,
)

log = logging.getLogger("coinhall.backup")

FORMAT = "coinhall-export/1"
ATTEMPTS = 3
WORKERS = 16


class BackupError(Exception):
    """An export or restore that cannot go on; ``str()`` says why, for the operator."""


class ExportNotConsistentError(BackupError):
    """The economy kept changing while it was exported."""


class RestoreConflictError(BackupError):
    """Records in the target tables differ from the file's."""

    def __init__(self, message: str, conflicts: List[Dict[str, Any]]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


@dataclass
class Export:
    """What the rules share while one economy is read."""

    economy: str
    accounts: List[Item] = field(default_factory=list)
    purchase_ids: List[str] = field(default_factory=list)
    payment_intents: List[str] = field(default_factory=list)


def _accounts(x: Export) -> Iterator[Item]:
    yield from x.accounts


def _entries(x: Export) -> Iterator[Item]:
    def partition(account: Item) -> List[Item]:
        return list(query_hash("entries", "account_key", entry_partition(x.economy, account["account"]["S"])))

    with ThreadPoolExecutor(WORKERS) as pool:
        for items in pool.map(partition, x.accounts):
            yield from items


def _operations(x: Export) -> Iterator[Item]:
    return filtered_scan("operations", "begins_with(#k, :p)", {"#k": "op_key"}, {":p": {"S": f"{x.economy}#"}})


def _purchases(x: Export) -> Iterator[Item]:
    keys = [i["purchase_id"] for i in query_index("purchases", "by_economy", "economy", x.economy)]
    for start in range(0, len(keys), 100):
        for item in batch_get("purchases", [{"purchase_id": k} for k in keys[start:start + 100]]):
            x.purchase_ids.append(item["purchase_id"]["S"])
            if "payment_intent" in item and "S" in item["payment_intent"]:
                x.payment_intents.append(item["payment_intent"]["S"])
            yield item


def _payments(x: Export) -> Iterator[Item]:
    keys = sorted(set(x.payment_intents))
    for start in range(0, len(keys), 100):
        yield from batch_get("payments", [{"payment_intent": {"S": k}} for k in keys[start:start + 100]])


def _stripe_events(x: Export) -> Iterator[Item]:
    ours = set(x.purchase_ids)
    for item in filtered_scan("stripe_events", "attribute_exists(#p)", {"#p": "purchase_id"}, {}) if ours else ():
        if item.get("purchase_id", {}).get("S") in ours:
            yield item


def _market_counters(x: Export) -> Iterator[Item]:
    # Purchase-limit counters are keys.join("d", <economy>, ...) (daily shop limits),
    # keys.join("l", <economy>, ...) (per-listing limits) and keys.join("g", <economy>, ...)
    # (API keys' grant budgets).
    return filtered_scan("market_counters", "begins_with(#c, :d) OR begins_with(#c, :l) OR begins_with(#c, :g)",
                         {"#c": "counter"}, {":d": {"S": keys.prefix("d", x.economy)},
                                             ":l": {"S": keys.prefix("l", x.economy)},
                                             ":g": {"S": keys.prefix("g", x.economy)}})


def _price_history(x: Export) -> Iterator[Item]:
    # Keyed by sku_key = <economy>#<sku>, with no economy attribute of its own.
    return filtered_scan("price_history", "begins_with(#k, :p)", {"#k": "sku_key"}, {":p": {"S": f"{x.economy}#"}})


# base_name -> how the economy's records of that table are found. Order
# matters only where a rule uses what an earlier one collected
# (purchases -> payments, stripe_events). Tables not named here use the
# default: keyed by the economy, or a filtered scan on an ``economy`` attribute.
RULES: Dict[str, Callable[[Export], Iterator[Item]]] = {
    "accounts": _accounts,
    "entries": _entries,
    "operations": _operations,
    "purchases": _purchases,
    "payments": _payments,
    "stripe_events": _stripe_events,
    "market_counters": _market_counters,
    "price_history": _price_history,
}
# Rules that use what another collected run after every other table.
_LAST = {"payments", "stripe_events"}

# Attributes that let their holder in (an API key's hash, a game server's HMAC keys). An export
# leaves them out unless asked (``include_secrets``): such a record is written revoked as of the
# export, so a restored economy refuses its old keys and servers until an operator mints new ones.
SECRETS: Dict[str, Tuple[str, ...]] = {
    "api_keys": ("key_hash",),
    "game_servers": ("secret", "previous_secret", "previous_expires_at"),
}
WITHHELD = "withheld"  # the stand-in for a required secret attribute: no SHA-256 hex digest equals it


def _without_secrets(table: str, item: Item, exported_at: str) -> Item:
    names = SECRETS.get(table)
    if not names:
        return item
    kept = {k: v for k, v in item.items() if k not in names}
    if "key_hash" in names:
        kept["key_hash"] = {"S": WITHHELD}  # required by the model; never matches a key's hash
    kept.setdefault("revoked_at", {"S": exported_at})
    return kept

SKIPPED: Dict[str, str] = {
    "job_state": "scheduler checkpoints and leases, not economy data: a restored economy starts unreconciled, "
                 "so its first reconciliation is a full one",
}


def rule_for(model: Any) -> Tuple[str, Optional[Callable[[Export], Iterator[Item]]]]:
    """(description, reader) of how ``model``'s records belong to an economy; reader None = skipped.

    Raises BackupError when the model says nothing about it (add a rule to ``RULES``).
    """
    base = model.Meta.base_name
    if base in SKIPPED:
        return f"skipped: {SKIPPED[base]}", None
    if base in RULES:
        return f"rule {RULES[base].__name__}", RULES[base]
    attributes = model.get_attributes()
    hash_key = next(name for name, attr in attributes.items() if attr.is_hash_key)
    if hash_key in ("economy", "economy_id"):
        if any(attr.is_range_key for attr in attributes.values()):
            return f"query {hash_key} = E", lambda x: query_hash(base, hash_key, x.economy)
        return f"get {hash_key} = E", lambda x: get_key(base, hash_key, x.economy)
    if "economy" in attributes:
        return "scan where economy = E", lambda x: filtered_scan(base, "#e = :e", {"#e": "economy"},
                                                                  {":e": {"S": x.economy}})
    raise BackupError(f"table {base!r} has no way to tell which economy its records belong to: "
                      f"add a rule to chalicelib.operations.backup.RULES (or SKIPPED, with the reason)")


def _ordered_models() -> List[Any]:
    return sorted(all_models(), key=lambda m: m.Meta.base_name in _LAST)  # stable: the rest keep their order


# -- export --------------------------------------------------------------------


def _to_json(item: Item) -> Item:
    """botocore's decoded wire item -> plain JSON (binary as base64, as DynamoDB JSON has it)."""
    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k == "B":
                    out[k] = base64.b64encode(v).decode()
                elif k == "BS":
                    out[k] = [base64.b64encode(b).decode() for b in v]
                else:
                    out[k] = convert(v)
            return out
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(item)


def _from_json(item: Item) -> Item:
    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k == "B":
                    out[k] = base64.b64decode(v)
                elif k == "BS":
                    out[k] = [base64.b64decode(b) for b in v]
                else:
                    out[k] = convert(v)
            return out
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return convert(item)


def _account_state(accounts: List[Item]) -> List[str]:
    return [json.dumps(a, sort_keys=True, default=str) for a in accounts]


def export_economy(economy: str, out_path: str, *, include_secrets: bool = False) -> Dict[str, Any]:
    """Write every record of ``economy`` to ``out_path`` (JSON Lines); returns counts.

    Without ``include_secrets`` the API keys' hashes and the game servers' secrets
    are left out, and those records are written revoked (``SECRETS``).

    Raises ValueError (bad economy id), BackupError (unknown economy, a table
    without a rule), ExportNotConsistentError, OSError (the file).
    """
    if not valid_economy_id(economy):
        raise ValueError(f"invalid economy id {economy!r}")
    if not list(get_key("economies", "economy_id", economy)):
        raise BackupError(f"no economy {economy!r} in table {table_name('economies')}")
    models = _ordered_models()
    readers = [(m.Meta.base_name, rule_for(m)[1]) for m in models]
    partial = out_path + ".partial"
    for attempt in range(1, ATTEMPTS + 1):
        started = time.monotonic()
        x = Export(economy, accounts=list(query_hash("accounts", "economy", economy)))
        before = _account_state(x.accounts)
        counts: Dict[str, int] = {}
        exported_at = now_iso()
        with open(partial, "w", encoding="utf-8") as out:
            header = {"format": FORMAT, "economy": economy, "exported_at": exported_at,
                      "tables": [name for name, reader in readers if reader is not None],
                      "skipped": {name: SKIPPED[name] for name, reader in readers if reader is None},
                      "secrets": "included" if include_secrets else WITHHELD}
            out.write(json.dumps(header) + "\n")
            for name, reader in readers:
                if reader is None:
                    continue
                counts[name] = 0
                for item in reader(x):
                    if not include_secrets:
                        item = _without_secrets(name, item, exported_at)
                    out.write(json.dumps({"t": name, "item": _to_json(item)}, separators=(",", ":")) + "\n")
                    counts[name] += 1
            out.write(json.dumps({"footer": True, "records": sum(counts.values()), "counts": counts}) + "\n")
        if _account_state(list(query_hash("accounts", "economy", economy))) == before:
            os.replace(partial, out_path)
            summary = {"economy": economy, "out": out_path, "records": sum(counts.values()), "counts": counts,
                       "secrets": header["secrets"], "attempts": attempt, "duration_s": round(time.monotonic() - started, 3)}
            log.info("exported economy %s: %d records", economy, summary["records"], extra={"export": summary})
            return summary
        log.warning("economy %s changed during export (attempt %d); exporting again", economy, attempt)
    os.remove(partial)
    raise ExportNotConsistentError(
        f"economy {economy!r} kept changing during {ATTEMPTS} exports; pause its traffic, or restore from "
        f"point-in-time recovery instead")


# -- restore -------------------------------------------------------------------


@contextmanager
def using_table_prefix(prefix: str) -> Iterator[None]:
    """Point this process's settings at tables named ``<prefix><base>`` inside the block.

    Settings are process-wide: other threads of this process see the prefix too
    (the CLI runs nothing else meanwhile).
    """
    old = os.environ.get("COINS_TABLE_PREFIX")
    os.environ["COINS_TABLE_PREFIX"] = prefix
    config.reset_settings()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COINS_TABLE_PREFIX", None)
        else:
            os.environ["COINS_TABLE_PREFIX"] = old
        config.reset_settings()


def read_export(path: str) -> Tuple[Dict[str, Any], Dict[str, int]]:
    """Validate a whole export file before anything is written: (header, counts per table).

    Raises BackupError naming the line of the first problem (not JSON, wrong
    format, unknown table, no footer, a count that does not match: a cut file).
    """
    known = {m.Meta.base_name for m in all_models()}
    header: Optional[Dict[str, Any]] = None
    footer: Optional[Dict[str, Any]] = None
    counts: Dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                doc = json.loads(line)
            except ValueError:
                raise BackupError(f"{path}:{number}: not JSON") from None
            if number == 1:
                if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                    raise BackupError(f"{path}: not a {FORMAT} file (first line is not its header)")
                header = doc
                continue
            if footer is not None:
                raise BackupError(f"{path}:{number}: data after the footer")
            if not isinstance(doc, dict):
                raise BackupError(f"{path}:{number}: not a record")
            if doc.get("footer"):
                footer = doc
                continue
            table, item = doc.get("t"), doc.get("item")
            if table not in known or not isinstance(item, dict):
                raise BackupError(f"{path}:{number}: unknown table {table!r} (or no item)")
            counts[table] = counts.get(table, 0) + 1
    if header is None:
        raise BackupError(f"{path}: empty file")
    if footer is None:
        raise BackupError(f"{path}: no footer: the file was cut short")
    stated = {t: n for t, n in (footer.get("counts") or {}).items() if n}
    if footer.get("records") != sum(counts.values()) or stated != counts:
        raise BackupError(f"{path}: the footer counts {footer.get('records')} records, the file holds "
                          f"{sum(counts.values())}: the file is damaged")
    if not valid_economy_id(header.get("economy", "")):
        raise BackupError(f"{path}: the header names no valid economy")
    return header, counts


def _records(path: str) -> Iterator[Tuple[str, Item]]:
    with open(path, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            doc = json.loads(line)
            if not doc.get("footer"):
                yield doc["t"], _from_json(doc["item"])


def restore_economy(path: str, table_prefix: str) -> Dict[str, Any]:
    """Load an export into the tables named ``<table_prefix><base>`` (created when missing).

    Never overwrites: identical records already there are skipped. Raises
    ValueError (bad prefix), BackupError (bad file), RestoreConflictError,
    OSError.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", table_prefix or ""):
        raise ValueError(f"invalid table prefix {table_prefix!r}: 1-64 of A-Z a-z 0-9 _ . -")
    header, counts = read_export(path)
    keys = {m.Meta.base_name: [n for n, a in m.get_attributes().items() if a.is_hash_key][0] for m in all_models()}
    started = time.monotonic()
    written = {"written": 0, "present": 0}
    conflicts: List[Dict[str, Any]] = []
    with using_table_prefix(table_prefix):
        created = create_tables()

        def put(record: Tuple[str, Item]) -> str:
            table, item = record
            if put_new(table, item, keys[table]):
                return "written"
            key = _key_of(table, item)
            existing = get_item(table, key)
            if existing is not None and _normal(existing) == _normal(item):
                return "present"
            conflicts.append({"table": table, "key": _to_json(key)})
            return "conflict"

        with ThreadPoolExecutor(WORKERS) as pool:
            for outcome in pool.map(put, _records(path)):
                if outcome in written:
                    written[outcome] += 1
    if conflicts:
        raise RestoreConflictError(
            f"{len(conflicts)} records in the {table_prefix!r} tables differ from the file (nothing was "
            f"overwritten); restore into an empty prefix", conflicts)
    summary = {"economy": header["economy"], "table_prefix": table_prefix, "tables_created": len(created),
               "records": sum(counts.values()), **written, "duration_s": round(time.monotonic() - started, 3)}
    log.info("restored economy %s into prefix %s", header["economy"], table_prefix, extra={"restore": summary})
    return summary


def _normal(value: Any) -> Any:
    """Sets come back from DynamoDB in any order."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") else _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


_KEY_CACHE: Dict[str, List[str]] = {}


def _key_of(table: str, item: Item) -> Item:
    if table not in _KEY_CACHE:
        for model in all_models():
            attrs = model.get_attributes()
            _KEY_CACHE[model.Meta.base_name] = [n for n, a in attrs.items() if a.is_hash_key or a.is_range_key]
    return {k: item[k] for k in _KEY_CACHE[table]}
