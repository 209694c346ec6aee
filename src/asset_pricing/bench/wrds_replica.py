"""Rows in WRDS's OptionMetrics layout for a local server (tests and the WRDS step of the benchmark).

:func:`quote_rows` generates, deterministically, the S&P 500 (secid 108105) option quotes of some
trading days with the quirks of the real table (docs/methods.md §3.4): standard AM-settled SPX
monthlies (root ``SPX``, ``am_settlement`` 1, ``expiry_indicator`` NULL) whose ``exdate`` is the
Saturday after the third Friday before the February 2015 switch and the Friday itself afterwards;
PM-settled SPXW weeklies (``w``) and end-of-month contracts (``m``, root ``SPXW``, ``am_settlement``
0), which after the switch share (date, exdate, cp_flag, strike_price) with a standard contract at a
different price; ``impl_volatility`` (and the greeks) NULL on about 10 % of rows; prices from
Black–Scholes (1973) on a skewed smile with a bid–ask spread. :func:`underlying_rows` gives the
matching secprd, zerocd, idxdvd (one rate per ``expiration``) and rates_daily rows (3-month bill on a
discount basis, percent). :func:`load_wrds_copy` creates the tables of a DDL file (``YYYY`` repeated
per year) and loads both layouts with COPY.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

SECID = 108105
SETTLEMENT_SWITCH = pd.Timestamp("2015-02-20")  # standard SPX exdate: the Saturday before, the Friday from then on
OPPRCD_COLUMNS: tuple[str, ...] = (
    "secid", "date", "symbol", "symbol_flag", "exdate", "last_date", "cp_flag", "strike_price", "best_bid", "best_offer", "volume",
    "open_interest", "impl_volatility", "delta", "gamma", "vega", "theta", "optionid", "cfadj", "am_settlement", "contract_size",
    "ss_flag", "forward_price", "expiry_indicator", "root", "suffix",
)
INDEX_LEVEL = {2008: 1450.0, 2009: 900.0, 2010: 1120.0, 2016: 2000.0, 2019: 2500.0}
TBILL_PERCENT = {2008: 3.0, 2009: 0.25, 2010: 0.12, 2016: 0.25, 2019: 2.35}
LAYOUT_SCHEMAS = {"optionm_all": ("optionm_all", "frb_all"), "optionm": ("optionm", "frb")}


def third_friday(year: int, month: int) -> pd.Timestamp:
    first = pd.Timestamp(year, month, 1)
    return first + pd.Timedelta(days=(4 - first.weekday()) % 7 + 14)


def index_closes(dates: pd.DatetimeIndex, seed: int = 7) -> pd.Series:
    """A deterministic index path: each year starts at INDEX_LEVEL (2000 when absent), 1 % daily moves."""
    rng = np.random.default_rng(seed)
    closes = []
    for year, days in pd.Series(dates, index=dates).groupby(dates.year):
        moves = rng.normal(0.0, 0.01, len(days))
        closes.append(INDEX_LEVEL.get(int(year), 2000.0) * np.exp(np.cumsum(moves)))
    return pd.Series(np.concatenate(closes), index=dates, name="close").round(2)


def _expirations(day: pd.Timestamp) -> list[tuple[pd.Timestamp, str, str | None, int]]:
    """(exdate, root, expiry_indicator, am_settlement) of the contracts quoted on ``day`` (within 190 days)."""
    out = []
    standard_fridays = set()
    for step in range(7):
        month = day + pd.DateOffset(months=step)
        friday = third_friday(month.year, month.month)
        exdate = friday + pd.Timedelta(days=1) if friday < SETTLEMENT_SWITCH else friday
        if day < exdate <= day + pd.Timedelta(days=190):
            out.append((exdate, "SPX", None, 1))
            standard_fridays.add(friday)
    if day >= pd.Timestamp("2005-10-01"):
        next_friday = day + pd.Timedelta(days=(4 - day.weekday()) % 7 or 7)
        for week in range(5):
            friday = next_friday + pd.Timedelta(weeks=week)
            if friday in standard_fridays and friday < SETTLEMENT_SWITCH:
                continue  # before the switch no weekly expired on a standard expiration's Friday
            out.append((friday, "SPXW", "w", 0))
        for step in range(2):
            month_end = (day + pd.offsets.BMonthEnd(step + 1)).normalize()
            if month_end.weekday() != 4:
                out.append((month_end, "SPXW", "m", 0))
    return out


def quote_rows(dates: pd.DatetimeIndex, closes: pd.Series, *, strike_step: float = 25.0, width: float = 0.15, seed: int = 11) -> pd.DataFrame:
    """opprcdYYYY rows (every column of OPPRCD_COLUMNS) for ``dates`` on the index path ``closes``."""
    rng = np.random.default_rng(seed)
    parts = []
    for day in dates:
        spot = float(closes.loc[day])
        strikes = np.arange(np.ceil(spot * (1 - width) / strike_step), np.floor(spot * (1 + width) / strike_step) + 1) * strike_step
        for exdate, root, indicator, am in _expirations(day):
            tau = (exdate - day).days
            for cp in ("C", "P"):
                parts.append(pd.DataFrame({
                    "date": day, "exdate": exdate, "root": root, "expiry_indicator": indicator, "am_settlement": float(am),
                    "cp_flag": cp, "strike": strikes, "spot": spot, "tau": float(tau),
                }))
    frame = pd.concat(parts, ignore_index=True)
    n = len(frame)
    T = frame["tau"].to_numpy() / 365.0
    S, K = frame["spot"].to_numpy(), frame["strike"].to_numpy()
    r, q = 0.02, 0.02
    moneyness = K / S
    iv = np.clip(0.18 - 0.45 * (moneyness - 1.0) + 0.8 * (moneyness - 1.0) ** 2 + 0.02 / np.sqrt(np.maximum(T, 1 / 365)) * 0.1, 0.08, 0.9)
    iv = iv * np.where(frame["root"].to_numpy() == "SPXW", 1.01, 1.0)  # PM-settled: a slightly different price
    sqrt_t = np.sqrt(T)
    d1 = (np.log(S / K) + (r - q + 0.5 * iv**2) * T) / (iv * sqrt_t)
    d2 = d1 - iv * sqrt_t
    call = frame["cp_flag"].to_numpy() == "C"
    price = np.where(call, S * np.exp(-q * T) * ndtr(d1) - K * np.exp(-r * T) * ndtr(d2),
                     K * np.exp(-r * T) * ndtr(-d2) - S * np.exp(-q * T) * ndtr(-d1))
    delta = np.where(call, np.exp(-q * T) * ndtr(d1), -np.exp(-q * T) * ndtr(-d1))
    density = np.exp(-0.5 * d1**2) / np.sqrt(2 * np.pi)
    spread = np.maximum(0.05, 0.03 * price)
    bid = np.maximum(0.0, np.round((price - spread / 2) * 20) / 20)
    offer = np.round((price + spread / 2) * 20) / 20 + 0.05
    missing_iv = rng.random(n) < 0.10
    exdate_days = (frame["exdate"] - pd.Timestamp("1990-01-01")).dt.days.to_numpy()
    root_code = np.where(frame["root"].to_numpy() == "SPX", 1, 2)
    optionid = ((root_code * 30_000 + exdate_days) * 2 + (~call)) * 4_000 + np.round(K / 5).astype(int)
    strike_price = np.round(K * 1000)
    symbol = (frame["root"] + " " + frame["exdate"].dt.strftime("%y%m%d") + frame["cp_flag"] + pd.Series(strike_price.astype(np.int64)).astype(str))
    nan = np.where(missing_iv, np.nan, 1.0)
    rows = pd.DataFrame({
        "secid": float(SECID), "date": frame["date"], "symbol": symbol, "symbol_flag": "1", "exdate": frame["exdate"],
        "last_date": frame["date"], "cp_flag": frame["cp_flag"], "strike_price": strike_price, "best_bid": bid, "best_offer": offer,
        "volume": np.floor(rng.exponential(200.0, n)), "open_interest": np.floor(rng.exponential(5000.0, n)),
        "impl_volatility": np.round(iv, 6) * nan, "delta": np.round(delta, 6) * nan,
        "gamma": np.round(np.exp(-q * T) * density / (S * iv * sqrt_t), 8) * nan, "vega": np.round(S * np.exp(-q * T) * density * sqrt_t, 6) * nan,
        "theta": np.round(-S * np.exp(-q * T) * density * iv / (2 * sqrt_t), 6) * nan, "optionid": optionid.astype(float), "cfadj": 1.0,
        "am_settlement": frame["am_settlement"], "contract_size": 100.0, "ss_flag": "0",
        "forward_price": np.where(frame["am_settlement"].to_numpy() == 0, np.round(S * np.exp((r - q) * T), 4), np.nan),
        "expiry_indicator": frame["expiry_indicator"], "root": frame["root"], "suffix": None,
    })
    return rows[list(OPPRCD_COLUMNS)]


def underlying_rows(dates: pd.DatetimeIndex, closes: pd.Series) -> dict[str, pd.DataFrame]:
    """secprd, zerocd, idxdvd, rates_daily (both layouts' T-bill names) rows for ``dates``."""
    years = dates.year.to_numpy()
    close = closes.reindex(dates).to_numpy()
    secprd = pd.DataFrame({"secid": float(SECID), "date": dates, "low": close * 0.99, "high": close * 1.01, "close": close, "volume": 1e9,
                           "return": np.r_[np.nan, close[1:] / close[:-1] - 1], "cfadj": 1.0, "open": close, "cfret": 1.0, "shrout": np.nan})
    tbill = np.array([TBILL_PERCENT.get(int(year), 1.0) for year in years])
    curve_days = np.array([7, 35, 63, 98, 126, 189, 371], dtype=float)
    zerocd = pd.DataFrame({"date": np.repeat(dates, len(curve_days)), "days": np.tile(curve_days, len(dates)),
                           "rate": np.repeat(tbill + 0.4, len(curve_days)) + np.tile(curve_days / 365 * 0.3, len(dates))})
    horizons = np.array([30, 91, 182, 365])
    idx_dates = np.repeat(dates, len(horizons))
    idxdvd = pd.DataFrame({"secid": float(SECID), "date": idx_dates, "expiration": idx_dates + pd.to_timedelta(np.tile(horizons, len(dates)), unit="D"),
                           "rate": np.tile([2.6, 2.0, 1.9, 1.8], len(dates))})
    rates_all = pd.DataFrame({"date": dates, "dff": tbill + 0.1, "dtb4wk": tbill - 0.05, "dtb3": tbill, "dtb6": tbill + 0.05, "dtb1yr": tbill + 0.1,
                              "dgs1": tbill + 0.1, "dgs10": tbill + 1.5})
    rates_old = pd.DataFrame({"date": dates, "ff": tbill + 0.1, "tb_m3": tbill, "tb_m6": tbill + 0.05, "tb_y1": tbill + 0.1, "tcm1y": tbill + 0.1,
                              "tcm10y": tbill + 1.5})
    return {"secprd": secprd, "zerocd": zerocd, "idxdvd": idxdvd, "rates_daily_all": rates_all, "rates_daily_old": rates_old}


def ddl_statements(ddl_text: str, years: Iterable[int]) -> list[str]:
    """The statements of a DDL file, a statement naming ``YYYY`` repeated once per year."""
    statements = []
    code = "\n".join(line.split("--", 1)[0] for line in ddl_text.splitlines())  # comments out first (they may hold ';')
    for statement in code.split(";"):
        body = statement.strip()
        if not body:
            continue
        statements += [body.replace("YYYY", str(year)) for year in years] if "YYYY" in body else [body]
    return statements


def copy_frame(cursor: Any, table: str, frame: pd.DataFrame) -> None:
    """COPY ``frame`` (its columns) into ``table`` as CSV; NaN/None become NULL."""
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, date_format="%Y-%m-%d", na_rep="")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)", buffer)


