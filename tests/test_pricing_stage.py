"""Pricing stage: test sets from the files, the balanced-panel rule, bad inputs, and the three tables on
He-Kelly-Manela's published (real) series and on small built series."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from linearmodels.asset_pricing import LinearFactorModel

import settings
from asset_pricing import io
from asset_pricing.io import DataValidationError
from asset_pricing.options.portfolios import portfolio_targets
from asset_pricing.paths import project_paths
from asset_pricing.pricing.cross_section import two_pass
from asset_pricing.pricing.panel import PricingInputError, balanced_panel, monthly_market_excess, wide_monthly_returns
from asset_pricing.pricing.stage import build_pricing, pricing_inputs, pricing_targets
from asset_pricing.pricing.tables import CROSS_SECTION_COLUMNS, FITTED_COLUMNS, TIME_SERIES_COLUMNS, TestAssets, price_test
from asset_pricing.sources.published import CAPITAL_FACTOR, OPTION_IDS, load_hkm_published, pull_published

HKM_IDS = list(dict.fromkeys(portfolio_targets()["hkm_id"]))
CJS_IDS = list(portfolio_targets()["portfolio_id"])


def month_ends(first: str, last: str) -> pd.DatetimeIndex:
    """Month ends from month ``first`` to month ``last`` (YYYY-MM), both included."""
    end = pd.offsets.MonthEnd(0)
    return pd.date_range(pd.Timestamp(first) + end, pd.Timestamp(last) + end, freq="ME", name="date")


def factor_model_returns(ids: list[str], index: pd.DatetimeIndex, market: np.ndarray, rf: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    betas = np.linspace(0.6, 1.4, len(ids))
    values = rf + 0.001 + np.outer(market, betas) + rng.normal(0, 0.01, (len(index), len(ids)))
    return pd.DataFrame(values, index=index, columns=ids)


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    long = wide.rename_axis("date").reset_index().melt(id_vars="date", var_name="portfolio_id", value_name="return")
    return long[["portfolio_id", "date", "return"]]


@pytest.fixture
def built_inputs():
    """A small build, 1996-01 … 1999-12 (48 months): market and rf, 18 HKM series with one missing month
    (hkm_P_950, 1997-06) and 54 CJS series (fewer months than 54 assets + 2: GRS undefined)."""
    paths = project_paths()
    pull_published(paths)
    days = pd.bdate_range("1995-12-01", "1999-12-31", name="date")
    rng = np.random.default_rng(1)
    market_daily = pd.DataFrame({"market": rng.normal(0.0004, 0.01, len(days))}, index=days)
    io.write_parquet(market_daily, paths.interim / "market_daily_returns.parquet")
    rf = pd.DataFrame({"rf_month": 0.004}, index=month_ends("1990-01", "1999-12"))
    io.write_parquet(rf, paths.interim / "rf_monthly.parquet")
    index = month_ends("1996-01", "1999-12")
    market = monthly_market_excess(market_daily["market"], rf["rf_month"]).reindex(index).to_numpy()
    hkm = factor_model_returns(HKM_IDS, index, market, 0.004, seed=2)
    hkm.loc["1997-06-30", "hkm_P_950"] = np.nan
    cjs = factor_model_returns(CJS_IDS, index, market, 0.004, seed=3)
    _, hkm_file, cjs_file, *_ = pricing_inputs(paths)
    for wide, file in ((hkm, hkm_file), (cjs, cjs_file)):
        long = to_long(wide)
        long.attrs["data_source"] = "synthetic option quotes"
        io.write_parquet(long, file, index=False)
    return paths


# --- panel rules ------------------------------------------------------------------------------------
def test_balanced_panel_drops_a_missing_month_for_every_asset_and_counts_why():
    index = month_ends("2011-01", "2013-06")
    returns = pd.DataFrame({"a": np.arange(30) * 0.001, "b": np.arange(30) * 0.002}, index=index)
    returns.loc["2011-05-31", "b"] = np.nan  # a hole inside a series
    rf = pd.Series(0.001, index=index)
    capital = pd.Series(0.01, index=month_ends("1970-01", "2012-12"), name="capital")
    panel = balanced_panel(returns, rf, capital.to_frame(), "x × capital")
    assert panel.months == 30 - 1 - 6
    assert list(panel.missing_return) == [pd.Timestamp("2011-05-31")]
    assert panel.without_factor[0] == pd.Timestamp("2013-01-31") and len(panel.without_factor) == 6
    assert pd.Timestamp("2011-05-31") not in panel.excess.index
    assert panel.excess.loc["2011-04-30", "b"] == pytest.approx(3 * 0.002 - 0.001)  # rx = R − rf
    assert panel.summary() == (
        "x × capital: 23 of 30 months (2011-01 … 2012-12); dropped 6 without rf or a factor (2013-01 … 2013-06) "
        "and 1 with a missing return (first: 2011-05)"
    )


def test_a_factor_without_a_common_month_is_named_with_both_windows():
    returns = pd.DataFrame({"a": 0.01, "b": 0.02}, index=month_ends("2013-01", "2014-12"))
    factors = pd.DataFrame({"capital": 0.01}, index=month_ends("1970-01", "2012-12"))
    with pytest.raises(PricingInputError, match=r"hkm18 × capital_market: factor 'capital' \(1970-01 … 2012-12\) has no month in common with the test assets \(2013-01 … 2014-12\)"):
        balanced_panel(returns, pd.Series(0.001, index=returns.index), factors, "hkm18 × capital_market")


def test_dates_that_are_not_month_ends_are_rejected_with_the_series_name():
    returns = pd.DataFrame({"a": [0.01, 0.02]}, index=pd.DatetimeIndex(["2000-01-31", "2000-02-15"]))
    with pytest.raises(PricingInputError, match="t returns: dates must be calendar month ends, found 2000-02-15"):
        balanced_panel(returns, pd.Series(0.0, index=returns.index), pd.DataFrame({"m": 0.0}, index=returns.index), "t")


def test_market_excess_compounds_the_days_of_each_calendar_month():
    days = pd.DatetimeIndex(["2000-01-03", "2000-01-31", "2000-02-01", "2000-02-02"])
    market = pd.Series([0.01, 0.02, -0.01, np.nan], index=days)
    rf = pd.Series([0.002, 0.003], index=month_ends("2000-01", "2000-02"))
    excess = monthly_market_excess(market, rf)
    assert excess.loc["2000-01-31"] == pytest.approx(1.01 * 1.02 - 1 - 0.002)
    assert excess.loc["2000-02-29"] == pytest.approx(-0.01 - 0.003)  # a NaN day is skipped, as in prepare


def test_wide_returns_keep_construction_order_and_reject_a_duplicate_month():
    index = month_ends("2000-01", "2000-02")
    wide = pd.DataFrame({"hkm_P_900": 0.01, "hkm_C_1100": 0.02, "hkm_C_900": 0.03}, index=index)
    assert list(wide_monthly_returns(to_long(wide), "f.parquet").columns) == ["hkm_C_900", "hkm_C_1100", "hkm_P_900"]
    doubled = pd.concat([to_long(wide), to_long(wide).iloc[:1]])
    with pytest.raises(PricingInputError, match="f.parquet: portfolio 'hkm_P_900' has two returns for 2000-01"):
        wide_monthly_returns(doubled, "f.parquet")


# --- one test ---------------------------------------------------------------------------------------
def _test_assets(returns: pd.DataFrame, capital_end: str = "2012-12") -> TestAssets:
    rng = np.random.default_rng(0)
    index = month_ends("1990-01", "2020-12")
    factors = pd.DataFrame({"market": rng.normal(0.005, 0.04, len(index)), "capital": rng.normal(0, 0.07, len(index))}, index=index)
    factors.loc[factors.index > pd.Timestamp(capital_end) + pd.offsets.MonthEnd(0), "capital"] = np.nan
    return TestAssets("t", returns, pd.Series(0.003, index=index), factors, "synthetic option quotes")


def test_a_missing_month_gives_the_numbers_of_the_panel_without_that_month():
    index = month_ends("2000-01", "2004-12")
    rng = np.random.default_rng(4)
    returns = pd.DataFrame(rng.normal(0.01, 0.05, (60, 6)), index=index, columns=HKM_IDS[:6])
    returns.iloc[17, 2] = np.nan
    test = _test_assets(returns)
    rows = price_test(test, "market")
    row = rows.cross_section.iloc[0]
    assert row["months"] == 59 and row["months_missing_return"] == 1 and "1 month(s) with a missing return dropped" in row["note"]
    kept = returns.drop(index=index[17])
    expected = two_pass(kept.sub(0.003), test.factors.loc[kept.index, ["market"]])
    assert row["lambda_market"] == pytest.approx(expected.lambdas["market"], rel=1e-12)
    assert row["t_gmm_market"] == pytest.approx(expected.t_gmm["market"], rel=1e-12)


def test_a_factor_set_without_overlap_is_reported_empty_with_the_reason():
    returns = pd.DataFrame(np.random.default_rng(5).normal(0.01, 0.05, (24, 4)), index=month_ends("2013-01", "2014-12"), columns=HKM_IDS[:4])
    test = _test_assets(returns)
    empty = price_test(test, "capital_market")
    row = empty.cross_section.iloc[0]
    assert row["months"] == 0 and np.isnan(row["lambda_capital"]) and np.isnan(row["grs_f"])
    assert "factor 'capital' (1990-01 … 2012-12) has no month in common with the test assets (2013-01 … 2014-12)" in row["note"]
    assert empty.time_series.empty and empty.fitted.empty
    assert price_test(test, "market").cross_section.iloc[0]["months"] == 24  # the market still prices them


def test_fewer_months_than_assets_plus_two_leaves_grs_empty_and_says_why():
    returns = pd.DataFrame(np.random.default_rng(6).normal(0.01, 0.05, (20, 19)), index=month_ends("2000-01", "2001-08"), columns=CJS_IDS[:19])
    rows = price_test(_test_assets(returns), "market")
    row = rows.cross_section.iloc[0]
    assert np.isnan(row["grs_f"]) and np.isnan(row["grs_p"]) and np.isnan(row["j_stat"])
    assert "GRS test undefined with 20 months for 19 assets and 1 factor(s)" in row["note"]
    assert np.isfinite(row["lambda_market"]) and np.isfinite(row["t_gmm_market"])
    assert len(rows.time_series) == 19


# --- the stage ----------------------------------------------------------------------------------------
def test_stage_writes_the_three_tables_for_every_test_set_and_factor_set(built_inputs, caplog):
    with caplog.at_level(logging.INFO):
        written = build_pricing(built_inputs, settings.load())
    assert written == pricing_targets(built_inputs)
    time_series, cross, fitted = (pd.read_csv(path) for path in written)
    assert list(time_series.columns) == list(TIME_SERIES_COLUMNS)
    assert list(cross.columns) == list(CROSS_SECTION_COLUMNS)
    assert list(fitted.columns) == list(FITTED_COLUMNS)
    assert list(zip(cross["test_assets"], cross["factors"])) == [
        (t, f) for t in ("published_hkm18", "hkm18", "cjs54") for f in ("market", "capital_market")
    ]
    assert len(time_series) == len(fitted) == 2 * (18 + 18 + 54)
    assert time_series.loc[time_series["factors"] == "market", "beta_capital"].isna().all()
    assert time_series.loc[time_series["factors"] == "capital_market", "beta_capital"].notna().all()
    cross = cross.set_index(["test_assets", "factors"])
    hkm = cross.loc[("hkm18", "market")]
    assert (hkm["first_month"], hkm["last_month"], hkm["months"], hkm["months_missing_return"]) == ("1996-01-31", "1999-12-31", 47, 1)
    assert hkm["data_source"] == "synthetic option quotes"
    market = monthly_market_excess(pd.read_parquet(pricing_inputs(built_inputs)[3])["market"], pd.read_parquet(pricing_inputs(built_inputs)[4])["rf_month"])
    assert hkm["mean_market"] == pytest.approx(market.loc["1996-01":"1999-12"].drop(pd.Timestamp("1997-06-30")).mean(), rel=1e-12)
    assert np.isnan(hkm["mean_capital"]) and np.isfinite(cross.loc[("hkm18", "capital_market"), "mean_capital"])
    cjs = cross.loc[("cjs54", "capital_market")]
    assert np.isnan(cjs["grs_f"]) and "GRS test undefined with 48 months for 54 assets" in cjs["note"]
    assert "real quotes" in cross.loc[("published_hkm18", "market"), "data_source"]
    assert "hkm18 × market: 47 of 48 months (1996-01 … 1999-12); dropped 1 with a missing return (first: 1997-06)" in caplog.text
    assert "GRS and J-test left empty" in caplog.text
    assert "option_pricing_cross_section.csv" in caplog.text


def test_published_hkm18_golden_values_and_linearmodels_lambdas(built_inputs):
    build_pricing(built_inputs, settings.load())
    cross = pd.read_csv(pricing_targets(built_inputs)[1]).set_index(["test_assets", "factors"])
    market = cross.loc[("published_hkm18", "market")]
    capital = cross.loc[("published_hkm18", "capital_market")]
    assert (market["first_month"], market["last_month"], market["months"], market["assets"]) == ("1986-04-30", "2012-01-31", 310, 18)
    # this implementation on HKM's published file (real data); λ cross-checked with linearmodels below
    golden = {
        "market": {"lambda_intercept": -0.0256344459447571, "lambda_market": 0.0336971051509312, "t_fm_market": 4.828320720299849,
                   "t_gmm_market": 2.632364976459308, "r2": 0.9058874759424104, "mape": 0.0012860309523091, "grs_f": 4.391526533899923},
        "capital_market": {"lambda_capital": 0.2268343305082007, "lambda_market": 0.0207793855184494, "t_fm_capital": 5.075318328977681,
                           "t_gmm_capital": 0.7998681649917477, "r2": 0.9592199706871928, "mape": 0.00074687340855, "grs_f": 4.3047947675674925},
    }
    for row, values in ((market, golden["market"]), (capital, golden["capital_market"])):
        for column, value in values.items():
            assert row[column] == pytest.approx(value, rel=1e-9), column
    published = load_hkm_published()
    options = published[list(OPTION_IDS)].dropna()
    rx = options.sub(published.loc[options.index, "rf"], axis=0)
    factors = published.loc[options.index, [CAPITAL_FACTOR, "mkt_rf"]]
    premia = LinearFactorModel(rx, factors, risk_free=True).fit().risk_premia.to_numpy()
    np.testing.assert_allclose(capital[["lambda_intercept", "lambda_capital", "lambda_market"]].to_numpy(float), premia, atol=1e-8)


def test_a_build_file_without_the_return_column_names_the_file(built_inputs):
    _, hkm_file, *_ = pricing_inputs(built_inputs)
    io.write_parquet(pd.read_parquet(hkm_file).rename(columns={"return": "ret"}), hkm_file, index=False)
    with pytest.raises(DataValidationError, match=r"hkm_portfolio_returns.parquet: missing column\(s\) return"):
        build_pricing(built_inputs, settings.load())


def test_a_missing_input_file_names_it(built_inputs):
    pricing_inputs(built_inputs)[3].unlink()
    with pytest.raises(FileNotFoundError, match="market_daily_returns.parquet: file not found"):
        build_pricing(built_inputs, settings.load())


@pytest.mark.parametrize(("name", "value"), [("PRICING_NW_LAGS", "five"), ("PRICING_NW_LAGS", "-2"), ("PRICING_GMM_LAGS", "-1")])
def test_bad_pricing_settings_are_one_line_naming_the_setting(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(settings.SettingsError, match=f"Setting {name}='{value}'.*invalid") as info:
        settings.load()
    assert "\n" not in str(info.value)


def test_lag_settings_reach_the_tables(built_inputs, monkeypatch):
    monkeypatch.setenv("PRICING_NW_LAGS", "2")
    monkeypatch.setenv("PRICING_GMM_LAGS", "1")
    build_pricing(built_inputs, settings.load())
    cross = pd.read_csv(pricing_targets(built_inputs)[1])
    assert (cross["nw_lags"] == 2).all() and (cross["gmm_lags"] == 1).all()
    assert (pd.read_csv(pricing_targets(built_inputs)[0])["nw_lags"] == 2).all()
