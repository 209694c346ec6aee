"""OptionMetrics quote schema (docs/methods.md §3.1): column names, dtypes, and validation of a quote panel.

A raw quote panel has one row per quote with the OptionMetrics ``optionm.opprcdYYYY`` columns:

============== ================ ===============================================================
column         dtype            meaning
============== ================ ===============================================================
secid          int64            OptionMetrics security id of the underlying (108105 = SPX)
date           datetime64[ns]   quote date
exdate         datetime64[ns]   expiration date
cp_flag        category C|P     call or put
strike_price   int64            strike × 1000 (OptionMetrics convention)
best_bid       float64          best closing bid (index points)
best_offer     float64          best closing offer
volume         int64            contracts traded that day
open_interest  int64            open contracts
impl_volatility float64         vendor's implied volatility (annualized; NaN when not computed)
delta          float64          vendor's delta
optionid       int64            contract id, stable over the contract's life
============== ================ ===============================================================

Optional columns that tell the contracts of one secid apart (docs/methods.md §3.3; OptionMetrics
``opprcdYYYY`` names). Each is checked and coerced when present; an absent column, or a blank value in
a present one, means the value of a standard contract:

================ ================ =============================================================
column           dtype            meaning (standard value)
================ ================ =============================================================
symbol           category         option symbol, e.g. ``SPX 960120C600000``, ``SPXW 130104C1400000``
root             category         the part of ``symbol`` before the first space (``SPX``); taken
                                  from ``symbol`` when absent
am_settlement    int8             1 = AM-settled (standard), 0 = PM-settled
ss_flag          category         settlement flag, ``0`` = standard settlement
expiry_indicator category         blank = standard expiration, ``w`` weekly, ``d`` daily,
                                  ``m`` end of month
================ ================ =============================================================

The underlying table (one row per trading day, DatetimeIndex ``date``) carries ``close`` (S_t),
``rf_annual`` (effective annual risk-free rate y for the risk-free accrual, docs/methods.md §5), ``r`` (the
continuously compounded pricing rate used in Black–Scholes: the zero curve for WRDS, T-bill + 40 bp for
the synthetic panel, ``log1p(rf_annual)`` when a source gives none) and ``q`` (continuous dividend yield).

What validation does with bad input (each case is a test):

- nullable dtypes as the WRDS client returns them (``Float64`` numbers, ``string`` flags, ``<NA>``):
  whole-valued ``Float64`` ids and strikes → int64, ``<NA>`` IV → NaN, ``<NA>`` volume → 0;
- missing column, a column that cannot be converted, NaN in an identifying column (secid, date,
  exdate, cp_flag, strike_price, optionid) → :class:`~asset_pricing.io.DataValidationError` naming the
  file and the column;
- ``cp_flag`` other than ``'C'``/``'P'``; ``exdate`` before ``date``; a quote date missing from the
  underlying; ``strike_price`` not in ×1000 units (the median of strike_price/1000/close lies outside
  [0.2, 5]) → error naming file and column;
- negative or NaN ``best_bid``/``best_offer`` → kept here and counted as a drop by filter 3 (zero bid,
  crossed or non-positive quotes); NaN ``impl_volatility`` → counted as a drop by filter 5;
  NaN ``volume``/``open_interest`` → 0 (OptionMetrics leaves them blank on days without trades);
- duplicate rows → kept here and counted by filter 1 (identical quotes) and filter 2 (same terms);
- unsorted input → sorted (stably) by ``date, cp_flag, exdate, strike_price``; the index keeps each
  row's position in the input, so planted defects and drops can be traced back to raw rows.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from asset_pricing.io import DataValidationError, require_columns, validate_date_index

log = logging.getLogger(__name__)

CP_CATEGORIES: tuple[str, str] = ("C", "P")
CP_DTYPE = pd.CategoricalDtype(categories=list(CP_CATEGORIES))

RAW_QUOTE_DTYPES: dict[str, object] = {
    "secid": np.dtype("int64"),
    "date": np.dtype("datetime64[ns]"),
    "exdate": np.dtype("datetime64[ns]"),
    "cp_flag": CP_DTYPE,
    "strike_price": np.dtype("int64"),
    "best_bid": np.dtype("float64"),
    "best_offer": np.dtype("float64"),
    "volume": np.dtype("int64"),
    "open_interest": np.dtype("int64"),
    "impl_volatility": np.dtype("float64"),
    "delta": np.dtype("float64"),
    "optionid": np.dtype("int64"),
}
RAW_QUOTE_COLUMNS: tuple[str, ...] = tuple(RAW_QUOTE_DTYPES)
# optional columns telling the contracts of one secid apart (docs/methods.md §3.3)
CONTRACT_FLAG_COLUMNS: tuple[str, ...] = ("symbol", "root", "am_settlement", "ss_flag", "expiry_indicator")
STANDARD_SS_FLAG = "0"
# roots of PM-settled SPX series (weeklies, end-of-month and quarterlies; CBOE's SPXPM 2011-2017): never
# a standard contract, whatever their other flags say
PM_SETTLED_ROOTS: tuple[str, ...] = ("SPXW", "SPXPM")
CONTRACT_KEY = "contract_key"  # derived: one integer per distinct (root, am_settlement, ss_flag, expiry_indicator)
IDENTIFYING_COLUMNS: tuple[str, ...] = ("secid", "date", "exdate", "cp_flag", "strike_price", "optionid")
COUNT_COLUMNS: tuple[str, ...] = ("volume", "open_interest")
SORT_COLUMNS: list[str] = ["date", "cp_flag", "exdate", "strike_price"]

UNDERLYING_COLUMNS: tuple[str, ...] = ("close", "rf_annual", "r", "q")
DERIVED_COLUMNS: tuple[str, ...] = ("close", "rf_annual", "r", "q", "mid", "strike", "moneyness", "tau_days", "T")
FILTERED_QUOTE_COLUMNS: tuple[str, ...] = RAW_QUOTE_COLUMNS + DERIVED_COLUMNS
# exit_quotes_YYYY.parquet: valid prices outside the formation sample (docs/methods.md §4.4)
EXIT_QUOTE_COLUMNS: tuple[str, ...] = ("date", "optionid", "mid")

STRIKE_SCALE = 1000
STRIKE_RATIO_BOUNDS: tuple[float, float] = (0.2, 5.0)
NANOSECONDS_PER_DAY = 86_400 * 10**9

DATA_SOURCE_LABELS: dict[str, str] = {
    "synthetic": "synthetic option quotes",
    "wrds": "OptionMetrics (WRDS)",
    "files": "user files",
}


def day_numbers(dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
    """Integer day numbers (days since 1970-01-01) of datetime64 values, for fast keys and differences."""
    values = np.asarray(dates, dtype="datetime64[ns]")
    return values.view("int64") // NANOSECONDS_PER_DAY


def _first_rows(frame: pd.DataFrame, mask: np.ndarray, columns: list[str], limit: int = 3) -> str:
    shown = frame.loc[mask, columns].head(limit)
    return "; ".join(", ".join(f"{c}={_show(v)}" for c, v in zip(columns, row)) for row in shown.itertuples(index=False))


def _show(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    return repr(value) if isinstance(value, str) else str(value)


def _flag_text(values: pd.Series) -> pd.Categorical:
    """A text flag column as a categorical of stripped strings; blank and missing values → NaN."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    text = pd.Index(distinct).astype("string").str.strip()
    text = text.where(text != "", pd.NA)
    categories = pd.Index(sorted({str(v) for v in text.dropna()}), dtype=object)
    category_code = categories.get_indexer(text.astype(object).where(text.notna(), None)) if len(text) else np.empty(0, dtype=np.intp)
    row_code = np.where(codes >= 0, category_code[codes.clip(min=0)] if len(category_code) else -1, -1)
    return pd.Categorical.from_codes(row_code.astype(np.int32), categories=categories)


