"""Fixtures: the engines (moto and DynamoDB Local), economies, and an API client.

Tiers: ``unit`` tests run on moto in one thread; ``integration`` tests run on
DynamoDB Local, started in-memory once per session on a free port. Tables are
created once per engine; every test gets its own economy (a fresh tenant), which
isolates tests the way the product isolates customers.
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Set

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

import chalicelib.wiring  # noqa: F401 (every queue topic and job, as app.py and the CLI load them)
from chalicelib.tenancy import apikeys
from chalicelib.core import config
from chalicelib.db import engine as db_engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Property tests assert what holds, never how fast: on a busy CI machine (two workers, each
# with its own DynamoDB Local) a case may take longer than Hypothesis' 200 ms default.
hypothesis_settings.register_profile("coinhall", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("coinhall")

_BASE_ENV = {
    "COINS_STAGE": "local",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "COINS_LEDGER_RETRY_SECONDS": "30",
}


def _apply_env(monkeypatch: pytest.MonkeyPatch, **values: Optional[str]) -> None:
    for name, value in {**_BASE_ENV, **values}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    config.reset_settings()
    db_engine.reset()
    apikeys.clear_cache()


@pytest.fixture(scope="session")
def ddb_local_endpoint() -> Iterator[str]:
    """DynamoDB Local, in memory, for the whole session (or COINS_TEST_ENDPOINT)."""
    external = os.environ.get("COINS_TEST_ENDPOINT")
    if external:
        yield external
        return
    from scripts import ddb_local

    ddb_local.ensure_java()
    ddb_local.ensure_installed()
    engine = ddb_local.start(in_memory=True)
    try:
        yield engine.endpoint
    finally:
        engine.stop()


_created: Dict[str, bool] = {}


class _BooksWatch:
    """The economies whose accounts a test wrote, read off every TransactWriteItems it sent.

    Every balance change is such a transaction (only the ledger moves money), so
    the set holds every economy a test moved money in: the fixture's, a guild's,
    one made by a job or a CLI command. Recorded below botocore's client, so a
    client rebuilt mid-test (new settings) is watched too.
    """

    def __init__(self) -> None:
        self.economies: Set[str] = set()
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from botocore.client import BaseClient

        original = BaseClient._make_api_call
        watch = self

        def _make_api_call(client: Any, operation_name: str, api_params: Dict[str, Any]) -> Any:
            if operation_name == "TransactWriteItems":
                watch.record(api_params.get("TransactItems") or [])
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", _make_api_call)

    def record(self, items: Any) -> None:
        accounts = db_engine.table_name("accounts")
        for item in items:
            for body in item.values():
                if body.get("TableName") == accounts and "economy" in body.get("Key", {}):
                    with self._lock:
                        self.economies.add(body["Key"]["economy"]["S"])

    def prove(self, request: pytest.FixtureRequest) -> None:
        """Drain queued work (it moves money too), then check every recorded economy's books.

        Skipped when the test failed (its own failure says more) or is marked
        ``books_broken`` (it tampers with the books on purpose).
        """
        report = getattr(request.node, "rep_call", None)
        if report is None or not report.passed or request.node.get_closest_marker("books_broken"):
            return
        from chalicelib.ledger.invariants import check_economy
        from chalicelib.runtime import queue

        assert queue.drain(30), "queued work still running at the end of the test"
        broken = {}
        for economy_id in sorted(self.economies):
            books = check_economy(economy_id)
            if not books.ok:
                broken[economy_id] = books.discrepancies
        assert not broken, f"the books do not balance after the test: {broken}"


@pytest.fixture
def local_engine(ddb_local_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                 request: pytest.FixtureRequest) -> Iterator[str]:
    """Settings pointed at DynamoDB Local, tables created (once per session).

    At teardown the books of every economy the test moved money in are proven.
    """
    prefix = "test-"
    _apply_env(monkeypatch, COINS_DYNAMODB_ENDPOINT=ddb_local_endpoint, COINS_TABLE_PREFIX=prefix)
    if not _created.get(ddb_local_endpoint):
        from chalicelib.db.schema import create_tables

        create_tables()
        _created[ddb_local_endpoint] = True
    watch = _BooksWatch()
    watch.install(monkeypatch)
    yield ddb_local_endpoint
    watch.prove(request)
    config.reset_settings()
    db_engine.reset()


@pytest.fixture
def moto_engine(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    """Settings on moto's in-process DynamoDB, tables created fresh; books proven at teardown."""
    from moto import mock_aws

    # moto intercepts requests to AWS's own endpoint (an empty value would mean
    # "unset", i.e. the local default engine).
    _apply_env(monkeypatch, COINS_DYNAMODB_ENDPOINT="https://dynamodb.us-east-1.amazonaws.com",
               COINS_TABLE_PREFIX="unit-")
    with mock_aws():
        from chalicelib.db.schema import create_tables

        create_tables()
        watch = _BooksWatch()
        watch.install(monkeypatch)
        yield None
        watch.prove(request)
    config.reset_settings()
    db_engine.reset()


