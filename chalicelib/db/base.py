"""The base every model derives from: binds itself to the configured engine."""
from __future__ import annotations

from pynamodb.models import Model


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


def condition_failed(exc: BaseException) -> bool:
    """Whether a PynamoDB or botocore error is a failed ConditionExpression.

    Conditional writes are how this code base says "only if nobody did it
    first"; losing that race is an answer, not an error.
    """
    code = getattr(exc, "cause_response_code", None)
    if code is None:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"
