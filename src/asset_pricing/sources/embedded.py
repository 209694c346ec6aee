"""Embedded real data that ships inside installed packages: works offline, no download.

- ``skfolio``: daily adjusted closes of 20 large US stocks and the S&P 500 index, 1990-01-02 … 2022-12-28
  (``skfolio.datasets.load_sp500_dataset`` / ``load_sp500_index``, CSV files inside the package).
- ``arch``: Fama–French monthly factors 1926-07 … 2018-11 with the one-month T-bill ``RF`` in percent
  (``arch.data.frenchdata``). Its index holds YYYYMM integers disguised as nanosecond timestamps
  (1970-01-01 00:00:00.000192607 is 1926-07); :func:`load_rf_monthly` converts it.
"""

from __future__ import annotations

import pandas as pd

EMBEDDED_MARKET = "SP500"
EQUITY_DESCRIPTION = "skfolio embedded daily adjusted closes (20 US large caps, S&P 500 index)"
RF_DESCRIPTION = "Fama-French one-month T-bill RF shipped in arch (monthly, percent)"


def load_prices() -> pd.DataFrame:
    """Daily adjusted closes: the 20 skfolio stocks plus the S&P 500 index in column ``SP500``."""
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    stocks = load_sp500_dataset()
    index = load_sp500_index()
    prices = stocks.join(index[["SP500"]].rename(columns={"SP500": EMBEDDED_MARKET}), how="outer")
    prices.index = pd.DatetimeIndex(prices.index, name="date")
    prices.columns.name = None
    return prices.astype(float)


def frenchdata_month_end(index: pd.Index) -> pd.DatetimeIndex:
    """Convert arch's frenchdata index (YYYYMM stored as nanoseconds since 1970) to calendar month-ends."""
    yyyymm = pd.DatetimeIndex(index).asi8
    periods = pd.PeriodIndex.from_fields(year=yyyymm // 100, month=yyyymm % 100, freq="M")
    return periods.to_timestamp(how="end").normalize().rename("date")


def load_rf_monthly() -> pd.DataFrame:
    """Monthly simple risk-free rate ``rf_month`` (fraction, not percent) at calendar month-end."""
    from arch.data import frenchdata

    ff = frenchdata.load()
    rf = pd.DataFrame({"rf_month": ff["RF"].to_numpy(dtype=float) / 100.0}, index=frenchdata_month_end(ff.index))
    return rf
