"""The README checker itself: it must fail a README that does not do what it says."""
from __future__ import annotations

import pytest

from tests import readme_runner as rr

pytestmark = pytest.mark.unit


def _step(*expect: str) -> rr.Step:
    return rr.Step(1, 10, "curl ...", list(expect))


def _curl(status: int, body: str) -> str:
    return f"{body}{rr.STATUS_MARK}{status}\n"


def test_a_shape_with_ellipses_matches_only_what_it_shows() -> None:
    step = _step('200 {"transaction_id": "op_01...", "balance": {"available": 380, ...}, "seq": 2, ...}')
    good = '{"transaction_id": "op_01ABC", "balance": {"available": 380, "held": 0}, "seq": 2, "amount": 1}'
    assert rr.check(step, _curl(200, good), 0) == []
    assert rr.check(step, _curl(200, good.replace("380", "381")), 0) == [
        "$.balance.available is 381, the README says 380"]
    assert rr.check(step, _curl(200, good.replace('"op_01', '"tx_01')), 0) == [
        "$.transaction_id is 'tx_01ABC', the README shows op_01..."]
    assert rr.check(step, _curl(201, good), 0)[0].startswith("answered [201], the README says 200")


def test_an_object_without_ellipsis_allows_no_other_keys_and_any_value_is_a_placeholder() -> None:
    step = _step('200 {"user_id": "alice", "created_at": ...}')
    assert rr.check(step, _curl(200, '{"user_id": "alice", "created_at": "2026"}'), 0) == []
    assert "keys the README does not show" in rr.check(step, _curl(200, '{"user_id": "alice", "created_at": 1, '
                                                                          '"x": 2}'), 0)[0]


def test_lists_match_item_by_item() -> None:
    step = _step('200 {"items": [{"seq": 2, ...}, {"seq": 1, ...}], "next_cursor": null}')
    assert rr.check(step, _curl(200, '{"items": [{"seq": 2}, {"seq": 1}], "next_cursor": null}'), 0) == []
    assert rr.check(step, _curl(200, '{"items": [{"seq": 2}], "next_cursor": null}'), 0) == [
        "$.items is [{'seq': 2}], the README shows 2 item(s)"]


def test_an_unannounced_error_status_or_exit_fails_and_an_announced_one_passes() -> None:
    assert "does not say so" in rr.check(_step(), _curl(422, '{"error": {}}'), 0)[0]
    assert rr.check(_step('422 {"error": {"code": "account_frozen", ...}}'),
                    _curl(422, '{"error": {"code": "account_frozen", "message": "m"}}'), 0) == []
    assert rr.check(rr.Step(1, 1, "python -m x", []), "boom", 2) == ["exited 2: boom"]
    assert rr.check(rr.Step(1, 1, "python -m x", ["exit 2"]), "", 2) == []


def test_headers_are_read_from_curl_i() -> None:
    out = _curl(200, 'HTTP/1.1 200 OK\r\nIdempotent-Replayed: false\r\n\r\n{"a": 1}')
    assert rr.check(_step("200 {\"a\": 1}", "header Idempotent-Replayed: false"), out, 0) == []
    assert rr.check(_step("header Idempotent-Replayed: true"), out, 0) == [
        "header Idempotent-Replayed is 'false', the README says 'true'"]


def test_blocks_and_steps_are_read_as_a_person_reads_them() -> None:
    readme = "\n".join([
        "text", "```bash", "A=1", "# a comment", "curl -X POST x \\", "  -d '{\"a\":", "  1}'",
        "# -> 200 {\"a\": 1,", "#    \"b\": 2}", "```", "```bash no-run", "make deploy", "```", "```json", "{}", "```"])
    (first, second) = rr.steps(readme)
    assert (first.command, first.expect) == ("A=1", [])
    assert second.command == "curl -X POST x \\\n  -d '{\"a\":\n  1}'"
    assert second.expect == ['200 {"a": 1, "b": 2}'] and second.line == 5
