"""Helpers shared by the spending tests: catalog writes, wallets, the treasury, refusals."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

from tests.conftest import Economy, Resp


def key() -> str:
    return f"k-{uuid.uuid4().hex}"


def put(economy: Economy, path: str, body: Any, token: Optional[str] = None) -> Resp:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token or economy.admin_token}"}
    return economy.api.request("PUT", path, headers=headers, body=json.dumps(body))


def put_content(economy: Economy, content_id: str, price: int, creator: str = "creator",
                share: Optional[int] = None, title: str = "A chapter") -> Dict[str, Any]:
    body: Dict[str, Any] = {"title": title, "price": price, "creator_id": creator}
    if share is not None:
        body["creator_share_bps"] = share
    resp = put(economy, f"/v1/admin/content/{content_id}", body)
    assert resp.status in (200, 201), resp.body
    return resp.body


def wallet(economy: Economy, user: str) -> Dict[str, int]:
    resp = economy.api.get(f"/v1/users/{user}/wallet")
    if resp.status == 404:
        return {"available": 0, "held": 0, "earnings": 0}
    assert resp.status == 200, resp.body
    return {b: resp.body[b] for b in ("available", "held", "earnings")}


def treasury(economy: Economy) -> int:
    from chalicelib import ledger
    from chalicelib.ledger.wallets import system_balance

    return system_balance(economy.id, ledger.system("treasury"))


def place_hold(economy: Economy, user: str, amount: int, expires_in: int = 600, purpose: str = "call") -> Resp:
    return economy.api.post("/v1/holds", {"user_id": user, "amount": amount, "purpose": purpose,
                                          "expires_in": expires_in}, key=key(), token=economy.write_token)


def active_held(economy: Economy, user: str) -> int:
    """The sum of the user's active holds (and escrows), from the holds listing."""
    total, cursor = 0, None
    while True:
        path = f"/v1/users/{user}/holds?status=active&limit=100" + (f"&cursor={cursor}" if cursor else "")
        resp = economy.api.get(path)
        assert resp.status == 200, resp.body
        total += sum(h["amount"] for h in resp.body["items"])
        cursor = resp.body["next_cursor"]
        if not cursor:
            return total


def assert_error(resp: Resp, status: int, code: str, field: Optional[str] = None) -> Dict[str, Any]:
    assert resp.status == status, (resp.status, resp.body)
    assert isinstance(resp.body, dict) and set(resp.body) == {"error"}, resp.body
    err = resp.body["error"]
    assert set(err) == {"code", "message", "details"} and err["code"] == code, err
    if field is not None:
        assert err["details"].get("field") == field, err
    return err


def books(economy: Economy, *users: str) -> Dict[str, Any]:
    """Everything a refused request must leave as it was."""
    report = economy.check()
    return {
        "wallets": {u: wallet(economy, u) for u in users},
        "treasury": treasury(economy),
        "entries": report.entries_checked,
        "audit": economy.api.get("/v1/admin/audit?limit=200").body,
        "holds": {u: economy.api.get(f"/v1/users/{u}/holds?limit=100").body for u in users},
        "unlocks": {u: economy.api.get(f"/v1/users/{u}/unlocks?limit=100").body for u in users},
    }


@contextmanager
def nothing_changes(economy: Economy, *users: str) -> Iterator[None]:
    before = books(economy, *users)
    yield
    assert books(economy, *users) == before
