"""``db.base.transient``: which DynamoDB failures a webhook answers 503 (Stripe retries) rather than raising."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pynamodb.exceptions import GetError, PutError

from chalicelib.db.base import condition_failed, transient

pytestmark = pytest.mark.unit


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "x"}}, "TransactWriteItems")


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
                                  "TransactionInProgressException", "TransactionConflictException"])
def test_busy_or_down_is_transient_raw_and_wrapped_by_pynamodb(code: str) -> None:
    assert transient(client_error(code))
    assert transient(GetError("get failed", cause=client_error(code)))


@pytest.mark.parametrize("exc", [EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
                                 ReadTimeoutError(endpoint_url="http://127.0.0.1:1")])
def test_an_unreachable_engine_is_transient(exc: Exception) -> None:
    assert transient(exc) and transient(PutError("put failed", cause=exc))


@pytest.mark.parametrize("exc", [client_error("ConditionalCheckFailedException"), client_error("ValidationException"),
                                 client_error("ResourceNotFoundException"), ValueError("x"), KeyError("k")])
def test_answers_and_bugs_are_not_transient(exc: Exception) -> None:
    assert not transient(exc)


def test_a_failed_condition_is_an_answer_not_a_transient_error() -> None:
    err = client_error("ConditionalCheckFailedException")
    assert condition_failed(err) and not transient(err)
