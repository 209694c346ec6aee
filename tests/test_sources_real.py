"""The real sources (Yahoo, FRED, the user's files), tested offline.

The network clients are replaced at their boundary (``download=`` for ``yfinance.download``,
``reader=`` for ``pandas_datareader.data.DataReader``) by fakes that serve recorded fixtures:

- ``fixtures/yahoo_adj_close.csv``: a yfinance-layout frame (columns Price × Ticker) for 2018-01-02 ..
  2018-02-28; ``^GSPC`` has every field of a Yahoo download (the Yahoo data shipped in ``arch.data.sp500``),
  AAPL and MSFT their Yahoo adjusted closes (as shipped in ``skfolio.datasets``).
- ``fixtures/fred_tb3ms.csv``: FRED's TB3MS, 2017-12 .. 2018-06, as pandas-datareader returns it.

An autouse fixture makes every socket connection and DNS lookup raise, so no test here can reach the network.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from asset_pricing.io import DataValidationError
from asset_pricing.sources.files import read_manual_prices, read_manual_rf
from asset_pricing.sources.fred import fetch_fred_rf
from asset_pricing.sources.yahoo import adjusted_close_columns, fetch_yahoo_prices, tidy_daily_index

FIXTURES = Path(__file__).parent / "fixtures"


class NetworkAccessInTest(RuntimeError):
    """Raised by the guard below whenever code under test tries to open a connection."""


@pytest.fixture(autouse=True)
def refuse_all_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every socket connection (loopback too) and DNS lookup fail for every test in this file."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise NetworkAccessInTest("a test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_network_guard_refuses_connections() -> None:
    with pytest.raises(NetworkAccessInTest):
        socket.create_connection(("query1.finance.yahoo.com", 443), timeout=1)
    with socket.socket() as sock, pytest.raises(NetworkAccessInTest):
        sock.connect(("127.0.0.1", 9))


# --- Yahoo ---------------------------------------------------------------------------------------


def recorded_yahoo_frame() -> pd.DataFrame:
    """The recorded download, columns MultiIndex (Price, Ticker) as ``yfinance.download`` returns them."""
    return pd.read_csv(FIXTURES / "yahoo_adj_close.csv", header=[0, 1], index_col=0, parse_dates=True)


class FakeYahooDownload:
    """Stands in for ``yfinance.download``: serves the recorded frame like yfinance would, records calls.

    layout: "column" (Price, Ticker) – yfinance's default; "ticker" (Ticker, Price) – ``group_by="ticker"``;
    "flat" – one ticker, plain field columns (older yfinance); "tz" – column layout with an exchange-tz index.
    """

    def __init__(self, layout: str = "column") -> None:
        self.layout = layout
        self.calls: list[dict[str, object]] = []

    def __call__(self, tickers: list[str], **kwargs: object) -> pd.DataFrame:
        self.calls.append({"tickers": list(tickers), **kwargs})
        frame = recorded_yahoo_frame()
        wanted = [ticker.upper() for ticker in tickers]
        for unknown in sorted(set(wanted) - set(frame.columns.get_level_values("Ticker"))):
            frame[("Adj Close", unknown)] = np.nan  # yfinance keeps failed tickers as all-NaN columns
        frame = frame.loc[:, frame.columns.get_level_values("Ticker").isin(wanted)]
        last_day = pd.Timestamp(str(kwargs["end"])) - pd.Timedelta(days=1)  # yfinance's end is exclusive
        frame = frame.loc[str(kwargs["start"]) : last_day]
        if self.layout == "ticker":
            return frame.swaplevel(axis=1).sort_index(axis=1)
        if self.layout == "flat":
            return frame.droplevel("Ticker", axis=1)
        if self.layout == "tz":
            return frame.set_axis(frame.index.tz_localize("America/New_York"), axis=0)
        return frame


def test_yahoo_returns_recorded_adjusted_closes_per_ticker() -> None:
    prices = fetch_yahoo_prices(["AAPL", "MSFT"], "^GSPC", "2018-01-01", "2018-02-28", download=FakeYahooDownload())
    assert list(prices.columns) == ["AAPL", "MSFT", "^GSPC"]
    assert prices.index.name == "date" and prices.index.tz is None
    assert (prices.index[0], prices.index[-1]) == (pd.Timestamp("2018-01-02"), pd.Timestamp("2018-02-28"))
    assert len(prices) == 40  # NYSE trading days in January and February 2018
    assert prices.loc["2018-01-02", "AAPL"] == pytest.approx(40.832)
    assert prices.loc["2018-01-03", "MSFT"] == pytest.approx(80.937)
    assert prices.loc["2018-02-05", "^GSPC"] == pytest.approx(2648.939941)  # the 5 Feb 2018 sell-off
    assert prices.dtypes.eq(float).all()


def test_yfinance_is_asked_for_unadjusted_fields_with_end_made_exclusive() -> None:
    fake = FakeYahooDownload()
    fetch_yahoo_prices(["AAPL", "MSFT"], "^GSPC", "2018-01-01", "2018-02-28", download=fake)
    assert fake.calls == [
        {"tickers": ["AAPL", "MSFT", "^GSPC"], "start": "2018-01-01", "end": "2018-03-01",
         "auto_adjust": False, "progress": False, "actions": False}
    ]


def test_yahoo_window_is_inclusive_of_start_and_end() -> None:
    prices = fetch_yahoo_prices(["AAPL"], "^GSPC", "2018-01-03", "2018-01-05", download=FakeYahooDownload())
    assert list(prices.index) == list(pd.to_datetime(["2018-01-03", "2018-01-04", "2018-01-05"]))


@pytest.mark.parametrize("layout", ["ticker", "tz"])
def test_yahoo_layouts_give_the_same_prices_as_the_default_layout(layout: str) -> None:
    window = ("2018-01-01", "2018-02-28")
    expected = fetch_yahoo_prices(["AAPL", "MSFT"], "^GSPC", *window, download=FakeYahooDownload())
    actual = fetch_yahoo_prices(["AAPL", "MSFT"], "^GSPC", *window, download=FakeYahooDownload(layout))
    pd.testing.assert_frame_equal(actual, expected)


@pytest.mark.parametrize("layout", ["column", "ticker", "flat"])
def test_yahoo_single_ticker_keeps_its_adjusted_close(layout: str) -> None:
    prices = fetch_yahoo_prices([], "^GSPC", "2018-01-01", "2018-01-31", download=FakeYahooDownload(layout))
    assert list(prices.columns) == ["^GSPC"]
    assert prices.loc["2018-01-02", "^GSPC"] == pytest.approx(2695.810059)
    assert len(prices) == 21  # trading days in January 2018


def test_yahoo_tickers_are_matched_case_insensitively_and_named_as_asked() -> None:
    prices = fetch_yahoo_prices(["aapl"], "^GSPC", "2018-01-01", "2018-01-31", download=FakeYahooDownload())
    assert list(prices.columns) == ["aapl", "^GSPC"]
    assert prices.loc["2018-01-02", "aapl"] == pytest.approx(40.832)


def test_adj_close_field_is_selected_not_close() -> None:
    columns = pd.MultiIndex.from_tuples([("Adj Close", "X"), ("Close", "X")], names=["Price", "Ticker"])
    raw = pd.DataFrame([[95.0, 100.0]], index=pd.to_datetime(["2020-01-02"]), columns=columns)
    assert adjusted_close_columns(raw, ["X"]).loc["2020-01-02", "X"] == 95.0


def test_tz_aware_index_keeps_the_exchange_calendar_day() -> None:
    # Tokyo midnight is the previous day in UTC: converting to UTC first would shift every date back by one
    tokyo_days = pd.DatetimeIndex(["2018-01-04", "2018-01-05"]).tz_localize("Asia/Tokyo")
    tidy = tidy_daily_index(pd.DataFrame({"X": [1.0, 2.0]}, index=tokyo_days))
    assert list(tidy.index) == list(pd.to_datetime(["2018-01-04", "2018-01-05"])) and tidy.index.name == "date"


def test_yahoo_ticker_without_data_is_named() -> None:
    expected_error = r"no prices for ticker\(s\) NOSUCHTICKER between 2018-01-01 and 2018-02-28"
    with pytest.raises(DataValidationError, match=expected_error):
        fetch_yahoo_prices(["AAPL", "NOSUCHTICKER"], "^GSPC", "2018-01-01", "2018-02-28", download=FakeYahooDownload())


def test_yahoo_failure_is_one_line_naming_equity_source() -> None:
    def offline_download(*args: object, **kwargs: object) -> pd.DataFrame:
        raise OSError("Could not resolve host: query2.finance.yahoo.com")

    with pytest.raises(ConnectionError) as caught:
        fetch_yahoo_prices(["AAPL"], "^GSPC", "2018-01-01", "2018-02-28", download=offline_download)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("Yahoo Finance could not be reached (OSError: Could not resolve host")
    assert "EQUITY_SOURCE=embedded" in message and "EQUITY_SOURCE=files" in message


@pytest.mark.parametrize(
    "empty_download",
    [
        pd.DataFrame(),
        # what yfinance returns when every ticker failed: fields × tickers, no rows
        pd.DataFrame(
            columns=pd.MultiIndex.from_product([["Adj Close", "Close"], ["AAPL", "^GSPC"]]), index=pd.DatetimeIndex([])
        ),
    ],
    ids=["no columns", "columns without rows"],
)
def test_yahoo_empty_download_means_unreachable(empty_download: pd.DataFrame) -> None:
    with pytest.raises(ConnectionError, match="Yahoo Finance could not be reached .*EQUITY_SOURCE=embedded"):
        fetch_yahoo_prices(["AAPL"], "^GSPC", "2018-01-01", "2018-02-28", download=lambda *a, **k: empty_download)


# --- FRED ----------------------------------------------------------------------------------------


class FakeFredReader:
    """Stands in for ``pandas_datareader.data.DataReader``: the recorded TB3MS, truncated like FredReader."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def __call__(self, name: str, source: str, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        self.calls.append((name, source, start, end))
        recorded = pd.read_csv(FIXTURES / "fred_tb3ms.csv", index_col="DATE", parse_dates=True, na_values=".")
        return recorded.truncate(start, end)


