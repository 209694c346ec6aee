"""CJS quote filters at their boundaries (docs/methods.md §3.2; Constantinides, Jackwerth and Savov 2013, Table B.1).

Each rule is pinned where a `<` and a `<=` part ways — a locked quote, a mid exactly on a no-arbitrage
bound, a parity rate of exactly zero, a residual exactly two standard deviations out — and the fast paths
for quotes in the schema's order are checked against plain pandas versions of the same rules on the same
quotes shuffled (which takes the general path: hashed keys and one sort).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from option_quotes import make_prepared_quotes as make_quotes
from option_quotes import quote

from asset_pricing.options import filters as F
from asset_pricing.options import schema
from asset_pricing.options.bsm import bs_price


# --------------------------------------------------------------------------------------------------
# Hand-made quotes (the layout of docs/methods.md §3.1)
# --------------------------------------------------------------------------------------------------
def removed(quotes: pd.DataFrame, result: F.FilterResult) -> list[int]:
    return sorted(quotes.index.difference(result.kept.index))


def contract_frame(rows: list[tuple]) -> pd.DataFrame:
    """The columns the pairing reads: (secid, date, exdate, cp_flag, strike_price) per row, in the given order."""
    frame = pd.DataFrame(rows, columns=["secid", "date", "exdate", "cp_flag", "strike_price"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["exdate"] = pd.to_datetime(frame["exdate"])
    frame["cp_flag"] = pd.Categorical(frame["cp_flag"], dtype=schema.CP_DTYPE)
    return frame


# --------------------------------------------------------------------------------------------------
# Filters 3, 7, 8: where < and <= part ways
# --------------------------------------------------------------------------------------------------
def test_a_locked_quote_with_offer_equal_to_bid_is_kept_and_only_an_offer_below_the_bid_is_crossed():
    quotes = make_quotes([quote(strike=95, bid=1.0, offer=1.0), quote(strike=100, bid=1.0, offer=0.99), quote(strike=105, bid=1.0, offer=1.01)])
    result = F.filter_zero_bid(quotes)
    assert removed(quotes, result) == [1]
    assert result.detail == {"zero or negative bid": 0, "crossed or non-positive offer": 1, "missing bid or offer": 0}


def test_arbitrage_bounds_keep_a_mid_exactly_on_a_bound_and_cap_a_call_by_the_spot():
    # r = q = 0: the bounds are exact in floating point. Call K=90: [S − K, S] = [10, 100]; put K=110: [K − S, K] = [10, 110].
    rows = [
        quote(cp="C", strike=90, bid=9.5, offer=10.5),     # 0 mid 10 = lower bound: kept
        quote(cp="C", strike=95, bid=99.5, offer=100.5),   # 1 mid 100 = S: kept
        quote(cp="P", strike=110, bid=9.5, offer=10.5),    # 2 mid 10 = K − S: kept
        quote(cp="P", strike=115, bid=114.5, offer=115.5),  # 3 mid 115 = K: kept
        quote(cp="C", strike=110, bid=104.5, offer=105.5),  # 4 mid 105 > S = 100 although < K = 110: removed
        quote(cp="C", strike=85, bid=14.4, offer=14.6),    # 5 mid 14.5 < S − K = 15: removed
    ]
    quotes = make_quotes(rows, close=100.0, rf_annual=0.0, q=0.0)
    assert (quotes["r"] == 0).all() and (quotes["q"] == 0).all()
    lower, upper = F.arbitrage_bounds(quotes)
    by_strike = dict(zip(zip(quotes["cp_flag"], quotes["strike"]), zip(lower, upper)))
    assert by_strike[("C", 90.0)] == (10.0, 100.0) and by_strike[("P", 110.0)] == (10.0, 110.0) and by_strike[("C", 110.0)] == (0.0, 100.0)
    result = F.filter_arbitrage_bounds(quotes)
    assert sorted(quotes.loc[removed(quotes, result), "strike"]) == [85.0, 110.0]
    assert result.detail == {"below lower bound": 1, "above upper bound": 1}


def test_a_zero_parity_rate_is_kept_only_a_negative_rate_drops_the_pair():
    # q = 0 and C = P at K = S: C − P = S − K e^{−r̂T} gives e^{−r̂T} = 1, r̂ = 0 exactly (the zero-rate years 2009–2015).
    rows = [quote(cp="C", strike=100, bid=4.0, offer=4.2), quote(cp="P", strike=100, bid=4.0, offer=4.2),
            quote(cp="C", strike=105, bid=2.0, offer=2.2), quote(cp="P", strike=105, bid=7.5, offer=7.7)]
    quotes = make_quotes(rows, close=100.0, rf_annual=0.0, q=0.0)
    _, _, rate = F.pair_rates(quotes)
    assert rate[0] == 0.0
    # K = 105: C − P = −5.5, S − (C − P) = 105.5 > K → r̂ = −ln(105.5/105)/T < 0
    assert rate[1] == pytest.approx(-math.log(105.5 / 105) / (46 / 365), rel=1e-12)
    result = F.filter_negative_parity_rate(quotes)
    assert sorted(quotes.loc[removed(quotes, result), "strike"]) == [105.0, 105.0] and result.detail == {"pairs": 1}
    masks = F.level_1_2_masks(quotes)
    assert sorted(quotes.loc[masks.kept, "strike"]) == [100.0, 100.0] and masks.steps[-1].detail == {"pairs": 1}


def test_parity_rate_does_not_depend_on_the_units_of_the_index():
    # r̂ = −ln((S e^{−qT} − (C − P))/K)/T: scaling S, K, C, P by 1/1000 leaves it unchanged, even with a forward gap below 1.
    S, K, T, r, q = 1000.0, 900.0, 1.0, 0.05, 0.01
    gap = K * math.exp(-r * T)
    call_minus_put = S * math.exp(-q * T) - gap
    for scale in (1.0, 1e-3):
        rate = F.parity_implied_rate(np.array([call_minus_put * scale]), np.array([0.0]), np.array([S * scale]),
                                     np.array([K * scale]), np.array([T]), np.array([q]))
        assert rate[0] == pytest.approx(r, rel=1e-10)
    assert gap * 1e-3 < 1.0


# --------------------------------------------------------------------------------------------------
# Filters 9 and 10: the two-standard-deviation test, strict and centred on the mean
# --------------------------------------------------------------------------------------------------
def test_outlier_tests_are_strict_and_measured_from_the_mean():
    # mean 0.25, sd 0.5 (two observations, M2 = 0.25): |e − 0.25| > 1 is an outlier, |e − 0.25| = 1 is not
    moments = F.Moments(np.array([2.0]), np.array([0.25]), np.array([0.25]))
    assert moments.sd[0] == 0.5
    residual = np.array([1.25, -0.75, 1.2500001, -0.7500001, -1.1, 0.25, np.nan])
    expected = [False, False, True, True, True, False, False]
    assert F.smile_outlier_flags(residual, np.zeros(7, dtype=np.int64), moments).tolist() == expected
    assert F.parity_outlier_flags(residual, moments).tolist() == expected[:-1] + [True]  # a non-finite d is dropped


def test_filter_bounds_and_the_outlier_width_can_be_set():
    rows = [quote(exdate=e, strike=k, iv=v) for e, k, v in (("2010-01-14", 100, 0.2), ("2010-01-25", 100, 0.6), ("2010-01-19", 110, 0.4))]
    quotes = make_quotes(rows)  # tau 10, 21, 15 days; m 1.0, 1.0, 1.1; IV 0.2, 0.6, 0.4
    assert quotes["tau_days"].tolist() == [10, 15, 21]
    assert removed(quotes, F.filter_maturity(quotes, bounds=(12, 18))) == list(quotes.index[quotes["tau_days"] != 15])
    assert removed(quotes, F.filter_moneyness(quotes, bounds=(1.05, 1.2))) == list(quotes.index[quotes["strike"] == 100])
    assert removed(quotes, F.filter_implied_volatility(quotes, bounds=(0.3, 0.5))) == list(quotes.index[quotes["impl_volatility"] != 0.4])
    with_residual = quotes.assign(**{F.SMILE_RESIDUAL: [0.0, 0.25, 0.0]})
    moments = F.Moments(np.full(F.N_MONEYNESS_BINS, 2.0), np.zeros(F.N_MONEYNESS_BINS), np.full(F.N_MONEYNESS_BINS, 0.01))  # sd 0.1
    assert len(removed(with_residual, F.filter_smile_outliers(with_residual, moments))) == 1  # 0.25 > 2 × 0.1
    assert removed(with_residual, F.filter_smile_outliers(with_residual, moments, n_sd=3.0)) == []  # 0.25 < 3 × 0.1


def test_parity_outlier_width_can_be_set():
    S, T, r, q = 100.0, 91 / 365, 0.03, 0.02
    rows = []
    for strike, d in zip((95, 100), (0.0, 0.05)):
        put = float(bs_price(S, strike, T, r, q, 0.2, False))
        call = put + S * math.exp(-q * T) - strike * math.exp(-(r + d) * T)
        rows += [quote(exdate="2010-04-05", cp="C", strike=strike, bid=call - 0.005, offer=call + 0.005),
                 quote(exdate="2010-04-05", cp="P", strike=strike, bid=put - 0.005, offer=put + 0.005)]
    quotes = make_quotes(rows, close=S, rf_annual=math.expm1(r), q=q)
    moments = F.Moments(np.array([10.0]), np.array([0.0]), np.array([9 * 0.02**2]))  # sd 0.02: d = 0.05 is 2.5 sd out
    assert F.filter_parity_outliers(quotes, moments).removed == 2
    assert F.filter_parity_outliers(quotes, moments, n_sd=3.0).removed == 0


def test_moneyness_bins_are_the_docstring_bins():
    # floor(m / 0.05): 0.80–0.85 → 16, 1.15–1.20 → 23, 1.2 exactly → 24; below 0.05 → 0; 3.2 and above share bin 63
    moneyness = np.array([0.01, 0.80, 0.85, 0.999, 1.0, 1.15, 1.2, 3.17, 5.0])
    assert F.moneyness_bin(moneyness).tolist() == [0, 16, 17, 19, 20, 23, 24, 63, 63]


# --------------------------------------------------------------------------------------------------
# Whole-sample moments merged across years
# --------------------------------------------------------------------------------------------------
def test_moments_have_one_group_by_default_and_empty_moments_are_the_identity_of_merge():
    single = F.Moments.of(np.array([0.1, 0.2, 0.6]))
    assert single.count.tolist() == [3.0] and single.mean[0] == pytest.approx(0.3) and single.m2[0] == pytest.approx(0.14)
    merged = F.Moments.empty().merge(single)
    assert merged.count.tolist() == [3.0] and merged.mean[0] == pytest.approx(0.3) and merged.m2[0] == pytest.approx(0.14)
    empty = F.Moments.empty(3).merge(F.Moments.empty(3))
    assert empty.count.tolist() == [0.0, 0.0, 0.0] and empty.mean.tolist() == [0.0, 0.0, 0.0] and empty.m2.tolist() == [0.0, 0.0, 0.0]


def test_a_bin_with_one_observation_has_its_value_as_mean_and_an_empty_bin_mean_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns when an empty bin's mean would be uninitialized memory
        moments = F.Moments.of(np.array([0.5, 0.1, 0.3]), np.array([0, 2, 2]), 3)
        F.Moments.empty(3).merge(F.Moments.empty(3))
    assert moments.count.tolist() == [1.0, 0.0, 2.0]
    assert moments.mean.tolist() == [0.5, 0.0, pytest.approx(0.2)]
    assert np.isnan(moments.sd[0]) and np.isnan(moments.sd[1]) and moments.sd[2] == pytest.approx(math.sqrt(0.02))
    # a year without bin 0 merged with one that has a single observation in it
    later = F.Moments.of(np.array([0.7]), np.array([0]), 3)
    merged = F.Moments.empty(3).merge(later).merge(moments)
    assert merged.count.tolist() == [2.0, 0.0, 2.0]
    assert merged.mean[0] == pytest.approx(0.6) and merged.m2[0] == pytest.approx(0.02) and merged.mean[1] == 0.0


# --------------------------------------------------------------------------------------------------
# Exit prices: 1 to 180 days, an implied volatility that could be computed
# --------------------------------------------------------------------------------------------------
def test_exit_prices_span_1_to_180_days_and_need_a_positive_implied_volatility():
    rows = [
        quote(strike=100.0),                                                   # formation sample
        quote(exdate="2010-01-05", strike=100.0, bid=0.40, offer=0.44),        # tau 1: exit price
        quote(exdate="2010-07-02", strike=125.0, bid=1.0, offer=1.1),          # tau 179, m 1.25 (filter 6 only): exit price
        quote(exdate="2010-07-03", strike=125.0, bid=1.0, offer=1.1),          # a Saturday: tau 179 to its Friday, exit price
        quote(date="2010-01-05", exdate="2010-07-05", strike=125.0, bid=1.0, offer=1.1),  # tau 181: not the next-day quote of a held contract
        quote(strike=95.0, iv=0.0, bid=6.0, offer=6.4),                        # IV 0: no computable IV, no price
    ]
    quotes = make_quotes(rows)
    exits = F.exit_price_rows(quotes, F.level_1_2_masks(quotes))
    assert sorted(quotes["tau_days"].to_numpy()[exits].tolist()) == [1, 179, 179]
    assert F.exit_price_rows(quotes, F.level_1_2_masks(quotes), max_days=178).size == 1


# --------------------------------------------------------------------------------------------------
# The filter table (CJS Table B.1) and the breakdowns it prints
# --------------------------------------------------------------------------------------------------
def test_filter_table_rows_are_the_raw_count_then_each_step_with_its_breakdown():
    details = [{}, {}, {"zero or negative bid": 2, "crossed or non-positive offer": 1}] + [{} for _ in range(7)]
    details = [{"PM-settled (SPXW)": 6}] + details
    table = F.filter_table(56, [6, 1, 2, 3, 0, 0, 0, 0, 0, 4, 5], details)
    expected = pd.DataFrame({
        "step": [0] + list(range(11)),
        "level": [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3],
        "filter": ["raw quotes", "contract selection (OPTIONS_CONTRACTS)"] + [s.name for s in F.FILTER_STEPS],
        "removed": [0, 6, 1, 2, 3, 0, 0, 0, 0, 0, 4, 5],
        "remaining": [56, 50, 49, 47, 44, 44, 44, 44, 44, 44, 40, 35],
        "detail": ["", "PM-settled (SPXW): 6", "", "", "zero or negative bid: 2; crossed or non-positive offer: 1"] + [""] * 7,
    })
    pd.testing.assert_frame_equal(table, expected)


def test_each_step_reports_the_breakdown_the_table_prints():
    rows = [
        quote(strike=100.0), quote(strike=100.0),                        # identical quotes (1)
        quote(strike=105.0, iv=0.20), quote(strike=105.0, iv=0.50, bid=5.1),  # same terms (2): IV 0.5 is farther from the median
        quote(strike=110.0, bid=0.0), quote(strike=115.0, bid=2.0, offer=1.9), quote(strike=120.0, bid=np.nan),  # zero bid (3)
        quote(exdate="2010-01-08", strike=100.0),                        # maturity (4)
        quote(strike=95.0, iv=np.nan), quote(strike=90.0, iv=1.5),       # implied volatility (5)
        quote(strike=130.0, bid=0.1, offer=0.2),                          # moneyness (6)
        quote(strike=85.0, bid=0.5, offer=0.6), quote(strike=80.0, bid=99.8, offer=100.0),  # arbitrage bounds (7)
        quote(cp="P", strike=100.0, bid=6.0, offer=6.2),                  # with the call at 100: r̂ < 0 (8)
    ]
    quotes = make_quotes(rows)
    _, records = F.apply_level_1_2(quotes)
    assert [(r.step, r.removed) for r in records] == [(0, 0), (1, 1), (2, 1), (3, 3), (4, 1), (5, 2), (6, 1), (7, 2), (8, 2)]
    assert [r.detail for r in records] == [
        {}, {}, {},
        {"zero or negative bid": 1, "crossed or non-positive offer": 1, "missing bid or offer": 1},
        {},
        {"missing implied volatility": 1, "outside bounds": 1},
        {},
        {"below lower bound": 1, "above upper bound": 1},
        {"pairs": 1},
    ]
    assert F.filter_maturity(quotes).detail == {} and F.filter_moneyness(quotes).detail == {}


def test_level_3_records_report_no_breakdown_for_the_smile_and_the_pairs_for_parity():
    S, T, r, q = 100.0, 46 / 365, math.log1p(math.expm1(0.04)), 0.02
    rows = []
    for strike in (92.0, 96.0, 100.0, 104.0, 108.0):
        for cp in ("C", "P"):
            price = float(bs_price(S, strike, T, r, q, 0.2, cp == "C"))
            rows.append(quote(cp=cp, strike=strike, bid=price - 0.01, offer=price + 0.01))
    quotes = make_quotes(rows)
    _, records, _ = F.filter_panel(quotes)
    assert [r.step for r in records[9:]] == [9, 10]
    assert records[9].detail == {} and records[10].detail == {"pairs": records[10].removed // 2}


# --------------------------------------------------------------------------------------------------
# Neighbour comparisons in the schema's order
# --------------------------------------------------------------------------------------------------
def test_schema_order_breaks_mark_new_slices_and_contract_days():
    frame = contract_frame([
        (1, "2010-01-04", "2010-02-19", "C", 100_000),
        (1, "2010-01-04", "2010-02-19", "C", 100_000),   # same contract-day
        (1, "2010-01-04", "2010-02-19", "C", 105_000),   # new strike, same slice
        (1, "2010-01-04", "2010-03-19", "C", 90_000),    # new exdate: new slice
        (1, "2010-01-04", "2010-02-19", "P", 95_000),    # new type
        (1, "2010-01-05", "2010-02-19", "C", 80_000),    # new date
    ])
    new_slice, new_contract_day = F.schema_order_breaks(frame)
    assert new_slice.tolist() == [True, False, False, True, True, True]
    assert new_contract_day.tolist() == [True, False, True, True, True, True]
    single = F.schema_order_breaks(frame.iloc[:1])
    assert single[0].tolist() == [True] and single[1].tolist() == [True]
    empty = F.schema_order_breaks(frame.iloc[:0])
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
    assert F.schema_order_breaks(frame.iloc[[5, 0, 1, 2, 3, 4]]) is None  # a later date first
    # each row is compared with the row before it, not with the first row
    three = contract_frame([
        (1, "2010-01-04", "2010-02-19", "C", 100_000),
        (1, "2010-01-05", "2010-02-19", "C", 100_000),   # same strike, new date: a new contract-day
        (1, "2010-01-05", "2010-02-19", "C", 110_000),
        (1, "2010-01-05", "2010-03-19", "C", 110_000),   # same strike, new exdate
        (1, "2010-01-05", "2010-04-16", "C", 90_000),
    ])
    new_slice, new_contract_day = F.schema_order_breaks(three)
    assert new_slice.tolist() == [True, True, False, True, True]
    assert new_contract_day.tolist() == [True, True, True, True, True]
    falling_back = {  # the third row is after the first but before the second
        "date": [(1, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-06", "2010-02-19", "C", 100_000), (1, "2010-01-05", "2010-02-19", "C", 100_000)],
        "exdate": [(1, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-04", "2010-04-16", "C", 100_000), (1, "2010-01-04", "2010-03-19", "C", 100_000)],
        "strike": [(1, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-04", "2010-02-19", "C", 110_000), (1, "2010-01-04", "2010-02-19", "C", 105_000)],
    }
    for key, rows in falling_back.items():
        assert F.schema_order_breaks(contract_frame(rows)) is None, key
    assert F.schema_order_breaks(frame.iloc[[0, 2, 1, 3, 4, 5]]) is None  # strikes descending within a slice
    assert F.schema_order_breaks(frame.iloc[[0, 1, 2, 4, 3, 5]]) is None  # puts before calls of the same date
    assert F.schema_order_breaks(frame.iloc[[0, 1, 3, 2, 4, 5]]) is None  # a later exdate first


def test_rows_sharing_a_contract_day_are_both_marked():
    frame = contract_frame([(1, "2010-01-04", "2010-02-19", "C", k) for k in (90_000, 95_000, 95_000, 100_000, 105_000, 105_000)])
    assert F.rows_sharing_schema_key(frame).tolist() == [False, True, True, False, True, True]
    assert F.rows_sharing_schema_key(frame.iloc[::-1]) is None


def test_equal_values_hash_equally_as_duplicated_compares_them():
    frame = contract_frame([(1, "2010-01-04", "2010-02-19", "C", 100_000)] * 4)
    frame["best_bid"] = [0.0, -0.0, np.nan, -np.nan]
    assert frame.duplicated(["best_bid"]).tolist() == [False, True, False, True]
    key = F.row_key_hash(frame, ["secid", "date", "exdate", "cp_flag", "strike_price", "best_bid"])
    assert key[0] == key[1] and key[2] == key[3] and key[0] != key[2]
    other = frame.assign(exdate=pd.to_datetime("2010-03-19"), cp_flag=pd.Categorical(["P"] * 4, dtype=schema.CP_DTYPE))
    assert F.row_key_hash(other, ["exdate"])[0] != F.row_key_hash(frame, ["exdate"])[0]
    assert F.row_key_hash(other, ["cp_flag"])[0] != F.row_key_hash(frame, ["cp_flag"])[0]


# --------------------------------------------------------------------------------------------------
# Filters 1, 2 and the call-put pairs: schema order, shuffled order and plain pandas agree
# --------------------------------------------------------------------------------------------------
TERMS = ["secid", "date", "exdate", "cp_flag", "strike_price"]


def identical_terms_reference(quotes: pd.DataFrame) -> pd.Series:
    """Filter 2 by groups: in each clash keep the row whose IV is closest to its slice's median (NaN farthest), first on ties."""
    median = quotes.groupby(["date", "exdate", "cp_flag"], observed=True)["impl_volatility"].transform("median")
    distance = (quotes["impl_volatility"] - median).abs().fillna(np.inf)
    position = pd.Series(np.arange(len(quotes)), index=quotes.index)
    keep = pd.Series(True, index=quotes.index)
    for _, group in quotes.groupby(TERMS, observed=True):
        if len(group) > 1:
            best = min(group.index, key=lambda label: (distance[label], position[label]))
            keep[group.index.drop(best)] = False
    return keep


