"""The revenue split: creator = floor(price * bps / 10,000), the platform the rest.

Exhaustive over every price 0..10,000 at the boundary shares, and a property
test over the whole range of prices and shares.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import ledger
from chalicelib.ledger import revenue
from chalicelib.ledger.accounts import MAX_AMOUNT

pytestmark = pytest.mark.unit

BOUNDARY_SHARES = (0, 1, 3333, 5000, 6667, 7000, 9999, 10_000)


@pytest.mark.parametrize("share_bps", BOUNDARY_SHARES)
def test_every_price_up_to_10000_adds_up(share_bps: int) -> None:
    for price in range(0, 10_001):
        s = revenue.split(price, share_bps)
        assert s.recipient + s.platform == price
        assert 0 <= s.recipient <= price and 0 <= s.platform <= price
        # floor: the recipient never gets the fraction, and never loses a whole coin
        assert s.recipient * 10_000 <= price * share_bps < (s.recipient + 1) * 10_000


@given(price=st.integers(min_value=0, max_value=MAX_AMOUNT), share_bps=st.integers(min_value=0, max_value=10_000))
def test_split_adds_up_for_any_price_and_share(price: int, share_bps: int) -> None:
    s = revenue.split(price, share_bps)
    assert s.recipient + s.platform == price
    assert s.recipient == price * share_bps // 10_000
    assert s.platform >= 0


@given(amount=st.integers(min_value=0, max_value=MAX_AMOUNT), fee_bps=st.integers(min_value=0, max_value=10_000))
def test_a_fee_is_the_same_rule_seen_from_the_payee(amount: int, fee_bps: int) -> None:
    s = revenue.split(amount, revenue.payee_share_bps(fee_bps))
    assert s.recipient + s.platform == amount
    # the fee (the platform's part) rounds up by less than one coin
    assert amount * fee_bps <= s.platform * 10_000 < amount * fee_bps + 10_000


@given(price=st.integers(min_value=1, max_value=MAX_AMOUNT), share_bps=st.integers(min_value=0, max_value=10_000))
def test_legs_balance_and_skip_zero_parts(price: int, share_bps: int) -> None:
    s = revenue.split(price, share_bps)
    legs = [ledger.Leg(ledger.user("buyer"), -price)] + revenue.legs(s, ledger.user("creator"), ledger.system("treasury"))
    assert sum(leg.amount for leg in legs) == 0
    assert all(leg.amount != 0 for leg in legs)


def test_worked_examples() -> None:
    assert revenue.split(99, 7000).recipient == 69  # 69.3 -> 69; the platform gets 30
    assert revenue.split(1, 9999).recipient == 0  # a 1-coin item at 99.99% pays the creator nothing
    assert revenue.split(101, revenue.payee_share_bps(1000)).platform == 11  # a 10.1 fee rounds up to 11


@pytest.mark.parametrize("amount,bps", [(-1, 5000), (10, -1), (10, 10_001), (1.5, 5000), (10, 50.0), (True, 5000)])
def test_bad_arguments_are_refused(amount, bps) -> None:
    with pytest.raises(ValueError):
        revenue.split(amount, bps)
