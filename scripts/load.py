"""`make load`: sustained traffic and bursts against the running `make run`, over HTTP, then the books.

    .venv/bin/python -m scripts.load                      # 100 tx/min for 10 minutes, then the bursts
    .venv/bin/python -m scripts.load --minutes 1 --rate 600 --burst 200

It finds the stack through `.local/stack.json` (as the CLI does) and uses its
dev key on the `default` economy, with user ids of its own run (`load-<run>-…`).
Phases:

1. **sustained**: ``--rate`` transactions a minute for ``--minutes`` (credits,
   spends that fit, spends that do not, tips), paced by a schedule, not by the answers;
2. **burst on one wallet**: ``--burst`` concurrent 1-coin spends on a wallet
   holding ``--burst // 2`` coins: exactly half must pass, the rest be
   ``insufficient_funds``; a spend answered 409 ``contention`` (the ledger gave up
   retrying a hot wallet) is sent again with the same key, as a client should;
3. **burst on many wallets**: ``--burst`` wallets of 1 coin, one concurrent
   1-coin spend each: every one must pass.

Then the invariant check of the economy. The report (JSON on stdout) gives per
phase the throughput, p50/p95/p99 latency and the answers by status and code,
and ``violations``: what did not add up (exit 1 when there is any). Figures are
for reading, never asserted by a test (tests/integration/test_load_script.py
runs a small one and checks only the counts and the books).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


RETRIES = 20  # tries of one spend answered 409 contention (each waited COINS_LEDGER_RETRY_SECONDS at most)


class Client:
    def __init__(self, api: str, key: str, workers: int) -> None:
        self.api, self.key = api.rstrip("/"), key
        self.local = threading.local()
        self.workers = workers

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1)
            session.mount("http://", adapter)
        return session

    def post(self, path: str, body: Dict[str, Any], idem: Optional[str] = None) -> Tuple[int, Optional[str], float]:
        """(status, error code or None, seconds) of one call."""
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        if idem:
            headers["Idempotency-Key"] = idem
        started = time.perf_counter()
        try:
            resp = self._session().post(self.api + path, json=body, headers=headers, timeout=60)
        except requests.RequestException as exc:
            return 0, type(exc).__name__, time.perf_counter() - started
        elapsed = time.perf_counter() - started
        code = None
        if resp.status_code >= 400:
            try:
                code = resp.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "not_our_shape"
        return resp.status_code, code, elapsed

    def get(self, path: str) -> Dict[str, Any]:
        resp = self._session().get(self.api + path, headers={"Authorization": f"Bearer {self.key}"}, timeout=60)
        resp.raise_for_status()
        return resp.json()


class Phase:
    """What one phase did: every call's status, code and latency."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lock = threading.Lock()
        self.calls: List[Tuple[int, Optional[str], float]] = []
        self.started = time.perf_counter()
        self.ended: Optional[float] = None

    def record(self, answer: Tuple[int, Optional[str], float]) -> Tuple[int, Optional[str], float]:
        with self.lock:
            self.calls.append(answer)
        return answer

    def report(self) -> Dict[str, Any]:
        ended = self.ended or time.perf_counter()
        latencies = sorted(c[2] for c in self.calls)

        def pct(p: float) -> Optional[float]:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

        answers = Counter(f"{s} {c}" if c else str(s) for s, c, _ in self.calls)
        return {"calls": len(self.calls), "seconds": round(ended - self.started, 2),
                "per_second": round(len(self.calls) / max(ended - self.started, 1e-9), 1),
                "latency_ms": {"p50": pct(0.50), "p95": pct(0.95), "p99": pct(0.99),
                               "mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else None},
                "answers": dict(sorted(answers.items()))}


def credit(client: Client, phase: Phase, user: str, amount: int, idem: str) -> Tuple[int, Optional[str], float]:
    return phase.record(client.post(f"/v1/admin/users/{user}/adjust", {"amount": amount, "reason": "load"}, idem))


def spend(client: Client, phase: Phase, user: str, amount: int, idem: str,
          creator: Optional[str] = None) -> Tuple[int, Optional[str], float]:
    body: Dict[str, Any] = {"amount": amount, "reason": "load"}
    if creator:
        body["creator_id"] = creator
    return phase.record(client.post(f"/v1/users/{user}/spend", body, idem))


def sustained(client: Client, run: str, rate: float, minutes: float, violations: List[str]) -> Phase:
    """``rate`` tx/min on 20 wallets: each wallet's expected balance kept from the answers."""
    phase = Phase("sustained")
    users = [f"load-{run}-s{i}" for i in range(20)]
    expected = {u: 0 for u in users}
    lock = threading.Lock()
    total = max(1, int(rate * minutes))
    interval = 60.0 / rate

    def one(i: int) -> None:
        user = users[i % len(users)]
        # Each wallet's first call is its credit; then it cycles through the kinds.
        kind = ("credit", "spend", "spend_too_much", "tip")[(i // len(users)) % 4]
        idem = f"load-{run}-{i}"
        if kind == "credit":
            status, code, _ = credit(client, phase, user, 50, idem)
            if status == 200:
                with lock:
                    expected[user] += 50
        elif kind == "spend_too_much":
            status, code, _ = spend(client, phase, user, 10**9, idem)
            if status != 422 or code != "insufficient_funds":
                violations.append(f"sustained: an overspend answered {status} {code}")
        else:
            status, code, _ = spend(client, phase, user, 3, idem, creator=f"load-{run}-creator" if kind == "tip" else None)
            if status == 200:
                with lock:
                    expected[user] -= 3
            elif code != "insufficient_funds" and code != "user_not_found":
                violations.append(f"sustained: a spend answered {status} {code}")

    with ThreadPoolExecutor(max_workers=client.workers) as pool:
        start = time.monotonic()
        futures = []
        for i in range(total):
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the schedule sets the pace, whatever the answers' speed
            futures.append(pool.submit(one, i))
        for f in futures:
            f.result()
    phase.ended = time.perf_counter()
    for user, amount in expected.items():
        try:
            got = client.get(f"/v1/users/{user}/wallet")["available"]
        except requests.HTTPError:
            got = 0  # never credited: no wallet
        if got != amount:
            violations.append(f"sustained: {user} holds {got}, the answers say {amount}")
    return phase


def burst_one_wallet(client: Client, run: str, n: int, violations: List[str]) -> Phase:
    phase = Phase("burst_one_wallet")
    user, coins = f"load-{run}-hot", n // 2
    credit(client, Phase("setup"), user, coins, f"load-{run}-hot-fund")
    phase.started = time.perf_counter()
    def settled(i: int) -> Tuple[int, Optional[str], float]:
        # 409 contention means "try again with the same key" (README, Errors): a client does.
        for _ in range(RETRIES):
            answer = spend(client, phase, user, 1, f"load-{run}-hot-{i}")
            if answer[1] != "contention":
                return answer
        return answer

    with ThreadPoolExecutor(max_workers=min(n, client.workers)) as pool:
        answers = list(pool.map(settled, range(n)))
    phase.ended = time.perf_counter()
    passed = sum(1 for s, _, _ in answers if s == 200)
    refused = sum(1 for s, c, _ in answers if s == 422 and c == "insufficient_funds")
    if (passed, refused) != (coins, n - coins):
        violations.append(f"burst_one_wallet: {passed} passed and {refused} refused; expected {coins} and {n - coins}")
    left = client.get(f"/v1/users/{user}/wallet")["available"]
    if left != 0:
        violations.append(f"burst_one_wallet: {left} coins left, expected 0")
    return phase


def burst_many_wallets(client: Client, run: str, n: int, violations: List[str]) -> Phase:
    users = [f"load-{run}-w{i}" for i in range(n)]
    setup = Phase("setup")
    with ThreadPoolExecutor(max_workers=client.workers) as pool:
        list(pool.map(lambda u: credit(client, setup, u, 1, f"{u}-fund"), users))
    phase = Phase("burst_many_wallets")
    with ThreadPoolExecutor(max_workers=min(n, client.workers)) as pool:
        answers = list(pool.map(lambda u: spend(client, phase, u, 1, f"{u}-spend"), users))
    phase.ended = time.perf_counter()
    passed = sum(1 for s, _, _ in answers if s == 200)
    if passed != n:
        violations.append(f"burst_many_wallets: {passed} of {n} spends passed")
    return phase


def books(economy: str) -> Dict[str, Any]:
    """The invariant check of the economy, on the stack's engine (found as the CLI finds it)."""
    import os

    from chalicelib.cli import local_stack

    local_stack.adopt(os.environ)
    from chalicelib.ledger.invariants import check_economy

    return check_economy(economy).as_dict()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.load", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the sustained phase")
    parser.add_argument("--rate", type=float, default=100.0, help="transactions a minute in the sustained phase")
    parser.add_argument("--burst", type=int, default=1000, help="concurrent spends in each burst")
    parser.add_argument("--workers", type=int, default=100, help="client threads (the bursts' concurrency)")
    parser.add_argument("--economy", default="default")
    args = parser.parse_args(argv)
    if args.minutes < 0 or args.rate <= 0 or args.burst < 2 or args.workers < 1:
        parser.error("--minutes >= 0, --rate > 0, --burst >= 2, --workers >= 1")
    from chalicelib.cli import local_stack

    stack = local_stack.read()
    if stack is None:
        print(f"error: {local_stack.NoLocalStack()}", file=sys.stderr)
        return 2
    client = Client(str(stack["api_url"]), str(stack.get("dev_api_key") or "chk_local_dev_key"), args.workers)
    run = uuid.uuid4().hex[:8]
    violations: List[str] = []
    phases = []
    if args.minutes > 0:
        phases.append(sustained(client, run, args.rate, args.minutes, violations))
    phases.append(burst_one_wallet(client, run, args.burst, violations))
    phases.append(burst_many_wallets(client, run, args.burst, violations))
    checked = books(args.economy)
    if not checked.get("ok"):
        violations.append(f"the books of {args.economy} do not balance: {checked}")
    report = {"run": run, "api": stack["api_url"], "rate_per_min": args.rate, "minutes": args.minutes,
              "burst": args.burst, "workers": args.workers,
              "phases": {p.name: p.report() for p in phases},
              "books_ok": bool(checked.get("ok")), "violations": violations}
    print(json.dumps(report, indent=2))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
