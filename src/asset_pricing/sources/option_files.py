"""The user's own option panel (``OPTIONS_SOURCE=files``), read from ``DATA_DIR/manual/options/``.

Files (one quote file per calendar year of OPTIONS_START … OPTIONS_END, plus one underlying file):

``quotes_YYYY.parquet`` or ``quotes_YYYY.csv`` — one row per quote, OptionMetrics column names (docs/methods.md §3.1):

=============== ======================================================================================
column          content
=============== ======================================================================================
secid           integer id of the underlying (any constant, e.g. 108105 for SPX)
date            quote date, YYYY-MM-DD (all rows of quotes_YYYY in year YYYY)
exdate          expiration date, YYYY-MM-DD, not before ``date``
cp_flag         ``C`` or ``P``
strike_price    strike × 1000, a whole number (strike 1250 → 1250000)
best_bid        closing best bid, index points (0 or blank = no bid: dropped by filter 3)
best_offer      closing best offer, index points
volume          contracts traded (blank → 0)
open_interest   open contracts (blank → 0)
impl_volatility implied volatility as a fraction (0.18 = 18%); blank allowed (dropped by filter 5)
delta           delta (blank allowed)
optionid        integer id of the contract, the same on every day of its life
=============== ======================================================================================

Optional contract columns (OptionMetrics names; docs/methods.md §3.3), kept in the copies when present:
``symbol`` (e.g. ``SPX 960120C600000``), ``root`` (``SPX``, ``SPXW``; else taken from ``symbol``),
``am_settlement`` (1 AM-settled, 0 PM-settled), ``ss_flag`` (``0`` standard settlement),
``expiry_indicator`` (blank standard expiration, ``w`` weekly, ``d`` daily, ``m`` end of month). An
absent column, or a blank value, means a standard contract; OPTIONS_CONTRACTS decides which contracts
the filters keep.

``underlying.csv`` or ``underlying.parquet`` — one row per trading day covering every quote date:
``date`` (YYYY-MM-DD), ``close`` (index level S_t), ``rf_annual`` (effective annual risk-free rate as a
fraction, 0.05 = 5%; docs/methods.md §5), optional ``q`` (continuous dividend yield as a fraction; DIVIDEND_YIELD
when the column is absent or blank).

The pull checks every file (errors name the file and the column, see
:mod:`asset_pricing.options.schema`) and writes normalized copies to ``DATA_DIR/raw/options/files/``.
A year whose copy is newer than its source is skipped; copies are never deleted. A missing year file
stops the pull before anything is written, with an error naming the year and the file expected; a
corrupt one stops it with an error naming the year, leaving other years' copies as they were.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from asset_pricing.io import DataValidationError, read_table, write_parquet
from asset_pricing.options.schema import (
    CONTRACT_FLAG_COLUMNS, DATA_SOURCE_LABELS, RAW_QUOTE_COLUMNS, check_quote_year, validate_quotes, validate_underlying,
)

log = logging.getLogger(__name__)

FILES_LABEL = DATA_SOURCE_LABELS["files"]
SUFFIXES: tuple[str, ...] = (".parquet", ".csv")


def find_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem.parquet`` or ``folder/stem.csv`` (parquet first), None when neither exists."""
    for suffix in SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def read_user_underlying(folder: Path, dividend_yield: float) -> pd.DataFrame:
    """The checked underlying table of the user's folder (close, rf_annual, r, q by date)."""
    path = find_file(folder, "underlying")
    if path is None:
        raise DataValidationError(f"{folder}: no underlying.csv or underlying.parquet (columns date, close, rf_annual[, q]); see the README.")
    table = read_table(path)
    if "date" not in table.columns and table.index.name == "date":
        table = table.reset_index()
    if "q" in table.columns and table["q"].isna().all():
        table = table.drop(columns="q")
    return validate_underlying(table, str(path), dividend_yield=dividend_yield)


def read_user_year(path: Path, year: int, underlying: pd.DataFrame) -> pd.DataFrame:
    """One user quote file, checked and in the raw schema (sorted, with the contract columns it has), or an error naming the year and file."""
    try:
        table = read_table(path)
    except (DataValidationError, FileNotFoundError) as exc:
        raise DataValidationError(f"option year {year}: {exc}") from exc
    quotes = validate_quotes(table, underlying, str(path))
    check_quote_year(quotes, year, str(path))
    flags = [column for column in CONTRACT_FLAG_COLUMNS if column in quotes.columns]
    return quotes[[*RAW_QUOTE_COLUMNS, *flags]].reset_index(drop=True)


def pull_option_files(manual_dir: Path, folder: Path, cfg: dict[str, Any]) -> list[Path]:
    """Check the user's files of the option window and copy them (normalized parquet) into ``folder``."""
    start, end = pd.Timestamp(cfg["OPTIONS_START"]), pd.Timestamp(cfg["OPTIONS_END"])
    years = list(range(start.year, end.year + 1))
    sources = {year: find_file(manual_dir, f"quotes_{year}") for year in years}
    missing = [year for year, path in sources.items() if path is None]
    if missing:
        raise DataValidationError(
            f"option year {missing[0]}: no quotes_{missing[0]}.parquet or quotes_{missing[0]}.csv in {manual_dir} "
            f"({len(missing)} year(s) missing: {', '.join(map(str, missing[:5]))}); OPTIONS_START/OPTIONS_END select {years[0]}-{years[-1]}."
        )
    underlying = read_user_underlying(manual_dir, float(cfg["DIVIDEND_YIELD"]))
    written = []
    underlying_path = folder / "underlying.parquet"
    underlying.attrs["data_source"] = FILES_LABEL
    written.append(write_parquet(underlying, underlying_path))
    for year in tqdm(years, desc="user option files", unit="year"):
        source, target = sources[year], folder / f"quotes_{year}.parquet"
        if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        quotes = read_user_year(source, year, underlying)
        quotes.attrs["data_source"] = FILES_LABEL
        written.append(write_parquet(quotes, target, index=False))
    return written
