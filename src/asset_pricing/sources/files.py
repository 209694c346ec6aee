"""The user's own price and risk-free files in ``data/manual/`` (``EQUITY_SOURCE=files``, ``RF_SOURCE=files``).

Each file may be CSV or parquet; when both exist the parquet file is read (and a warning logged).

``data/manual/prices.parquet`` or ``data/manual/prices.csv`` — daily prices, wide:

=================  ==========================================================================
column             content
=================  ==========================================================================
``date``           trading day, ``YYYY-MM-DD``, no time zone, sorted ascending, no duplicates
one per ticker     adjusted close (split- and dividend-adjusted) of that ticker, > 0;
(e.g. ``AAPL``)    an empty cell means no price that day (before listing, holiday, halt)
``MARKET``         the market index's level, same rules (another name via ``MARKET_TICKER``)
=================  ==========================================================================

Example CSV::

    date,AAPL,MSFT,MARKET
    2018-01-02,40.832,80.562,2695.81
    2018-01-03,40.824,80.937,2713.06

``data/manual/rf.parquet`` or ``data/manual/rf.csv`` — monthly risk-free rate:

=================  ==========================================================================
column             content
=================  ==========================================================================
``date``           any day of the month (``2018-01-31`` or ``2018-01-01``); one row per month,
                   sorted; stored at the calendar month-end
``rf_month``       risk-free return over that month as a simple fraction, not percent and not
                   annualized: 0.0012 = 0.12 % per month. Values with ``|rf_month| > 0.05`` are
                   rejected as percent-looking. No empty cells.
=================  ==========================================================================

Other columns in ``rf`` are ignored. In a parquet file, ``date`` may also be the index.

Example CSV::

    date,rf_month
    2018-01-31,0.0011750
    2018-02-28,0.0013083

Every error names the file and the column; a missing file names the expected paths and the setting.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from asset_pricing.io import (
    DataValidationError,
    read_table,
    require_columns,
    validate_date_index,
    validate_numeric_frame,
    validate_prices,
)

log = logging.getLogger(__name__)

RF_PERCENT_THRESHOLD = 0.05  # a monthly rate above 5 % is almost surely percent or annualized


def read_manual_prices(manual_dir: Path) -> pd.DataFrame:
    """Daily adjusted closes from ``manual_dir/prices.parquet`` or ``prices.csv`` (schema: module docstring).

    Returns
    -------
    pd.DataFrame
        Float column per ticker as in the file, tz-naive DatetimeIndex ``date``.

    Raises
    ------
    FileNotFoundError
        Neither file exists (names both paths and ``EQUITY_SOURCE``).
    DataValidationError
        Missing ``date`` column, unparseable/unsorted/duplicate/tz-aware dates, no ticker column,
        non-numeric, infinite, zero or negative prices; the message names the file and column.
    """
    path = manual_file(
        Path(manual_dir), "prices", "EQUITY_SOURCE", "a date column + one adjusted-close column per ticker"
    )
    prices = read_dated_table(path)
    if prices.shape[1] == 0:
        raise DataValidationError(f"{path}: no ticker column besides 'date'.")
    prices = prices.set_axis(prices.columns.astype(str), axis=1)
    validate_prices(prices, str(path))
    return prices.astype(float)


def read_manual_rf(manual_dir: Path) -> pd.DataFrame:
    """Monthly simple risk-free rate from ``manual_dir/rf.parquet`` or ``rf.csv`` (schema: module docstring).

    Returns
    -------
    pd.DataFrame
        Column ``rf_month`` (monthly simple fraction), index ``date`` at calendar month-ends.

    Raises
    ------
    FileNotFoundError
        Neither file exists (names both paths and ``RF_SOURCE``).
    DataValidationError
        Missing ``date``/``rf_month`` column, bad or duplicate months, empty, non-numeric or infinite
        values, or percent-looking values (``|rf_month| > 0.05``); the message names the file and column.
    """
    path = manual_file(Path(manual_dir), "rf", "RF_SOURCE", "columns date, rf_month as a monthly fraction")
    table = read_dated_table(path)
    require_columns(table, ["rf_month"], str(path))
    rf_month = table["rf_month"]
    validate_numeric_frame(rf_month.to_frame(), str(path))
    values = rf_month.to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(values).any():
        first_empty = rf_month.index[np.isnan(values)][0]
        raise DataValidationError(f"{path}: column 'rf_month' is empty on {first_empty:%Y-%m-%d}.")
    too_large = np.abs(values) > RF_PERCENT_THRESHOLD
    if too_large.any():
        raise DataValidationError(
            f"{path}: column 'rf_month' is {values[too_large][0]:g} on {rf_month.index[too_large][0]:%Y-%m-%d}, which "
            f"looks like percent or an annual rate; give a monthly fraction (0.004 = 0.4 % a month)."
        )
    month_end = rf_month.index.to_period("M").to_timestamp(how="end").normalize().rename("date")
    validate_date_index(month_end, f"{path} (dates as calendar month-ends)")
    return pd.DataFrame({"rf_month": values}, index=month_end)


def manual_file(manual_dir: Path, stem: str, setting: str, schema_hint: str) -> Path:
    """The ``stem.parquet`` or ``stem.csv`` file in ``manual_dir`` (parquet first), or a one-line error."""
    candidates = [manual_dir / f"{stem}.parquet", manual_dir / f"{stem}.csv"]
    existing = [path for path in candidates if path.is_file()]
    if not existing:
        raise FileNotFoundError(
            f"{setting}=files needs {candidates[0]} or {candidates[1]} ({schema_hint}; see data/README.md); "
            f"neither exists. Provide one, or set {setting}=embedded."
        )
    if len(existing) > 1:
        log.warning("both %s and %s exist; reading %s", *candidates, existing[0])
    return existing[0]


def read_dated_table(path: Path) -> pd.DataFrame:
    """Read a CSV/parquet table with a ``date`` column and index it by the parsed, validated dates."""
    table = read_table(path)
    if "date" not in table.columns and table.index.name == "date":
        table = table.reset_index()
    require_columns(table, ["date"], str(path))
    try:
        dates = pd.DatetimeIndex(pd.to_datetime(table["date"]), name="date")
    except (ValueError, TypeError) as exc:
        raise DataValidationError(f"{path}: column 'date' has values that are not dates ({exc}).") from exc
    validate_date_index(dates, str(path))
    return table.drop(columns="date").set_axis(dates, axis=0)
