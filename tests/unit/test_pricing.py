"""The market's pricing formula: floor, fee bands at their edges, scarcity, the weighted median, the rollup's sums."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.core import errors
from chalicelib.market import pricing
from chalicelib.ledger import revenue
from chalicelib.core.ids import iso

pytestmark = pytest.mark.unit

BASE = 800


# -- the floor ----------------------------------------------------------------------------


@pytest.mark.parametrize("median,floor_bps,floor", [(100, 5000, 50), (101, 5000, 51), (99, 5000, 50), (1, 5000, 1),
                                                    (100, 0, 0), (100, 10_000, 100), (7, 3333, 3)])
def test_floor_rounds_up(median: int, floor_bps: int, floor: int) -> None:
    assert pricing.floor_price(median, floor_bps) == floor


def test_no_history_no_floor() -> None:
    assert pricing.floor_price(None, 5000) is None
    assert pricing.check_floor(1, None, 5000) is None


def test_check_floor_refuses_one_coin_below_and_accepts_the_floor() -> None:
    assert pricing.check_floor(50, 100, 5000) == 50
    with pytest.raises(errors.BelowPriceFloorError) as refused:
        pricing.check_floor(49, 100, 5000)
    assert refused.value.details["floor"] == 50 and refused.value.status == 422
    assert refused.value.code == "below_price_floor"


def test_a_one_coin_floor_is_worded_in_the_singular() -> None:
    # median 1 at 50%: ceil(0.5) = 1 coin, so a price of 0 is refused with it
    with pytest.raises(errors.BelowPriceFloorError) as refused:
        pricing.check_floor(0, 1, 5000)
    assert refused.value.message == "The lowest price allowed is 1 coin (50% of the 7-day median 1)."


@given(median=st.integers(1, 10**9), floor_bps=st.integers(0, 10_000), price=st.integers(1, 10**9))
def test_floor_is_exactly_the_least_price_at_or_above_the_percentage(median: int, floor_bps: int, price: int) -> None:
    floor = pricing.floor_price(median, floor_bps)
    assert floor is not None
    assert floor * 10_000 >= median * floor_bps > (floor - 1) * 10_000
    allowed = price * 10_000 >= median * floor_bps
    assert allowed == (price >= floor)


# -- the bands, at their edges -----------------------------------------------------------------


@pytest.mark.parametrize("price,band", [
    (89, "undercut"),  # 0.89 x 100
    (90, "market"),  # exactly 0.90: the market band starts here
    (125, "market"),  # exactly 1.25: still the market band
    (126, "premium"),
    (200, "premium"),  # exactly 2.00
    (201, "far_over"),
])
def test_band_edges_on_a_round_reference(price: int, band: str) -> None:
    assert pricing.band_for(price, 100) == band


def test_band_edges_on_a_reference_that_does_not_divide() -> None:
    # reference 96: 0.9 x 96 = 86.4, 1.25 x 96 = 120, 2 x 96 = 192
    assert [pricing.band_for(p, 96) for p in (86, 87, 120, 121, 192, 193)] == [
        "undercut", "market", "market", "premium", "premium", "far_over"]


@pytest.mark.parametrize("band,fee", [("undercut", 600), ("market", 800), ("premium", 1200), ("far_over", 1600)])
def test_fee_per_band_with_plenty_listed(band: str, fee: int) -> None:
    price = {"undercut": 50, "market": 100, "premium": 150, "far_over": 300}[band]
    quote = pricing.market_fee(BASE, price, 100, listed_units=10)
    assert (quote.band, quote.fee_bps, quote.scarce) == (band, fee, False)


def test_scarcity_edge_is_fewer_than_ten_units() -> None:
    assert pricing.market_fee(BASE, 100, 100, listed_units=9).fee_bps == 1000  # 800 x 5/4
    assert pricing.market_fee(BASE, 100, 100, listed_units=10).fee_bps == 800
    assert pricing.market_fee(BASE, 300, 100, listed_units=1).fee_bps == 2000  # 800 x 2 x 5/4


def test_no_history_is_the_base_fee_and_scarcity_still_applies() -> None:
    assert pricing.market_fee(BASE, 12345, None, 50).as_dict()["band"] == "no_history"
    assert pricing.market_fee(BASE, 12345, None, 50).fee_bps == 800
    assert pricing.market_fee(BASE, 12345, None, 3).fee_bps == 1000


def test_fee_is_capped() -> None:
    assert pricing.market_fee(4000, 1000, 100, 1).fee_bps == pricing.MAX_FEE_BPS  # 4000 x 2 x 5/4 = 10000


@given(base=st.integers(0, 10_000), price=st.integers(0, 10**9), reference=st.integers(1, 10**9),
       units=st.integers(0, 1000))
def test_fee_is_the_written_formula(base: int, price: int, reference: int, units: int) -> None:
    quote = pricing.market_fee(base, price, reference, units)
    ratio_scaled = price * 10_000
    if ratio_scaled < 9_000 * reference:
        num, den = 3, 4
    elif ratio_scaled <= 12_500 * reference:
        num, den = 1, 1
    elif ratio_scaled <= 20_000 * reference:
        num, den = 3, 2
    else:
        num, den = 2, 1
    if units < 10:
        num, den = num * 5, den * 4
    assert quote.fee_bps == min(base * num // den, 5000)
    assert 0 <= quote.fee_bps <= 5000


@given(price=st.integers(1, 10**7), reference=st.integers(1, 10**7), units=st.integers(0, 100))
def test_fees_never_fall_as_the_price_rises(price: int, reference: int, units: int) -> None:
    assert pricing.market_fee(BASE, price, reference, units).fee_bps <= \
        pricing.market_fee(BASE, price + 1, reference, units).fee_bps


@given(total=st.integers(0, 10**12), base=st.integers(0, 10_000), price=st.integers(1, 10**7),
       reference=st.integers(1, 10**7), units=st.integers(0, 100))
def test_settlement_split_adds_up(total: int, base: int, price: int, reference: int, units: int) -> None:
    fee = pricing.market_fee(base, price, reference, units).fee_bps
    split = revenue.split(total, revenue.payee_share_bps(fee))
    assert split.recipient + split.platform == total
    assert split.recipient == total * (10_000 - fee) // 10_000


def test_worked_example_from_the_readme() -> None:
    # base 800, 7-day average 100, listed at 130 with 4 units on the market: premium x scarce
    quote = pricing.market_fee(800, 130, 100, 4)
    assert (quote.band, quote.scarce, quote.fee_bps) == ("premium", True, 1500)
    split = revenue.split(3 * 130, revenue.payee_share_bps(quote.fee_bps))
    assert (split.recipient, split.platform) == (331, 59)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pricing.market_fee(-1, 10, 10, 1)
    with pytest.raises(ValueError):
        pricing.market_fee(800, -1, 10, 1)


# -- the median and the rollup's sums ------------------------------------------------------------


@pytest.mark.parametrize("sales,median", [
    ([], None), ([(10, 1)], 10), ([(10, 1), (20, 1)], 15), ([(10, 1), (21, 1)], 15),
    ([(80, 2), (100, 3), (120, 1)], 100), ([(1, 99), (1000, 1)], 1), ([(5, 1), (7, 0)], 5),
])
def test_weighted_median(sales, median) -> None:
    assert pricing.weighted_median(sales) == median


@given(st.lists(st.tuples(st.integers(1, 1000), st.integers(1, 5)), min_size=1, max_size=30))
def test_weighted_median_matches_the_expanded_list(sales) -> None:
    units = sorted(p for p, q in sales for _ in range(q))
    n = len(units)
    expected = (units[(n - 1) // 2] + units[n // 2]) // 2
    assert pricing.weighted_median(sales) == expected


def test_summarize_windows_and_next_due() -> None:
    now = datetime(2030, 1, 10, 12, 0, tzinfo=timezone.utc)

    def sale(hours_ago: float, qty: int, price: int):
        return {"sold_at": iso(now - timedelta(hours=hours_ago)), "qty": qty, "unit_price": price}

    stats = pricing.summarize([sale(1, 2, 100), sale(30, 1, 130), sale(24 * 8, 5, 1)], now)
    assert (stats.median_7d, stats.avg_7d, stats.units_7d) == (100, 110, 3)
    assert (stats.volume_24h, stats.coins_24h) == (2, 200)
    # the next change: the 1-hour-old sale leaves the 24-hour window in 23 hours
    assert stats.next_due == iso(now + timedelta(hours=23, milliseconds=1))
    assert pricing.summarize([], now).next_due is None


@given(base=st.integers(0, 10_000), price=st.integers(0, 10**9), reference=st.integers(1, 10**9),
       units=st.integers(0, 1000), bands=st.lists(st.integers(0, 40_000), min_size=4, max_size=4),
       target=st.integers(0, 1000), alpha=st.integers(0, 40_000))
def test_an_economys_terms_are_the_same_formula_with_its_own_numbers(base, price, reference, units, bands, target,
                                                                     alpha) -> None:
    undercut, market, premium, far_over = sorted(bands)
    terms = pricing.Terms(undercut, market, premium, far_over, target, alpha)
    band = pricing.band_for(price, reference)
    multiplier = {"undercut": undercut, "market": market, "premium": premium, "far_over": far_over}[band]
    scarce = units < target
    expected = min(base * multiplier * (alpha if scarce else 10_000) // 10**8, 5000)
    quote = pricing.market_fee(base, price, reference, units, terms)
    assert (quote.fee_bps, quote.scarce, quote.band) == (expected, scarce, band)


def test_the_default_terms_are_the_written_formula() -> None:
    # Each default multiplier is an exact fraction of 10,000, so the bps form changes no fee.
    assert pricing.DEFAULT_TERMS == pricing.Terms(7500, 10_000, 15_000, 20_000, 10, 12_500)
