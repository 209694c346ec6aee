"""Pricing tests (docs/methods.md §7): the numbers and labels of the tables at their edges.

Two-factor betas recovered exactly, the Newey–West lag by default, the J-test at the fewest months it
needs and with one Bartlett lag, the first-pass residuals, the spectral density of several moments, the
minimum months of each test, and every field of a cross-section row — computed, or left empty with the
reason in ``note``. Hand panels use residuals orthogonal in sample to [1, f] (columns of a Hadamard
matrix), so OLS returns the planted coefficients exactly.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from asset_pricing import io
from asset_pricing.io import DataValidationError
from asset_pricing.paths import project_paths
from asset_pricing.pricing.cross_section import gmm_lambda_covariance, spectral_density, time_series_coefficients, two_pass
from asset_pricing.pricing.panel import BalancedPanel, PricingInputError, balanced_panel, monthly_market_excess, wide_monthly_returns
from asset_pricing.pricing.stage import build_test_assets, published_test_assets, read_test_assets
from asset_pricing.pricing.tables import CROSS_SECTION_COLUMNS, FITTED_COLUMNS, TIME_SERIES_COLUMNS, TestAssets, price_all, price_test
from asset_pricing.pricing.time_series import grs_test, j_test, newey_west_lags, resolve_lags, time_series_regressions
from asset_pricing.sources.published import load_hkm_published, pull_published, raw_published_path


def months(n: int, start: str = "2000-01-31") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="ME", name="date")


def random_panel(n_months: int, n_assets: int, n_factors: int = 1, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    f = rng.normal(0.005, 0.04, size=(n_months, n_factors))
    rx = 0.002 + f @ rng.uniform(0.3, 1.5, size=(n_factors, n_assets)) + rng.normal(0, 0.01, (n_months, n_assets))
    index = months(n_months)
    factors = pd.DataFrame(f, index=index, columns=["capital", "market"][-n_factors:])
    return pd.DataFrame(rx, index=index, columns=[f"p{i}" for i in range(n_assets)]), factors


def two_factor_hand_panel() -> tuple[pd.DataFrame, pd.DataFrame]:
    """rx_i = a_i + b_i,cap·cap + b_i,mkt·mkt + c_i·e over four months; cap, mkt and e are Hadamard columns."""
    cap = 0.1 * np.array([-1.0, 1.0, -1.0, 1.0])
    mkt = 0.05 * np.array([-1.0, -1.0, 1.0, 1.0])
    e = np.array([1.0, -1.0, -1.0, 1.0])
    planted = {"p0": (0.01, 0.5, 1.0, 0.02), "p1": (0.00, -0.2, 1.5, -0.01)}
    rx = pd.DataFrame({pid: a + bc * cap + bm * mkt + c * e for pid, (a, bc, bm, c) in planted.items()}, index=months(4))
    return rx, pd.DataFrame({"capital": cap, "market": mkt}, index=rx.index)


# --- time series ------------------------------------------------------------------------------------
def test_lag_setting_errors_quote_the_setting_they_name():
    with pytest.raises(PricingInputError, match=r"^Setting PRICING_NW_LAGS='-1' is invalid: the lag must be >= 0 and below the 310 months"):
        resolve_lags("-1", 310)
    with pytest.raises(PricingInputError, match=r"^Setting PRICING_GMM_LAGS='x' is invalid: expected auto or a whole number >= 0\.$"):
        resolve_lags("x", 310, name="PRICING_GMM_LAGS")


def test_two_factor_betas_are_recovered_in_the_order_of_the_factors():
    rx, factors = two_factor_hand_panel()
    table = time_series_regressions(rx, factors, 0)
    assert table.index.name == "portfolio_id" and table.index.tolist() == ["p0", "p1"]
    np.testing.assert_allclose(table["alpha"], [0.01, 0.0], atol=1e-15)
    np.testing.assert_allclose(table["beta_capital"], [0.5, -0.2], rtol=1e-12)
    np.testing.assert_allclose(table["beta_market"], [1.0, 1.5], rtol=1e-12)


def test_the_default_newey_west_lag_is_the_rule_of_thumb():
    rx, factors = random_panel(120, 2)
    assert newey_west_lags(120) == 4  # ⌊4 · 1.2^{2/9}⌋ = ⌊4.17⌋
    default = time_series_regressions(rx, factors)
    pd.testing.assert_frame_equal(default, time_series_regressions(rx, factors, 4))
    assert (default["nw_lags"] == 4).all()


def test_each_test_needs_its_minimum_months_and_says_which_test_failed():
    rx, factors = random_panel(2, 3)
    with pytest.raises(PricingInputError, match=r"^x: 2 months, fewer than the 3 this test needs\.$"):
        time_series_regressions(rx, factors, 0, name="x")
    with pytest.raises(PricingInputError, match=r"^x: 2 months, fewer than the 3 this test needs\.$"):
        two_pass(rx, factors, name="x")
    with pytest.raises(PricingInputError, match=r"^test: excess returns and factors must cover the same months \(use balanced_panel\)\.$"):
        time_series_regressions(rx, factors.iloc[::-1], 0)
    rx, factors = random_panel(12, 3)
    rx.iloc[4, 0] = np.nan
    with pytest.raises(PricingInputError, match=r"^test: column 'p0' has no value for 2000-05; tests run on the balanced panel \(use balanced_panel, which drops such months\)\.$"):
        time_series_regressions(rx, factors, 0)
    for test in (grs_test, lambda a, b, name: j_test(a, b, 0, name)):
        with pytest.raises(PricingInputError, match=r"^y: column 'p0' has no value"):
            test(rx, factors, name="y")


def test_tests_named_by_default_test_and_one_month_is_too_few_for_grs_and_j():
    rx, factors = random_panel(1, 2)
    with pytest.raises(PricingInputError, match=r"^test: GRS test undefined with 1 months for 2 assets and 1 factor\(s\): it needs at least assets \+ factors \+ 1 = 4 months"):
        grs_test(rx, factors)
    with pytest.raises(PricingInputError, match=r"^test: J-test undefined with 1 months for 2 assets \(needs assets \+ factors \+ 1\)\.$"):
        j_test(rx, factors, 0)
    with pytest.raises(PricingInputError, match=r"^test: 1 months, fewer than the 3 this test needs\.$"):
        two_pass(rx, factors)


def test_j_test_is_defined_from_assets_plus_factors_plus_one_months():
    rx, factors = random_panel(5, 3)  # T = N + K + 1
    result = j_test(rx, factors, 0, "z")
    assert np.isfinite(result["j_stat"]) and result["j_df"] == 3
    assert np.isfinite(grs_test(rx, factors)["grs_f"]) and grs_test(rx, factors)["df_denominator"] == 1
    with pytest.raises(PricingInputError, match=r"^z: J-test undefined with 4 months for 3 assets \(needs assets \+ factors \+ 1\)\.$"):
        j_test(rx.iloc[:4], factors.iloc[:4], 0, "z")


def test_j_test_with_one_lag_is_the_squared_hac_t_of_one_alpha():
    rx, factors = random_panel(60, 1, seed=5)
    hac = sm.OLS(rx["p0"].to_numpy(), sm.add_constant(factors.to_numpy())).fit(cov_type="HAC", cov_kwds={"maxlags": 1})
    assert j_test(rx, factors, 1)["j_stat"] == pytest.approx(hac.tvalues[0] ** 2, rel=1e-8)


# --- cross-section ----------------------------------------------------------------------------------
def test_first_pass_residuals_and_labels():
    rx, factors = two_factor_hand_panel()
    coefficients, residuals = time_series_coefficients(rx, factors)
    assert coefficients.index.tolist() == ["intercept", "capital", "market"] and coefficients.columns.tolist() == ["p0", "p1"]
    e = np.array([1.0, -1.0, -1.0, 1.0])
    expected = pd.DataFrame({"p0": 0.02 * e, "p1": -0.01 * e}, index=rx.index)
    pd.testing.assert_frame_equal(residuals, expected, atol=1e-15, rtol=0)


def test_two_pass_result_keeps_asset_and_month_labels_and_its_gmm_lag():
    rx, factors = random_panel(24, 5)
    result = two_pass(rx, factors, gmm_lags=2)
    assert result.betas.index.tolist() == rx.columns.tolist() and result.lambda_t.index.equals(rx.index)
    assert result.gmm_lags == 2 and result.months == 24
    coefficients, _ = time_series_coefficients(rx, factors)
    default = gmm_lambda_covariance(rx, factors, coefficients, result.lambdas)
    pd.testing.assert_frame_equal(default, gmm_lambda_covariance(rx, factors, coefficients, result.lambdas, 0))
    assert default.index.tolist() == default.columns.tolist() == ["intercept", "market"]
    with pytest.raises(PricingInputError, match=r"^Setting PRICING_GMM_LAGS=24 is invalid for w: expected 0 … 23 lags\.$"):
        two_pass(rx, factors, gmm_lags=24, name="w")


def test_spectral_density_demeans_each_moment_by_its_own_mean():
    g = np.array([[1.0, 10.0], [3.0, 20.0], [2.0, 30.0], [6.0, 40.0]])  # means 3 and 25
    # demeaned (−2, 0, −1, 3) and (−15, −5, 5, 15): Γ_0 = [[14, 70], [70, 500]]/4
    np.testing.assert_allclose(spectral_density(g, 0), np.array([[14.0, 70.0], [70.0, 500.0]]) / 4, rtol=1e-14)


# --- the rows of the tables ---------------------------------------------------------------------------
def _test_assets(returns: pd.DataFrame, name: str = "t") -> TestAssets:
    index = months(36, "2011-01-31")
    rng = np.random.default_rng(0)
    factors = pd.DataFrame({"market": rng.normal(0.005, 0.04, 36), "capital": rng.normal(0, 0.07, 36)}, index=index)
    factors.loc[factors.index > "2012-12-31", "capital"] = np.nan
    return TestAssets(name, returns, pd.Series(0.001, index=index), factors, "synthetic option quotes")


def test_a_test_that_stops_in_the_cross_section_keeps_its_panel_in_the_row():
    returns = pd.DataFrame(np.random.default_rng(1).normal(0.01, 0.05, (30, 2)), index=months(30, "2011-01-31"), columns=["a", "b"])
    returns.iloc[3, 1] = np.nan
    rows = price_test(_test_assets(returns), "capital_market", nw_lags=1, gmm_lags=1)
    row = rows.cross_section.iloc[0]
    assert list(rows.cross_section.columns) == list(CROSS_SECTION_COLUMNS)
    assert (row["test_assets"], row["factors"], row["data_source"], row["assets"], row["months"], row["gmm_lags"]) == (
        "t", "capital_market", "synthetic option quotes", 2, 23, 1)
    assert (row["first_month"], row["last_month"]) == (pd.Timestamp("2011-01-31"), pd.Timestamp("2012-12-31"))
    assert (row["months_without_factor"], row["months_missing_return"]) == (6, 1)
    assert row["note"] == "t × capital_market: 2 assets; the cross-section needs at least factors + 2 = 4."
    assert row[["lambda_intercept", "r2", "grs_f", "j_stat", "nw_lags"]].isna().all()
    assert rows.time_series.empty and list(rows.time_series.columns) == list(TIME_SERIES_COLUMNS)
    assert rows.fitted.empty and list(rows.fitted.columns) == list(FITTED_COLUMNS)


def test_a_test_without_a_common_month_has_an_empty_row_with_its_labels():
    returns = pd.DataFrame(0.01, index=months(12, "2013-01-31"), columns=["a", "b", "c"])
    row = price_test(_test_assets(returns), "capital_market", gmm_lags=2).cross_section.iloc[0]
    assert (row["test_assets"], row["factors"], row["data_source"], row["assets"], row["months"], row["gmm_lags"]) == (
        "t", "capital_market", "synthetic option quotes", 3, 0, 2)
    assert pd.isna(row["first_month"]) and pd.isna(row["months_without_factor"])


def test_a_panel_of_fewer_months_than_the_time_series_needs_says_so_in_the_note():
    returns = pd.DataFrame([[0.01, 0.02, 0.03], [0.02, -0.01, 0.0]], index=months(2, "2011-01-31"), columns=["a", "b", "c"])
    row = price_test(_test_assets(returns), "market").cross_section.iloc[0]
    assert row["months"] == 2 and row["note"] == "t × market: 2 months, fewer than the 3 this test needs."


def test_every_field_of_a_computed_row_and_its_notes():
    index = months(21, "2011-01-31")
    returns = pd.DataFrame(np.random.default_rng(2).normal(0.01, 0.05, (21, 19)), index=index, columns=[f"p{i:02d}" for i in range(19)])
    returns.iloc[7, 4] = np.nan  # 20 months for 19 assets: GRS needs 21
    test = _test_assets(returns)
    rows = price_test(test, "market", nw_lags=2)
    row = rows.cross_section.iloc[0]
    assert row["note"] == (
        "t × market: GRS test undefined with 20 months for 19 assets and 1 factor(s): it needs at least assets + factors + 1 = 21 "
        "months (Gibbons, Ross and Shanken 1989); 1 month(s) with a missing return dropped (balanced panel)"
    )
    panel = balanced_panel(returns, test.rf, test.factors[["market"]], "t × market")
    cross = two_pass(panel.excess, panel.factors)
    assert (row["months"], row["assets"], row["months_without_factor"], row["months_missing_return"], row["nw_lags"], row["gmm_lags"]) == (20, 19, 0, 1, 2, 0)
    assert row["lambda_market"] == pytest.approx(cross.lambdas["market"], rel=1e-12) and row["mean_market"] == pytest.approx(panel.factors["market"].mean())
    fitted = rows.fitted.set_index("portfolio_id")
    assert fitted.index.tolist() == returns.columns.tolist() and (fitted["months"] == 20).all()
    np.testing.assert_allclose(fitted["mean_excess"], cross.mean_excess, rtol=1e-14)
    np.testing.assert_allclose(fitted["predicted"], cross.predicted, rtol=1e-14)
    np.testing.assert_allclose(fitted["pricing_error"], cross.pricing_errors, rtol=1e-14, atol=1e-16)
    assert set(rows.fitted["test_assets"]) == {"t"} and set(rows.fitted["factors"]) == {"market"} and set(rows.fitted["data_source"]) == {"synthetic option quotes"}
    series = rows.time_series
    assert series["portfolio_id"].tolist() == returns.columns.tolist()
    assert set(series["test_assets"]) == {"t"} and set(series["factors"]) == {"market"} and set(series["data_source"]) == {"synthetic option quotes"}

    # GRS and J where they are defined: the same numbers as the functions
    full = returns.iloc[:, :10].fillna(0.0)
    row = price_test(_test_assets(full), "market", nw_lags=2).cross_section.iloc[0]
    excess = full.sub(0.001)
    grs = grs_test(excess, test.factors[["market"]].loc[full.index])
    j = j_test(excess, test.factors[["market"]].loc[full.index], 2)
    assert (row["grs_f"], row["grs_p"], row["j_stat"], row["j_p"]) == pytest.approx((grs["grs_f"], grs["grs_p"], j["j_stat"], j["j_p"]), rel=1e-12)
    assert row["note"] == ""


def test_price_all_defaults_are_the_lag_rule_and_no_gmm_lags():
    returns = pd.DataFrame(np.random.default_rng(3).normal(0.01, 0.05, (24, 4)), index=months(24, "2011-01-31"), columns=list("abcd"))
    cross = price_all([_test_assets(returns)]).cross_section.set_index("factors")
    assert cross.loc["market", "nw_lags"] == newey_west_lags(24) == 2 and cross.loc["market", "gmm_lags"] == 0
    assert cross.loc["capital_market", "months"] == 24


def test_price_all_of_tests_that_all_stop_keeps_the_table_columns():
    returns = pd.DataFrame(0.01, index=months(12, "2013-01-31"), columns=["a", "b"])
    test = _test_assets(returns)
    no_market = TestAssets("u", returns, test.rf, test.factors.assign(market=np.nan), test.data_source)
    rows = price_all([no_market])
    assert rows.time_series.empty and list(rows.time_series.columns) == list(TIME_SERIES_COLUMNS)
    assert rows.fitted.empty and list(rows.fitted.columns) == list(FITTED_COLUMNS)
    assert len(rows.cross_section) == 2 and (rows.cross_section["months"] == 0).all()


# --- panels -----------------------------------------------------------------------------------------
def test_panel_summary_lists_three_missing_months_or_says_none_dropped():
    index = months(4)
    panel = BalancedPanel("x", pd.DataFrame({"a": [0.0]}, index=index[:1]), pd.DataFrame({"m": [0.0]}, index=index[:1]),
                          index, index[:0], pd.DatetimeIndex(index[:4]))
    assert panel.summary() == "x: 1 of 4 months (2000-01 … 2000-01); dropped 4 with a missing return (first: 2000-01, 2000-02, 2000-03)"
    clean = BalancedPanel("x", pd.DataFrame({"a": [0.0]}, index=index[:1]), pd.DataFrame({"m": [0.0]}, index=index[:1]),
                          index[:1], index[:0], index[:0])
    assert clean.summary() == "x: 1 of 1 months (2000-01 … 2000-01); none dropped"


def test_balanced_panel_errors_name_the_series_and_the_windows():
    index = months(6)
    returns = pd.DataFrame({"a": 0.01, "b": 0.02}, index=index)
    factors = pd.DataFrame({"market": 0.01}, index=index)
    with pytest.raises(PricingInputError, match=r"^n: the test assets have no return\.$"):
        balanced_panel(returns * np.nan, pd.Series(0.001, index=index), factors, "n")
    late_rf = pd.Series(0.001, index=months(3, "2005-01-31"))
    with pytest.raises(PricingInputError, match=r"^n: the risk-free rate \(2005-01 … 2005-03\) has no month in common with the test assets \(2000-01 … 2000-06\)\.$"):
        balanced_panel(returns, late_rf, factors, "n")
    staggered = returns.copy()
    staggered.iloc[::2, 0] = np.nan
    staggered.iloc[1::2, 1] = np.nan
    with pytest.raises(PricingInputError, match=r"^n: no month where all 2 test assets, rf and the factors have a value \(window 2000-01 … 2000-06; 6 months miss a return\)\.$"):
        balanced_panel(staggered, pd.Series(0.001, index=index), factors, "n")
    with pytest.raises(DataValidationError, match=r"^n rf: index must be dates"):
        balanced_panel(returns, pd.Series(0.001, index=range(6)), factors, "n")
    with pytest.raises(PricingInputError, match=r"^n factors: dates must be calendar month ends, found 2000-01-15\.$"):
        balanced_panel(returns, pd.Series(0.001, index=index), factors.set_axis(index - pd.Timedelta(days=16)), "n")
    with pytest.raises(PricingInputError, match=r"^n: the risk-free rate \(no month\) has no month in common with the test assets \(2000-01 … 2000-06\)\.$"):
        balanced_panel(returns, pd.Series(np.nan, index=index), factors, "n")


def test_wide_returns_reject_what_is_not_one_number_per_portfolio_and_month():
    index = months(2)
    long = pd.DataFrame({"portfolio_id": ["hkm_C_900", "hkm_C_900"], "date": index, "return": [0.01, 0.02]})
    wide = wide_monthly_returns(long.assign(**{"return": ["0.01", "0.02"]}), "f.parquet")
    assert wide["hkm_C_900"].tolist() == [0.01, 0.02] and wide.index.equals(index)
    with pytest.raises(PricingInputError, match=r"^f\.parquet: no rows\.$"):
        wide_monthly_returns(long.iloc[:0], "f.parquet")
    with pytest.raises(PricingInputError, match=r"^f\.parquet: portfolio 'hkm_C_900' has two returns for 2000-01\.$"):
        wide_monthly_returns(pd.concat([long, long.iloc[:1].assign(**{"return": 0.5})]), "f.parquet")
    for bad in (["0.01", "n/a"], [0.01, np.inf]):
        with pytest.raises(PricingInputError, match=r"^f\.parquet: column 'return' holds a non-number or an infinite value\.$"):
            wide_monthly_returns(long.assign(**{"return": bad}), "f.parquet")
    with pytest.raises(PricingInputError, match=r"^f\.parquet: dates must be calendar month ends, found 2000-01-15\.$"):
        wide_monthly_returns(long.assign(date=pd.to_datetime(["2000-01-15", "2000-02-29"])), "f.parquet")


def test_market_excess_covers_the_months_of_the_market_only():
    days = pd.DatetimeIndex(["2000-02-01", "2000-02-29", "2000-03-01"])
    rf = pd.Series([0.001, 0.002, 0.003, 0.004], index=months(4))
    excess = monthly_market_excess(pd.Series([0.01, 0.02, 0.03], index=days), rf)
    assert excess.name == "market" and excess.index.tolist() == list(months(2, "2000-02-29"))
    np.testing.assert_allclose(excess.to_numpy(), [1.01 * 1.02 - 1 - 0.002, 0.03 - 0.003], rtol=1e-12)


# --- the stage's inputs -------------------------------------------------------------------------------
def test_test_sets_name_the_file_they_came_from():
    published = load_hkm_published()
    with pytest.raises(DataValidationError, match=r"^published\.parquet: missing column\(s\) rf"):
        published_test_assets(published.drop(columns="rf"), "published.parquet")
    with pytest.raises(PricingInputError, match=r"^published\.parquet: dates must be calendar month ends"):
        published_test_assets(published.set_axis(published.index - pd.Timedelta(days=1)), "published.parquet")
    long = pd.DataFrame({"portfolio_id": "hkm_C_900", "date": months(3), "return": 0.01})
    test = build_test_assets("hkm18", long, project_paths().processed / "hkm_portfolio_returns.parquet",
                             pd.Series(0.001, index=months(3)), pd.Series(0.01, index=months(3)), pd.Series(0.0, index=months(3)))
    assert test.data_source == "this build's option quotes (hkm_portfolio_returns.parquet has no data_source label)"


def test_a_published_file_without_a_column_is_named():
    paths = project_paths()
    pull_published(paths)
    published_file = raw_published_path(paths)
    io.write_parquet(pd.read_parquet(published_file).drop(columns="mkt_rf"), published_file)
    with pytest.raises(DataValidationError, match=rf"^{re.escape(str(published_file))}: missing column\(s\) mkt_rf"):
        read_test_assets(paths)


@pytest.mark.parametrize(("file", "frame", "message"), [
    ("market_daily_returns.parquet", pd.DataFrame({"mkt": [0.01]}, index=pd.DatetimeIndex(["2000-01-03"])), r"market_daily_returns\.parquet: missing column\(s\) market"),
    ("market_daily_returns.parquet", pd.DataFrame({"market": [0.01, 0.02]}, index=pd.DatetimeIndex(["2000-01-04", "2000-01-03"])), r"market_daily_returns\.parquet: dates are not sorted"),
    ("rf_monthly.parquet", pd.DataFrame({"rf": [0.001]}, index=months(1)), r"rf_monthly\.parquet: missing column\(s\) rf_month"),
    ("rf_monthly.parquet", pd.DataFrame({"rf_month": [0.001]}, index=pd.DatetimeIndex(["2000-01-15"])), r"rf_monthly\.parquet: dates must be calendar month ends"),
])
def test_a_bad_market_or_rf_file_is_named(file, frame, message):
    paths = project_paths()
    pull_published(paths)
    io.write_parquet(pd.DataFrame({"market": [0.01]}, index=pd.DatetimeIndex(["2000-01-03"], name="date")), paths.interim / "market_daily_returns.parquet")
    io.write_parquet(pd.DataFrame({"rf_month": [0.001]}, index=months(1)), paths.interim / "rf_monthly.parquet")
    io.write_parquet(frame, paths.interim / file)
    with pytest.raises(DataValidationError, match=message):
        read_test_assets(paths)