def load_wrds_copy(connection: Any, ddl_text: str, windows: Sequence[tuple[str, str]], *, strike_step: float = 25.0,
                   layouts: Sequence[str] = ("optionm_all", "optionm")) -> dict[int, int]:
    """Create the DDL's tables for the years of ``windows`` ((start, end) pairs) and load ``layouts``.

    Returns the number of quote rows per year. ``connection`` is a superuser psycopg2 connection.
    """
    dates = pd.DatetimeIndex(sorted(set().union(*(pd.bdate_range(start, end) for start, end in windows))), name="date")
    years = sorted(set(dates.year))
    closes = index_closes(dates)
    underlying = underlying_rows(dates, closes)
    counts = {}
    with connection.cursor() as cursor:
        for statement in ddl_statements(ddl_text, years):
            cursor.execute(statement)
        for year in years:
            in_year = dates[dates.year == year]
            quotes = quote_rows(in_year, closes, strike_step=strike_step)
            counts[year] = len(quotes)
            if "optionm_all" in layouts:
                copy_frame(cursor, f"optionm_all.opprcd{year}", quotes)
                copy_frame(cursor, f"optionm_all.secprd{year}", underlying["secprd"][underlying["secprd"]["date"].dt.year == year])
            if "optionm" in layouts:
                copy_frame(cursor, f"optionm.opprcd{year}", quotes.drop(columns=["root", "suffix"]))
        if "optionm" in layouts:
            copy_frame(cursor, "optionm.secprd", underlying["secprd"])
        for library in layouts:
            copy_frame(cursor, f"{library}.zerocd", underlying["zerocd"])
            copy_frame(cursor, f"{library}.idxdvd", underlying["idxdvd"])
        if "optionm_all" in layouts:
            copy_frame(cursor, "frb_all.rates_daily", underlying["rates_daily_all"])
        if "optionm" in layouts:
            copy_frame(cursor, "frb.rates_daily", underlying["rates_daily_old"])
    return counts


def grant_layout(connection: Any, user: str, layout: str, *, withhold: Sequence[str] = ()) -> None:
    """Let ``user`` read one layout (``optionm_all`` or ``optionm``): USAGE on its two schemas and SELECT
    on every table in them except ``withhold`` ("schema.table" names)."""
    with connection.cursor() as cursor:
        for schema in LAYOUT_SCHEMAS[layout]:
            cursor.execute(f"GRANT USAGE ON SCHEMA {schema} TO {user}")
            cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
            for (table,) in cursor.fetchall():
                if f"{schema}.{table}" not in withhold:
                    cursor.execute(f"GRANT SELECT ON {schema}.{table} TO {user}")
