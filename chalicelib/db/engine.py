"""Where DynamoDB (and SQS) is: lazily built clients, table names, and the models bound to them.

``get_client()`` is the one low-level botocore DynamoDB client (the ledger,
``db.ops`` and the stores use it); ``bind_models()`` points the PynamoDB models
at the same endpoint and table prefix; ``get_sqs_client()`` is the work
queue's client on AWS; ``on_every_request`` hooks every request of both
(the benchmarks count them). Nothing is built at import: tests swap settings
(or start moto) first, then the first call builds the client. ``reset()``
forgets the client, the bindings and the hooks for the next test.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable, List, Optional

from chalicelib.core.config import Settings, get_settings

_lock = threading.Lock()
_client: Any = None
_bound_for: Optional[Settings] = None
_request_hooks: List[Callable[..., Any]] = []


def _credentials(settings: Settings) -> dict:
    # DynamoDB Local accepts any credentials but botocore refuses to sign without
    # some; on AWS the role's credentials come from the environment as usual.
    if settings.dynamodb_endpoint and not os.environ.get("AWS_ACCESS_KEY_ID"):
        return {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    return {}


def get_client() -> Any:
    """The botocore DynamoDB client (built once; ``db.ops``, the ledger and the stores use it)."""
    global _client
    if _client is None:
        with _lock:
            if _client is None:
                import botocore.config
                import botocore.session

                settings = get_settings()
                config = botocore.config.Config(
                    # Validation costs more CPU than the request on the hot path;
                    # every request we build is typed by our own code.
                    parameter_validation=False,
                    # A fixed User-Agent: botocore otherwise rebuilds and sanitises its
                    # feature-tagged one on every request (about 15% of a GetItem's CPU).
                    user_agent="coinhall",
                    connect_timeout=2,
                    read_timeout=10,
                    max_pool_connections=64,
                    retries={"mode": "standard", "total_max_attempts": 3},
                )
                session = botocore.session.get_session()
                client = session.create_client(
                    "dynamodb",
                    region_name=settings.region,
                    endpoint_url=settings.dynamodb_endpoint,
                    config=config,
                    **_credentials(settings),
                )
                for hook in _request_hooks:
                    client.meta.events.register("before-call.dynamodb", hook)
                _client = client
    return _client


def table_name(base: str) -> str:
    """The physical name of logical table ``base`` (``COINS_TABLE_PREFIX`` + base)."""
    return get_settings().table_name(base)


def bind_models() -> None:
    """Point every model at the configured tables and endpoint (idempotent)."""
    global _bound_for
    settings = get_settings()
    if _bound_for is settings:
        return
    with _lock:
        from chalicelib.db.schema import all_models

        creds = _credentials(settings)
        for model in all_models():
            meta = model.Meta
            meta.table_name = settings.table_name(meta.base_name)
            meta.host = settings.dynamodb_endpoint
            meta.region = settings.region
            meta.aws_access_key_id = creds.get("aws_access_key_id")
            meta.aws_secret_access_key = creds.get("aws_secret_access_key")
            model._connection = None
        _bound_for = settings


def on_every_request(hook: Callable[..., Any]) -> None:
    """Call ``hook`` before every DynamoDB request of every client (bench counts)."""
    _request_hooks.append(hook)
    if _client is not None:
        _client.meta.events.register("before-call.dynamodb", hook)
    from chalicelib.db.schema import all_models

    bind_models()
    for model in all_models():
        model._get_connection().connection.client.meta.events.register("before-call.dynamodb", hook)


def reset() -> None:
    """Forget the client and bindings (tests, after changing settings)."""
    global _client, _bound_for
    with _lock:
        _client = None
        _bound_for = None
        _request_hooks.clear()


_sqs: Any = None


def get_sqs_client() -> Any:
    """The SQS client for deferred work (AWS stages only)."""
    global _sqs
    if _sqs is None:
        import botocore.session

        _sqs = botocore.session.get_session().create_client("sqs", region_name=get_settings().region)
    return _sqs
