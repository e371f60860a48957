"""Helpers for the operations tests: a busy economy, raw table access, snapshots."""
from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any, Dict, List, Optional, Set

from tests import purchase_helpers as ph
from tests.integration.spending_helpers import key  # noqa: F401 (oh.key, the one shared helper)


def buy(economy: Any, user: str, pack: str = "coins_100") -> Dict[str, Any]:
    resp = economy.api.post("/v1/checkout", {"user_id": user, "pack_id": pack})
    assert resp.status == 201, resp.body
    return resp.body


def pay(economy: Any, purchase: Dict[str, Any]) -> None:
    resp = ph.deliver(economy.api, ph.completed(purchase))
    assert resp.status == 200 and resp.body["outcome"] == "paid", resp.body


def busy(economy: Any) -> Dict[str, Any]:
    """Some of everything: credits, spends, a purchase, holds settled, released and open."""
    from chalicelib.purchases.packs import seed_packs

    seed_packs(economy.id)
    economy.credit("alice", 500)
    economy.credit("bob", 300)
    assert economy.api.post("/v1/users/alice/spend", {"amount": 40, "reason": "hat"}, key=key()).status == 200
    purchase = buy(economy, "carol")
    pay(economy, purchase)
    pending = buy(economy, "dave")
    held = economy.api.post("/v1/holds", {"user_id": "alice", "amount": 50, "purpose": "call", "expires_in": 3600},
                            key=key())
    assert held.status == 201, held.body
    settle = economy.api.post(f"/v1/holds/{held.body['hold_id']}/settle", {"amount": 20, "to_user_id": "bob"})
    assert settle.status == 200, settle.body
    open_hold = economy.api.post("/v1/holds", {"user_id": "bob", "amount": 30, "purpose": "stream",
                                               "expires_in": 3600}, key=key())
    assert open_hold.status == 201, open_hold.body
    return {"purchase": purchase, "pending": pending, "open_hold": open_hold.body["hold_id"]}


def run(name: str, **kwargs: Any) -> Dict[str, Any]:
    from chalicelib.runtime.jobs import run_job

    kwargs.setdefault("max_items", 1_000_000)
    kwargs.setdefault("max_seconds", 120)
    return run_job(name, **kwargs)


def accounts(economy_id: str) -> List[Dict[str, Any]]:
    from chalicelib.ledger.invariants import economy_accounts

    return economy_accounts(economy_id)


def tamper(economy_id: str, account: str, bucket: str, delta: int) -> None:
    """Change a balance behind the ledger's back, as a bad script or a console edit would."""
    from chalicelib.db.engine import get_client, table_name

    get_client().update_item(
        TableName=table_name("accounts"),
        Key={"economy": {"S": economy_id}, "account": {"S": account}},
        UpdateExpression="ADD #b :d",
        ExpressionAttributeNames={"#b": bucket},
        ExpressionAttributeValues={":d": {"N": str(delta)}},
    )


def snapshot(economy_id: str, tmp_path: Any, name: Optional[str] = None) -> Set[str]:
    """Every record of the economy (through the export), as a set of canonical JSON lines."""
    from chalicelib.operations.backup import export_economy

    path = str(tmp_path / (name or f"snap-{uuid.uuid4().hex}.jsonl"))
    export_economy(economy_id, path, include_secrets=True)  # all of it: a state to compare
    return records(path)


def records(path: str) -> Set[str]:
    out = set()
    with open(path, encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            doc = json.loads(line)
            if not doc.get("footer"):
                out.add(json.dumps(doc, sort_keys=True))
    return out


def later(minutes: int) -> str:
    from chalicelib.core.ids import iso, utc_now

    return iso(utc_now() + timedelta(minutes=minutes))
