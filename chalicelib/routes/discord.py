"""POST /discord/interactions: Discord's HTTP interactions endpoint (no bearer key)."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.routes._http import Call, Reply, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/discord/interactions", "POST", summary="Discord interactions (Ed25519-signed by Discord).",
          authenticated=False, tags=["discord"], error_statuses=[400, 401])
def interactions(call: Call) -> Reply:
    from chalicelib.discord.router import handle
    from chalicelib.discord.signature import verify

    # Before anything reads the body: Discord probes with bad signatures.
    verify(call.headers, call.raw_body)
    return Reply(handle(call.raw_body))