def test_fred_rf_month_is_tb3ms_over_100_over_12_at_month_end() -> None:
    reader = FakeFredReader()
    rf = fetch_fred_rf("2018-01-15", "2018-03-31", reader=reader)
    assert list(rf.columns) == ["rf_month"] and rf.index.name == "date"
    assert list(rf.index) == list(pd.to_datetime(["2018-01-31", "2018-02-28", "2018-03-31"]))
    np.testing.assert_allclose(rf["rf_month"], [1.41 / 100 / 12, 1.57 / 100 / 12, 1.70 / 100 / 12], rtol=1e-12)
    # the start month is asked from its first day, where FRED dates the observation
    assert reader.calls == [("TB3MS", "fred", pd.Timestamp("2018-01-01"), pd.Timestamp("2018-03-31"))]


def test_fred_missing_month_is_dropped() -> None:
    def reader_with_gap(*args: object) -> pd.DataFrame:
        dates = pd.to_datetime(["2018-01-01", "2018-02-01", "2018-03-01"])
        return pd.DataFrame({"TB3MS": [1.41, np.nan, 1.70]}, index=pd.DatetimeIndex(dates, name="DATE"))

    rf = fetch_fred_rf("2018-01-01", "2018-03-31", reader=reader_with_gap)
    assert list(rf.index) == list(pd.to_datetime(["2018-01-31", "2018-03-31"]))


