"""The local stack `make run` started, as a second shell finds it.

`make run` (``scripts/run_local.py``) writes ``.local/stack.json`` once
everything is up: its pid, the engine endpoint (8001, or another free port
when 8001 is taken), the table prefix, the API URL and the stand-ins' URLs;
it removes the file when it stops. In the local stage, a CLI command whose
environment names no engine uses that stack's, so the README's commands work
as written whatever port the engine got; with no stack running they refuse
in one line instead of reaching for a default port where another stack's
``coinhall-local-`` tables may live.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, MutableMapping, Optional

# COINS_LOCAL_STACK_FILE: another place (tests run a stack of their own beside a developer's).
STACK_FILE = Path(os.environ.get("COINS_LOCAL_STACK_FILE")
                  or Path(__file__).resolve().parents[2] / ".local" / "stack.json")

# stack.json key -> the setting it fills when the environment does not set it
_SETTINGS = {
    "dynamodb_endpoint": "COINS_DYNAMODB_ENDPOINT",
    "table_prefix": "COINS_TABLE_PREFIX",
    "dev_api_key": "COINS_DEV_API_KEY",
    "discord_public_key": "DISCORD_PUBLIC_KEY",
}


class NoLocalStack(RuntimeError):
    """The local stage, no engine in the environment, and no `make run` running."""

    def __init__(self) -> None:
        super().__init__("no local stack is running: start one with `make run` in another shell "
                         "(or set COINS_DYNAMODB_ENDPOINT to the engine to use)")


def write(info: Dict[str, Any], path: Optional[Path] = None) -> Path:
    """Publish the stack (atomically: a reader never sees half a file)."""
    target = path or STACK_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".json.partial")
    partial.write_text(json.dumps({"pid": os.getpid(), **info}, indent=2, sort_keys=True) + "\n")
    partial.replace(target)
    return target


def remove(path: Optional[Path] = None) -> None:
    """Withdraw the stack, only if the file is still this process's (a newer stack may have replaced it)."""
    target = path or STACK_FILE
    found = _load(target)
    if found is not None and found.get("pid") == os.getpid():
        target.unlink(missing_ok=True)


def read(path: Optional[Path] = None) -> Optional[Dict[str, Any]]:
    """The running stack, or None (no file, an unreadable one, or its process is gone)."""
    found = _load(path or STACK_FILE)
    if found is None or not _alive(found.get("pid")):
        return None
    return found


def adopt(environ: MutableMapping[str, str], *, required: bool = True,
          path: Optional[Path] = None) -> Optional[Dict[str, Any]]:
    """Point ``environ`` at the running stack when it is the local stage and names no engine.

    Returns the stack adopted (None when the environment already says where the
    engine is, or the stage is not local, or none runs and ``required`` is
    false); raises NoLocalStack when one is required and none runs.
    """
    if environ.get("COINS_STAGE", "local") != "local" or environ.get("COINS_DYNAMODB_ENDPOINT"):
        return None
    stack = read(path)
    if stack is None:
        if required:
            raise NoLocalStack()
        return None
    for key, name in _SETTINGS.items():
        if stack.get(key) is not None and not environ.get(name):
            environ[name] = str(stack[key])
    from chalicelib.core import config

    config.reset_settings()  # settings read before this point described no engine
    return stack


def engine_gone_line() -> str:
    """What a command says when the engine it was pointed at does not answer: one line, not a traceback."""
    from chalicelib.core.config import get_settings

    return (f"error: the engine at {get_settings().dynamodb_endpoint} does not answer; "
            "is `make run` still running?")


def _load(path: Path) -> Optional[Dict[str, Any]]:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
