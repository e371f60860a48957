"""What a PynamoDB or botocore error means (a lost condition, or "try again later"), without importing PynamoDB."""
from __future__ import annotations

from typing import Optional


def condition_failed(exc: BaseException) -> bool:
    """Whether a PynamoDB or botocore error is a failed ConditionExpression.

    Conditional writes are how this code base says "only if nobody did it
    first"; losing that race is an answer, not an error.
    """
    code = getattr(exc, "cause_response_code", None)
    if code is None:
        code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


# DynamoDB answers that mean "not now" (throttled, busy, down), never "no".
_TRANSIENT_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "TransactionInProgressException", "TransactionConflictException",
})


def transient(exc: BaseException) -> bool:
    """Whether a PynamoDB or botocore error (or what it wraps) is DynamoDB saying "try again later".

    Callers that cannot retry themselves answer these with a retryable status
    (a webhook's 5xx), and everything else as the error it is.
    """
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    seen: Optional[BaseException] = exc
    for _ in range(4):  # PynamoDB wraps botocore's error once; never loop on a cycle
        if seen is None:
            return False
        if isinstance(seen, (BotoConnectionError, HTTPClientError)):
            return True
        code = getattr(seen, "cause_response_code", None)
        if code is None:
            code = (getattr(seen, "response", None) or {}).get("Error", {}).get("Code")
        if code in _TRANSIENT_CODES:
            return True
        seen = getattr(seen, "cause", None) or seen.__cause__
    return False


def unreachable(exc: BaseException) -> bool:
    """Whether the error (or what it wraps) is the engine not answering at all: nothing listens there."""
    from botocore.exceptions import EndpointConnectionError

    seen: Optional[BaseException] = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, EndpointConnectionError):
            return True
        seen = getattr(seen, "cause", None) or seen.__cause__
    return False