def _coerce_contract_flags(quotes: pd.DataFrame, name: str) -> dict[str, object]:
    """The optional contract columns present in ``quotes`` (module docstring), coerced; blanks kept as NaN / −1."""
    out: dict[str, object] = {}
    for column in ("symbol", "root", "ss_flag", "expiry_indicator"):
        if column in quotes.columns:
            out[column] = _flag_text(quotes[column])
    if "root" not in out and "symbol" in out:  # root = the symbol up to its first space
        symbol = out["symbol"]
        root_of_symbol = np.array([text.split(" ", 1)[0] for text in symbol.categories] + [None], dtype=object)
        out["root"] = _flag_text(pd.Series(root_of_symbol[symbol.codes], index=quotes.index))
    if "am_settlement" in quotes.columns:
        numeric = pd.to_numeric(quotes["am_settlement"], errors="coerce")
        bad = (numeric.isna().to_numpy() & quotes["am_settlement"].notna().to_numpy()) | ~np.isin(numeric.fillna(1).to_numpy(dtype=float), (0.0, 1.0))
        if bad.any():
            example = quotes["am_settlement"][bad].iloc[0]
            raise DataValidationError(f"{name}: column 'am_settlement' must be 1 (AM-settled) or 0 (PM-settled), found {example!r}.")
        out["am_settlement"] = numeric.fillna(1).to_numpy(dtype=float).astype(np.int8)
    return out