def pairs_reference(quotes: pd.DataFrame) -> set[tuple[int, int]]:
    """(call label, put label) of every (secid, date, exdate, strike_price) quoted once as a call and once as a put."""
    keys = ["secid", "date", "exdate", "strike_price"]
    counts = quotes.groupby(keys + ["cp_flag"], observed=True).size().unstack("cp_flag", fill_value=0)
    single = counts[(counts.get("C", 0) == 1) & (counts.get("P", 0) == 1)].index
    labelled = quotes.reset_index().set_index(keys)
    calls = labelled[labelled["cp_flag"] == "C"].loc[lambda f: f.index.isin(single), "index"]
    puts = labelled[labelled["cp_flag"] == "P"].loc[lambda f: f.index.isin(single), "index"]
    return set(zip(calls.sort_index(), puts.sort_index()))


def pairs_found(quotes: pd.DataFrame) -> set[tuple[int, int]]:
    call, put = F.parity_pairs(quotes)
    return set(zip(quotes.index[call], quotes.index[put]))


@pytest.fixture(scope="module")
def clash_panel() -> pd.DataFrame:
    rows = []
    for date in ("2010-01-04", "2010-01-05"):
        for exdate in ("2010-02-19", "2010-03-19"):
            for strike in (90.0, 95.0, 100.0, 105.0, 110.0):
                for cp in ("C", "P"):
                    rows.append(quote(date=date, exdate=exdate, cp=cp, strike=strike, iv=0.2 + 0.01 * (strike - 100) / 5))
    rows += [
        quote(strike=100.0, iv=0.2),                                # identical to a quote above (filter 1)
        quote(strike=95.0, iv=0.30, bid=5.1),                        # clash, farther from the median (filter 2)
        quote(date="2010-01-05", cp="P", strike=105.0, iv=np.nan, bid=6.0),  # clash with a missing IV
        quote(date="2010-01-05", exdate="2010-03-19", strike=110.0, iv=0.22, bid=4.0),  # clash, equally far: the first stays
        quote(cp="P", exdate="2010-03-19", strike=120.0, iv=0.25),  # a put without its call
    ]
    return make_quotes(rows)


