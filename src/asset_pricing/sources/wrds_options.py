"""OptionMetrics S&P 500 option quotes from WRDS (``OPTIONS_SOURCE=wrds``; docs/methods.md §1.1, §3.1, §3.4, §5).

Where: ``WRDS_HOST:WRDS_PORT`` (WRDS's own by default), user ``WRDS_USERNAME``, password from the pgpass
file (``PGPASSFILE`` or ``~/.pgpass``), through the real ``wrds.Connection``
(:mod:`asset_pricing.sources.wrds_client`: checked first, so a failure is one line and never a prompt).

What is pulled, in the layout the account has (detected and logged, docs/methods.md §3.4):
``optionm_all`` + ``frb_all.rates_daily.dtb3`` (today's) or ``optionm`` + ``frb.rates_daily.tb_m3`` (older):

- quotes: ``<library>.opprcdYYYY`` for ``secid = OPTIONS_SECID`` (108105 = SPX), the docs/methods.md §3.1
  columns plus the contract columns ``symbol``, ``root`` (derived from ``symbol`` when the table has
  none), ``am_settlement``, ``ss_flag`` and ``expiry_indicator`` (which tell standard SPX from SPXW,
  docs/methods.md §3.3), one file ``quotes_YYYY.parquet`` per calendar year of OPTIONS_START … OPTIONS_END,
  streamed into parquet row groups of CHUNK_ROWS rows (memory does not grow with the year);
- underlying close S_t: ``optionm_all.secprdYYYY`` (year-split) or ``optionm.secprd`` (same secid);
- rates, two of them as in CJS and docs/methods.md §5:
  r, the rate used in Black–Scholes (elasticities, fills, parity): the OptionMetrics zero curve
  ``zerocd`` (continuously compounded, percent) interpolated linearly in days to 91 days (flat beyond
  the curve's ends) on each date, r = rate/100 — the curve OptionMetrics uses for its own implied
  volatilities;
  rf_annual, the effective annual rate the portfolios accrue on their risk-free leg: the 3-month
  T-bill (``dtb3`` or ``tb_m3``, a bank-discount yield in percent) converted by
  :func:`tbill_effective_annual`, forward-filled over days without a value;
- dividend yield q: ``idxdvd`` (continuous, percent, one rate per ``expiration``) interpolated linearly
  in days to expiration at 91 days, like r (flat beyond the ends); a table without ``expiration`` gives
  the mean of the date's rows. Forward-filled over dates without a value, DIVIDEND_YIELD before the first.

Resuming: every year is written as soon as it arrives (atomically: row groups go to a temporary file
renamed at the end), with the window it covers in the file's metadata; a later pull skips the years
whose file already covers the requested dates, so an interrupted pull resumes at the year it stopped
in and nothing already pulled is deleted. No connection is opened when everything is on disk. A year
whose rows WRDS has since revised is pulled again with ``python -m asset_pricing.sources.wrds_options
--repull YEAR`` (or by deleting its file). The connection comes from a factory argument so unit tests
pass a fake one (no network); tests/test_wrds_server.py runs the real client against a local server.
"""

from __future__ import annotations

import argparse
import logging
import json
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from asset_pricing.io import atomic_path, write_parquet
from asset_pricing.options.schema import DATA_SOURCE_LABELS, RAW_QUOTE_COLUMNS, RAW_QUOTE_DTYPES, coerce_quote_dtypes
from asset_pricing.sources.wrds_client import (
    WrdsConnection, WrdsError, WrdsLayout, default_connect, detect_layout, first_line, stream_query,
)

import settings

log = logging.getLogger(__name__)

__all__ = ["WrdsError", "pull_wrds_options", "rate_at_horizon", "tbill_effective_annual", "build_underlying", "main"]