def standard_contracts(quotes: pd.DataFrame) -> np.ndarray:
    """Mask of the standard contracts (docs/methods.md §3.3): AM-settled, standard settlement, standard expiration.

    A row is standard when ``am_settlement`` is 1, ``ss_flag`` is ``0``, ``expiry_indicator`` is blank and
    ``root`` is not a PM-settled series (:data:`PM_SETTLED_ROOTS`); an absent column or a blank value
    counts as standard.
    """
    standard = np.ones(len(quotes), dtype=bool)
    if "am_settlement" in quotes.columns:
        standard &= quotes["am_settlement"].to_numpy() != 0
    if "ss_flag" in quotes.columns:
        flag = quotes["ss_flag"]
        standard &= (flag.isna() | (flag == STANDARD_SS_FLAG)).to_numpy()
    if "expiry_indicator" in quotes.columns:
        standard &= quotes["expiry_indicator"].isna().to_numpy()
    if "root" in quotes.columns:
        standard &= ~quotes["root"].isin(PM_SETTLED_ROOTS).to_numpy()
    return standard


def contract_key(quotes: pd.DataFrame) -> np.ndarray:
    """One int64 per row, equal for rows of the same contract class (root, am_settlement, ss_flag, expiry_indicator).

    0 for every row when no flag column is present. Filters keyed on a contract's terms add it to
    (date, exdate, cp_flag, strike_price), so an SPX and an SPXW quote with the same terms stay apart
    (docs/methods.md §3.3).
    """
    key = np.zeros(len(quotes), dtype=np.int64)
    for column in ("root", "am_settlement", "ss_flag", "expiry_indicator"):
        if column not in quotes.columns:
            continue
        values = quotes[column]
        if isinstance(values.dtype, pd.CategoricalDtype):  # codes of this frame's categories; blank → 0
            codes = np.asarray(values.cat.codes, dtype=np.int64) + 1
        elif values.dtype.kind in "iub":
            codes = np.asarray(values, dtype=np.int64) + 1
        else:
            codes = pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64) + 1
        key = key * 1024 + codes
    return key


