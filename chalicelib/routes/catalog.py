"""GET /v1/packs."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.routes._http import Call, Reply, endpoint
from chalicelib.routes.models import PackList

bp = Blueprint(__name__)


@endpoint(bp, "/v1/packs", "GET", summary="The coin packs on sale in this economy.", scope="read",
          response=PackList, tags=["packs"])
def list_packs(call: Call) -> Reply:
    from chalicelib.purchases.packs import list_packs as packs

    return Reply({"items": packs(call.principal.economy)})