WRDS_LABEL = DATA_SOURCE_LABELS["wrds"]
RATE_HORIZON_DAYS = 91
TBILL_DAYS = 91  # a 3-month bill (H.15 quotes the 13-week bill)
CHUNK_ROWS = 250_000
TEXT = pd.StringDtype("pyarrow")  # vectorized string operations (pyarrow.compute); read back from parquet as ``string``
# The contract columns (docs/methods.md §3.3-§3.4) written beside the raw schema, with their dtypes.
CONTRACT_DTYPES: dict[str, object] = {"symbol": TEXT, "root": TEXT, "am_settlement": pd.Int8Dtype(), "ss_flag": TEXT, "expiry_indicator": TEXT}
QUOTE_KINDS: dict[str, str] = {
    **{c: ("date" if c in ("date", "exdate") else "string" if c == "cp_flag" else "float") for c in RAW_QUOTE_COLUMNS},
    "symbol": "string", "root": "string", "am_settlement": "float", "ss_flag": "string", "expiry_indicator": "string",
}
DICTIONARY_COLUMNS = ["cp_flag", "root", "ss_flag", "expiry_indicator"]  # few distinct values; symbol is near unique
WINDOW = "WHERE secid = %(secid)s AND date BETWEEN %(start)s AND %(end)s"


def quote_sql(layout: WrdsLayout, year: int) -> str:
    """SELECT of one year of quotes: the raw columns, then the contract columns the table has (else NULL)."""
    table = layout.quote_table(year)
    present = layout.columns.get(table, frozenset())
    contract = [c if c in present else f"NULL AS {c}" for c in CONTRACT_DTYPES]
    return f"SELECT {', '.join(RAW_QUOTE_COLUMNS)}, {', '.join(contract)} FROM {table} {WINDOW}"


def _window_params(secid: int, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
    return {"secid": int(secid), "start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}"}


def year_window(year: int, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The part of [start, end] inside calendar ``year``."""
    return max(start, pd.Timestamp(year, 1, 1)), min(end, pd.Timestamp(year, 12, 31))


# --------------------------------------------------------------------------------------------------
# Quotes: dtypes and streaming into parquet row groups
# --------------------------------------------------------------------------------------------------
def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    """``column`` as stripped text (numbers as whole numbers: 0 → "0"), empty → <NA>; all <NA> when absent."""
    if column not in frame:
        return pd.Series(pd.NA, index=frame.index, dtype=TEXT)
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values):
        values = values.astype("Float64").round().astype("Int64")
    text = values.astype(TEXT).str.strip()
    return text.mask(text == "")


def normalize_quotes(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Raw schema dtypes (:func:`~asset_pricing.options.schema.coerce_quote_dtypes`) plus the contract columns.

    Accepts what ``wrds`` ≥ 3.3 returns (``Float64``/``Int64`` numbers with ``<NA>``, ``string`` flags).
    ``root`` missing or NULL → the part of ``symbol`` before its first space; ``ss_flag`` read as text
    (``0`` → ``"0"``); empty text → ``<NA>`` (an empty ``expiry_indicator`` is a standard expiration).
    """
    out = coerce_quote_dtypes(frame, name)
    symbol = _text(frame, "symbol")
    root = _text(frame, "root")
    missing = root.isna() & symbol.notna()
    if missing.any():
        root[missing] = symbol[missing].str.replace(r" .*$", "", regex=True)
    settlement = pd.to_numeric(frame["am_settlement"], errors="coerce") if "am_settlement" in frame else pd.Series(np.nan, index=frame.index)
    out["symbol"], out["root"] = symbol, root
    out["am_settlement"] = settlement.astype("Float64").round().astype("Int8")
    out["ss_flag"], out["expiry_indicator"] = _text(frame, "ss_flag"), _text(frame, "expiry_indicator")
    return out


def quote_file_schema(attrs: dict[str, str]) -> pa.Schema:
    """Arrow schema of a quotes_YYYY.parquet written by this module (pandas metadata and ``attrs`` included)."""
    empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in {**RAW_QUOTE_DTYPES, **CONTRACT_DTYPES}.items()})
    empty.attrs = dict(attrs)
    schema = pa.Schema.from_pandas(empty, preserve_index=False)
    return schema.with_metadata({**(schema.metadata or {}), b"PANDAS_ATTRS": json.dumps(attrs).encode()})


