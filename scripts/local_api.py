"""`make run`'s API server: Chalice's local server, answering as the deployed stack does.

    .venv/bin/python -m scripts.local_api --port 8000

Differences from ``chalice local``, so that local answers match AWS:

- A path no route matches answers 404 ``not_found`` in our error shape, as the
  gateway responses in ``infra/stack.py`` make API Gateway answer; ``chalice
  local`` answers API Gateway's bare 403 ``Missing Authentication Token``.
- No plain-text root logger (``chalice local`` calls ``logging.basicConfig``,
  so every line our JSON handler wrote came out a second time as text); the
  access line is one JSON line too.
- A listen backlog of 1024, not 5: a burst of concurrent clients waits its turn
  instead of being refused (API Gateway does not refuse connections either).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, List, Optional

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger("coinhall.http")


def build_server(host: str, port: int) -> Any:
    # Imported here: chalice's CLI factory loads app.py, which reads the settings.
    from chalice import local
    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_routes

    from chalicelib.core.errors import NoRouteError

    factory = CLIFactory(project_dir=str(ROOT), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")  # applies the stage's env to os.environ
    app_obj = config.chalice_app
    validate_routes(app_obj.routes)  # what `chalice deploy` would refuse is refused here too

    class Handler(local.ChaliceRequestHandler):
        def _send_error_response(self, error: Any) -> None:
            if isinstance(error, local.ForbiddenError) and b"Missing Authentication Token" in error.body:
                headers = {"Content-Type": "application/json",
                           "X-Request-Id": error.headers.get("x-amzn-RequestId", "")}
                self._send_http_response(404, headers, json.dumps(NoRouteError().to_body()).encode())
                return
            super()._send_error_response(error)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
            log.info("http", extra={"line": format % args})

    class Server(local.ThreadedHTTPServer):
        # The socket's listen backlog (socketserver's default is 5): a burst of concurrent
        # clients (`make load`) was refused at the door instead of waiting its turn.
        request_queue_size = 1024

    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app_obj.__class__)
    app_obj.__class__ = local.CustomLocalChalice
    return local.LocalDevServer(app_obj, config, host, port, handler_cls=Handler, server_cls=Server)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.local_api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    server = build_server(args.host, args.port)  # loads app.py, which sets up the JSON log lines
    log.info("serving", extra={"url": f"http://{args.host}:{args.port}"})
    try:
        server.server.serve_forever()  # not LocalDevServer's: it prints a plain-text line first
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