@pytest.fixture(params=["moto", "dynamodb_local"])
def any_engine(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a contract test on the fake and again on the real engine."""
    if request.param == "moto":
        request.getfixturevalue("moto_engine")
    else:
        request.getfixturevalue("local_engine")
    yield request.param


@dataclass
class Resp:
    status: int
    body: Any
    headers: Dict[str, str]

    @property
    def code(self) -> Optional[str]:
        return (self.body or {}).get("error", {}).get("code") if isinstance(self.body, dict) else None


class Api:
    """The app through Chalice's test client, as a host app would call it.

    Every request says why (``X-Audit-Reason: <reason>``) unless it sets the
    header itself (``None``: send none), as an operator's tooling would: admin
    writes need a reason, and the tests about that send none on purpose.
    """

    def __init__(self, client: Any, token: Optional[str], reason: str = "test") -> None:
        self.client = client
        self.token = token
        self.reason = reason

    def _headers(self, token: Optional[str], key: Optional[str], extra: Optional[Dict[str, str]]) -> Dict[str, str]:
        headers = {"Content-Type": "application/json"}
        token = self.token if token is None else token
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        headers["X-Audit-Reason"] = self.reason
        headers.update(extra or {})
        return {name: value for name, value in headers.items() if value is not None}  # None: do not send it

    @staticmethod
    def _wrap(response: Any) -> Resp:
        try:
            body = json.loads(response.body) if response.body else None
        except ValueError:
            body = response.body
        return Resp(response.status_code, body, {k.lower(): v for k, v in response.headers.items()})

    def get(self, path: str, token: Optional[str] = None, headers: Optional[Dict[str, str]] = None) -> Resp:
        return self._wrap(self.client.http.get(path, headers=self._headers(token, None, headers)))

    def post(self, path: str, body: Any = None, key: Optional[str] = None, token: Optional[str] = None,
             headers: Optional[Dict[str, str]] = None, raw: Optional[str] = None) -> Resp:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self._wrap(self.client.http.post(path, headers=self._headers(token, key, headers), body=data))

    def put(self, path: str, body: Any = None, key: Optional[str] = None, token: Optional[str] = None,
            headers: Optional[Dict[str, str]] = None) -> Resp:
        data = json.dumps(body if body is not None else {})
        return self._wrap(self.client.http.put(path, headers=self._headers(token, key, headers), body=data))

    def request(self, method: str, path: str, **kwargs: Any) -> Resp:
        headers = dict(kwargs.pop("headers", None) or {})
        if not any(name.lower() == "x-audit-reason" for name in headers):
            headers["X-Audit-Reason"] = self.reason
        return self._wrap(self.client.http.request(method, path, headers=headers, **kwargs))


@dataclass
class Economy:
    id: str
    admin_token: str  # read, write, admin, rewards and SUPERADMIN (like the local dev key)
    write_token: str  # read, write
    read_token: str  # read only
    api: Api
    rewards_token: Optional[str] = None  # read, rewards: what a host app's granting key holds

    def credit(self, user_id: str, amount: int) -> Resp:
        resp = self.api.post(f"/v1/admin/users/{user_id}/adjust", {"amount": amount, "reason": "test credit"},
                             key=f"credit-{uuid.uuid4().hex}", token=self.admin_token)
        assert resp.status == 200, resp.body
        return resp

    def check(self) -> Any:
        from chalicelib.ledger.invariants import check_economy

        report = check_economy(self.id)
        assert report.ok, report.discrepancies
        return report


def new_economy_id() -> str:
    return "t" + uuid.uuid4().hex[:12]


def _economy(client: Any) -> Economy:
    economy_id = new_economy_id()
    admin, _ = apikeys.create_key(economy_id, apikeys.SCOPES, label="test admin", role="SUPERADMIN")
    write, _ = apikeys.create_key(economy_id, {"read", "write"}, label="test write")
    read, _ = apikeys.create_key(economy_id, {"read"}, label="test read")
    rewards, _ = apikeys.create_key(economy_id, {"read", "rewards"}, label="test rewards")
    return Economy(economy_id, admin, write, read, Api(client, admin), rewards)


@pytest.fixture
def chalice_client() -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="local") as client:
        yield client


@pytest.fixture
def economy(local_engine: str, chalice_client: Any) -> Economy:
    """A fresh economy on DynamoDB Local with admin, write and read keys (its books are proven by the engine)."""
    return _economy(chalice_client)


@pytest.fixture
def unit_economy(moto_engine: None, chalice_client: Any) -> Economy:
    """A fresh economy on moto (its books are proven by the engine)."""
    return _economy(chalice_client)


@pytest.fixture
def any_economy(any_engine: str, chalice_client: Any) -> Economy:
    return _economy(chalice_client)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Any:
    """Keep each phase's report on the item, for fixtures that act on the test's result at teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def pytest_collection_modifyitems(items: Any) -> None:
    """Under pytest-xdist (``make test``), the infra tests share one worker: one synth, one cdk.out.

    The simulation goes first: it is the longest test by far, and started last it
    would run on alone while the other worker sits idle.
    """
    for item in items:
        if "tests/infra/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.xdist_group("infra"))
    items.sort(key=lambda item: not str(item.fspath).endswith("test_simulation.py"))