@pytest.mark.filterwarnings("error")  # no deprecated pandas default on the way
@pytest.mark.parametrize("seed", [None, 3, 11])
def test_filters_1_2_and_the_pairs_equal_plain_pandas_in_any_row_order(clash_panel, seed):
    quotes = clash_panel if seed is None else clash_panel.sample(frac=1.0, random_state=seed)
    if seed is not None:
        assert F.schema_order_breaks(quotes) is None  # the general path
    first = F.identical_quotes_keep(quotes)
    np.testing.assert_array_equal(first, ~quotes.duplicated(F.IDENTICAL_QUOTE_KEYS).to_numpy())
    after_first = quotes[first]
    second = F.identical_terms_keep(after_first)
    np.testing.assert_array_equal(second, identical_terms_reference(after_first).to_numpy())
    assert (~second).sum() == 3
    after_second = after_first[second]
    assert pairs_found(after_second) == pairs_reference(after_second) and len(pairs_reference(after_second)) == 20
    # the masks of the stage (filters 1-8 without copies) remove the same rows
    masks = F.level_1_2_masks(quotes)
    assert masks.steps[0].step == 0 and not masks.steps[0].removed.any()  # no contract flags: every contract is standard
    np.testing.assert_array_equal(masks.steps[1].removed, ~first)
    assert set(quotes.index[masks.steps[2].removed]) == set(after_first.index[~second])


