"""Operator routes (admin scope) for game servers: register, list, rotate, revoke; every change audited."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.routes._http import Call, Reply, endpoint, path_param
from chalicelib.routes.market_models import GameServer, GameServerBody, GameServerList, GameServerSecret, RevokeBody, RotateBody

bp = Blueprint(__name__)
_ERRORS = [400, 401, 403, 404]


def _server_id(value: str) -> str:
    from chalicelib.tenancy.game_servers import valid_server_id

    return path_param("server_id", value, valid_server_id)


@endpoint(bp, "/v1/admin/game-servers", "POST", summary="Register a game server: its id and secret (shown once).",
          action="game_servers.write", body=GameServerBody, response=GameServerSecret, status=201, tags=["market", "admin"],
          error_statuses=_ERRORS)
def create(call: Call) -> Reply:
    from chalicelib.tenancy.game_servers import create_server

    b = call.body
    return Reply(create_server(call.principal.economy, call.principal.actor, b.label, b.reason), 201)


@endpoint(bp, "/v1/admin/game-servers", "GET", summary="This economy's game servers (never their secrets).",
          action="config.read", response=GameServerList, tags=["market", "admin"], error_statuses=[401, 403])
def listing(call: Call) -> Reply:
    from chalicelib.tenancy.game_servers import list_servers

    return Reply({"items": list_servers(call.principal.economy)})


@endpoint(bp, "/v1/admin/game-servers/{server_id}", "GET", summary="One game server.", action="config.read",
          response=GameServer, tags=["market", "admin"], error_statuses=_ERRORS)
def one(call: Call, server_id: str) -> Reply:
    from chalicelib.tenancy.game_servers import get_server

    return Reply(get_server(call.principal.economy, _server_id(server_id)))


@endpoint(bp, "/v1/admin/game-servers/{server_id}/rotate", "POST",
          summary="A new secret (shown once); the old one verifies for grace_seconds more.", action="game_servers.write",
          body=RotateBody, response=GameServerSecret, tags=["market", "admin"],
          error_statuses=_ERRORS + [409])
def rotate(call: Call, server_id: str) -> Reply:
    from chalicelib.tenancy.game_servers import rotate_server

    b = call.body
    return Reply(rotate_server(_server_id(server_id), call.principal.actor, b.grace_seconds,
                               economy=call.principal.economy, reason=b.reason))


@endpoint(bp, "/v1/admin/game-servers/{server_id}/revoke", "POST",
          summary="Refuse the server's redeems from now on (its secrets are deleted).", action="game_servers.write",
          body=RevokeBody, response=GameServer, tags=["market", "admin"], error_statuses=_ERRORS)
def revoke(call: Call, server_id: str) -> Reply:
    from chalicelib.tenancy.game_servers import revoke_server

    return Reply(revoke_server(_server_id(server_id), call.principal.actor, economy=call.principal.economy,
                               reason=call.body.reason))
