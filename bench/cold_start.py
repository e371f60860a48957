"""Cold start: ``import app`` in a fresh interpreter vs ``import boto3``.

Each run is a new ``python -c`` process from the repo root (wall time,
interpreter start-up included), and the two imports alternate so a busy moment
hits both alike. Bytecode is cached in a private ``PYTHONPYCACHEPREFIX``
filled by one untimed run of each, so the figure means the same whether or not
this machine sets ``PYTHONDONTWRITEBYTECODE`` or the venv shipped ``.pyc``
files, and the repo gets no ``__pycache__``. Runs before the engine starts, so
the JVM does not compete for CPU.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

from bench.context import ROOT, Context
from bench.registry import COLD, register

_ENGINE_ENV = ("COINS_DYNAMODB_ENDPOINT", "COINS_TABLE_PREFIX")


def _time_import(module: str, env: Dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"`import {module}` failed:\n{proc.stderr[-2000:]}")
    return elapsed


@register("import_app_vs_boto3", phase=COLD, targets={"import_app_vs_boto3": ("<=", 1.5)})
def import_app_vs_boto3(ctx: Context) -> Dict[str, Any]:
    """Median cold `import app` over median cold `import boto3` (fresh interpreters, ``--import-runs`` each)."""
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as cache:
        env = {k: v for k, v in ctx.base_env.items() if k not in _ENGINE_ENV and k != "PYTHONDONTWRITEBYTECODE"}
        env.update(COINS_STAGE="local", PYTHONPYCACHEPREFIX=cache)
        return _compare(ctx, env)


def _compare(ctx: Context, env: Dict[str, str]) -> Dict[str, Any]:
    for module in ("app", "boto3"):  # one untimed run each: bytecode compiled, files in the page cache
        _time_import(module, env)
    times: Dict[str, List[float]] = {"app": [], "boto3": []}
    for _ in range(ctx.options.import_runs):
        for module in ("app", "boto3"):
            times[module].append(_time_import(module, env))
    app_ms = 1000 * statistics.median(times["app"])
    boto3_ms = 1000 * statistics.median(times["boto3"])
    return {"import_app_vs_boto3": app_ms / boto3_ms, "import_app_ms": app_ms, "import_boto3_ms": boto3_ms}
