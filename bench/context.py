"""What every benchmark shares: the engine, the env, one economy, the app client.

The engine starts lazily (the first benchmark that needs it) and ``close()``
always stops it. The economy has an admin key (read, write, admin) for funding
and a write key (read, write) for the calls being measured, as a host app would
hold.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Options:
    threads: int = 8
    ops: int = 400  # measured operations per path (app and raw) in a throughput benchmark
    warmup: int = 160  # unmeasured operations per path before that
    block: int = 50  # operations per timed block; app and raw blocks alternate (ABBA)
    samples: int = 20  # operations whose DynamoDB requests are counted
    import_runs: int = 5  # cold subprocess imports per module


@dataclass
class Reply:
    status: int
    body: Any
    headers: Dict[str, str]


class RequestCounter:
    """A botocore ``before-call.dynamodb`` hook: counts API calls by operation while active.

    ``before-call`` fires once per API call (botocore's own retries of a call
    are not counted again), on the ledger's client and on PynamoDB's. With
    ``record=True`` it also keeps each call's request body (the JSON sent).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = False
        self._record = False
        self.calls: Counter = Counter()
        self.requests: List[Tuple[str, Any]] = []

    def __call__(self, model: Any = None, params: Any = None, **_: Any) -> None:
        if self._active:
            name = getattr(model, "name", "?")
            with self._lock:
                self.calls[name] += 1
                if self._record:
                    self.requests.append((name, _body(params)))

    @contextmanager
    def counting(self, record: bool = False) -> Iterator[Counter]:
        """Count the calls made inside the block; yields the (live) counter."""
        with self._lock:
            self.calls = Counter()
            self.requests = []
            self._record = record
            self._active = True
        try:
            yield self.calls
        finally:
            self._active = False


def _body(params: Any) -> Any:
    body = params.get("body") if isinstance(params, dict) else None
    try:
        return json.loads(body) if body else None
    except (TypeError, ValueError):
        return None


