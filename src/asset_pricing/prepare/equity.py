"""Pure transformations of daily prices into the tables the studies read (docs/methods.md §1).

Conventions: simple returns from adjusted closes; a month is a calendar month labelled by its last
calendar day; realized variance is the sample variance (ddof=1) of the month's daily returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from asset_pricing.io import DataValidationError


def daily_simple_returns(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily simple returns r_d = P_d / P_{d'} − 1, with d' the previous day that has a price.

    A day without a price has a NaN return; the move over a gap is booked on the first day after it
    (so monthly compounding keeps it). Days before a series starts or after it ends stay NaN.
    """
    returns = prices.ffill().pct_change(fill_method=None).where(prices.notna())
    return returns.astype(float)


def compound_monthly(daily_returns: pd.DataFrame) -> pd.DataFrame:
    """Monthly simple return R_t = Π_d (1 + r_d) − 1 over the month's valid days; NaN if it has none."""
    growth = (1.0 + daily_returns).groupby(pd.Grouper(freq="ME")).prod(min_count=1)
    return growth - 1.0


def realized_variance_monthly(daily_returns: pd.DataFrame, min_days: int) -> pd.DataFrame:
    """σ²_t: sample variance (ddof=1) of each month's valid daily returns; NaN below ``min_days`` days.

    docs/methods.md §1.3. ``min_days`` ≥ 2 (a variance of one day is undefined; docs/methods.md §9.7).
    """
    if min_days < 2:
        raise ValueError(f"min_days={min_days}: a realized variance needs at least 2 daily returns (setting MIN_DAYS).")
    grouped = daily_returns.groupby(pd.Grouper(freq="ME"))
    variance = grouped.var(ddof=1)
    valid_days = grouped.count()
    return variance.where(valid_days >= min_days)


def market_vol_table(market_daily_returns: pd.Series, min_days: int) -> pd.DataFrame:
    """Monthly market volatility table with columns ``sigma2, sigma, inv_sigma, inv_sigma2`` (docs/methods.md §1.3).

    Zero variance (a month without price moves) gives ±inf inverses, set to NaN.
    """
    sigma2 = realized_variance_monthly(market_daily_returns.to_frame("market"), min_days)["market"]
    sigma = np.sqrt(sigma2)
    with np.errstate(divide="ignore"):
        table = pd.DataFrame({"sigma2": sigma2, "sigma": sigma, "inv_sigma": 1.0 / sigma, "inv_sigma2": 1.0 / sigma2})
    table.index.name = "date"
    return table.replace([np.inf, -np.inf], np.nan)


def select_window(prices: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, name: str) -> pd.DataFrame:
    """Rows of ``prices`` between ``start`` and ``end`` inclusive; an empty window is an error naming the settings."""
    window = prices.loc[(prices.index >= start) & (prices.index <= end)]
    if window.empty:
        first, last = (prices.index.min(), prices.index.max()) if len(prices) else (None, None)
        raise DataValidationError(
            f"{name}: no data between START_DATE={start:%Y-%m-%d} and END_DATE={end:%Y-%m-%d} "
            f"(the file covers {first:%Y-%m-%d} .. {last:%Y-%m-%d})." if first is not None else f"{name}: no rows."
        )
    empty = [c for c in window.columns if window[c].notna().sum() == 0]
    if empty:
        raise DataValidationError(
            f"{name}: ticker(s) {', '.join(empty)} have no prices between START_DATE={start:%Y-%m-%d} and "
            f"END_DATE={end:%Y-%m-%d}; remove them from TICKERS or widen the window."
        )
    return window


def select_columns(prices: pd.DataFrame, tickers: list[str], market: str, name: str) -> tuple[pd.DataFrame, pd.Series]:
    """Split wide prices into the asset panel (``tickers``; empty = every non-market column) and the market."""
    if market not in prices.columns:
        raise DataValidationError(f"{name}: market column {market!r} (setting MARKET_TICKER) not found; columns are {list(prices.columns)}.")
    chosen = tickers or [c for c in prices.columns if c != market]
    missing = [t for t in chosen if t not in prices.columns]
    if missing:
        raise DataValidationError(f"{name}: ticker(s) {', '.join(missing)} from setting TICKERS not found; columns are {list(prices.columns)}.")
    return prices[chosen], prices[market]


def monthly_rf_for_window(rf: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, name: str) -> pd.DataFrame:
    """The ``rf_month`` rows for every calendar month of [start, end]; a missing month is an error naming it."""
    months = pd.date_range(start.to_period("M").to_timestamp("M"), end.to_period("M").to_timestamp("M"), freq="ME", name="date")
    rf_month_end = rf.copy()
    rf_month_end.index = rf_month_end.index.to_period("M").to_timestamp("M")
    if rf_month_end.index.duplicated().any():
        raise DataValidationError(f"{name}: more than one risk-free rate in a month.")
    aligned = rf_month_end.reindex(months)
    missing = aligned.index[aligned["rf_month"].isna()]
    if len(missing):
        raise DataValidationError(
            f"{name}: no risk-free rate for {len(missing)} month(s) of the window, first {missing[0]:%Y-%m} "
            f"(rate covers {rf.index.min():%Y-%m} .. {rf.index.max():%Y-%m}); adjust START_DATE/END_DATE or RF_SOURCE."
        )
    return aligned[["rf_month"]]


def zero_return_share(daily_returns: pd.DataFrame) -> pd.Series:
    """Share of valid days with an exactly zero return, per series (stale prices; e.g. RRC 1990–92)."""
    valid = daily_returns.notna().sum()
    return (daily_returns == 0).sum() / valid.replace(0, np.nan)
