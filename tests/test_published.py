"""He-Kelly-Manela's published option series shipped with the package: content, order, errors, pull."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from asset_pricing.io import DataValidationError
from asset_pricing.paths import project_paths
from asset_pricing.sources.published import (
    AUTHORS_OPTION_COLUMNS, OPTION_IDS, load_hkm_published, packaged_file, parse_hkm_published, published_option_returns,
    pull_published, raw_published_path,
)


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return load_hkm_published()


def test_published_file_has_310_option_months_without_a_gap(published):
    options = published[list(OPTION_IDS)]
    months = options.dropna(how="all").index
    assert months[0] == pd.Timestamp("1986-04-30") and months[-1] == pd.Timestamp("2012-01-31")
    assert len(months) == 310
    assert options.loc[months].notna().all().all()  # no missing month in any of the 18 series
    assert published.index[0] == pd.Timestamp("1970-01-31") and published.index[-1] == pd.Timestamp("2012-12-31")
    assert published["intermediary_capital_risk_factor"].notna().all()


def test_authors_columns_map_to_calls_then_puts_by_moneyness(published):
    raw = pd.read_csv(packaged_file())
    october_2008 = raw.loc[raw["yyyymm"] == 200810].iloc[0]
    # values of the authors' file, 2008-10: Options_01 (call 0.900) and Options_18 (put 1.100)
    assert published.loc["2008-10-31", "hkm_C_900"] == october_2008["Options_01"] == pytest.approx(-0.1058)
    assert published.loc["2008-10-31", "hkm_P_1100"] == october_2008["Options_18"] == pytest.approx(-0.2194)
    assert published.loc["2008-10-31", "mkt_rf"] == pytest.approx(-0.1723)


def test_published_order_matches_the_construction(published):
    """Call betas fall with moneyness and put means fall with moneyness (HKM 2017, CJS 2013 Table 2)."""
    window = published.loc["1986-04":"2012-01"]
    market = window["mkt_rf"].to_numpy()
    betas = {pid: np.polyfit(market, (window[pid] - window["rf"]).to_numpy(), 1)[0] for pid in OPTION_IDS}
    calls = [betas[pid] for pid in OPTION_IDS[:9]]
    assert all(np.diff(calls) < 0) and calls[0] == pytest.approx(0.84, abs=0.01) and calls[-1] == pytest.approx(0.60, abs=0.01)
    put_means = window[list(OPTION_IDS[9:])].mean().to_numpy()
    assert all(np.diff(put_means) < 0)
    assert put_means[0] == pytest.approx(0.0163, abs=5e-4)  # 1.63% a month at moneyness 0.900


def test_long_form_has_the_layout_of_the_build(published):
    long = published_option_returns(published)
    assert list(long.columns) == ["portfolio_id", "date", "return"]
    assert len(long) == 18 * 310
    assert set(long["portfolio_id"]) == set(OPTION_IDS)


def test_bad_published_file_names_file_and_column(tmp_path):
    raw = pd.read_csv(packaged_file())
    with pytest.raises(DataValidationError, match=r"x\.csv: missing column\(s\) Options_07"):
        parse_hkm_published(raw.drop(columns=["Options_07"]), "x.csv")
    bad_month = raw.astype({"yyyymm": object})
    bad_month.loc[3, "yyyymm"] = 197013
    with pytest.raises(DataValidationError, match="x.csv: column 'yyyymm'.*197013"):
        parse_hkm_published(bad_month, "x.csv")
    text = raw.astype({"rf": object})
    text.loc[5, "rf"] = "n/a%"
    with pytest.raises(DataValidationError, match="x.csv: column 'rf' holds a non-number 'n/a%'"):
        parse_hkm_published(text, "x.csv")
    with pytest.raises(DataValidationError, match="1970-01 appears twice"):
        parse_hkm_published(pd.concat([raw.iloc[:1], raw]), "x.csv")
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        load_hkm_published(tmp_path / "nowhere.csv")


def test_pull_writes_the_series_and_its_citation_to_data_raw():
    paths = project_paths()
    pull_published(paths)
    target = raw_published_path(paths)
    stored = pd.read_parquet(target)
    pd.testing.assert_frame_equal(stored, load_hkm_published(), check_freq=False)
    provenance = json.loads(target.with_suffix(".json").read_text())
    assert "He, Kelly and Manela (2017)" in provenance["citation"] and "non-commercial" in provenance["terms"]
    assert provenance["option_months"] == ["1986-04", "2012-01"]
    assert len(AUTHORS_OPTION_COLUMNS) == 18