def write_quote_year(chunks: Iterable[pd.DataFrame], path: Path, attrs: dict[str, str], name: str) -> int:
    """Write normalized chunks as row groups of one parquet file, atomically; the number of rows written.

    The file appears only when every chunk arrived: an error leaves the previous file (if any) as it was
    and no partial file.
    """
    schema = quote_file_schema(attrs)
    rows = 0
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, schema, use_dictionary=DICTIONARY_COLUMNS) as writer:
            for chunk in chunks:
                quotes = normalize_quotes(chunk, name)
                writer.write_table(pa.Table.from_pandas(quotes, schema=schema, preserve_index=False))
                rows += len(quotes)
    return rows


def pull_quote_year(db: WrdsConnection, layout: WrdsLayout, year: int, secid: int, start: pd.Timestamp, end: pd.Timestamp,
                    path: Path, chunk_rows: int = CHUNK_ROWS) -> int:
    """Stream one year of quotes from WRDS into ``path``; a failure is one :class:`WrdsError` line."""
    table = layout.quote_table(year)
    attrs = {"data_source": WRDS_LABEL, "pulled_start": f"{start:%Y-%m-%d}", "pulled_end": f"{end:%Y-%m-%d}", "wrds_table": table}
    started = time.perf_counter()
    try:
        rows = write_quote_year(stream_query(db, quote_sql(layout, year), _window_params(secid, start, end), QUOTE_KINDS, chunk_rows), path, attrs, table)
    except WrdsError:
        raise
    except Exception as exc:
        raise WrdsError(
            f"WRDS pull of {table} stopped ({type(exc).__name__}: {first_line(exc)}); years before {year} are kept, "
            f"no {path.name} was written; run the pull again to resume at {year}."
        ) from None
    log.info("WRDS %s: %d quotes in %.1f s -> %s", table, rows, time.perf_counter() - started, path)
    return rows


# --------------------------------------------------------------------------------------------------
# Underlying: close, rates, dividend yield
# --------------------------------------------------------------------------------------------------
def tbill_effective_annual(discount_percent: pd.Series | np.ndarray | float, days: int = TBILL_DAYS) -> Any:
    """Effective annual yield of a T-bill quoted as a bank-discount rate in percent (DTB3, tb_m3).

    The price per dollar of face is P = 1 − d·n/360 (d = rate/100, n = days to maturity, 91 for the
    3-month bill), and holding it to maturity earns y = P^(−365/n) − 1 a year, compounded annually
    (Federal Reserve H.15 notes: bills are quoted "on a discount basis"; Hull, *Options, Futures, and
    Other Derivatives*, ch. 6, "Treasury bill quotes"). This is the y that docs/methods.md §5 accrues as
    (1 + y)^(n/365) − 1; d = 5 % gives y = 5.23 %.
    """
    price = 1.0 - np.asarray(discount_percent, dtype=float) / 100.0 * days / 360.0
    result = price ** (-365.0 / days) - 1.0
    return pd.Series(result, index=discount_percent.index) if isinstance(discount_percent, pd.Series) else result


def rate_at_horizon(zero_curve: pd.DataFrame, horizon_days: int = RATE_HORIZON_DAYS) -> pd.Series:
    """Rate (fraction) at ``horizon_days`` per date, linear in days between the curve's points.

    ``zero_curve`` has columns date, days, rate (percent). Dates whose curve does not reach the horizon
    on one side use the nearest point (flat extrapolation).
    """
    curve = zero_curve.dropna(subset=["days", "rate"]).astype({"days": float, "rate": float}).sort_values(["date", "days"])
    below = curve[curve["days"] <= horizon_days].groupby("date").last()
    above = curve[curve["days"] >= horizon_days].groupby("date").first()
    dates = below.index.union(above.index)
    below, above = below.reindex(dates), above.reindex(dates)
    below = below.fillna(above)
    above = above.fillna(below)
    span = (above["days"] - below["days"]).to_numpy(dtype=float)
    weight = np.divide(horizon_days - below["days"].to_numpy(dtype=float), span, out=np.zeros(len(dates)), where=span > 0)
    rate = below["rate"].to_numpy(dtype=float) + weight * (above["rate"].to_numpy(dtype=float) - below["rate"].to_numpy(dtype=float))
    return pd.Series(rate / 100.0, index=pd.DatetimeIndex(dates, name="date"), name="r")