def test_fred_failure_is_one_line_naming_rf_source() -> None:
    def offline_reader(*args: object) -> pd.DataFrame:
        raise OSError("HTTPSConnectionPool(host='fred.stlouisfed.org', port=443): Max retries exceeded")

    with pytest.raises(ConnectionError) as caught:
        fetch_fred_rf("2018-01-01", "2018-03-31", reader=offline_reader)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("FRED could not be reached for TB3MS (OSError:")
    assert "RF_SOURCE=embedded" in message and "RF_SOURCE=files" in message


# --- the user's files ----------------------------------------------------------------------------


def write_manual(manual_dir: Path, stem: str, table: pd.DataFrame, suffix: str = ".csv") -> Path:
    """Write ``table`` (with a ``date`` column) as the user would, as CSV or parquet."""
    manual_dir.mkdir(parents=True, exist_ok=True)
    path = manual_dir / f"{stem}{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    return path


PRICES = pd.DataFrame(
    {
        "date": ["2018-01-02", "2018-01-03", "2018-01-04"],
        "AAPL": [40.832, 40.824, np.nan],
        "MARKET": [2695.81, 2713.06, 2723.99],
    }
)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manual_prices_are_read_with_their_values_and_gaps(tmp_path: Path, suffix: str) -> None:
    write_manual(tmp_path, "prices", PRICES, suffix)
    prices = read_manual_prices(tmp_path)
    assert list(prices.columns) == ["AAPL", "MARKET"]
    assert prices.index.name == "date" and list(prices.index) == list(pd.to_datetime(PRICES["date"]))
    assert prices.loc["2018-01-03", "AAPL"] == 40.824
    assert np.isnan(prices.loc["2018-01-04", "AAPL"])


def test_manual_parquet_is_preferred_over_csv(tmp_path: Path) -> None:
    write_manual(tmp_path, "prices", PRICES, ".parquet")
    write_manual(tmp_path, "prices", PRICES.assign(AAPL=1.0), ".csv")
    assert read_manual_prices(tmp_path).loc["2018-01-02", "AAPL"] == 40.832


def test_missing_manual_prices_names_both_paths_and_equity_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        read_manual_prices(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "prices.parquet") in message and str(tmp_path / "prices.csv") in message
    assert message.startswith("EQUITY_SOURCE=files needs")


def test_missing_manual_rf_names_rf_source(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"^RF_SOURCE=files needs .*rf\.parquet or .*rf\.csv"):
        read_manual_rf(tmp_path)