def coerce_quote_dtypes(quotes: pd.DataFrame, name: str) -> pd.DataFrame:
    """The raw columns of ``quotes`` in the schema's dtypes, plus the optional contract columns present.

    Other extra columns are dropped. Nullable dtypes (``Float64``, ``Int64``, ``string``) are accepted.
    Raises :class:`DataValidationError` naming ``name`` and the column when a column is missing, cannot
    be converted, has NaN in an identifying column, ``cp_flag`` holds a value other than C/P, or
    ``am_settlement`` a value other than 0/1.
    """
    require_columns(quotes, RAW_QUOTE_COLUMNS, name)
    out: dict[str, pd.Series | np.ndarray] = {}
    for column in RAW_QUOTE_COLUMNS:
        values = quotes[column]
        if column in ("date", "exdate"):
            try:
                converted = pd.to_datetime(values)
            except (ValueError, TypeError) as exc:
                raise DataValidationError(f"{name}: column {column!r} cannot be read as dates ({exc}).") from None
            if getattr(converted.dt, "tz", None) is not None:
                converted = converted.dt.tz_localize(None)
            out[column] = converted.astype("datetime64[ns]")
        elif column == "cp_flag":
            # strip and check the distinct values only (a few), then map every row by its code
            codes, distinct = pd.factorize(values, use_na_sentinel=True)
            text = pd.Index(distinct).astype("string").str.strip()
            flag_code = pd.Index(CP_CATEGORIES).get_indexer(text)
            row_code = np.where(codes >= 0, flag_code[codes.clip(min=0)] if len(flag_code) else -1, -1)
            bad = row_code < 0
            if bad.any():
                found = sorted({str(v) for v in pd.Series(values[bad]).astype("string").str.strip().unique()})
                raise DataValidationError(
                    f"{name}: column 'cp_flag' must be 'C' or 'P'; found {found} on {int(bad.sum())} row(s)."
                )
            out[column] = pd.Categorical.from_codes(row_code.astype(np.int8), dtype=CP_DTYPE)
        elif values.dtype == RAW_QUOTE_DTYPES[column] and column not in COUNT_COLUMNS:
            array = values.to_numpy()
            if array.dtype.kind == "f" and np.isinf(array).any():
                raise DataValidationError(f"{name}: column {column!r} has infinite values.")
            out[column] = array
        else:
            numeric = pd.to_numeric(values, errors="coerce")
            not_numeric = numeric.isna().to_numpy() & values.notna().to_numpy()
            if not_numeric.any():
                example = values[not_numeric].iloc[0]
                raise DataValidationError(f"{name}: column {column!r} must be numeric, found {example!r}.")
            array = numeric.to_numpy(dtype="float64", na_value=np.nan)
            if np.isinf(array).any():
                raise DataValidationError(f"{name}: column {column!r} has infinite values.")
            if column in COUNT_COLUMNS:
                array = np.nan_to_num(array, nan=0.0)
            if RAW_QUOTE_DTYPES[column] == np.dtype("int64"):
                if np.isnan(array).any():
                    raise DataValidationError(f"{name}: column {column!r} has missing values on {int(np.isnan(array).sum())} row(s).")
                if not np.array_equal(array, np.round(array)):
                    raise DataValidationError(f"{name}: column {column!r} must hold whole numbers.")
                out[column] = array.astype("int64")
            else:
                out[column] = array
    out.update(_coerce_contract_flags(quotes, name))
    frame = pd.DataFrame(out, index=quotes.index)
    for column in ("date", "exdate"):
        if frame[column].isna().any():
            raise DataValidationError(f"{name}: column {column!r} has missing dates on {int(frame[column].isna().sum())} row(s).")
    return frame