class Context:
    def __init__(self, options: Options, out: Callable[[str], None] = print) -> None:
        self.options = options
        self._out = out
        self.engine: Any = None
        self.endpoint: Optional[str] = None
        self.economy: Optional[str] = None
        self.admin_token: Optional[str] = None
        self.write_token: Optional[str] = None
        self._client: Any = None
        self._counter: Optional[RequestCounter] = None
        self._saved_env: Dict[str, Optional[str]] = {}
        self._environ = os.environ  # chalice's test client swaps os.environ per request; see restore_environ
        self.base_env = dict(os.environ)  # the caller's env, for subprocesses

    # -- output ------------------------------------------------------------

    def note(self, text: str) -> None:
        """A line for people (``# ...``), printed at once."""
        self._out(f"# {text}")

    # -- engine and app ------------------------------------------------------

    def ensure_engine(self) -> None:
        """Start DynamoDB Local, point the app at it, create tables, seed the economy."""
        if self.engine is not None:
            return
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from scripts import ddb_local

        started = time.monotonic()
        self.engine = ddb_local.start(in_memory=True)
        self.endpoint = self.engine.endpoint
        self._set_env(
            COINS_STAGE="local",
            COINS_DYNAMODB_ENDPOINT=self.endpoint,
            COINS_TABLE_PREFIX="bench-",
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_SESSION_TOKEN=None,
            AWS_PROFILE=None,
        )
        from chalicelib.tenancy import apikeys
        from chalicelib.core import config
        from chalicelib.db import engine as db_engine
        from chalicelib.db.schema import create_tables

        config.reset_settings()
        db_engine.reset()
        apikeys.clear_cache()
        create_tables()
        self.economy = "bench" + uuid.uuid4().hex[:10]
        self.admin_token, _ = apikeys.create_key(self.economy, {"read", "write", "admin"}, label="bench admin")
        self.write_token, _ = apikeys.create_key(self.economy, {"read", "write"}, label="bench write")
        self.note(f"engine {self.endpoint} up in {time.monotonic() - started:.1f}s; economy {self.economy}")
        inherited = sorted(k for k in os.environ if k.startswith("COINS_") and k not in self._saved_env)
        if inherited:  # settings from the caller's shell win over the defaults, and may move the figures
            self.note("inherited settings: " + ", ".join(f"{k}={os.environ[k]}" for k in inherited))

    def _set_env(self, **values: Optional[str]) -> None:
        for name, value in values.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    @property
    def client(self) -> Any:
        """chalice.test.Client over the real app (imported after the env is set)."""
        if self._client is None:
            self.ensure_engine()
            from chalice.test import Client

            from app import app

            self._client = Client(app, stage_name="local", project_dir=str(ROOT))
        return self._client

    def restore_environ(self) -> None:
        """Undo chalice's per-request ``os.environ`` swap after threaded calls.

        ``TestHTTPClient`` replaces ``os.environ`` with a patched copy for each
        request and puts back what it saw; from several threads at once the last
        one may put back another thread's copy (a plain dict).
        """
        os.environ = self._environ  # type: ignore[assignment]

    def close(self) -> None:
        self.restore_environ()
        try:
            if self.engine is not None:
                self.engine.stop()
        finally:
            self.engine = None
            for name, value in self._saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            self._saved_env.clear()
            if "chalicelib.core.config" in sys.modules:
                from chalicelib.core import config
                from chalicelib.db import engine as db_engine

                config.reset_settings()
                db_engine.reset()

    # -- HTTP through the app -----------------------------------------------

    def post(self, path: str, body: Any, key: Optional[str] = None, token: Optional[str] = None) -> Reply:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token or self.write_token}",
                   "X-Audit-Reason": "bench"}
        if key is not None:
            headers["Idempotency-Key"] = key
        response = self.client.http.post(path, headers=headers, body=json.dumps(body).encode())
        try:
            parsed = json.loads(response.body) if response.body else None
        except ValueError:
            parsed = response.body
        return Reply(response.status_code, parsed, {k.lower(): v for k, v in response.headers.items()})

    def fund(self, users: Iterable[str], amount: int) -> None:
        """Credit each user through the admin adjust endpoint (in parallel)."""

        def credit(user_id: str) -> None:
            reply = self.post(f"/v1/admin/users/{user_id}/adjust", {"amount": amount, "reason": "bench funding"},
                              key=f"fund-{uuid.uuid4().hex}", token=self.admin_token)
            if reply.status != 200:
                raise RuntimeError(f"funding {user_id} failed: {reply.status} {reply.body}")

        try:
            with ThreadPoolExecutor(self.options.threads) as pool:
                list(pool.map(credit, list(users)))
        finally:
            self.restore_environ()

    # -- DynamoDB request counting -------------------------------------------

    @property
    def counter(self) -> RequestCounter:
        """The request counter, hooked on every client of the app (once per run)."""
        if self._counter is None:
            self.ensure_engine()
            from chalicelib.db.engine import on_every_request

            counter = RequestCounter()
            on_every_request(counter)
            self._counter = counter
        return self._counter


def run_threads(threads: int, work: List[List[Any]], do: Callable[[Any], Any]) -> Tuple[float, List[Any], float]:
    """Run ``do(item)`` over ``work[t]`` in thread ``t``, all starting together.

    Returns (wall seconds from the start signal to the last thread done, the
    results in no particular order, CPU seconds this process used meanwhile).
    """
    assert len(work) == threads
    start = threading.Barrier(threads + 1)
    results: List[Any] = []
    errors: List[BaseException] = []
    lock = threading.Lock()

    def worker(items: List[Any]) -> None:
        start.wait()
        mine = []
        try:
            for item in items:
                mine.append(do(item))
        except BaseException as exc:  # reported after the join
            errors.append(exc)
        with lock:
            results.extend(mine)

    pool = [threading.Thread(target=worker, args=(items,), daemon=True) for items in work]
    for t in pool:
        t.start()
    cpu0 = time.process_time()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if errors:
        raise errors[0]
    return wall, results, cpu