@pytest.mark.parametrize(
    ("table", "expected_error"),
    [
        pytest.param(
            PRICES.rename(columns={"date": "Date"}), r"prices\.csv: missing column\(s\) date", id="no date column"
        ),
        pytest.param(
            PRICES.assign(AAPL=[40.832, 0.0, 41.0]),
            r"prices\.csv: column 'AAPL' has a zero or negative price \(0 on 2018-01-03\)",
            id="zero price",
        ),
        pytest.param(
            PRICES.assign(MARKET=[2695.81, -1.0, 2723.99]),
            r"prices\.csv: column 'MARKET' has a zero or negative price",
            id="negative market",
        ),
        pytest.param(
            PRICES.assign(date=["2018-01-02", "2018-01-02", "2018-01-04"]),
            r"prices\.csv: duplicate date\(s\) 2018-01-02",
            id="duplicate dates",
        ),
        pytest.param(
            PRICES.assign(date=["2018-01-03", "2018-01-02", "2018-01-04"]),
            r"prices\.csv: dates are not sorted",
            id="unsorted dates",
        ),
        pytest.param(
            PRICES.assign(AAPL=["40,832", "40,824", "41,014"]),
            r"prices\.csv: column 'AAPL' must be numeric",
            id="decimal comma",
        ),
        pytest.param(
            PRICES.assign(date=["2018-01-02", "not a date", "2018-01-04"]),
            r"prices\.csv: column 'date' has values that are not dates",
            id="bad date",
        ),
        pytest.param(PRICES.assign(AAPL=np.nan), r"prices\.csv: column 'AAPL' has no data", id="empty column"),
        pytest.param(PRICES[["date"]], r"prices\.csv: no ticker column besides 'date'", id="no ticker"),
    ],
)
def test_bad_manual_prices_name_file_and_column(tmp_path: Path, table: pd.DataFrame, expected_error: str) -> None:
    write_manual(tmp_path, "prices", table)
    with pytest.raises(DataValidationError, match=expected_error):
        read_manual_prices(tmp_path)


def test_tz_aware_manual_dates_are_rejected(tmp_path: Path) -> None:
    utc_dates = pd.to_datetime(PRICES["date"]).dt.tz_localize("UTC")
    write_manual(tmp_path, "prices", PRICES.assign(date=utc_dates), ".parquet")
    with pytest.raises(DataValidationError, match=r"prices\.parquet: dates must be tz-naive"):
        read_manual_prices(tmp_path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_manual_rf_is_moved_to_calendar_month_end(tmp_path: Path, suffix: str) -> None:
    table = pd.DataFrame({"date": ["2018-01-01", "2018-02-15"], "rf_month": [0.001175, 0.0013083], "note": ["a", "b"]})
    write_manual(tmp_path, "rf", table, suffix)
    rf = read_manual_rf(tmp_path)
    assert list(rf.columns) == ["rf_month"] and rf.index.name == "date"
    assert list(rf.index) == list(pd.to_datetime(["2018-01-31", "2018-02-28"]))
    assert rf["rf_month"].tolist() == [0.001175, 0.0013083]


def rf_table(dates: list[str], rf_month: list[float], column: str = "rf_month") -> pd.DataFrame:
    return pd.DataFrame({"date": dates, column: rf_month})


@pytest.mark.parametrize(
    ("table", "expected_error"),
    [
        pytest.param(
            rf_table(["2018-01-31", "2018-02-28"], [1.41, 1.57]),
            r"rf\.csv: column 'rf_month' is 1\.41 on 2018-01-31, which looks like percent",
            id="percent",
        ),
        pytest.param(
            rf_table(["2018-01-31", "2018-02-28"], [0.001175, 0.0628]),
            r"rf\.csv: column 'rf_month' is 0\.0628 on 2018-02-28",
            id="annualized",
        ),
        pytest.param(
            rf_table(["2018-01-31", "2018-02-28"], [0.001, 0.001], column="RF"),
            r"rf\.csv: missing column\(s\) rf_month",
            id="no rf_month column",
        ),
        pytest.param(
            rf_table(["2018-01-01", "2018-01-31"], [0.001, 0.001]),
            r"rf\.csv \(dates as calendar month-ends\): duplicate date\(s\) 2018-01-31",
            id="two rows in one month",
        ),
        pytest.param(
            rf_table(["2018-01-31", "2018-02-28"], [0.001, np.nan]),
            r"rf\.csv: column 'rf_month' is empty on 2018-02-28",
            id="empty cell",
        ),
    ],
)
def test_bad_manual_rf_names_file_and_column(tmp_path: Path, table: pd.DataFrame, expected_error: str) -> None:
    write_manual(tmp_path, "rf", table)
    with pytest.raises(DataValidationError, match=expected_error):
        read_manual_rf(tmp_path)
