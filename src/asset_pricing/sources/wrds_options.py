"""OptionMetrics S&P 500 option quotes from WRDS (``OPTIONS_SOURCE=wrds``; docs/methods.md §1.1, §3.1, §5).

What is pulled (the ``wrds`` package; user ``WRDS_USERNAME``, password from ``~/.pgpass``):

- quotes: ``optionm.opprcdYYYY`` for ``secid = OPTIONS_SECID`` (108105 = SPX), the docs/methods.md §3.1 columns,
  one query and one file ``quotes_YYYY.parquet`` per calendar year of OPTIONS_START … OPTIONS_END;
- underlying close S_t: ``optionm.secprd`` (same secid);
- rates, two of them as in CJS and docs/methods.md §5:
  r, the rate used in Black–Scholes (elasticities, fills, parity): the OptionMetrics zero curve
  ``optionm.zerocd`` (continuously compounded, percent) interpolated linearly in days to 91 days (flat
  beyond the curve's ends) on each date, r = rate/100 — the curve OptionMetrics uses for its own implied
  volatilities;
  rf_annual, the risk-free rate the portfolios accrue on their risk-free leg: the 3-month T-bill
  ``frb.rates_daily.tb_m3`` (percent, annualized) → y = tb_m3/100 (docs/methods.md §5: percent →
  fraction), forward-filled over days without a value;
- dividend yield q: ``optionm.idxdvd`` (continuous, percent; the mean over the rows of a date when the
  table holds a term structure), forward-filled over dates without a value, DIVIDEND_YIELD where the
  table has none.

Resuming: every year is written as soon as it arrives (atomically), with the window it covers in the
file's metadata; a later pull skips the years whose file already covers the requested dates, so an
interrupted pull resumes where it stopped and nothing already pulled is deleted. No connection is
opened when everything is on disk. A missing WRDS_USERNAME or a failed connection raises one clear
error line. The connection comes from a factory argument so tests pass a fake one (no network).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from asset_pricing.io import write_parquet
from asset_pricing.options.schema import DATA_SOURCE_LABELS, coerce_quote_dtypes

import settings

log = logging.getLogger(__name__)

WRDS_LABEL = DATA_SOURCE_LABELS["wrds"]
RATE_HORIZON_DAYS = 91
QUOTE_SQL = (
    "SELECT secid, date, exdate, cp_flag, strike_price, best_bid, best_offer, volume, open_interest, "
    "impl_volatility, delta, optionid FROM optionm.opprcd{year} "
    "WHERE secid = %(secid)s AND date BETWEEN %(start)s AND %(end)s"
)
UNDERLYING_SQL = "SELECT date, close FROM optionm.secprd WHERE secid = %(secid)s AND date BETWEEN %(start)s AND %(end)s"
ZERO_CURVE_SQL = "SELECT date, days, rate FROM optionm.zerocd WHERE date BETWEEN %(start)s AND %(end)s AND days <= 400"
TBILL_SQL = "SELECT date, tb_m3 FROM frb.rates_daily WHERE date BETWEEN %(start)s AND %(end)s"
DIVIDEND_SQL = "SELECT date, rate FROM optionm.idxdvd WHERE secid = %(secid)s AND date BETWEEN %(start)s AND %(end)s"


class WrdsConnection(Protocol):
    """What this module uses of ``wrds.Connection``."""

    def raw_sql(self, sql: str, *, params: dict[str, Any] | None = None, date_cols: list[str] | None = None) -> pd.DataFrame: ...

    def close(self) -> None: ...


class WrdsError(RuntimeError):
    """WRDS cannot be reached or answered unexpectedly; one line saying what to check."""


def default_connect(username: str) -> WrdsConnection:
    """A live ``wrds.Connection`` for ``username`` (password from ~/.pgpass)."""
    import wrds

    return wrds.Connection(wrds_username=username)


def wrds_username(cfg: dict[str, Any]) -> str:
    """WRDS_USERNAME, or a one-line :class:`settings.SettingsError` when it is empty."""
    username = str(cfg.get("WRDS_USERNAME") or "").strip()
    if not username:
        raise settings.SettingsError(
            "Setting WRDS_USERNAME is empty: set it in .env (password in ~/.pgpass) to pull OptionMetrics, "
            "or use OPTIONS_SOURCE=synthetic. Files already pulled are kept."
        )
    return username


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def open_connection(username: str, connect: Callable[[str], WrdsConnection]) -> WrdsConnection:
    """``connect(username)``, any failure turned into one :class:`WrdsError` line."""
    try:
        return connect(username)
    except Exception as exc:  # network, authentication, a prompt without a terminal
        raise WrdsError(
            f"Cannot connect to WRDS as {username!r} ({type(exc).__name__}: {_first_line(exc)}); check the network, "
            "WRDS_USERNAME and ~/.pgpass. Files already pulled are kept."
        ) from None


def _query(db: WrdsConnection, sql: str, params: dict[str, Any], date_cols: list[str]) -> pd.DataFrame:
    """``db.raw_sql``; a failure becomes one :class:`WrdsError` line with the query."""
    try:
        return db.raw_sql(sql, params=params, date_cols=date_cols)
    except Exception as exc:
        raise WrdsError(f"WRDS query failed ({type(exc).__name__}: {_first_line(exc)}): {sql}") from None


def _window_params(secid: int, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, Any]:
    return {"secid": int(secid), "start": f"{start:%Y-%m-%d}", "end": f"{end:%Y-%m-%d}"}


def year_window(year: int, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The part of [start, end] inside calendar ``year``."""
    return max(start, pd.Timestamp(year, 1, 1)), min(end, pd.Timestamp(year, 12, 31))


