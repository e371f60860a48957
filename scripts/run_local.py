"""`make run`: DynamoDB Local + tables + seed data + `chalice local`, one command.

Env knobs: COINS_PORT (API port, default 8000), COINS_DYNAMODB_ENDPOINT (use
that engine instead of starting one), COINS_DEV_API_KEY (shown in the banner).
Ctrl-C or SIGTERM stops chalice, then the engine. No auto-reload: restart
`make run` after code changes (data persists in .local/dynamodb-data).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import NoReturn, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `scripts` importable

from scripts import ddb_local  # noqa: E402

DATA_DIR = ROOT / ".local" / "dynamodb-data"
ENGINE_PORT = 8001
# The venv that runs us also has chalice; don't depend on PATH.
CHALICE = Path(sys.executable).parent / "chalice"


class _Stop(BaseException):
    """Raised by the signal handler to unwind main() without a traceback.

    BaseException, like KeyboardInterrupt, so library `except Exception`
    blocks (botocore, urllib3) cannot swallow it."""


def _on_signal(signum: int, frame: object) -> NoReturn:
    raise _Stop(signum)


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own session: a terminal Ctrl-C reaches only us, so children never print
    # KeyboardInterrupt tracebacks; we stop them ourselves with SIGTERM.
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def _terminate(proc: Optional[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the child's whole group (chalice's reloader has a worker), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main() -> int:
    api_port = int(os.environ.get("COINS_PORT", "8000"))
    if ddb_local.free_port(api_port) != api_port:
        print(f"error: port {api_port} is in use; set COINS_PORT to another port", file=sys.stderr)
        return 1

    env = dict(os.environ)
    for key, value in ddb_local.DUMMY_AWS_ENV.items():
        env.setdefault(key, value)  # real credentials are never needed locally
    env["COINS_STAGE"] = "local"
    # The dev Discord key pair: `discord send` signs with its private half, the app trusts the public one.
    from chalicelib.discord.devkey import load_or_create as discord_dev_key

    env.setdefault("DISCORD_PUBLIC_KEY", discord_dev_key()[1])

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    engine: Optional[ddb_local.Engine] = None
    child: Optional[subprocess.Popen[bytes]] = None
    timers: Optional[subprocess.Popen[bytes]] = None  # the scheduled jobs (expiry, reconcile, digest)
    try:
        external = env.get("COINS_DYNAMODB_ENDPOINT")
        if external:
            ddb_local.wait_ready(external, timeout=30)
            endpoint, data = external, "(external engine, not managed here)"
        else:
            engine = ddb_local.start(port=ddb_local.free_port(ENGINE_PORT), db_path=DATA_DIR)
            endpoint, data = engine.endpoint, str(DATA_DIR.relative_to(ROOT))
        env["COINS_DYNAMODB_ENDPOINT"] = endpoint

        for args in (["tables", "create"], ["seed"]):
            child = _spawn([sys.executable, "-m", "chalicelib.cli", *args], env)
            if (rc := child.wait()) != 0:
                print(f"error: `python -m chalicelib.cli {' '.join(args)}` exited with {rc}",
                      file=sys.stderr)
                return rc

        api_key = env.get("COINS_DEV_API_KEY", "chk_local_dev_key")
        print(f"""
  Coinhall is running locally
    API          http://127.0.0.1:{api_port}
    DynamoDB     {endpoint}
    Data         {data}
    Dev API key  {api_key}
    Timers       every job on its schedule (logs: JSON lines; run one now: .venv/bin/python -m chalicelib.cli jobs run reconcile --economy default)
    Discord key  {env["DISCORD_PUBLIC_KEY"]}  (try: .venv/bin/python -m chalicelib.cli discord send "/daily" --user alice --guild demo --url http://127.0.0.1:{api_port})
  Ctrl-C stops everything.
""", flush=True)
        # The local timers: every registered job on its schedule, as EventBridge runs them on AWS.
        timers = _spawn([sys.executable, "-m", "chalicelib.cli", "jobs", "serve"], env)
        # --no-autoreload: chalice's reloader restarts on any file change under
        # the project dir, and every DB write touches .local/dynamodb-data/.
        child = _spawn([str(CHALICE), "local", "--host", "127.0.0.1", "--port", str(api_port),
                        "--stage", "local", "--no-autoreload"], env)
        rc = child.wait()
        print(f"chalice local exited with {rc}", file=sys.stderr)
        return rc if rc >= 0 else 128 - rc  # killed by signal N: shell-style 128+N
    except _Stop:
        print("\nStopping ...", file=sys.stderr)
        return 0
    except ddb_local.EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short and orphan the engine.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _terminate(child)
        _terminate(timers)
        if engine is not None:
            engine.stop()


if __name__ == "__main__":
    sys.exit(main())