@pytest.mark.filterwarnings("error")  # no deprecated pandas default on the way
def test_identical_terms_in_a_single_clash_slice_out_of_order():
    # one clash, quotes out of the schema's order: the general path numbers the one clash slice 0
    quotes = make_quotes([quote(strike=95, iv=0.21), quote(strike=100, iv=0.40, bid=5.5), quote(strike=100, iv=0.22),
                          quote(strike=105, iv=0.23), quote(exdate="2010-03-19", strike=100, iv=0.9)])
    shuffled = quotes.iloc[[4, 1, 3, 0, 2]]
    assert F.schema_order_breaks(shuffled) is None
    keep = F.identical_terms_keep(shuffled)
    # slice median of (0.21, 0.40, 0.22, 0.23) is 0.225: 0.22 (0.005 away) beats 0.40 although 0.40 comes first
    assert shuffled["impl_volatility"][~keep].tolist() == [0.40]


def test_pairs_are_never_made_across_expiries_dates_or_underlyings():
    crossing_expiries = contract_frame([  # sorted keys, calls (e1, 100), (e2, 105); puts (e1, 105), (e2, 110): no pair
        (1, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-04", "2010-03-19", "C", 105_000),
        (1, "2010-01-04", "2010-02-19", "P", 105_000), (1, "2010-01-04", "2010-03-19", "P", 110_000),
    ])
    same_tau_two_dates = contract_frame([  # 46 days to expiry on both dates
        (1, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-04", "2010-02-19", "P", 105_000),
        (1, "2010-01-05", "2010-02-20", "C", 105_000), (1, "2010-01-05", "2010-02-20", "P", 110_000),
    ])
    two_underlyings = contract_frame([(1, "2010-01-04", "2010-02-19", "C", 100_000), (2, "2010-01-04", "2010-02-19", "P", 100_000)])
    one_call_one_put = contract_frame([(1, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-04", "2010-02-19", "P", 105_000)])
    for frame in (crossing_expiries, same_tau_two_dates, two_underlyings, one_call_one_put):
        call, put = F.parity_pairs(frame)
        assert call.size == put.size == 0


def test_a_single_call_and_put_pair_and_puts_out_of_order():
    two = contract_frame([(1, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-04", "2010-02-19", "P", 100_000)])
    assert [a.tolist() for a in F.parity_pairs(two)] == [[0], [1]]
    calls_sorted_puts_reversed = contract_frame(
        [(1, "2010-01-04", "2010-02-19", "C", k) for k in (95_000, 100_000, 105_000)]
        + [(1, "2010-01-04", "2010-02-19", "P", k) for k in (105_000, 100_000, 95_000)]
    )
    assert pairs_found(calls_sorted_puts_reversed) == {(0, 5), (1, 4), (2, 3)}
    puts_sorted_calls_reversed = calls_sorted_puts_reversed.iloc[[2, 1, 0, 5, 4, 3]]
    assert pairs_found(puts_sorted_calls_reversed) == {(0, 5), (1, 4), (2, 3)}


def test_pairs_of_two_underlyings_and_a_lone_put_first_in_the_sort():
    # out of the schema's order (puts' keys falling): one sort by (secid, date, exdate, strike, type)
    frame = contract_frame([
        (2, "2010-01-04", "2010-02-19", "C", 100_000), (1, "2010-01-04", "2010-02-19", "C", 100_000),
        (2, "2010-01-04", "2010-02-19", "P", 100_000), (1, "2010-01-04", "2010-02-19", "P", 100_000),
        (1, "2010-01-04", "2010-02-19", "P", 90_000),  # a put without its call, first in the sort
    ])
    assert pairs_found(frame) == {(1, 3), (0, 2)} == pairs_reference(frame)