def query_year_quotes(db: WrdsConnection, year: int, secid: int, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """One year of ``optionm.opprcdYYYY`` for ``secid`` in the raw schema's dtypes."""
    sql = QUOTE_SQL.format(year=int(year))
    frame = _query(db, sql, _window_params(secid, start, end), ["date", "exdate"])
    return coerce_quote_dtypes(frame, f"optionm.opprcd{year}").reset_index(drop=True)


def rate_at_horizon(zero_curve: pd.DataFrame, horizon_days: int = RATE_HORIZON_DAYS) -> pd.Series:
    """Zero rate (fraction, continuously compounded) at ``horizon_days`` per date, linear in days.

    ``zero_curve`` has columns date, days, rate (percent). Dates whose curve does not reach the horizon
    on one side use the nearest point (flat extrapolation).
    """
    curve = zero_curve.dropna(subset=["days", "rate"]).sort_values(["date", "days"])
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


def build_underlying(
    closes: pd.DataFrame, zero_curve: pd.DataFrame, tbill: pd.DataFrame, dividends: pd.DataFrame, default_q: float
) -> pd.DataFrame:
    """Underlying table (close, rf_annual, r, q by date) from secprd, zerocd, frb.rates_daily and idxdvd frames.

    r = zero rate at 91 days (continuous); rf_annual = tb_m3/100 (3-month T-bill, annualized fraction);
    both forward-filled over dates without a value. q = idxdvd rate/100 (mean per date), forward-filled,
    ``default_q`` before the first value.
    """
    close = closes.dropna(subset=["close"]).assign(date=lambda f: pd.to_datetime(f["date"])).groupby("date")["close"].last()
    index = pd.DatetimeIndex(close.index, name="date")
    r = rate_at_horizon(zero_curve.assign(date=pd.to_datetime(zero_curve["date"]))).reindex(index, method="ffill")
    tbill_rate = tbill.dropna(subset=["tb_m3"]).assign(date=lambda f: pd.to_datetime(f["date"])).groupby("date")["tb_m3"].last() / 100.0
    rf_annual = tbill_rate.astype(float).reindex(index, method="ffill")
    dividend = dividends.assign(date=pd.to_datetime(dividends["date"])).groupby("date")["rate"].mean() / 100.0
    q = dividend.reindex(index, method="ffill").fillna(default_q)
    underlying = pd.DataFrame(
        {"close": close.to_numpy(dtype=float), "rf_annual": rf_annual.to_numpy(dtype=float), "r": r.to_numpy(), "q": q.to_numpy()}, index=index
    )
    for column, table in (("r", "optionm.zerocd"), ("rf_annual", "frb.rates_daily (tb_m3)")):
        missing = underlying[column].isna()
        if missing.any():
            first = underlying.index[missing][0]
            raise WrdsError(f"{table} has no rate on or before {first:%Y-%m-%d}; widen OPTIONS_START or check the table.")
    return underlying


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


def pull_wrds_options(folder: Path, cfg: dict[str, Any], connect: Callable[[str], WrdsConnection] | None = None) -> list[Path]:
    """Pull quotes year by year and the underlying into ``folder``; skip what is already on disk.

    ``connect(username)`` returns the connection (default :func:`default_connect`, a live ``wrds.Connection``).
    """
    start, end = pd.Timestamp(cfg["OPTIONS_START"]), pd.Timestamp(cfg["OPTIONS_END"])
    secid = int(cfg["OPTIONS_SECID"])
    years = list(range(start.year, end.year + 1))
    todo = [year for year in years if not _is_covered(folder / f"quotes_{year}.parquet", *year_window(year, start, end))]
    underlying_path = folder / "underlying.parquet"
    underlying_needed = not _is_covered(underlying_path, start, end)
    if not todo and not underlying_needed:
        log.info("WRDS option quotes %d-%d already in %s", years[0], years[-1], folder)
        return []
    db = open_connection(wrds_username(cfg), connect or default_connect)
    written = []
    try:
        for year in tqdm(todo, desc="WRDS optionm.opprcd", unit="year"):
            year_start, year_end = year_window(year, start, end)
            quotes = query_year_quotes(db, year, secid, year_start, year_end)
            quotes.attrs = {"data_source": WRDS_LABEL, "pulled_start": f"{year_start:%Y-%m-%d}", "pulled_end": f"{year_end:%Y-%m-%d}"}
            written.append(write_parquet(quotes, folder / f"quotes_{year}.parquet", index=False))
        if underlying_needed:
            # the zero curve from a month earlier so the first days have a rate to carry forward
            params = _window_params(secid, start, end)
            curve_params = _window_params(secid, start - pd.Timedelta(days=31), end)
            underlying = build_underlying(
                _query(db, UNDERLYING_SQL, params, ["date"]),
                _query(db, ZERO_CURVE_SQL, curve_params, ["date"]),
                _query(db, TBILL_SQL, curve_params, ["date"]),
                _query(db, DIVIDEND_SQL, curve_params, ["date"]),
                float(cfg["DIVIDEND_YIELD"]),
            )
            underlying.attrs = {"data_source": WRDS_LABEL, "pulled_start": f"{start:%Y-%m-%d}", "pulled_end": f"{end:%Y-%m-%d}"}
            written.append(write_parquet(underlying, underlying_path))
    finally:
        db.close()
    return written