def dividend_yield_at_horizon(dividends: pd.DataFrame, horizon_days: int = RATE_HORIZON_DAYS) -> pd.Series:
    """idxdvd's yield (fraction) per date: at ``horizon_days`` to expiration when the table has ``expiration``
    (linear in days, flat beyond the ends, as :func:`rate_at_horizon`), else the mean of the date's rows."""
    frame = dividends.assign(date=pd.to_datetime(dividends["date"])).dropna(subset=["rate"])
    if "expiration" not in frame:
        return (frame.groupby("date")["rate"].mean().astype(float) / 100.0).rename("q")
    days = (pd.to_datetime(frame["expiration"]) - frame["date"]).dt.days
    return rate_at_horizon(pd.DataFrame({"date": frame["date"], "days": days, "rate": frame["rate"]}), horizon_days).rename("q")


def build_underlying(
    closes: pd.DataFrame, zero_curve: pd.DataFrame, tbill: pd.DataFrame, dividends: pd.DataFrame, default_q: float,
    tbill_column: str = "tb_m3",
) -> pd.DataFrame:
    """Underlying table (close, rf_annual, r, q by date) from secprd, zerocd, rates_daily and idxdvd frames.

    r = zero rate at 91 days (continuous); rf_annual = :func:`tbill_effective_annual` of ``tbill_column``
    (DTB3 or tb_m3, discount basis, percent); both forward-filled over dates without a value. q =
    :func:`dividend_yield_at_horizon`, forward-filled, ``default_q`` before the first value.
    """
    close = closes.dropna(subset=["close"]).assign(date=lambda f: pd.to_datetime(f["date"])).groupby("date")["close"].last()
    index = pd.DatetimeIndex(close.index, name="date")
    r = rate_at_horizon(zero_curve.assign(date=pd.to_datetime(zero_curve["date"]))).reindex(index, method="ffill")
    discount = tbill.dropna(subset=[tbill_column]).assign(date=lambda f: pd.to_datetime(f["date"])).groupby("date")[tbill_column].last()
    rf_annual = tbill_effective_annual(discount.astype(float)).reindex(index, method="ffill")
    q = dividend_yield_at_horizon(dividends).reindex(index, method="ffill").fillna(default_q)
    underlying = pd.DataFrame(
        {"close": close.to_numpy(dtype=float), "rf_annual": rf_annual.to_numpy(dtype=float), "r": r.to_numpy(dtype=float), "q": q.to_numpy(dtype=float)},
        index=index,
    )
    for column, table in (("r", "zerocd"), ("rf_annual", f"rates_daily ({tbill_column})")):
        missing = underlying[column].isna()
        if missing.any():
            first = underlying.index[missing][0]
            raise WrdsError(f"WRDS {table} has no rate on or before {first:%Y-%m-%d}; widen OPTIONS_START or check the table.")
    return underlying


def _query(db: WrdsConnection, sql: str, params: dict[str, Any], date_cols: list[str]) -> pd.DataFrame:
    """``db.raw_sql`` (one small table); a failure becomes one :class:`WrdsError` line with the query."""
    try:
        return db.raw_sql(sql, params=params, date_cols=date_cols)
    except Exception as exc:
        raise WrdsError(f"WRDS query failed ({type(exc).__name__}: {first_line(exc)}): {sql}") from None


