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
from typing import Any, Dict, NoReturn, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: make `scripts` importable

from chalicelib.cli import local_stack  # noqa: E402
from scripts import ddb_local  # noqa: E402

# COINS_LOCAL_DATA_DIR: keep the engine's data elsewhere (a test's stack must not touch yours).
DATA_DIR = Path(os.environ.get("COINS_LOCAL_DATA_DIR") or ROOT / ".local" / "dynamodb-data")
ENGINE_PORT = 8001


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


def _wait_for_api(url: str, child: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until the API answers /healthz (the stack file must never name a server that is not up)."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise ddb_local.EngineError(f"the API server exited with {child.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    raise ddb_local.EngineError(f"the API at {url} did not answer /healthz within {timeout:.0f}s")


class _StandIns:
    """The outside parties `make run` plays itself (threads of this process): Discord's REST API, a game server.

    Each only when the environment does not name the real one (a bot token, a
    game server URL), so a developer can point `make run` at real ones.
    """

    def __init__(self) -> None:
        self.discord: Any = None
        self.game: Any = None
        self.info: Dict[str, str] = {}

    def close(self) -> None:
        for server in (self.discord, self.game):
            if server is not None:
                server.__exit__(None, None, None)


def _start_standins(env: Dict[str, str]) -> _StandIns:
    started = _StandIns()
    if not env.get("DISCORD_BOT_TOKEN"):
        from scripts.discord_send import stable_id
        from scripts.discord_standin import DiscordStandIn

        # The application id `discord send --url` puts in its interactions, so the worker's edits land here.
        started.discord = DiscordStandIn(application_id=stable_id("coinhall-dev-app"))
        env.update(DISCORD_API_BASE=started.discord.api_base, DISCORD_BOT_TOKEN=started.discord.bot_token,
                   DISCORD_APPLICATION_ID=started.discord.application_id)
        started.info.update(discord_api_base=started.discord.api_base, discord_page=started.discord.page_url,
                            discord_application_id=started.discord.application_id)
    if not env.get("MINECRAFT_API_URL"):
        from scripts.game_server_standin import PluginStandIn

        started.game = PluginStandIn(key=env.get("MINECRAFT_API_KEY") or "local-game-server-key")
        env.update(MINECRAFT_API_URL=started.game.url, MINECRAFT_API_KEY=started.game.key)
        started.info.update(game_server_url=started.game.url, game_server_control=f"{started.game.base_url}/control")
    return started


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _banner(api_url: str, endpoint: str, data: str, api_key: str, discord_key: str, standins: _StandIns) -> str:
    cli = ".venv/bin/python -m chalicelib.cli"
    discord = (f"stand-in, see what the bot posted: {standins.info['discord_page']}" if standins.discord
               else "the real one (DISCORD_BOT_TOKEN is set)")
    game = (f"stand-in at {standins.info['game_server_url']} (switch: POST {standins.info['game_server_control']})"
            if standins.game else "the one MINECRAFT_API_URL names")
    return f"""
  Coinhall is running locally
    API          {api_url}   (index: {api_url}/  API document: {api_url}/openapi.json)
    DynamoDB     {endpoint}
    Data         {data}
    Dev API key  {api_key}   (every scope, economy `default`)
    Discord      {discord}
    Discord key  {discord_key}
    Game server  {game}
    Timers       every job on its schedule (JSON log lines below)
    Stack file   {_shown(local_stack.STACK_FILE)}   (the CLI in another shell finds this stack through it)

  Try next, in another shell:
    curl -s {api_url}/healthz
    {cli} api-key create --economy default --scopes read,write --label my-app
    curl -s -X POST {api_url}/v1/admin/users/alice/adjust -H "Authorization: Bearer {api_key}" \\
      -H 'Content-Type: application/json' -H 'Idempotency-Key: welcome-alice' -d '{{"amount": 500, "reason": "welcome"}}'
    {cli} discord send "/coins" --user alice --guild demo
    {cli} jobs run reconcile --economy default
  Ctrl-C stops everything.
"""


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
    standins = _start_standins(env)

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
            endpoint, data = engine.endpoint, _shown(DATA_DIR)
        env["COINS_DYNAMODB_ENDPOINT"] = endpoint

        for args in (["tables", "create"], ["seed"]):
            # Their JSON answers are for a person who runs them by hand; here only a failure is news.
            done = subprocess.run([sys.executable, "-m", "chalicelib.cli", *args], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stdout + done.stderr)
                print(f"error: `python -m chalicelib.cli {' '.join(args)}` exited with {done.returncode}",
                      file=sys.stderr)
                return done.returncode

        api_key = env.get("COINS_DEV_API_KEY", "chk_local_dev_key")
        api_url = f"http://127.0.0.1:{api_port}"
        # The local timers: every registered job on its schedule, as EventBridge runs them on AWS.
        timers = _spawn([sys.executable, "-m", "chalicelib.cli", "jobs", "serve"], env)
        # Chalice's local server, answering unknown paths and logging as the deployed stack does.
        child = _spawn([sys.executable, "-m", "scripts.local_api", "--host", "127.0.0.1", "--port", str(api_port)],
                       env)
        _wait_for_api(api_url, child)
        local_stack.write({"api_url": api_url, "dynamodb_endpoint": endpoint,
                           "table_prefix": env.get("COINS_TABLE_PREFIX", "coinhall-local-"),
                           "dev_api_key": api_key, "discord_public_key": env["DISCORD_PUBLIC_KEY"],
                           **standins.info})
        print(_banner(api_url, endpoint, data, api_key, env["DISCORD_PUBLIC_KEY"], standins), flush=True)
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
        local_stack.remove()
        _terminate(child)
        _terminate(timers)
        standins.close()
        if engine is not None:
            engine.stop()


if __name__ == "__main__":
    sys.exit(main())
