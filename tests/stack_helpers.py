"""A real `make run` stack for tests: ``scripts/run_local.py`` in its own process over the test engine.

It has its own table prefix and its own stack file, so it never meets a
developer's running stack; a "second shell" (``shell_env``) finds it through
that file, as the README's commands do.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from scripts import ddb_local

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "chalicelib.cli"]
ENGINE_PORT = 8001  # the engine port `make run` prefers (scripts/run_local.py)


class Stack:
    def __init__(self, proc: subprocess.Popen, stack_file: Path, log: Path) -> None:
        self.proc, self.stack_file, self.log = proc, stack_file, log

    @property
    def info(self) -> Dict[str, object]:
        return json.loads(self.stack_file.read_text())

    @property
    def url(self) -> str:
        return str(self.info["api_url"])

    def lines(self) -> List[str]:
        return self.log.read_text().splitlines()


def shell_env(stack_file: Path) -> Dict[str, str]:
    """A second shell's environment: nothing says where the engine is, or which tables."""
    from chalicelib.core.config import _ENV

    # No setting at all from this process (a test may have set one): the stack's are its own.
    env = {k: v for k, v in os.environ.items() if k not in _ENV and not k.startswith(("COINS_", "DISCORD_", "STRIPE_"))}
    env["COINS_LOCAL_STACK_FILE"] = str(stack_file)
    env.update({k: v for k, v in ddb_local.DUMMY_AWS_ENV.items() if k not in env})
    return env


@pytest.fixture
def stack(ddb_local_endpoint: str, tmp_path: Path) -> Iterator[Stack]:
    """`make run` over the test engine (its own table prefix)."""
    yield from start_stack(tmp_path, COINS_DYNAMODB_ENDPOINT=ddb_local_endpoint,
                           COINS_TABLE_PREFIX=f"runlocal-{uuid.uuid4().hex[:8]}-")


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Iterator[Stack]:
    """`make run` as on a fresh machine where port 8001 is taken: it starts its own engine on another port."""
    import socket

    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        taken.bind(("", ENGINE_PORT))
        taken.listen(1)
    except OSError:
        pass  # someone else has it: the same situation
    try:
        yield from start_stack(tmp_path, COINS_LOCAL_DATA_DIR=str(tmp_path / "engine-data"))
    finally:
        taken.close()


def start_stack(tmp_path: Path, **settings: str) -> Iterator[Stack]:
    stack_file = tmp_path / "stack.json"
    env = shell_env(stack_file)
    env.update(COINS_PORT=str(ddb_local.free_port()), **settings)
    log = tmp_path / "run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "scripts/run_local.py"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not stack_file.exists():  # written only once the API answers /healthz
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no stack file after 90 s:\n{log.read_text()}"
            time.sleep(0.1)
        yield Stack(proc, stack_file, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


def cli(stack_file: Path, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=ROOT, env=env or shell_env(stack_file), capture_output=True,
                          text=True, timeout=60)


