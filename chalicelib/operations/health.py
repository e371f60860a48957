"""Is the engine answering? Used by /healthz."""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def dynamodb_ok() -> bool:
    from chalicelib.db.engine import get_client, table_name

    try:
        get_client().describe_table(TableName=table_name("accounts"))
        return True
    except Exception as exc:  # any failure means "not healthy", and says why in the log
        log.warning("health check failed: %s", exc)
        return False
