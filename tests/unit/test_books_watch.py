"""The closing books check can fail: a test that breaks an economy's books without saying so errors.

The suite's own conftest runs inside pytest's ``pytester`` on moto, over three
tests that all pass on their own: a credit then a tampered balance (must error at
teardown), the same marked ``books_broken`` (must not), and a tampered economy
made by hand rather than by a fixture (must error: the watch records every
economy written, not only the fixture's).
"""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.unit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INNER = '''
import pytest

from chalicelib import ledger
from chalicelib.db.engine import get_client, table_name
from chalicelib.ledger import Leg, Operation


def _credit(economy_id, user, amount):
    ledger.post(Operation(economy=economy_id, key=f"credit-{user}", fingerprint="f", type="adjust",
                          legs=(Leg(ledger.user(user), amount), Leg(ledger.system("adjustments"), -amount)),
                          respond=lambda p: {}))


def _tamper(economy_id, user):
    get_client().update_item(
        TableName=table_name("accounts"),
        Key={"economy": {"S": economy_id}, "account": {"S": f"u:{user}"}},
        UpdateExpression="SET available = :a",
        ExpressionAttributeValues={":a": {"N": "999"}},
    )


def test_tampers_and_does_not_say_so(unit_economy):
    unit_economy.credit("alice", 100)
    _tamper(unit_economy.id, "alice")


@pytest.mark.books_broken("tampers on purpose")
def test_tampers_and_says_so(unit_economy):
    unit_economy.credit("alice", 100)
    _tamper(unit_economy.id, "alice")


def test_tampers_an_economy_no_fixture_made(moto_engine):
    _credit("made-by-hand", "bob", 40)
    _tamper("made-by-hand", "bob")


def test_keeps_its_books(unit_economy):
    unit_economy.credit("carol", 100)
'''


def test_an_unmarked_tamper_errors_at_teardown_and_a_marked_one_does_not(pytester: pytest.Pytester) -> None:
    pytester.syspathinsert(ROOT)
    with open(os.path.join(ROOT, "tests", "conftest.py"), encoding="utf-8") as f:
        pytester.makeconftest(f.read())
    pytester.makeini("[pytest]\nmarkers =\n    books_broken(reason): on purpose\n")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly")
    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines([
        "ERROR*test_tampers_and_does_not_say_so*",
        "ERROR*test_tampers_an_economy_no_fixture_made*",
    ])
    assert "made-by-hand" in result.stdout.str() and "ledger_mismatch" in result.stdout.str()
    assert "ERROR*test_tampers_and_says_so" not in result.stdout.str()
    assert not [line for line in result.stdout.lines if "ERROR" in line and "says_so" in line]
