"""This build beside HKM's published series (docs/methods.md §6.3): the common-month rule at three months, the
replication check by hand, a portfolio the build lacks, and the labels of every row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asset_pricing.io import DataValidationError
from asset_pricing.options.published import COMPARISON_COLUMNS, compare_with_published, hkm_ids

MONTHS = pd.date_range("2000-01-31", periods=6, freq="ME")


def published_frame() -> pd.DataFrame:
    """Six months of a published-like file: market, rf and 18 series that differ by a constant."""
    market = np.array([0.02, -0.03, 0.01, 0.04, -0.01, 0.00])
    frame = pd.DataFrame({"mkt_rf": market, "rf": 0.001}, index=MONTHS)
    for i, pid in enumerate(hkm_ids()):
        frame[pid] = 0.001 + 0.002 * i + (0.5 + 0.05 * i) * market
    return frame


def long(wide: pd.DataFrame) -> pd.DataFrame:
    frame = wide.rename_axis("date").reset_index().melt(id_vars="date", var_name="portfolio_id", value_name="return")
    return frame[["portfolio_id", "date", "return"]]


def test_every_row_is_labelled_with_type_and_moneyness_and_a_missing_portfolio_has_zero_months():
    published = published_frame()
    build = long(published[hkm_ids()[:-1]])  # the build has no hkm_P_1100
    table = compare_with_published(build, published, real_quotes=False, data_source="synthetic option quotes")
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert list(zip(table["cp_flag"], table["moneyness"]))[:2] == [("C", 0.9), ("C", 0.925)]
    assert list(zip(table["cp_flag"], table["moneyness"]))[-1] == ("P", 1.1)
    assert table["moneyness"].tolist() == [0.9, 0.925, 0.95, 0.975, 1.0, 1.025, 1.05, 1.075, 1.1] * 2
    last = table.iloc[-1]
    assert last["portfolio_id"] == "hkm_P_1100" and last["months"] == 0 and np.isnan(last["mean_build"])
    assert (table["months"].iloc[:-1] == 6).all()


def test_three_common_months_give_statistics_and_two_do_not():
    published = published_frame()
    ids = hkm_ids()
    build = pd.concat([long(published[[ids[0]]].iloc[:3]), long(published[[ids[1]]].iloc[:2])])
    table = compare_with_published(build, published, real_quotes=True, data_source="OptionMetrics (WRDS)").set_index("portfolio_id")
    three = table.loc[ids[0]]
    assert three["months"] == 3 and three["first_month"] == "2000-01" and three["last_month"] == "2000-03"
    assert three["mean_build"] == pytest.approx(published[ids[0]].iloc[:3].mean(), rel=1e-12)
    two = table.loc[ids[1]]
    assert two["months"] == 2 and np.isnan(two["mean_build"]) and np.isnan(two["correlation"])


def test_replication_check_is_the_correlation_and_the_sd_of_the_gap():
    published = published_frame()
    pid = "hkm_P_950"
    gap = np.array([0.01, -0.01, 0.02, 0.0, -0.02, 0.005])
    build = long(published[[pid]] + gap[:, None])
    row = compare_with_published(build, published, real_quotes=True, data_source="OptionMetrics (WRDS)").set_index("portfolio_id").loc[pid]
    x, y = build["return"].to_numpy(), published[pid].to_numpy()
    dx, dy = x - x.mean(), y - y.mean()
    assert row["correlation"] == pytest.approx((dx @ dy) / math.sqrt((dx @ dx) * (dy @ dy)), rel=1e-12)
    assert row["correlation"] < 1.0
    assert row["tracking_error"] == pytest.approx(math.sqrt(((gap - gap.mean()) ** 2).sum() / 5), rel=1e-12)


def test_inputs_without_their_columns_are_named():
    published = published_frame()
    with pytest.raises(DataValidationError, match=r"^HKM monthly returns: missing column\(s\) return"):
        compare_with_published(long(published[hkm_ids()]).drop(columns="return"), published, real_quotes=False, data_source="x")
    with pytest.raises(DataValidationError, match=r"^published HKM series: missing column\(s\) rf"):
        compare_with_published(long(published[hkm_ids()]), published.drop(columns="rf"), real_quotes=False, data_source="x")
