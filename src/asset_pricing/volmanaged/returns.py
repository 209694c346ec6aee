"""Monthly returns of the assets (docs/methods.md §1.2).

Conventions: daily simple returns in, monthly simple returns out (fractions, not percent); a month is a
calendar month labelled by its last calendar day, and every calendar month between the first and the
last day of the data has a row, so that a one-month shift is always the previous calendar month.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asset_pricing.prepare.equity import compound_monthly


def finite_or_nan(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ±inf replaced by NaN (a signal or return that is infinite is undefined)."""
    return frame.replace([np.inf, -np.inf], np.nan)


def calendar_months(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Every calendar month-end from the month of ``index.min()`` to that of ``index.max()``, named ``date``."""
    first = index.min().to_period("M").to_timestamp(how="end").normalize()
    last = index.max().to_period("M").to_timestamp(how="end").normalize()
    return pd.date_range(first, last, freq="ME", name="date")


def to_month_end(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Each date moved to the last calendar day of its month (monthly tables from other sources)."""
    return pd.DatetimeIndex(index).to_period("M").to_timestamp(how="end").normalize().rename("date")


def monthly_asset_returns(daily_returns: pd.DataFrame) -> pd.DataFrame:
    """Monthly compounded returns R_{i,t} = Π_{d∈t} (1 + r_{i,d}) − 1 over the month's valid days.

    Parameters
    ----------
    daily_returns
        Wide daily simple returns (DatetimeIndex, one column per asset, NaN where no price).

    Returns
    -------
    pandas.DataFrame
        Monthly simple returns at calendar month-ends (every month of the span); NaN for a month in
        which the asset has no valid day. ±inf daily returns are treated as missing.
    """
    monthly = compound_monthly(finite_or_nan(daily_returns))
    monthly = monthly.reindex(calendar_months(daily_returns.index))
    monthly.columns.name = None
    return monthly


def excess_returns(monthly_returns: pd.DataFrame, rf: pd.Series) -> pd.DataFrame:
    """R_{i,t} − rf_t for every asset (rf aligned on the month-end index; a month without rf is NaN)."""
    return monthly_returns.sub(rf.reindex(monthly_returns.index), axis=0)
