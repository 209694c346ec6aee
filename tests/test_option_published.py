"""This build beside HKM's published option series: the replication check and the like-for-like facts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asset_pricing.options.published import compare_with_published, hkm_ids, index_month_pieces, month_cut_loadings, series_facts
from asset_pricing.sources.published import load_hkm_published, published_option_returns


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return load_hkm_published()


def test_the_published_series_passed_in_as_this_build_replicates_itself(published):
    table = compare_with_published(published_option_returns(published), published, real_quotes=True, data_source="OptionMetrics (WRDS)")
    assert table["portfolio_id"].tolist() == hkm_ids()
    assert (table["months"] == 310).all() and (table["first_month"] == "1986-04").all() and (table["last_month"] == "2012-01").all()
    np.testing.assert_allclose(table["correlation"], 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table["tracking_error"], 0.0, atol=1e-15)
    np.testing.assert_allclose(table["sd_ratio"], 1.0, rtol=1e-12)
    np.testing.assert_allclose(table["beta_build"], table["beta_published"], rtol=1e-12)
    np.testing.assert_allclose(table["resid_sd_build"], table["resid_sd_published"], rtol=1e-12)
    # the facts of the published file (reference README, all 310 months): call 0.900 beta 0.84, put 0.900 mean 1.63%
    row = table.set_index("portfolio_id")
    assert row.loc["hkm_C_900", "beta_published"] == pytest.approx(0.84, abs=0.005)
    assert row.loc["hkm_P_900", "mean_published"] == pytest.approx(0.0163, abs=1e-4)  # 1.6245% in the file
    assert row.loc["hkm_P_1100", "sd_published"] == pytest.approx(0.0462, abs=5e-5)


def test_series_facts_match_a_hand_computation():
    months = pd.period_range("2000-01", periods=4, freq="M").to_timestamp(how="end").normalize()
    returns = pd.DataFrame({"a": [0.02, -0.01, 0.03, 0.00]}, index=months)
    rf = pd.Series(0.001, index=months)
    market = pd.Series([0.01, -0.02, 0.02, 0.01], index=months)
    facts = series_facts(returns, market, rf).loc["a"]
    excess = np.array([0.019, -0.011, 0.029, -0.001])
    m = np.array([0.01, -0.02, 0.02, 0.01])
    beta = ((excess - excess.mean()) * (m - m.mean())).sum() / ((m - m.mean()) ** 2).sum()
    n, d = 4, excess - excess.mean()
    skew = np.sqrt(n * (n - 1)) / (n - 2) * (d**3).mean() / (d**2).mean() ** 1.5  # adjusted Fisher-Pearson
    assert facts["mean"] == pytest.approx(0.01) and facts["sd"] == pytest.approx(np.std([0.02, -0.01, 0.03, 0.0], ddof=1))
    assert facts["beta"] == pytest.approx(beta, rel=1e-12) and facts["beta"] == pytest.approx(np.polyfit(m, excess, 1)[0], rel=1e-12)
    assert facts["skew"] == pytest.approx(skew, rel=1e-12)
    residual = excess - np.polyval(np.polyfit(m, excess, 1), m)
    assert facts["resid_sd"] == pytest.approx(np.sqrt((residual**2).sum() / 2), rel=1e-9)  # n − 2 = 2 degrees of freedom
    assert facts["r2"] == pytest.approx(np.corrcoef(m, excess)[0, 1] ** 2, rel=1e-9)


def test_comparison_uses_only_common_months_and_no_replication_check_on_synthetic_quotes(published):
    build = published_option_returns(published)
    build = build[build["date"] >= "2010-01-01"].copy()
    build["return"] += 0.001  # a build that earns 0.1% a month more
    extra = pd.DataFrame({"portfolio_id": "hkm_C_900", "date": pd.to_datetime(["2015-06-30"]), "return": [0.5]})  # after the published file
    table = compare_with_published(pd.concat([build, extra]), published, real_quotes=False, data_source="synthetic option quotes").set_index("portfolio_id")
    assert (table["months"] == 25).all() and (table["first_month"] == "2010-01").all() and (table["last_month"] == "2012-01").all()
    np.testing.assert_allclose(table["mean_build"] - table["mean_published"], 0.001, atol=1e-15)
    np.testing.assert_allclose(table["beta_build"], table["beta_published"], rtol=1e-9)  # a constant shift keeps the beta
    np.testing.assert_allclose(table["r2_build"], table["r2_published"], rtol=1e-9)  # and the residuals
    assert table["correlation"].isna().all() and table["tracking_error"].isna().all()
    assert (table["data_source"] == "synthetic option quotes").all()


def test_a_build_after_2012_has_nothing_to_compare_and_says_so(published):
    build = pd.DataFrame({"portfolio_id": np.repeat(hkm_ids(), 2), "date": np.tile(pd.to_datetime(["2015-01-31", "2015-02-28"]), 18), "return": 0.01})
    table = compare_with_published(build, published, real_quotes=True, data_source="OptionMetrics (WRDS)")
    assert (table["months"] == 0).all() and table["beta_build"].isna().all()


# --------------------------------------------------------------------------------------------------
# Which days a published month compounds (docs/methods.md §4.5)
# --------------------------------------------------------------------------------------------------
def test_index_month_pieces_split_the_calendar_month_at_the_first_close():
    close = pd.Series([100.0, 102.0, 101.0, 110.0, 99.0],
                      index=pd.to_datetime(["2020-01-30", "2020-01-31", "2020-02-03", "2020-02-28", "2020-03-02"]))
    pieces = index_month_pieces(close)
    assert np.isnan(pieces.loc["2020-01-31", "first_day"])
    assert pieces.loc["2020-01-31", "first_to_last"] == pytest.approx(0.02)
    assert pieces.loc["2020-02-29", "first_day"] == pytest.approx(101 / 102 - 1)
    assert pieces.loc["2020-02-29", "first_to_last"] == pytest.approx(110 / 101 - 1)
    assert (1 + pieces.loc["2020-02-29"]).prod() - 1 == pytest.approx(110 / 102 - 1)  # the calendar month
    assert pieces.loc["2020-03-31", "first_to_last"] == 0.0 and pieces.loc["2020-03-31", "first_day"] == pytest.approx(99 / 110 - 1)


def test_month_cut_loadings_tell_a_first_to_last_month_from_a_calendar_month():
    rng = np.random.default_rng(5)
    months = pd.period_range("2000-01", periods=120, freq="M").to_timestamp(how="end").normalize()
    pieces = pd.DataFrame({"first_to_last": rng.normal(0.006, 0.04, 120), "first_day": rng.normal(0.002, 0.01, 120)}, index=months)
    rf = pd.Series(0.002, index=months)
    noise = rng.normal(0, 0.002, 120)
    cut = rf + 1.2 * pieces["first_to_last"] + noise
    calendar = rf + 0.8 * ((1 + pieces["first_to_last"]) * (1 + pieces["first_day"]) - 1) + noise
    mkt_rf = (1 + pieces["first_to_last"]) * (1 + pieces["first_day"]) - 1 - rf
    table = month_cut_loadings(pd.DataFrame({"cut": cut, "calendar": calendar}), rf, pieces, mkt_rf).set_index("portfolio_id")
    assert table.loc["cut", "first_to_last"] == pytest.approx(1.2, abs=0.02) and abs(table.loc["cut", "first_day"]) < 0.06
    assert abs(table.loc["cut", "first_day_t"]) < 3
    assert table.loc["calendar", "first_day"] == pytest.approx(0.8, abs=0.06) and table.loc["calendar", "first_day_t"] > 20
    assert table.loc["cut", "resid_sd"] == pytest.approx(0.002, rel=0.15)
    assert table.loc["cut", "resid_sd_mkt_rf"] > 5 * table.loc["cut", "resid_sd"]  # mkt_rf holds the first day the series misses
    assert (table["months"] == 120).all()


def test_the_published_months_run_from_the_first_to_the_last_trading_day(published):
    """The evidence for OPTION_MONTHS=first_to_last: on the real S&P 500 closes, every published series loads
    on the month's first-to-last return and not on its first day's."""
    from asset_pricing.sources.embedded import load_prices

    window = published.loc["1996-01":"2012-01"]
    pieces = index_month_pieces(load_prices()["SP500"].loc["1995-12":"2012-01"])
    table = month_cut_loadings(window[hkm_ids()], window["rf"], pieces, window["mkt_rf"]).set_index("portfolio_id")
    assert (table["months"] == 193).all()
    assert table["first_day_t"].abs().max() < 1.5 and table["first_day"].abs().max() < 0.2
    assert table["first_to_last_t"].min() > 15
    assert (table["first_to_last"] - table["first_day"]).min() > 0.6
    assert (table["resid_sd"] < 0.9 * table["resid_sd_mkt_rf"]).all()
    assert (table.loc[["hkm_C_900", "hkm_P_1100"], "resid_sd"] < 0.5 * table.loc[["hkm_C_900", "hkm_P_1100"], "resid_sd_mkt_rf"]).all()
    assert pieces.loc["1996-01":"2012-01", "first_day"].mean() == pytest.approx(0.0027, abs=0.0002)  # turn of the month
