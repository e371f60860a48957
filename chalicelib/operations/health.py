"""Is the engine answering? Used by /healthz."""
from __future__ import annotations

import logging

from chalicelib.operations import store

log = logging.getLogger(__name__)


def dynamodb_ok() -> bool:
    """True when DynamoDB answers a DescribeTable of the accounts table; never raises."""
    try:
        store.engine_answers()
        return True
    except Exception as exc:  # any failure means "not healthy", and says why in the log
        log.warning("health check failed: %s", exc)
        return False
