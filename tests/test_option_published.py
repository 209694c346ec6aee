"""This build beside HKM's published option series: the replication check and the like-for-like facts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asset_pricing.options.published import compare_with_published, hkm_ids, series_facts
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