def pull_underlying(db: WrdsConnection, layout: WrdsLayout, secid: int, start: pd.Timestamp, end: pd.Timestamp, default_q: float) -> pd.DataFrame:
    """The underlying table of [start, end] (rates and yields from a month earlier, to carry forward)."""
    params = _window_params(secid, start, end)
    early = _window_params(secid, start - pd.Timedelta(days=31), end)
    price_tables = list(dict.fromkeys(layout.price_table(year) for year in range(start.year, end.year + 1)))
    closes = pd.concat([_query(db, f"SELECT date, close FROM {table} {WINDOW}", params, ["date"]) for table in price_tables], ignore_index=True)
    library = layout.library
    zero_curve = _query(db, f"SELECT date, days, rate FROM {library}.zerocd WHERE date BETWEEN %(start)s AND %(end)s AND days <= 400", early, ["date"])
    tbill = _query(db, f"SELECT date, {layout.tbill_column} FROM {layout.tbill_table} WHERE date BETWEEN %(start)s AND %(end)s", early, ["date"])
    has_expiration = "expiration" in layout.columns.get(f"{library}.idxdvd", frozenset())
    dividend_columns = "date, expiration, rate" if has_expiration else "date, rate"
    dividends = _query(db, f"SELECT {dividend_columns} FROM {library}.idxdvd {WINDOW}", early, ["date", "expiration"] if has_expiration else ["date"])
    return build_underlying(closes, zero_curve, tbill, dividends, default_q, layout.tbill_column)


# --------------------------------------------------------------------------------------------------
# The pull
# --------------------------------------------------------------------------------------------------
def wrds_username(cfg: dict[str, Any]) -> str:
    """WRDS_USERNAME, or a one-line :class:`settings.SettingsError` when it is empty."""
    username = str(cfg.get("WRDS_USERNAME") or "").strip()
    if not username:
        raise settings.SettingsError(
            "Setting WRDS_USERNAME is empty: set it in .env (password in ~/.pgpass) to pull OptionMetrics, "
            "or use OPTIONS_SOURCE=synthetic. Files already pulled are kept."
        )
    return username


def open_connection(username: str, connect: Callable[[str], WrdsConnection]) -> WrdsConnection:
    """``connect(username)``, any failure turned into one :class:`WrdsError` line."""
    try:
        return connect(username)
    except WrdsError:
        raise
    except Exception as exc:  # network, authentication, a prompt without a terminal (EOFError)
        raise WrdsError(
            f"Cannot connect to WRDS as {username!r} ({type(exc).__name__}: {first_line(exc)}); check the network, "
            "the settings WRDS_HOST, WRDS_PORT, WRDS_USERNAME and ~/.pgpass. Files already pulled are kept."
        ) from None


def covered_window(path: Path) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The (start, end) a pulled file records in its metadata, None when absent or unreadable."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        attrs = json.loads(metadata.get(b"PANDAS_ATTRS", b"{}"))  # where pandas stores DataFrame.attrs
        return pd.Timestamp(attrs["pulled_start"]), pd.Timestamp(attrs["pulled_end"])
    except Exception:  # missing key, corrupt file: treat as not pulled
        return None


def _is_covered(path: Path, start: pd.Timestamp, end: pd.Timestamp) -> bool:
    window = covered_window(path) if path.is_file() else None
    return window is not None and window[0] <= start and window[1] >= end