def validate_underlying(underlying: pd.DataFrame, name: str, *, dividend_yield: float | None = None) -> pd.DataFrame:
    """Check the underlying table and complete ``r`` and ``q``.

    Requires a sorted unique DatetimeIndex ``date``, ``close`` > 0 and finite ``rf_annual``. Adds
    ``r = log1p(rf_annual)`` when absent and ``q = dividend_yield`` when absent (error if neither).
    """
    frame = underlying.copy()
    if "date" in frame.columns:
        frame = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame.pop("date")), name="date"))
    validate_date_index(frame.index, name)
    require_columns(frame, ("close", "rf_annual"), name)
    if "r" not in frame:
        frame["r"] = np.log1p(frame["rf_annual"].astype(float))
    if "q" not in frame:
        if dividend_yield is None:
            raise DataValidationError(f"{name}: missing column 'q' (dividend yield) and no DIVIDEND_YIELD given.")
        frame["q"] = float(dividend_yield)
    frame["q"] = frame["q"].astype(float)
    if dividend_yield is not None:
        frame["q"] = frame["q"].fillna(float(dividend_yield))
    frame = frame[list(UNDERLYING_COLUMNS)].astype("float64")
    for column in UNDERLYING_COLUMNS:
        values = frame[column].to_numpy()
        if not np.isfinite(values).all():
            first = frame.index[~np.isfinite(values)][0]
            raise DataValidationError(f"{name}: column {column!r} has a missing or infinite value on {first:%Y-%m-%d}.")
    if (frame["close"] <= 0).any():
        first = frame.index[frame["close"].to_numpy() <= 0][0]
        raise DataValidationError(f"{name}: column 'close' has a zero or negative level on {first:%Y-%m-%d}.")
    if (frame["rf_annual"] <= -1).any():
        raise DataValidationError(f"{name}: column 'rf_annual' must be an annual rate above -100%.")
    frame.index.name = "date"
    return frame


def validate_quotes(quotes: pd.DataFrame, underlying: pd.DataFrame, name: str) -> pd.DataFrame:
    """Schema-checked quotes, sorted by ``date, cp_flag, exdate, strike_price`` (stable).

    See the module docstring for what each bad input does. ``underlying`` must already be checked by
    :func:`validate_underlying`; it is used to detect quote dates without an underlying close and
    strikes that are not in ×1000 units. The returned index keeps each row's position in ``quotes``.
    """
    frame = coerce_quote_dtypes(quotes, name)
    date_days = day_numbers(frame["date"])
    before = day_numbers(frame["exdate"]) < date_days
    if before.any():
        raise DataValidationError(
            f"{name}: column 'exdate' is before 'date' on {int(before.sum())} row(s) "
            f"(first: {_first_rows(frame, before, ['date', 'exdate'])})."
        )
    underlying_days = day_numbers(underlying.index)
    position = np.searchsorted(underlying_days, date_days).clip(0, max(len(underlying_days) - 1, 0))
    unmatched = (len(underlying_days) == 0) | (underlying_days[position] != date_days)
    if np.any(unmatched):
        missing = pd.DatetimeIndex(frame.loc[unmatched, "date"].unique())
        raise DataValidationError(
            f"{name}: column 'date' has {len(missing)} quote date(s) without an underlying close "
            f"(first: {', '.join(f'{d:%Y-%m-%d}' for d in missing[:3])})."
        )
    if len(frame):
        close = underlying["close"].to_numpy()[position]
        ratio = float(np.median(frame["strike_price"].to_numpy() / STRIKE_SCALE / close))
        low, high = STRIKE_RATIO_BOUNDS
        if not low <= ratio <= high:
            raise DataValidationError(
                f"{name}: column 'strike_price' does not look like strike x {STRIKE_SCALE} "
                f"(median strike_price/{STRIKE_SCALE}/close = {ratio:.4g}, expected about 1)."
            )
    keys = (date_days, frame["cp_flag"].cat.codes.to_numpy(), day_numbers(frame["exdate"]), frame["strike_price"].to_numpy())
    ascending, equal = np.zeros(max(len(frame) - 1, 0), dtype=bool), np.ones(max(len(frame) - 1, 0), dtype=bool)
    for key in keys:  # one comparison of neighbours; sort only when out of order
        ascending |= equal & (key[1:] > key[:-1])
        equal &= key[1:] == key[:-1]
    if not (ascending | equal).all():
        log.info("%s: quotes were not sorted; sorted by %s", name, ", ".join(SORT_COLUMNS))
        frame = frame.iloc[np.lexsort(keys[::-1])]
    return frame


