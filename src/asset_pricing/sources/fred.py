"""Monthly risk-free rate from FRED's TB3MS through ``pandas-datareader`` (``RF_SOURCE=fred``).

TB3MS is the 3-month Treasury bill secondary-market rate, discount basis, in annualized percent, one
value per month (the month's average of daily rates; FRED dates it on the 1st of the month).

Convention: ``rf_month = TB3MS / 100 / 12``, a monthly simple rate stored at the calendar month-end.
This is an approximation, as is usual in the volatility-managed portfolio literature: it divides an
annual rate by 12 instead of compounding it ((1 + y)^(1/12) − 1 is lower by about 0.04 bp a month at
y = 1% and 0.9 bp at y = 5%), it uses a discount yield rather than an investment yield, and a 3-month
bill for a one-month holding period. The embedded Fama–French ``RF`` (one-month bill) is the closer
match to docs/methods.md §1.4's rf_t; FRED is the way to extend the sample beyond 2018-11.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import numpy as np
import pandas as pd

from asset_pricing.io import DataValidationError, require_columns, validate_date_index

log = logging.getLogger(__name__)

DateLike = str | dt.date | pd.Timestamp
SERIES = "TB3MS"
SOURCE_NAME = "FRED TB3MS"
UNREACHABLE = (
    "FRED could not be reached for TB3MS ({reason}); set RF_SOURCE=embedded (offline Fama-French RF) or "
    "RF_SOURCE=files (your data/manual/rf.csv|parquet), or retry when online."
)


def fetch_fred_rf(start: DateLike, end: DateLike, *, reader: Callable[..., pd.DataFrame] | None = None) -> pd.DataFrame:
    """Monthly simple risk-free rate from FRED's TB3MS for every month from ``start`` to ``end``.

    Parameters
    ----------
    start, end
        Any day of the first and of the last month wanted (both months included).
    reader
        Replacement for ``pandas_datareader.data.DataReader`` (the network boundary; tests pass a fake).
        Called as ``reader("TB3MS", "fred", first_of_start_month, end)``.

    Returns
    -------
    pd.DataFrame
        Column ``rf_month`` = TB3MS / 100 / 12 (monthly simple fraction; see the module docstring for
        the approximation), index ``date`` at calendar month-ends. Months FRED marks missing are dropped.

    Raises
    ------
    ConnectionError
        pandas-datareader failed (no network, FRED down): one line naming ``RF_SOURCE``.
    DataValidationError
        The response has no TB3MS column, bad dates, non-finite or percent-implausible values, or no month
        inside the window.
    """
    first_month, last_month = pd.Timestamp(start).to_period("M"), pd.Timestamp(end).to_period("M")
    if reader is None:
        from pandas_datareader.data import DataReader as reader  # imported lazily: only this source needs it

    log.info("downloading %s from FRED, %s .. %s", SERIES, first_month, last_month)
    try:
        raw = reader(SERIES, "fred", first_month.to_timestamp(how="start"), pd.Timestamp(end))
    except Exception as exc:  # requests / pandas-datareader raise several types
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]  # one line, however long the error
        raise ConnectionError(UNREACHABLE.format(reason=reason)) from exc
    if raw is None or raw.empty:
        raise ConnectionError(UNREACHABLE.format(reason="empty response"))

    rf = tb3ms_to_rf_month(raw)
    months = rf.index.to_period("M")
    rf = rf[(months >= first_month) & (months <= last_month)]
    if rf.empty:
        raise DataValidationError(f"{SOURCE_NAME}: no observation between {first_month} and {last_month}.")
    log.info("FRED TB3MS: %d months, %s .. %s", len(rf), f"{rf.index[0]:%Y-%m}", f"{rf.index[-1]:%Y-%m}")
    return rf


def tb3ms_to_rf_month(tb3ms: pd.DataFrame) -> pd.DataFrame:
    """Convert a FRED TB3MS frame (annualized percent, dated the 1st) to ``rf_month`` at month-end.

    ``rf_month = TB3MS / 100 / 12``; the date moves to the last calendar day of its month. Rows FRED
    marks missing (NaN) are dropped; values outside −5..30 % a year are rejected as not TB3MS.
    """
    require_columns(tb3ms, [SERIES], SOURCE_NAME)
    annual_percent = pd.to_numeric(tb3ms[SERIES], errors="coerce").dropna()
    validate_date_index(pd.DatetimeIndex(annual_percent.index), SOURCE_NAME)
    values = annual_percent.to_numpy(dtype=float)
    if not np.all(np.isfinite(values)) or ((values < -5) | (values > 30)).any():
        raise DataValidationError(
            f"{SOURCE_NAME}: column {SERIES!r} has values outside -5..30 (annual percent expected)."
        )
    month_end = pd.DatetimeIndex(annual_percent.index).to_period("M").to_timestamp(how="end").normalize()
    return pd.DataFrame({"rf_month": values / 100.0 / 12.0}, index=month_end.rename("date"))
