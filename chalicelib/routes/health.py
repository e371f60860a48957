"""GET /, GET /healthz and GET /openapi.json (no auth)."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.core import errors
from chalicelib.routes._http import Call, Reply, endpoint
from chalicelib.routes.models import Health, Index

bp = Blueprint(__name__)


@endpoint(bp, "/", "GET", summary="Where to go from here: the API document, health, and (local stage) the local pages.",
          response=Index, authenticated=False, tags=["ops"])
def index(call: Call) -> Reply:
    from chalicelib.core.config import get_settings

    settings = get_settings()
    links = {"openapi": "/openapi.json", "healthz": "/healthz"}
    if settings.is_local:
        # The local payment page is per purchase (its link is in every checkout answer).
        links["local_checkout"] = "/local/checkout/{purchase_id}"
        # `make run`'s stand-ins, when the app talks to them (their pages are theirs, on their own ports).
        if _is_loopback(settings.discord_api_base):
            links["local_discord"] = settings.discord_api_base.split("/api/", 1)[0] + "/local/discord"
        if settings.minecraft_api_url and _is_loopback(settings.minecraft_api_url):
            links["local_game_server"] = settings.minecraft_api_url.rsplit("/coinhall/", 1)[0] + "/deliveries"
    return Reply({"name": "Coinhall", "stage": settings.stage, "links": links})


def _is_loopback(url: str) -> bool:
    return url.startswith(("http://127.0.0.1:", "http://localhost:"))


@endpoint(bp, "/healthz", "GET", summary="200 only when DynamoDB answers.", response=Health,
          authenticated=False, tags=["ops"], error_statuses=[503])
def healthz(call: Call) -> Reply:
    from chalicelib.operations.health import dynamodb_ok

    if not dynamodb_ok():
        raise errors.UnavailableError("DynamoDB is not answering.")
    return Reply({"status": "ok"})


@endpoint(bp, "/openapi.json", "GET", summary="This document.", authenticated=False, tags=["ops"])
def openapi(call: Call) -> Reply:
    from chalicelib.routes.openapi import document

    return Reply(document())