def check_quote_year(quotes: pd.DataFrame, year: int, name: str) -> None:
    """Raise :class:`DataValidationError` naming ``name`` when a quote date falls outside calendar ``year``."""
    outside = quotes["date"].dt.year.to_numpy() != year
    if outside.any():
        first = quotes.loc[outside, "date"].iloc[0]
        raise DataValidationError(f"{name}: column 'date' has {int(outside.sum())} row(s) outside {year} (first: {first:%Y-%m-%d}).")


EXPIRY_HOLIDAY_DAYS = 4  # longest run of weekdays without trading the calendar may roll back over (Good Friday: 1)


def expiry_trading_days(exdate_days: np.ndarray, calendar_days: np.ndarray) -> np.ndarray:
    """Day number of the last trading day on or before each expiration date (docs/methods.md §3.3).

    OptionMetrics stores the expiration of AM-settled SPX options as the Saturday after the third Friday
    until the February 2015 expiration (CBOE: from then on the third Friday itself); the settlement value
    comes from the opening prices of the last trading day before it. A weekday exdate is kept as it is.
    A weekend exdate becomes the last day of the trading calendar ``calendar_days`` (sorted day numbers
    of the underlying) on or before it, at most :data:`EXPIRY_HOLIDAY_DAYS` earlier, where the calendar
    covers it (the Friday, or the Thursday when the Friday is a holiday such as Good Friday 2008-03-21);
    beyond the calendar, or across a longer gap in it, its Friday.
    """
    exdate_days = np.asarray(exdate_days, dtype=np.int64)
    weekday = (exdate_days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    rolled = exdate_days - np.maximum(weekday - 4, 0)
    calendar_days = np.asarray(calendar_days, dtype=np.int64)
    if calendar_days.size == 0:
        return rolled
    position = np.searchsorted(calendar_days, exdate_days, side="right") - 1
    candidate = calendar_days[position.clip(min=0)]
    covered = (weekday >= 5) & (position >= 0) & (exdate_days <= calendar_days[-1]) & (exdate_days - candidate <= EXPIRY_HOLIDAY_DAYS)
    return np.where(covered, candidate, rolled)


def attach_underlying(quotes: pd.DataFrame, underlying: pd.DataFrame) -> pd.DataFrame:
    """Quotes joined with the day's underlying and the derived columns of docs/methods.md §3.1.

    Adds close (S_t), rf_annual, r, q by date, and mid = (best_bid + best_offer)/2, strike =
    strike_price/1000, moneyness = strike/close, tau_days = calendar days from date to the last trading
    day on or before exdate (:func:`expiry_trading_days`; a Saturday exdate counts to its Friday, never
    below 0), T = tau_days/365. Every quote date must be in ``underlying`` (checked by :func:`validate_quotes`).
    """
    date_days = day_numbers(quotes["date"])
    position = np.searchsorted(day_numbers(underlying.index), date_days)
    frame = quotes.copy()
    for column in UNDERLYING_COLUMNS:
        frame[column] = underlying[column].to_numpy()[position]
    frame["mid"] = 0.5 * (frame["best_bid"].to_numpy() + frame["best_offer"].to_numpy())
    frame["strike"] = frame["strike_price"].to_numpy() / STRIKE_SCALE
    frame["moneyness"] = frame["strike"].to_numpy() / frame["close"].to_numpy()
    expiry_days = expiry_trading_days(day_numbers(quotes["exdate"]), day_numbers(underlying.index))
    frame["tau_days"] = np.maximum(expiry_days - date_days, 0).astype("int64")
    frame["T"] = frame["tau_days"].to_numpy() / 365.0
    if any(column in frame.columns for column in CONTRACT_FLAG_COLUMNS):
        frame[CONTRACT_KEY] = contract_key(frame)
    return frame


def empty_quotes(columns: tuple[str, ...] = FILTERED_QUOTE_COLUMNS) -> pd.DataFrame:
    """An empty frame with the schema's columns and dtypes (derived columns float64, tau_days int64)."""
    dtypes = {**RAW_QUOTE_DTYPES, **{c: np.dtype("float64") for c in DERIVED_COLUMNS}, "tau_days": np.dtype("int64")}
    return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in columns})