def check_tables(layout: WrdsLayout, years: list[int], underlying: bool, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Every table the pull will query exists, may be selected and has the columns asked for (else one line)."""
    available = layout.quote_years()
    span = f"{available[0]}-{available[-1]}" if available else "none"
    for year in years:
        hint = f" (its {layout.library} has opprcdYYYY for {span}; set OPTIONS_START/OPTIONS_END inside them)"
        layout.require(layout.quote_table(year), tuple(RAW_QUOTE_COLUMNS) + ("symbol",), hint=hint)
    if underlying:
        for table in dict.fromkeys(layout.price_table(year) for year in range(start.year, end.year + 1)):
            layout.require(table, ("secid", "date", "close"))
        layout.require(f"{layout.library}.zerocd", ("date", "days", "rate"))
        layout.require(f"{layout.library}.idxdvd", ("secid", "date", "rate"))
        layout.require(layout.tbill_table, ("date", layout.tbill_column))


def pull_wrds_options(
    folder: Path, cfg: dict[str, Any], connect: Callable[[str], WrdsConnection] | None = None, *,
    repull: Iterable[int] = (), chunk_rows: int = CHUNK_ROWS,
) -> list[Path]:
    """Pull quotes year by year and the underlying into ``folder``; skip what is already on disk.

    ``connect(username)`` returns the connection (default: :func:`~asset_pricing.sources.wrds_client.default_connect`
    at WRDS_HOST:WRDS_PORT). ``repull`` years are pulled again even when their file covers the window
    (WRDS revised them), and so is the underlying table. ``chunk_rows`` bounds the rows held in memory.
    """
    start, end = pd.Timestamp(cfg["OPTIONS_START"]), pd.Timestamp(cfg["OPTIONS_END"])
    secid = int(cfg["OPTIONS_SECID"])
    years = list(range(start.year, end.year + 1))
    forced = {int(year) for year in repull}
    outside = sorted(forced - set(years))
    if outside:
        raise settings.SettingsError(f"--repull {outside[0]}: outside OPTIONS_START/OPTIONS_END ({years[0]}-{years[-1]}).")
    todo = [year for year in years if year in forced or not _is_covered(folder / f"quotes_{year}.parquet", *year_window(year, start, end))]
    underlying_path = folder / "underlying.parquet"
    underlying_needed = bool(forced) or not _is_covered(underlying_path, start, end)
    if not todo and not underlying_needed:
        log.info("WRDS option quotes %d-%d already in %s", years[0], years[-1], folder)
        return []
    if connect is None:
        connect = partial(default_connect, host=str(cfg["WRDS_HOST"]), port=int(cfg["WRDS_PORT"]))
    db = open_connection(wrds_username(cfg), connect)
    written = []
    try:
        try:
            layout = detect_layout(db)
        except WrdsError:
            raise
        except Exception as exc:
            raise WrdsError(f"Cannot read WRDS's table list ({type(exc).__name__}: {first_line(exc)}). Files already pulled are kept.") from None
        check_tables(layout, todo, underlying_needed, start, end)
        for year in tqdm(todo, desc=f"WRDS {layout.library}.opprcd", unit="year"):
            year_start, year_end = year_window(year, start, end)
            path = folder / f"quotes_{year}.parquet"
            pull_quote_year(db, layout, year, secid, year_start, year_end, path, chunk_rows)
            written.append(path)
        if underlying_needed:
            underlying = pull_underlying(db, layout, secid, start, end, float(cfg["DIVIDEND_YIELD"]))
            underlying.attrs = {"data_source": WRDS_LABEL, "pulled_start": f"{start:%Y-%m-%d}", "pulled_end": f"{end:%Y-%m-%d}"}
            written.append(write_parquet(underlying, underlying_path))
    finally:
        try:
            db.close()
        except Exception:  # the server may be gone; the error that matters is already raised
            pass
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m asset_pricing.sources.wrds_options [--repull YEAR ...]``: the WRDS pull of the settings.

    Without arguments it pulls what is missing (as ``doit pull_options`` does); ``--repull 2008 2009``
    pulls those years again (each file replaced only once its new copy is complete) and the underlying.
    """
    from asset_pricing.paths import project_paths, raw_options_dir

    parser = argparse.ArgumentParser(prog="python -m asset_pricing.sources.wrds_options", description=main.__doc__.splitlines()[0])
    parser.add_argument("--repull", type=int, nargs="+", default=[], metavar="YEAR", help="years to pull again (WRDS revised them)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = settings.load()
        written = pull_wrds_options(raw_options_dir(project_paths(), "wrds"), cfg, repull=args.repull)
    except (WrdsError, settings.SettingsError) as exc:
        print(f"error: {exc}")
        return 1
    print("\n".join(str(path) for path in written) or "nothing to pull: every year is on disk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
