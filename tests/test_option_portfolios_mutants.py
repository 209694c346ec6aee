"""CJS/HKM option portfolios (docs/methods.md §4, §5): the rules pinned at their edges.

The kernel's 0.01 floor on days with more than 100 equidistant quotes, the weights before the floor,
exit quotes that cannot price an exit (non-trading day, zero mid), fills at and after expiry, the smile
used exactly at the edges of the quoted range and never beyond it, which quotes can be held, the
calendar days of a holding period that starts after another trading day, MAX_FILL_SHARE at equality,
and the labels of the outputs. Every expected value is computed by hand from the formulas of §4–§5.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from option_quotes import NO_FITS, make_quotes, make_underlying
from scipy.stats import norm

from asset_pricing.io import DataValidationError
from asset_pricing.options import portfolios as pf
from asset_pricing.options.bsm import bs_elasticity, bs_price

FRIDAY, MONDAY = pd.Timestamp("2020-01-10"), pd.Timestamp("2020-01-13")


def run(quotes, underlying, fits=NO_FITS, formation_dates=None, **options) -> pd.DataFrame:
    formation = underlying.index if formation_dates is None else pd.DatetimeIndex(formation_dates)
    return pf.daily_portfolio_returns(quotes, underlying, fits, formation, **options).set_index(["portfolio_id", "formation_date"])


def call_omega(S, K, tau_days, sigma, mid, r=math.log(1.03)):
    """Δ S / P of a call, Δ = N(d1) (q = 0), written out."""
    T = tau_days / 365
    d1 = (math.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * math.sqrt(T))
    return norm.cdf(d1) * S / mid


def code_of(portfolio_id: str) -> int:
    targets = pf.portfolio_targets()
    return int(targets.index[targets["portfolio_id"] == portfolio_id][0])


# --------------------------------------------------------------------------------------------------
# Targets and kernel weights (§4.1)
# --------------------------------------------------------------------------------------------------
def test_targets_table_columns_and_construction_order():
    targets = pf.portfolio_targets()
    assert list(targets.columns) == ["portfolio_id", "hkm_id", "cp_flag", "target_moneyness", "target_maturity"]
    assert targets.iloc[0].tolist() == ["cjs_C_900_30", "hkm_C_900", "C", 0.9, 30]
    assert targets.iloc[-1].tolist() == ["cjs_P_1100_90", "hkm_P_1100", "P", 1.1, 90]
    frame = pd.DataFrame({"portfolio_id": ["cjs_C_1000_30", "cjs_C_900_30", "cjs_C_900_30"],
                          "date": pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-02"])})
    ordered = pf.sort_by_portfolio(frame)
    assert ordered["portfolio_id"].tolist() == ["cjs_C_900_30", "cjs_C_900_30", "cjs_C_1000_30"]  # 0.900 before 1.000, not alphabetical
    assert ordered["date"].tolist()[:2] == list(pd.to_datetime(["2020-01-02", "2020-01-03"]))


@pytest.mark.parametrize("n", [150, 250])
def test_a_day_of_more_than_100_equidistant_quotes_keeps_all_of_them(n):
    # each normalized weight is 1/n < 0.01; the floor is min(0.01, 1/Σw*) = 1/n, so none is dropped
    weights = pf.kernel_weights(np.ones(n, bool), np.zeros(n, np.int64), np.full(n, 1.0), np.full(n, 30.0))
    mine = weights.portfolio == code_of("cjs_C_1000_30")
    assert mine.sum() == n
    np.testing.assert_allclose(weights.weight[mine], 1.0 / n, rtol=1e-14)


def test_weight_floor_zero_gives_the_weights_before_the_floor():
    # target C 1.000 / 30: z² = 0, 1² + 0.5², 2.5², 4² (bandwidths 0.0125 and 10 days); w = e^{−z²/2}/Σ
    moneyness = np.array([1.000, 1.0125, 1.000, 1.050])
    tau = np.array([30.0, 35.0, 55.0, 30.0])
    raw = np.exp(-0.5 * np.array([0.0, 1.25, 6.25, 16.0]))
    weights = pf.kernel_weights(np.ones(4, bool), np.zeros(4, np.int64), moneyness, tau, weight_floor=0.0)
    mine = weights.portfolio == code_of("cjs_C_1000_30")
    assert weights.row[mine].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(weights.weight[mine], raw / raw.sum(), rtol=1e-14)
    assert weights.weight[mine][3] < pf.WEIGHT_FLOOR  # the quote the default floor drops


def test_no_quotes_give_empty_integer_positions():
    weights = pf.kernel_weights(np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    assert [len(a) for a in weights] == [0, 0, 0, 0]
    assert [a.dtype for a in weights] == [np.dtype(np.int64)] * 3 + [np.dtype(np.float64)]


# --------------------------------------------------------------------------------------------------
# Next-day prices and exit quotes (§4.3, §4.4)
# --------------------------------------------------------------------------------------------------
def test_two_rows_of_one_contract_on_one_day_says_what_the_quotes_must_be():
    with pytest.raises(DataValidationError, match=r"optionid 7 has two rows on one day \(day code 3\); the filtered quotes must have one row per \(optionid, date\)\.$"):
        pf.next_day_position(np.array([7, 7]), np.array([3, 3]))


def test_next_day_mid_finds_a_next_day_quote_listed_first():
    quotes = pd.DataFrame({"optionid": [1, 1], "mid": [3.0, 2.5]})  # row 0 is day 1, row 1 is day 0
    out = pf.next_day_mid(quotes, np.array([1, 0]), np.array([True, True]), np.array([0, 1]))
    assert np.isnan(out[0]) and out[1] == 3.0


def _one_held_call(exit_quotes):
    underlying = make_underlying([FRIDAY, MONDAY], [100.0, 101.0])
    quotes = make_quotes([dict(date=FRIDAY, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1, mid=2.5)], underlying)
    return run(quotes, underlying, exit_quotes=exit_quotes).loc[("cjs_C_1000_30", FRIDAY)]


def test_an_exit_quote_prices_an_exit_only_on_a_trading_day_and_with_a_positive_mid():
    omega = call_omega(100.0, 100.0, 30, 0.2, 2.5)
    rf = 1.03 ** (3 / 365) - 1
    cheap = _one_held_call(pd.DataFrame({"date": [MONDAY], "optionid": [1], "mid": [0.5]}))
    assert cheap["fill_share"] == 0.0
    assert cheap["return"] == pytest.approx((0.5 / 2.5 - 1) / omega + (1 - 1 / omega) * rf, rel=1e-12)
    filled = _one_held_call(None)
    assert filled["fill_share"] == 1.0
    for unusable in ({"date": [pd.Timestamp("2020-01-11")], "optionid": [1], "mid": [3.1]},   # a Saturday
                     {"date": [MONDAY], "optionid": [1], "mid": [0.0]}):                       # a zero mid
        result = _one_held_call(pd.DataFrame(unusable))
        assert result["fill_share"] == 1.0 and result["return"] == pytest.approx(filled["return"], rel=1e-14)


def test_exit_quotes_without_a_column_are_named():
    with pytest.raises(DataValidationError, match=r"^exit quotes: missing column\(s\) mid"):
        _one_held_call(pd.DataFrame({"date": [MONDAY], "optionid": [1]}))


def test_calendar_position_of_dates_outside_the_calendar():
    calendar = np.array([18271, 18274])  # 2020-01-10, 2020-01-13
    dates = pd.to_datetime(["2020-01-09", "2020-01-10", "2020-01-11", "2020-01-13", "2020-01-20"])
    position, on_calendar = pf.calendar_position(dates, calendar)  # more quotes than calendar days: the lookup table
    assert on_calendar.tolist() == [False, True, False, True, False]
    assert position[on_calendar].tolist() == [0, 1]
    assert position.tolist() == [0, 0, 1, 1, 1]  # the next trading day's position, the last beyond the calendar
    for few in (dates[:3], dates[2:]):  # fewer quotes than calendar days: a binary search, the same answers
        few_position, few_on_calendar = pf.calendar_position(few, calendar)
        expected = slice(0, 3) if few[0] == dates[0] else slice(2, 5)
        assert few_position.tolist() == position[expected].tolist() and few_on_calendar.tolist() == on_calendar[expected].tolist()
    position, on_calendar = pf.calendar_position(dates, np.zeros(0, np.int64))
    assert position.tolist() == [0] * 5 and position.dtype == np.int64
    assert on_calendar.tolist() == [False] * 5 and on_calendar.dtype == bool


def test_a_fill_uses_the_own_iv_unless_the_smile_iv_is_finite_and_positive():
    strike, T, S, r = np.array([100.0]), np.array([27 / 365]), np.array([101.0]), np.array([0.03])
    own = bs_price(101.0, 100.0, 27 / 365, 0.03, 0.0, 0.2, True)
    for smile in (np.inf, -0.1, 0.0, np.nan):
        price, used = pf.filled_next_day_price(strike, T, np.array([True]), S, r, np.zeros(1), np.array([smile]), np.array([0.2]))
        assert not used[0] and price[0] == pytest.approx(own, rel=1e-14)
    price, used = pf.filled_next_day_price(strike, T, np.array([True]), S, r, np.zeros(1), np.array([0.3]), np.array([0.2]))
    assert used[0] and price[0] == pytest.approx(bs_price(101.0, 100.0, 27 / 365, 0.03, 0.0, 0.3, True), rel=1e-14)


def test_a_fill_at_or_after_expiry_is_the_intrinsic_value():
    strike = np.array([100.0, 105.0, 110.0, 95.0, 100.0, 101.0])
    is_call = np.array([True, False, True, False, True, True])
    T_next = np.array([0.0, 0.0, 0.0, 0.0, -1 / 365, 0.0])
    price, _ = pf.filled_next_day_price(strike, T_next, is_call, np.full(6, 101.0), np.full(6, 0.03), np.zeros(6),
                                        np.full(6, np.nan), np.full(6, 0.2))
    assert price.tolist() == [1.0, 4.0, 0.0, 0.0, 1.0, 0.0]  # S − K, K − S, out of or at the money: 0


def test_two_smile_fits_for_one_slice_are_an_error():
    fits = pd.DataFrame({"date": [MONDAY] * 2, "exdate": pd.to_datetime(["2020-02-09"] * 2), "is_call": [True, True]})
    with pytest.raises(DataValidationError, match=r"^smile fits: more than one fit per \(date, exdate, cp_flag\)\.$"):
        pf._slice_lookup(np.array([MONDAY.to_datetime64()]), np.array([pd.Timestamp("2020-02-09").to_datetime64()]), np.array([True]), fits)


def test_smile_iv_is_used_on_the_edges_of_the_quoted_range_and_not_beyond():
    a, b, c = math.log(0.25), -0.5, 1.0
    fits = pd.DataFrame({"date": [MONDAY, MONDAY], "exdate": pd.to_datetime(["2020-02-09", "2020-03-20"]), "cp_flag": ["C", "C"],
                         "coef_a": [a, a], "coef_b": [b, b], "coef_c": [c, c]})
    quoted = pd.DataFrame({"date": [MONDAY], "exdate": pd.to_datetime(["2020-02-09"]), "is_call": [True], "m_min": [0.95], "m_max": [1.05]})
    moneyness = np.array([0.95, 1.05, 0.94, 1.06, 1.0])
    exdate = pd.to_datetime(["2020-02-09"] * 4 + ["2020-03-20"]).to_numpy()  # the last slice has a fit but no quote on the day
    iv = pf.smile_iv_next_day(fits, quoted, np.full(5, MONDAY.to_datetime64()), exdate, np.ones(5, bool), moneyness)
    x = moneyness[:2] - 1
    np.testing.assert_allclose(iv[:2], np.exp(a + b * x + c * x**2), rtol=1e-14)
    assert np.isnan(iv[2:]).all()


def test_quoted_slice_ranges_decode_date_expiry_and_type_with_or_without_times_of_day():
    quotes = pd.DataFrame({
        "date": pd.to_datetime(["2020-01-13", "2020-01-13", "2020-01-13", "2020-01-14", "2020-01-14"]),  # day numbers 18274, 18275
        "exdate": pd.to_datetime(["2020-02-21", "2020-02-21", "2020-02-21", "2020-02-21", "2020-03-20"]),
        "cp_flag": pd.Categorical(["P", "P", "C", "P", "P"], categories=["C", "P"]),
        "moneyness": [0.95, 1.02, 1.0, 0.9, 1.1],
    })
    expected = pd.DataFrame({
        "date": pd.to_datetime(["2020-01-13", "2020-01-13", "2020-01-14", "2020-01-14"]),
        "exdate": pd.to_datetime(["2020-02-21", "2020-02-21", "2020-02-21", "2020-03-20"]),
        "is_call": [False, True, False, False],
        "m_min": [0.95, 1.0, 0.9, 1.1], "m_max": [1.02, 1.0, 0.9, 1.1],
    })

    def ranges(frame):
        out = pf.quoted_slice_ranges(frame, np.arange(len(frame)))
        return out.sort_values(["date", "exdate", "is_call"]).reset_index(drop=True)[list(expected.columns)]

    pd.testing.assert_frame_equal(ranges(quotes), expected, check_dtype=False)
    in_file_order = quotes.iloc[[2, 0, 1, 3, 4]]  # date, calls before puts, exdate: each slice one run of rows
    pd.testing.assert_frame_equal(ranges(in_file_order), expected, check_dtype=False)
    assert quotes["date"].to_numpy("datetime64[D]").astype(np.int64)[3] % 2 == 1  # an odd day number
    afternoon = pd.Timedelta(hours=15)
    for shifted in (quotes.assign(date=quotes["date"] + afternoon), quotes.assign(exdate=quotes["exdate"] + afternoon)):
        column = "date" if (shifted["date"] != quotes["date"]).any() else "exdate"
        pd.testing.assert_frame_equal(ranges(shifted), expected.assign(**{column: expected[column] + afternoon}), check_dtype=False)


def test_trading_calendar_drops_days_without_a_positive_close_or_a_rate():
    index = pd.DatetimeIndex(pd.bdate_range("2020-01-06", periods=8), name="date")
    underlying = pd.DataFrame({"close": [100.0, 0.5, 0.0, -5.0, np.nan, 100.0, 100.0, 100.0],
                               "rf_annual": [0.03] * 5 + [np.nan, 0.03, 0.03], "r": [0.03] * 6 + [np.nan, 0.03],
                               "q": [0.0] * 7 + [np.nan]}, index=index)
    assert pf.trading_calendar(underlying).index.tolist() == index[[0, 1]].tolist()
    with pytest.raises(DataValidationError, match=r"^underlying: missing column\(s\) q"):
        pf.trading_calendar(underlying.drop(columns="q"))


def test_an_invalid_quote_at_t_plus_1_does_not_widen_the_range_where_the_smile_is_used():
    # The slice is quoted validly at t+1 only at m <= 0.89; a zero-mid quote at m = 1.04 is not a quote of the range.
    underlying = make_underlying([FRIDAY, MONDAY], [100.0, 101.0])
    rows = [dict(date=FRIDAY, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1)]
    rows += [dict(date=MONDAY, exdate="2020-02-09", cp_flag="C", strike=k, optionid=10 + i) for i, k in enumerate((84.0, 86.0, 88.0, 90.0))]
    zero_mid = dict(date=MONDAY, exdate="2020-02-09", cp_flag="C", strike=105.0, optionid=20, mid=0.0)
    wild = pd.DataFrame({"date": [MONDAY], "exdate": pd.to_datetime(["2020-02-09"]), "cp_flag": ["C"],
                         "coef_a": [7.3], "coef_b": [116.5], "coef_c": [391.3]})
    own_iv = run(make_quotes(rows, underlying), underlying).loc[("cjs_C_1000_30", FRIDAY), "return"]
    result = run(make_quotes(rows + [zero_mid], underlying), underlying, wild).loc[("cjs_C_1000_30", FRIDAY), "return"]
    assert result == pytest.approx(own_iv, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# Which quotes can be held (§4.2)
# --------------------------------------------------------------------------------------------------
def test_a_quote_with_zero_iv_zero_time_or_zero_elasticity_is_not_held():
    underlying = make_underlying([FRIDAY, MONDAY], [100.0, 101.0])
    rows = [
        dict(date=FRIDAY, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1),
        dict(date=FRIDAY, exdate="2020-02-09", cp_flag="C", strike=90.0, optionid=2, mid=10.2, impl_volatility=0.0),   # IV 0
        dict(date=FRIDAY, exdate="2020-01-10", cp_flag="C", strike=95.0, optionid=3, mid=5.0),                         # T = 0
        dict(date=FRIDAY, exdate="2020-02-09", cp_flag="C", strike=110.0, optionid=4, mid=0.05, impl_volatility=0.005),  # Δ = 0
        dict(date=MONDAY, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1),
    ]
    quotes = make_quotes(rows, underlying)
    # each of them would have a finite elasticity of its own, or zero: only validity keeps them out
    assert bs_elasticity(100.0, 90.0, 30 / 365, math.log(1.03), 0.0, 0.0, True, price=10.2) == pytest.approx(100 / 10.2)
    assert bs_elasticity(100.0, 95.0, 0.0, math.log(1.03), 0.0, 0.2, True, price=5.0) == pytest.approx(20.0)
    assert bs_elasticity(100.0, 110.0, 30 / 365, math.log(1.03), 0.0, 0.005, True, price=0.05) == 0.0
    daily = run(quotes, underlying)
    calls = daily.loc[daily.index.get_level_values("portfolio_id").str.startswith("cjs_C")]
    assert (calls["n_options"] == 1).all() and np.isfinite(calls["return"]).all()
    omega = call_omega(100.0, 100.0, 30, 0.2, quotes["mid"].iloc[0])
    expected = (quotes["mid"].iloc[4] / quotes["mid"].iloc[0] - 1) / omega + (1 - 1 / omega) * (1.03 ** (3 / 365) - 1)
    np.testing.assert_allclose(calls["return"], expected, rtol=1e-12)


def test_a_cp_flag_other_than_c_or_p_is_named():
    quotes = pd.DataFrame({"cp_flag": ["C", "X"], "date": [FRIDAY, FRIDAY]})
    with pytest.raises(DataValidationError, match=r"^quotes: column 'cp_flag' must be 'C' or 'P', found 'X'\.$"):
        pf.quote_day_and_validity(quotes, make_underlying([FRIDAY], [100.0]))


# --------------------------------------------------------------------------------------------------
# Daily returns: holding period, MAX_FILL_SHARE, output columns (§4.4, §5)
# --------------------------------------------------------------------------------------------------
def test_a_friday_formed_after_a_thursday_accrues_three_calendar_days():
    underlying = make_underlying(["2020-01-09", FRIDAY, MONDAY], [99.0, 100.0, 101.0])
    rows = [dict(date=d, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1, mid=m) for d, m in ((FRIDAY, 2.5), (MONDAY, 3.0))]
    result = run(make_quotes(rows, underlying), underlying, formation_dates=[FRIDAY]).loc[("cjs_C_1000_30", FRIDAY)]
    omega = call_omega(100.0, 100.0, 30, 0.2, 2.5)
    assert result["date"] == MONDAY
    assert result["return"] == pytest.approx((3.0 / 2.5 - 1) / omega + (1 - 1 / omega) * (1.03 ** (3 / 365) - 1), rel=1e-12)


def test_max_fill_share_keeps_a_day_whose_filled_weight_equals_it():
    # Two calls at m = 1, 25 and 35 days: z² = 0.25 each, weights 1/2 exactly; the 35-day one has no quote at t+1.
    underlying = make_underlying([FRIDAY, MONDAY], [100.0, 101.0])
    rows = [dict(date=FRIDAY, exdate="2020-02-04", cp_flag="C", strike=100.0, optionid=1),
            dict(date=FRIDAY, exdate="2020-02-14", cp_flag="C", strike=100.0, optionid=2),
            dict(date=MONDAY, exdate="2020-02-04", cp_flag="C", strike=100.0, optionid=1)]
    quotes = make_quotes(rows, underlying)
    at = run(quotes, underlying, max_fill_share=0.5).loc[("cjs_C_1000_30", FRIDAY)]
    assert at["fill_share"] == 0.5 and np.isfinite(at["return"])
    assert np.isnan(run(quotes, underlying, max_fill_share=0.4999).loc[("cjs_C_1000_30", FRIDAY), "return"])


def test_the_default_keeps_a_fully_filled_day_whatever_its_weights_sum_to_in_floating_point():
    # Every held contract filled: the filled share is 1 up to rounding (exactly 1.0 on some CPUs, 1 + 2^-52
    # on others, as numpy's SIMD kernels differ); the default keeps the day either way.
    underlying = make_underlying([FRIDAY, MONDAY], [100.0, 101.0])
    rows = [dict(date=FRIDAY, exdate=str((FRIDAY + pd.Timedelta(days=d)).date()), cp_flag="C", strike=k, optionid=i + 1)
            for i, (k, d) in enumerate(zip((98.7, 98.1, 102.2, 100.4), (34, 26, 29, 32)))]
    result = run(make_quotes(rows, underlying), underlying).loc[("cjs_C_1000_30", FRIDAY)]
    assert result["fill_share"] == pytest.approx(1.0, abs=1e-12)
    assert np.isfinite(result["return"])


def test_the_fill_rule_keeps_a_share_just_above_one_by_default_and_applies_a_stricter_cap_at_equality():
    over_one = np.nextafter(1.0, 2.0)  # 1 + 2^-52, constructed rather than left to one CPU's summation order
    has_quotes = np.array([True, True, True, False])
    fill_share = np.array([over_one, 1.0, 0.5, 0.0])
    assert pf.usable_portfolio_days(has_quotes, fill_share, 1.0).tolist() == [True, True, True, False]
    assert pf.usable_portfolio_days(has_quotes, fill_share, 0.5).tolist() == [False, False, True, False]
    assert pf.usable_portfolio_days(has_quotes, fill_share, 0.4999).tolist() == [False, False, False, False]


def test_output_columns_have_integer_counts_and_float_diagnostics():
    underlying = make_underlying([FRIDAY, MONDAY], [100.0, 101.0])
    rows = [dict(date=d, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1) for d in (FRIDAY, MONDAY)]
    daily = pf.daily_portfolio_returns(make_quotes(rows, underlying), underlying, NO_FITS, underlying.index)
    assert list(daily.columns) == list(pf.DAILY_COLUMNS)
    assert daily["n_options"].dtype == np.int64
    for column in ("return", "fill_share", "eff_moneyness", "eff_maturity"):
        assert daily[column].dtype == np.float64
    puts = daily[daily["portfolio_id"].str.startswith("cjs_P")]
    assert puts[["return", "fill_share", "eff_moneyness", "eff_maturity"]].isna().all().all()


def test_missing_columns_name_the_input():
    underlying = make_underlying([FRIDAY, MONDAY], [100.0, 101.0])
    quotes = make_quotes([dict(date=FRIDAY, exdate="2020-02-09", cp_flag="C", strike=100.0, optionid=1)], underlying)
    with pytest.raises(DataValidationError, match=r"^quotes: missing column\(s\) mid"):
        pf.daily_portfolio_returns(quotes.drop(columns="mid"), underlying, NO_FITS, underlying.index)
    with pytest.raises(DataValidationError, match=r"^smile fits: missing column\(s\) coef_c"):
        pf.daily_portfolio_returns(quotes, underlying, NO_FITS.drop(columns="coef_c"), underlying.index)


# --------------------------------------------------------------------------------------------------
# Monthly compounding and HKM (§4.5, §4.6)
# --------------------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("error")  # no deprecated pandas frequency alias
def test_monthly_counts_are_integers_and_bad_input_is_named():
    daily = pd.DataFrame({"portfolio_id": "cjs_C_1000_30", "date": pd.to_datetime(["2020-01-30", "2020-01-31"]), "return": [0.01, np.nan]})
    monthly = pf.compound_monthly(daily, allow_partial_months=True, months=pf.MONTHS_CALENDAR)
    assert monthly["n_days"].dtype == np.int64 and monthly["n_missing_days"].dtype == np.int64
    assert monthly[["return", "n_days", "n_missing_days"]].iloc[0].tolist() == [pytest.approx(0.01), 1, 1]
    with pytest.raises(DataValidationError, match=r"^daily portfolio returns: missing column\(s\) return"):
        pf.compound_monthly(daily.drop(columns="return"), allow_partial_months=True, months=pf.MONTHS_CALENDAR)
    with pytest.raises(DataValidationError, match=r"^CJS monthly returns: missing column\(s\) return"):
        pf.hkm_portfolio_returns(monthly.drop(columns="return"))
    unknown = monthly.assign(portfolio_id="cjs_C_1000_45")
    with pytest.raises(DataValidationError, match=r"^CJS monthly returns: unknown portfolio_id 'cjs_C_1000_45'\.$"):
        pf.hkm_portfolio_returns(unknown)
