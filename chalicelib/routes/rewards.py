"""POST /v1/users/{user_id}/rewards: the rewards engine for host apps."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.ledger.accounts import valid_user_id
from chalicelib.routes._http import Call, Reply, endpoint, path_param
from chalicelib.routes.rewards_models import Reward, RewardBody

bp = Blueprint(__name__)


@endpoint(bp, "/v1/users/{user_id}/rewards", "POST", summary="Grant a reward under its once-only rule.",
          scope="write", body=RewardBody, response=Reward, tags=["rewards"],
          error_statuses=[400, 401, 403, 409, 422])
def grant(call: Call, user_id: str) -> Reply:
    from chalicelib.rewards import grant as do_grant

    path_param("user_id", user_id, valid_user_id)
    outcome = do_grant(call.principal.economy, user_id, call.body.type, call.body.ref)
    body = {**outcome.result, "already_claimed": outcome.replayed}
    return Reply(body, outcome.status_code, {"Idempotent-Replayed": "true" if outcome.replayed else "false"})
