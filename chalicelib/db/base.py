"""The base every model derives from: binds itself to the configured engine."""
from __future__ import annotations

from pynamodb.models import Model

# What an error means lives apart (db/failures.py), so db.ops can say it without importing PynamoDB.
from chalicelib.db.failures import condition_failed, transient  # noqa: F401


class CoinhallModel(Model):
    """A model whose table name and endpoint come from settings at first use."""

    class Meta:
        base_name = ""
        table_name = None
        billing_mode = "PAY_PER_REQUEST"

    @classmethod
    def _get_connection(cls):  # type: ignore[override]
        from chalicelib.db.engine import bind_models

        bind_models()
        return super()._get_connection()
