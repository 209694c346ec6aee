"""Prepare stage: hand-computed returns and variances, validation errors naming file and column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import settings
from asset_pricing import io
from asset_pricing.io import DataValidationError
from asset_pricing.paths import project_paths
from asset_pricing.prepare import equity
from asset_pricing.prepare.stage import prepare_equity, prepare_targets
from asset_pricing.sources.pull import raw_prices_path, raw_rf_path


def test_daily_returns_book_the_move_over_a_gap_on_the_next_priced_day():
    prices = pd.DataFrame({"A": [100.0, np.nan, 110.0, 99.0]}, index=pd.bdate_range("2020-01-01", periods=4))
    returns = equity.daily_simple_returns(prices)["A"]
    assert np.isnan(returns.iloc[0]) and np.isnan(returns.iloc[1])
    assert returns.iloc[2] == pytest.approx(0.10)
    assert returns.iloc[3] == pytest.approx(99.0 / 110.0 - 1.0)


def test_late_start_and_early_end_stay_missing_not_zero():
    prices = pd.DataFrame({"A": [np.nan, 10.0, 11.0, np.nan]}, index=pd.bdate_range("2020-01-01", periods=4))
    returns = equity.daily_simple_returns(prices)["A"]
    assert returns.isna().tolist() == [True, True, False, True]


def test_monthly_realized_variance_is_ddof1_and_nan_below_min_days():
    index = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-02-03"])
    returns = pd.DataFrame({"A": [0.01, -0.02, 0.04, 0.05]}, index=index)
    variance = equity.realized_variance_monthly(returns, min_days=3)["A"]
    assert variance.loc["2020-01-31"] == pytest.approx(np.var([0.01, -0.02, 0.04], ddof=1))
    assert np.isnan(variance.loc["2020-02-29"])  # a one-day month has no variance
    assert list(variance.index) == [pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-29")]


def test_monthly_compounding_matches_hand_product():
    index = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-02-03"])
    monthly = equity.compound_monthly(pd.DataFrame({"A": [0.10, -0.05, np.nan]}, index=index))["A"]
    assert monthly.loc["2020-01-31"] == pytest.approx(1.10 * 0.95 - 1.0)
    assert np.isnan(monthly.loc["2020-02-29"])


def test_zero_variance_month_gives_nan_inverse_not_inf():
    index = pd.bdate_range("2020-01-01", "2020-02-28")
    market = pd.Series(0.0, index=index)
    market.loc["2020-02"] = np.linspace(-0.01, 0.01, len(market.loc["2020-02"]))
    table = equity.market_vol_table(market, min_days=10)
    assert table.loc["2020-01-31", "sigma2"] == 0.0
    assert np.isnan(table.loc["2020-01-31", "inv_sigma2"]) and np.isnan(table.loc["2020-01-31", "inv_sigma"])
    assert np.isfinite(table.loc["2020-02-29", "inv_sigma2"])


def test_market_vol_table_columns_hand_computed():
    # Jan 2020: ±1 % on alternate days, mean 0, so σ² = 4 · 0.01² / (4 − 1) = 1/7500, σ = 0.011547,
    # 1/σ = √7500 = 86.60, 1/σ² = 7500. Feb 2020: one day only, below MIN_DAYS = 2.
    index = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-02-03"])
    market = pd.Series([0.01, -0.01, 0.01, -0.01, 0.02], index=index)
    table = equity.market_vol_table(market, min_days=2)
    assert list(table.columns) == ["sigma2", "sigma", "inv_sigma", "inv_sigma2"] and table.index.name == "date"
    january = table.loc["2020-01-31"]
    assert january["sigma2"] == pytest.approx(1 / 7500, rel=1e-12)
    assert january["sigma"] == pytest.approx(1 / np.sqrt(7500), rel=1e-12)
    assert january["inv_sigma"] == pytest.approx(np.sqrt(7500), rel=1e-12)
    assert january["inv_sigma2"] == pytest.approx(7500, rel=1e-12)
    assert table.loc["2020-02-29"].isna().all()


def test_realized_variance_needs_at_least_two_days():
    with pytest.raises(ValueError, match="MIN_DAYS"):
        equity.realized_variance_monthly(pd.DataFrame({"A": [0.01, 0.02]}, index=pd.bdate_range("2020-01-01", periods=2)), min_days=1)


def test_zero_return_share_counts_valid_days_only():
    # A: 2 zero returns out of 4 valid days (the NaN day is not a day with a price); B: no valid day → NaN.
    returns = pd.DataFrame({"A": [0.0, 0.01, np.nan, 0.0, -0.02], "B": [np.nan] * 5, "C": [np.nan, 0.0, np.nan, np.nan, np.nan]},
                           index=pd.bdate_range("2020-01-01", periods=5))
    share = equity.zero_return_share(returns)
    assert share["A"] == pytest.approx(0.5)
    assert np.isnan(share["B"])
    assert share["C"] == 1.0  # its one valid day is a zero return


def test_window_includes_its_first_and_last_day():
    prices = pd.DataFrame({"A": [1.0, 2.0, 3.0, 4.0, 5.0]}, index=pd.bdate_range("2020-01-06", periods=5))
    window = equity.select_window(prices, pd.Timestamp("2020-01-07"), pd.Timestamp("2020-01-09"), "prices.parquet")
    assert window["A"].tolist() == [2.0, 3.0, 4.0]


def test_monthly_rf_is_one_row_per_month_end_named_date():
    rf = pd.DataFrame({"rf_month": [0.001, 0.002, 0.003]}, index=pd.to_datetime(["2020-01-02", "2020-02-03", "2020-03-02"]))
    aligned = equity.monthly_rf_for_window(rf, pd.Timestamp("2020-01-15"), pd.Timestamp("2020-03-10"), "rf.parquet")
    assert aligned.index.name == "date"
    assert list(aligned.index) == [pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-29"), pd.Timestamp("2020-03-31")]
    assert aligned["rf_month"].tolist() == [0.001, 0.002, 0.003]
    twice = pd.DataFrame({"rf_month": [0.001, 0.002]}, index=pd.to_datetime(["2020-01-02", "2020-01-31"]))
    with pytest.raises(DataValidationError, match="rf.parquet: more than one risk-free rate in a month"):
        equity.monthly_rf_for_window(twice, pd.Timestamp("2020-01-15"), pd.Timestamp("2020-01-20"), "rf.parquet")


# --- the stage on crafted raw files ------------------------------------------------------------------------


def _raw_prices(days: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    index = pd.bdate_range("2000-01-03", periods=days, name="date")
    data = {name: 100 * np.exp(np.cumsum(rng.normal(0, 0.01, days))) for name in ("AAA", "BBB", "SP500")}
    return pd.DataFrame(data, index=index)


def _rf() -> pd.DataFrame:
    return pd.DataFrame({"rf_month": 0.004}, index=pd.date_range("1999-01-31", "2001-12-31", freq="ME", name="date"))


@pytest.fixture
def stage(monkeypatch):
    monkeypatch.setenv("START_DATE", "2000-01-01")
    monkeypatch.setenv("END_DATE", "2000-12-31")
    monkeypatch.setenv("TRAIN_END", "2000-02-29")
    paths = project_paths()

    def run(prices: pd.DataFrame | None = None, rf: pd.DataFrame | None = None, raw_bytes: bytes | None = None):
        target = raw_prices_path(paths, "embedded")
        target.parent.mkdir(parents=True, exist_ok=True)
        if raw_bytes is not None:
            target.write_bytes(raw_bytes)
        else:
            (_raw_prices() if prices is None else prices).to_parquet(target)
        io.write_parquet(_rf() if rf is None else rf, raw_rf_path(paths, "embedded"))
        return prepare_equity(paths, settings.load())

    return run


def test_stage_writes_the_documented_files_and_columns(stage):
    written = stage()
    assert [p.name for p in written] == ["daily_returns.parquet", "market_daily_returns.parquet", "market_vol_monthly.parquet", "rf_monthly.parquet"]
    daily = pd.read_parquet(written[0])
    assert list(daily.columns) == ["AAA", "BBB"]
    raw = _raw_prices()
    assert daily["AAA"].iloc[5] == pytest.approx(raw["AAA"].iloc[5] / raw["AAA"].iloc[4] - 1.0)
    assert list(pd.read_parquet(written[2]).columns) == ["sigma2", "sigma", "inv_sigma", "inv_sigma2"]
    assert pd.read_parquet(written[3])["rf_month"].tolist() == [0.004] * 4  # Jan..Apr 2000


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: pd.concat([p, p.iloc[[3]]]).sort_index(), r"duplicate date\(s\) 2000-01-06"),
        (lambda p: p.iloc[::-1], "dates are not sorted"),
        (lambda p: p.tz_localize("US/Eastern"), "dates must be tz-naive"),
        (lambda p: p.assign(BBB=p["BBB"].where(p.index != p.index[10], 0.0)), "column 'BBB' has a zero or negative price"),
        (lambda p: p.assign(AAA=-p["AAA"]), "column 'AAA' has a zero or negative price"),
        (lambda p: p.assign(BBB=np.nan), "ticker\\(s\\) BBB have no prices between START_DATE=2000-01-01"),
        (lambda p: p.drop(columns="SP500"), "market column 'SP500' \\(setting MARKET_TICKER\\) not found"),
        (lambda p: p.assign(AAA=p["AAA"].where(p.index != p.index[7], np.inf)), "column 'AAA' has infinite values"),
        (lambda p: p.set_axis(pd.bdate_range("1995-01-02", periods=len(p), name="date")), "no data between START_DATE=2000-01-01 and END_DATE=2000-12-31"),
    ],
)
def test_bad_raw_prices_fail_with_an_error_naming_the_file(stage, mutate, message):
    with pytest.raises(DataValidationError, match=message) as info:
        stage(mutate(_raw_prices()))
    assert "prices_embedded.parquet" in str(info.value)


def test_missing_ticker_from_settings_is_named(stage, monkeypatch):
    monkeypatch.setenv("TICKERS", "AAA,ZZZ")
    with pytest.raises(DataValidationError, match="ticker\\(s\\) ZZZ from setting TICKERS not found"):
        stage()


def test_nan_gap_inside_a_series_is_kept_as_missing_day(stage):
    prices = _raw_prices()
    prices.iloc[20, 0] = np.nan
    daily = pd.read_parquet(stage(prices)[0])
    assert np.isnan(daily["AAA"].iloc[20])
    assert daily["AAA"].iloc[21] == pytest.approx(prices["AAA"].iloc[21] / prices["AAA"].iloc[19] - 1.0)


def test_corrupt_parquet_names_the_file(stage):
    with pytest.raises(DataValidationError, match="prices_embedded.parquet: cannot be read as parquet"):
        stage(raw_bytes=b"PAR1 this is not parquet")


def test_missing_risk_free_month_is_named(stage):
    rf = _rf().drop(pd.Timestamp("2000-03-31"))
    with pytest.raises(DataValidationError, match="no risk-free rate for 1 month\\(s\\) of the window, first 2000-03"):
        stage(rf=rf)


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "table.parquet"
    io.write_parquet(pd.DataFrame({"a": [1.0]}), target)

    class Exploding(pd.DataFrame):
        def to_parquet(self, *args, **kwargs):
            with open(args[0], "wb") as handle:
                handle.write(b"half a file")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        io.write_parquet(Exploding({"a": [2.0]}), target)
    assert pd.read_parquet(target)["a"].tolist() == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_prepare_targets_live_in_interim():
    paths = project_paths()
    assert all(p.parent == paths.interim for p in prepare_targets(paths))
