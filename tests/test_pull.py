"""Pull stage: embedded copy, user files, immutability of raw pulls, failures keep what was pulled."""

from __future__ import annotations

import pandas as pd
import pytest

import settings
from asset_pricing import io
from asset_pricing.paths import project_paths
from asset_pricing.sources import fred, yahoo
from asset_pricing.sources.pull import pull_equity, pull_rf, raw_prices_path, raw_rf_path


def test_embedded_pull_stores_the_full_real_dataset_once():
    paths = project_paths()
    [target] = pull_equity(paths, settings.load())
    prices = pd.read_parquet(target)
    assert prices.shape == (8313, 21) and prices.columns[-1] == "SP500"
    assert prices.loc["1990-01-02", "SP500"] == pytest.approx(359.69)
    stamp = target.stat().st_mtime_ns
    pull_equity(paths, settings.load())  # already covered: not rewritten
    assert target.stat().st_mtime_ns == stamp


def test_files_source_copies_the_users_prices(monkeypatch):
    monkeypatch.setenv("EQUITY_SOURCE", "files")
    paths = project_paths()
    paths.manual.mkdir(parents=True)
    frame = pd.DataFrame({"date": pd.bdate_range("1995-01-02", periods=5), "XYZ": [1.0, 2, 3, 4, 5], "MARKET": [10.0, 11, 12, 13, 14]})
    frame.to_csv(paths.manual / "prices.csv", index=False)
    [target] = pull_equity(paths, settings.load())
    assert target == raw_prices_path(paths, "files")
    assert pd.read_parquet(target)["XYZ"].tolist() == [1.0, 2, 3, 4, 5]


def test_failed_network_pull_keeps_the_earlier_pull(monkeypatch):
    monkeypatch.setenv("RF_SOURCE", "fred")
    monkeypatch.setenv("END_DATE", "2018-11-30")
    paths = project_paths()
    earlier = pd.DataFrame({"rf_month": [0.001]}, index=pd.DatetimeIndex(["2018-10-31"], name="date"))
    io.write_parquet(earlier, raw_rf_path(paths, "fred"))  # does not cover the window: a new pull is tried

    def offline(*args, **kwargs):
        raise ConnectionError("FRED could not be reached for TB3MS (no network); set RF_SOURCE=embedded")

    monkeypatch.setattr(fred, "fetch_fred_rf", offline)
    with pytest.raises(ConnectionError, match="RF_SOURCE=embedded"):
        pull_rf(paths, settings.load())
    assert pd.read_parquet(raw_rf_path(paths, "fred")).equals(earlier)


def test_fred_pull_is_not_repeated_when_the_file_covers_the_window(monkeypatch):
    monkeypatch.setenv("RF_SOURCE", "fred")
    paths = project_paths()
    months = pd.date_range("1990-01-31", "2018-11-30", freq="ME", name="date")
    io.write_parquet(pd.DataFrame({"rf_month": 0.002}, index=months), raw_rf_path(paths, "fred"))
    monkeypatch.setattr(fred, "fetch_fred_rf", lambda *a, **k: pytest.fail("pulled again"))
    assert pull_rf(paths, settings.load()) == [raw_rf_path(paths, "fred")]


def test_yahoo_pull_requests_mag7_and_the_index_by_default(monkeypatch):
    monkeypatch.setenv("EQUITY_SOURCE", "yahoo")
    seen = {}

    def fake_fetch(tickers, market, start, end):
        seen.update(tickers=tickers, market=market, start=start, end=end)
        index = pd.bdate_range(start, end, name="date")
        return pd.DataFrame({t: 1.0 + pd.Series(range(len(index)), index=index) for t in [*tickers, market]})

    monkeypatch.setattr(yahoo, "fetch_yahoo_prices", fake_fetch)
    [target] = pull_equity(project_paths(), settings.load())
    assert seen["tickers"] == settings.MAG7_TICKERS and seen["market"] == "^GSPC"
    assert seen["start"] == pd.Timestamp("1990-01-01") and target.name == "prices_yahoo.parquet"
