"""Daily adjusted closes from Yahoo Finance through ``yfinance`` (``EQUITY_SOURCE=yahoo``).

``yfinance.download`` is called with ``auto_adjust=False`` so that the frame keeps both ``Close``
(split-adjusted only) and ``Adj Close`` (split- and dividend-adjusted); the study needs total returns,
so only ``Adj Close`` is kept. yfinance labels its columns by (field, ticker) — ``("Adj Close", "AAPL")``
with the default ``group_by="column"``, ``("AAPL", "Adj Close")`` with ``group_by="ticker"`` — and older
versions return flat columns for a single ticker; all three layouts are accepted.

Yahoo's ``end`` is exclusive; :func:`fetch_yahoo_prices` takes an inclusive ``end`` and asks for one
day more. A ticker that Yahoo does not know, or that has no prices in the window, comes back as an
all-NaN column and is reported by name. When nothing comes back at all (no network, Yahoo down or
rate-limiting), the error says so and names the setting that switches to an offline source.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

import pandas as pd

from asset_pricing.io import DataValidationError, validate_prices

log = logging.getLogger(__name__)

DateLike = str | dt.date | pd.Timestamp
ADJ_CLOSE = "Adj Close"
SOURCE_NAME = "Yahoo Finance download"
UNREACHABLE = (
    "Yahoo Finance could not be reached ({reason}); set EQUITY_SOURCE=embedded (offline data) or "
    "EQUITY_SOURCE=files (your data/manual/prices.csv|parquet), or retry when online."
)


def fetch_yahoo_prices(
    tickers: Sequence[str],
    market_ticker: str,
    start: DateLike,
    end: DateLike,
    *,
    download: Callable[..., pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Download daily adjusted closes of ``tickers`` and the market index from Yahoo Finance.

    Parameters
    ----------
    tickers
        Yahoo symbols of the assets (e.g. ``["AAPL", "MSFT"]``); matched case-insensitively.
    market_ticker
        Yahoo symbol of the market index (e.g. ``"^GSPC"``); it becomes its own column.
    start, end
        First and last calendar day of the window, both inclusive.
    download
        Replacement for ``yfinance.download`` (the network boundary; tests pass a fake).

    Returns
    -------
    pd.DataFrame
        Wide adjusted closes in the quote currency: tz-naive DatetimeIndex ``date`` (trading days),
        one float column per ticker in the order asked, then ``market_ticker``; NaN where a ticker has
        no price on a day that another ticker has.

    Raises
    ------
    ConnectionError
        yfinance failed or returned no data for any ticker (one line naming ``EQUITY_SOURCE``).
    DataValidationError
        Some tickers have no data in the window (named), or the prices break the schema.
    """
    requested = list(dict.fromkeys([*tickers, market_ticker]))
    if any(not str(ticker).strip() for ticker in requested):
        raise DataValidationError(
            f"{SOURCE_NAME}: empty ticker in TICKERS={list(tickers)} / MARKET_TICKER={market_ticker!r}."
        )
    first_day, last_day = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    if download is None:
        from yfinance import download  # imported lazily: only this source needs it

    log.info("downloading adjusted closes of %s from Yahoo Finance, %s .. %s",
             ", ".join(requested), f"{first_day:%Y-%m-%d}", f"{last_day:%Y-%m-%d}")
    try:
        raw = download(
            requested,
            start=f"{first_day:%Y-%m-%d}",
            end=f"{last_day + pd.Timedelta(days=1):%Y-%m-%d}",  # yfinance's end is exclusive
            auto_adjust=False,
            progress=False,
            actions=False,
        )
    except Exception as exc:  # yfinance raises requests/curl/JSON errors of many types
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]  # one line, however long the error
        raise ConnectionError(UNREACHABLE.format(reason=reason)) from exc
    if raw is None or raw.empty or not raw.notna().to_numpy().any():
        raise ConnectionError(UNREACHABLE.format(reason=f"no data returned for {', '.join(requested)}"))

    prices = tidy_daily_index(adjusted_close_columns(raw, requested)).loc[first_day:last_day]
    prices = prices.dropna(how="all")
    tickers_without_data = [ticker for ticker in requested if prices[ticker].notna().sum() == 0]
    if len(tickers_without_data) == len(requested):
        raise ConnectionError(UNREACHABLE.format(reason=f"no data returned for {', '.join(requested)}"))
    if tickers_without_data:
        raise DataValidationError(
            f"{SOURCE_NAME}: no prices for ticker(s) {', '.join(tickers_without_data)} between "
            f"{first_day:%Y-%m-%d} and {last_day:%Y-%m-%d}; check TICKERS / MARKET_TICKER (Yahoo symbols)."
        )
    validate_prices(prices, SOURCE_NAME)
    log.info("Yahoo Finance: %d days x %d tickers", *prices.shape)
    return prices


def adjusted_close_columns(raw: pd.DataFrame, requested: Sequence[str]) -> pd.DataFrame:
    """Select the ``Adj Close`` field of a yfinance frame as one column per requested ticker.

    Accepts the (field, ticker) and (ticker, field) MultiIndex layouts and the flat single-ticker
    layout. Tickers are matched case-insensitively (yfinance upper-cases them); a requested ticker
    absent from the frame becomes an all-NaN column so the caller can report it by name.
    """
    columns = raw.columns
    if isinstance(columns, pd.MultiIndex):
        field_levels = [level for level in range(columns.nlevels) if ADJ_CLOSE in columns.get_level_values(level)]
        if not field_levels:
            raise DataValidationError(
                f"{SOURCE_NAME}: no {ADJ_CLOSE!r} field (was auto_adjust=True?); column levels hold "
                f"{sorted({str(value) for value in columns.get_level_values(0)})}."
            )
        adjusted = raw.xs(ADJ_CLOSE, axis=1, level=field_levels[0])
    elif ADJ_CLOSE in columns:
        if len(requested) != 1:
            raise DataValidationError(
                f"{SOURCE_NAME}: flat columns hold one ticker, but {len(requested)} were requested."
            )
        adjusted = raw[[ADJ_CLOSE]].set_axis(list(requested), axis=1)
    else:
        raise DataValidationError(
            f"{SOURCE_NAME}: no {ADJ_CLOSE!r} column (was auto_adjust=True?); found {list(columns)}."
        )
    adjusted = adjusted.set_axis(adjusted.columns.astype(str).str.upper(), axis=1)
    selected = adjusted.reindex(columns=[ticker.upper() for ticker in requested])
    return selected.set_axis(list(requested), axis=1).astype(float)


def tidy_daily_index(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily prices on a sorted, tz-naive, midnight DatetimeIndex named ``date``.

    A tz-aware index (older yfinance: exchange time zone) keeps its local calendar day.
    """
    index = pd.DatetimeIndex(prices.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    tidy = prices.set_axis(index.normalize().rename("date"), axis=0).sort_index()
    tidy.columns.name = None
    return tidy
