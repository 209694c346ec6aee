"""CJS (2013) leverage-adjusted option portfolios and their HKM (2017) aggregates (docs/methods.md §4, §5).

Construction for each trading day t and each of the 54 targets (type C/P × moneyness k* ∈ {0.900, …,
1.100} × maturity τ* ∈ {30, 60, 90} calendar days):

1. Kernel weights over *every* quote of that type on day t (CJS §1.3; docs/methods.md §9.3):
   w*_i = exp(−½ z²_i), z²_i = ((m_i − k*)/0.0125)² + ((τ_i − τ*)/10)², normalized to sum 1; weights
   below 0.01 are dropped and the rest renormalized (docs/methods.md §9.4).
2. BSM elasticity at formation ω_i = Δ_i S_t / mid_i from the quote's implied volatility
   (:func:`asset_pricing.options.bsm.bs_elasticity`): calls ω > 1, puts ω < −1.
3. Per-contract return r_i = mid_{i,t+1} / mid_{i,t} − 1 of the *same* optionid on the next trading
   day (docs/methods.md §9.1). The exit price mid_{i,t+1} is the contract's valid price at t+1 — its quote
   in the formation sample, or in the exit-only quotes when the filters removed it only for leaving that
   sample (maturity below 7 days, IV bounds, moneyness outside 0.8–1.2, its pair's parity rate) and it
   sits on the day's smile. Only a contract without a valid price at t+1 is filled with a Black–Scholes
   price (next-day smile, else own IV; docs/methods.md §4.4).
4. Leverage-adjusted return R = Σ w_i (1/ω_i) r_i + (1 − Σ w_i/ω_i) · rf_{t→t+1} (one formula for calls
   and puts, docs/methods.md §9.2), rf accrued over the calendar days held: (1 + y)^{n/365} − 1 (docs/methods.md §5).

Monthly returns compound the daily ones of each month, by default from the month's first to its last trading
day as the published series (:func:`compound_monthly`); HKM averages the three maturities.
All functions are pure (arrays / frames in, arrays / frames out) and vectorized over the whole panel; the
only Python loop is over the 27 targets of a type, each pass reusing the same buffers (docs/methods.md §4.1).

The daily return from formation day t to the next trading day t+1 is labelled with ``date`` = t+1 (the
day it is earned, like a stock's daily return) and carries ``formation_date`` = t; the diagnostics
(``n_options``, ``eff_moneyness``, ``eff_maturity``, ``fill_share``) describe the portfolio formed at t.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from asset_pricing.io import DataValidationError, require_columns
from asset_pricing.options.bsm import bs_elasticity, bs_price
from asset_pricing.options.schema import EXIT_QUOTE_COLUMNS
from asset_pricing.options.smile import smile_iv

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

OPTION_TYPES: tuple[str, ...] = ("C", "P")
TARGET_MONEYNESS: tuple[float, ...] = (0.900, 0.925, 0.950, 0.975, 1.000, 1.025, 1.050, 1.075, 1.100)
TARGET_MATURITY_DAYS: tuple[int, ...] = (30, 60, 90)
BANDWIDTH_MONEYNESS: float = 0.0125
BANDWIDTH_MATURITY_DAYS: float = 10.0
WEIGHT_FLOOR: float = 0.01
TARGETS_PER_TYPE: int = len(TARGET_MONEYNESS) * len(TARGET_MATURITY_DAYS)

# S_t, r and q of a quote are its day's (the underlying's, docs/methods.md §3.1) and T = tau_days / 365: the
# construction takes them from the trading calendar instead of reading four more columns per quote.
QUOTE_COLUMNS: tuple[str, ...] = ("date", "exdate", "cp_flag", "optionid", "strike", "moneyness", "tau_days", "mid", "impl_volatility")
DAYS_PER_YEAR: float = 365.0
UNDERLYING_COLUMNS: tuple[str, ...] = ("close", "rf_annual", "r", "q")
SMILE_COLUMNS: tuple[str, ...] = ("date", "exdate", "cp_flag", "coef_a", "coef_b", "coef_c")
DAILY_COLUMNS: tuple[str, ...] = (
    "portfolio_id", "date", "return", "n_options", "fill_share", "eff_moneyness", "eff_maturity", "formation_date",
)


# --------------------------------------------------------------------------------------------------
# Targets and identifiers
# --------------------------------------------------------------------------------------------------
def cjs_portfolio_id(cp_flag: str, target_moneyness: float, target_maturity_days: int) -> str:
    """Identifier of a CJS portfolio: ``cjs_C_1000_30`` (type, moneyness × 1000 as an integer, maturity in days)."""
    return f"cjs_{cp_flag}_{round(target_moneyness * 1000)}_{int(target_maturity_days)}"


def hkm_portfolio_id(cp_flag: str, target_moneyness: float) -> str:
    """Identifier of an HKM portfolio: ``hkm_P_975`` (type, moneyness × 1000)."""
    return f"hkm_{cp_flag}_{round(target_moneyness * 1000)}"


def portfolio_targets() -> pd.DataFrame:
    """The 54 CJS targets in construction order (type, then moneyness, then maturity).

    Returns
    -------
    DataFrame with columns ``portfolio_id`` (``cjs_C_900_30`` …), ``hkm_id`` (``hkm_C_900``), ``cp_flag``,
    ``target_moneyness`` (K/S) and ``target_maturity`` (calendar days); row position = portfolio code.
    """
    rows = [
        (cjs_portfolio_id(cp, k, tau), hkm_portfolio_id(cp, k), cp, k, tau)
        for cp in OPTION_TYPES
        for k in TARGET_MONEYNESS
        for tau in TARGET_MATURITY_DAYS
    ]
    return pd.DataFrame(rows, columns=["portfolio_id", "hkm_id", "cp_flag", "target_moneyness", "target_maturity"])


def sort_by_portfolio(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by portfolio in construction order (:func:`portfolio_targets`), then by date."""
    code = pd.Categorical(frame["portfolio_id"], categories=portfolio_targets()["portfolio_id"]).codes
    order = np.lexsort((frame["date"].to_numpy(), code))
    return frame.iloc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Kernel weights
# --------------------------------------------------------------------------------------------------
class KernelWeights(NamedTuple):
    """Sparse kernel weights: one entry per (portfolio, quote) pair that survives the 0.01 floor.

    ``portfolio`` is the row of :func:`portfolio_targets`, ``row`` the quote's position in the input
    arrays, ``day`` the quote's day code and ``weight`` the renormalized weight (sums to 1 per
    portfolio-day).
    """

    portfolio: IntArray
    row: IntArray
    day: IntArray
    weight: FloatArray


def _floored_kernel_weights_one_target(
    segment_starts: IntArray,
    segment_lengths: IntArray,
    segment_of_row: IntArray,
    moneyness_scaled: FloatArray,
    maturity_term: FloatArray,
    target_moneyness_scaled: float,
    z2: FloatArray,
    keep: NDArray[np.bool_],
    weight_floor: float = WEIGHT_FLOOR,
) -> tuple[IntArray, FloatArray]:
    """Floored, renormalized weights of one target over day segments of sorted quotes, in reused buffers.

    ``z2`` (float64) and ``keep`` (bool) have the length of the quotes and are overwritten;
    ``maturity_term`` is ((τ − τ*)/10)² for the target's maturity (shared by the nine moneyness targets).
    Each segment's smallest z² is subtracted before ``exp`` so its nearest quote has w* = 1 exactly: the
    sum is ≥ 1 (no underflow, never 0/0) and the largest normalized weight is 1/Σw*. The floor is
    min(weight_floor, 1/Σw*) so it never drops a segment's heaviest quote (a segment of > 100 equidistant
    quotes keeps them all); ``weight_floor=0`` keeps every quote (the weights before the floor).

    Only the quotes that can pass the floor are divided by Σw*: w*_i ≥ floor·Σw*·(1 − 2⁻⁴⁹) selects a
    superset of those with w*_i / Σw* ≥ floor (division rounds by at most half an ulp), and the exact test
    runs on that subset, so the result is that of dividing every quote.
    """
    np.subtract(moneyness_scaled, target_moneyness_scaled, out=z2)
    np.square(z2, out=z2)
    np.add(z2, maturity_term, out=z2)
    np.subtract(z2, np.repeat(np.minimum.reduceat(z2, segment_starts), segment_lengths), out=z2)  # np.repeat: a fill, not a gather
    np.multiply(z2, -0.5, out=z2)
    np.exp(z2, out=z2)
    segment_sum = np.add.reduceat(z2, segment_starts)
    floor = np.minimum(weight_floor, 1.0 / segment_sum)
    np.greater_equal(z2, np.repeat(floor * segment_sum * (1.0 - 2.0**-49), segment_lengths), out=keep)
    rows = np.flatnonzero(keep)
    rows_segment = segment_of_row[rows]
    weight = z2[rows] / segment_sum[rows_segment]
    passes = weight >= floor[rows_segment]
    if not passes.all():
        rows, rows_segment, weight = rows[passes], rows_segment[passes], weight[passes]
    kept_sum = np.bincount(rows_segment, weights=weight, minlength=len(segment_starts))
    return rows, weight / kept_sum[rows_segment]


def kernel_weights(
    is_call: NDArray[np.bool_], day: IntArray, moneyness: FloatArray, tau_days: FloatArray, *, weight_floor: float = WEIGHT_FLOOR
) -> KernelWeights:
    """CJS Gaussian kernel weights of every quote for each of the 54 targets on its day (CJS §1.3, docs/methods.md §4).

    w*_i = exp(−½[((m_i − k*)/0.0125)² + ((τ_i − τ*)/10)²]) over all quotes of the target's type on the
    day, normalized to 1; weights < 0.01 dropped and the rest renormalized to 1 (docs/methods.md §4.1: min z²
    subtracted per portfolio-day before exp, float64, a loop over targets with reused buffers).

    Parameters
    ----------
    is_call : bool array, True for calls.
    day : int array, any integer day code (e.g. trading-day index); quotes of one day share it.
    moneyness : K / S_t.
    tau_days : calendar days to expiry.
    weight_floor : normalized weights below it are dropped (CJS: 0.01; 0 keeps every quote, i.e. the
        weights before the floor).

    Returns
    -------
    KernelWeights with positions into the input arrays; portfolio-days without a quote have no entry.
    """
    is_call = np.asarray(is_call, dtype=bool)
    day = np.asarray(day, dtype=np.int64)
    moneyness = np.asarray(moneyness, dtype=np.float64)
    tau_days = np.asarray(tau_days, dtype=np.float64)
    in_day_order = bool((day[1:] >= day[:-1]).all())  # quotes in the files' order: each type's rows are already by day
    order = None if in_day_order else np.lexsort((day, ~is_call))  # calls first, then by day
    parts: list[tuple[IntArray, IntArray, IntArray, FloatArray]] = []
    for type_code, cp_flag in enumerate(OPTION_TYPES):
        type_rows = np.flatnonzero(is_call == (cp_flag == "C")) if order is None else order[is_call[order] == (cp_flag == "C")]
        if type_rows.size == 0:
            continue
        type_day = day[type_rows]
        segment_starts = np.flatnonzero(np.r_[True, type_day[1:] != type_day[:-1]])
        moneyness_scaled = moneyness[type_rows] / BANDWIDTH_MONEYNESS
        maturity_scaled = tau_days[type_rows] / BANDWIDTH_MATURITY_DAYS
        segment_lengths = np.diff(np.r_[segment_starts, type_rows.size])
        segment_of_row = np.repeat(np.arange(segment_starts.size), segment_lengths)
        z2 = np.empty(type_rows.size)
        keep = np.empty(type_rows.size, dtype=bool)
        target_code = type_code * TARGETS_PER_TYPE
        maturity_terms = [np.square(maturity_scaled - target_tau / BANDWIDTH_MATURITY_DAYS) for target_tau in TARGET_MATURITY_DAYS]
        for target_m in TARGET_MONEYNESS:
            for maturity_term in maturity_terms:
                rows, weight = _floored_kernel_weights_one_target(
                    segment_starts, segment_lengths, segment_of_row, moneyness_scaled, maturity_term, target_m / BANDWIDTH_MONEYNESS,
                    z2, keep, weight_floor,
                )
                parts.append((np.full(rows.size, target_code, dtype=np.int64), type_rows[rows], type_day[rows], weight))
                target_code += 1
    if not parts:
        empty = np.empty(0, dtype=np.int64)
        return KernelWeights(empty, empty, empty, np.empty(0))
    portfolio, row, entry_day, weight = (np.concatenate(column) for column in zip(*parts))
    return KernelWeights(portfolio, row, entry_day, weight)


# --------------------------------------------------------------------------------------------------
# Next-day prices, fills and risk-free accrual
# --------------------------------------------------------------------------------------------------
def next_day_position(optionid: IntArray, day: IntArray) -> IntArray:
    """Position of the same contract's row on the next trading day (day + 1), −1 where there is none.

    One sort by (optionid, trading-day index) and a match of neighbours (docs/methods.md §4.3), not a merge: row j
    follows row i in the sort and is the next day's quote iff optionid_j = optionid_i and day_j = day_i + 1.
    A return therefore never compares two different contracts.

    Raises
    ------
    DataValidationError if a contract has two rows on one day (the contract says one row per
    (optionid, date)).
    """
    optionid = np.asarray(optionid, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    order = np.lexsort((day, optionid))
    sorted_id, sorted_day = optionid[order], day[order]
    same_contract = sorted_id[1:] == sorted_id[:-1]
    duplicated = same_contract & (sorted_day[1:] == sorted_day[:-1])
    if duplicated.any():
        first = int(np.flatnonzero(duplicated)[0])
        raise DataValidationError(
            f"quotes: optionid {sorted_id[first]} has two rows on one day (day code {sorted_day[first]}); "
            "the filtered quotes must have one row per (optionid, date)."
        )
    is_next = same_contract & (sorted_day[1:] == sorted_day[:-1] + 1)
    position = np.full(optionid.size, -1, dtype=np.int64)
    position[order[:-1][is_next]] = order[1:][is_next]
    return position


def next_day_mid(
    quotes: pd.DataFrame, day: IntArray, valid: NDArray[np.bool_], calendar_days: IntArray, exit_quotes: pd.DataFrame | None = None
) -> FloatArray:
    """Per quote: the mid of the same contract's valid price on the next trading day, NaN where there is none.

    A valid next-day price is a valid quote of the formation sample (``valid``) or an exit-only quote
    (``exit_quotes``: columns date, optionid, mid; quotes that left the formation sample only by
    maturity, IV bounds, moneyness or parity rate, :func:`asset_pricing.options.filters.exit_price_rows`) with a
    positive mid on a trading day. Matching is per optionid on trading-day index + 1
    (:func:`next_day_position`), never across contracts.
    """
    rows = np.flatnonzero(valid)
    optionid = quotes["optionid"].to_numpy(np.int64)[rows]
    price_day = day[rows]
    mid = quotes["mid"].to_numpy(np.float64)[rows]
    if exit_quotes is not None and len(exit_quotes):
        require_columns(exit_quotes, EXIT_QUOTE_COLUMNS, "exit quotes")
        exit_day, on_calendar = calendar_position(exit_quotes["date"], calendar_days)
        exit_mid = exit_quotes["mid"].to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            usable = np.flatnonzero(on_calendar & (exit_mid > 0))
        optionid = np.concatenate([optionid, exit_quotes["optionid"].to_numpy(np.int64)[usable]])
        price_day = np.concatenate([price_day, exit_day[usable]])
        mid = np.concatenate([mid, exit_mid[usable]])
    following = next_day_position(optionid, price_day)[: rows.size]
    out = np.full(len(quotes), np.nan)
    out[rows] = np.where(following >= 0, mid[following.clip(min=0)], np.nan)
    return out


def calendar_position(dates: pd.Series | NDArray[np.datetime64], calendar_days: IntArray) -> tuple[IntArray, NDArray[np.bool_]]:
    """Trading-day index of each date in ``calendar_days`` (sorted day numbers) and whether it is a trading day."""
    quote_days = np.asarray(dates, dtype="datetime64[ns]").astype("datetime64[D]").astype(np.int64)
    if not len(calendar_days):
        return np.zeros(len(quote_days), dtype=np.int64), np.zeros(len(quote_days), dtype=bool)
    first, span = int(calendar_days[0]), int(calendar_days[-1]) - int(calendar_days[0]) + 1
    if len(quote_days) > span:  # many quotes: look the positions up in a table over the calendar's days (a gather, not a search)
        table = np.searchsorted(calendar_days, np.arange(first, first + span, dtype=np.int64))
        position = table[np.clip(quote_days - first, 0, span - 1)]
    else:
        position = np.searchsorted(calendar_days, quote_days).clip(max=len(calendar_days) - 1)
    return position, calendar_days[position] == quote_days


def risk_free_holding_return(rf_annual: FloatArray, calendar_days: FloatArray) -> FloatArray:
    """Risk-free return over a holding period: (1 + y)^{n/365} − 1 (docs/methods.md §5; never a fixed /252).

    ``rf_annual`` is the effective annual rate y (fraction), ``calendar_days`` the calendar days n held.
    """
    rf_annual = np.asarray(rf_annual, dtype=np.float64)
    return np.expm1(np.asarray(calendar_days, dtype=np.float64) / 365.0 * np.log1p(rf_annual))


def filled_next_day_price(
    strike: FloatArray,
    T_next: FloatArray,
    is_call: NDArray[np.bool_],
    close_next: FloatArray,
    r_next: FloatArray,
    q_next: FloatArray,
    smile_iv_next: FloatArray,
    own_iv: FloatArray,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Black–Scholes price at t+1 of a held contract whose quote is missing (docs/methods.md §4.4).

    P_{t+1} = BS(S_{t+1}, K, T_{t+1}, r_{t+1}, q, σ) with σ the smile-fitted IV at t+1 for the contract's
    (exdate, cp_flag) when that slice has a fit (``smile_iv_next`` finite and > 0), else the contract's
    own IV at t. A contract at or past expiry (T_{t+1} ≤ 0) is worth its intrinsic value.

    Returns
    -------
    (price, used_smile): the filled price and whether the smile fit supplied the volatility.
    """
    smile_iv_next = np.asarray(smile_iv_next, dtype=np.float64)
    used_smile = np.isfinite(smile_iv_next) & (smile_iv_next > 0)
    sigma = np.where(used_smile, smile_iv_next, own_iv)
    T_next = np.asarray(T_next, dtype=np.float64)
    alive = T_next > 0
    price = bs_price(close_next, strike, np.where(alive, T_next, 1.0), r_next, q_next, sigma, is_call)
    intrinsic = np.maximum(np.where(is_call, close_next - strike, strike - close_next), 0.0)
    return np.where(alive, price, intrinsic), used_smile


SLICE_TAU_BITS = 20  # days to expiry packed into a slice key: |exdate − date| < 2^19 days


def slice_keys(date: NDArray[np.datetime64], exdate: NDArray[np.datetime64], is_call: NDArray[np.bool_]) -> IntArray | None:
    """One int64 per (date, exdate, type) slice, ordered as the quote files (date, then calls before puts, then
    exdate): ((day number · 2 + is_put) · 2^20 + days to expiry + 2^19); None when a date is not a whole day
    or an expiry lies 2^19 days away or more (callers then group on the three columns)."""
    date = np.asarray(date, dtype="datetime64[ns]")
    exdate = np.asarray(exdate, dtype="datetime64[ns]")
    date_day, exdate_day = date.astype("datetime64[D]"), exdate.astype("datetime64[D]")
    tau = (exdate_day - date_day).astype(np.int64)
    half = 2 ** (SLICE_TAU_BITS - 1)
    if not ((date_day == date).all() and (exdate_day == exdate).all() and (len(tau) == 0 or (tau.min() >= -half and tau.max() < half))):
        return None
    return (date_day.astype(np.int64) * 2 + ~np.asarray(is_call, dtype=bool)) * 2**SLICE_TAU_BITS + (tau + half)


def decode_slice_keys(key: IntArray) -> tuple[NDArray[np.datetime64], NDArray[np.datetime64], NDArray[np.bool_]]:
    """(date, exdate, is_call) of :func:`slice_keys`."""
    half = 2 ** (SLICE_TAU_BITS - 1)
    day_and_type = key // 2**SLICE_TAU_BITS
    day = day_and_type // 2
    return (day.astype("datetime64[D]").astype("datetime64[ns]"),
            (day + key % 2**SLICE_TAU_BITS - half).astype("datetime64[D]").astype("datetime64[ns]"), day_and_type % 2 == 0)


def _slice_lookup(date: NDArray[np.datetime64], exdate: NDArray[np.datetime64], is_call: NDArray[np.bool_], table: pd.DataFrame) -> IntArray:
    """Row of ``table`` (columns date, exdate, is_call; unique) for each (date, exdate, is_call), −1 if none."""
    table_date, table_exdate, table_call = table["date"].to_numpy("datetime64[ns]"), table["exdate"].to_numpy("datetime64[ns]"), table["is_call"].to_numpy(bool)
    table_keys, keys = slice_keys(table_date, table_exdate, table_call), slice_keys(date, exdate, is_call)
    if table_keys is not None and keys is not None:
        index = pd.Index(table_keys)
    else:
        index = pd.MultiIndex.from_arrays([table_date, table_exdate, table_call])
        keys = pd.MultiIndex.from_arrays([np.asarray(date, dtype="datetime64[ns]"), np.asarray(exdate, dtype="datetime64[ns]"), np.asarray(is_call, dtype=bool)])
    if index.has_duplicates:
        raise DataValidationError("smile fits: more than one fit per (date, exdate, cp_flag).")
    return index.get_indexer(keys)


def smile_iv_next_day(
    smile_fits: pd.DataFrame, quoted_slices: pd.DataFrame,
    date: NDArray[np.datetime64], exdate: NDArray[np.datetime64], is_call: NDArray[np.bool_], moneyness: FloatArray,
) -> FloatArray:
    """Smile-fitted IV exp(a + b x + c x²), x = m − 1, of the (date, exdate, type) slice at ``moneyness``.

    The fit is used only inside the moneyness range [m_min, m_max] of that slice's valid quotes on
    ``date`` (``quoted_slices``: columns date, exdate, is_call, m_min, m_max): a quadratic in log IV fitted
    on four deep in-the-money quotes, evaluated far out of the money, gives IVs in the millions. Outside
    the range, or without a fit, the result is NaN and the caller falls back to the contract's own IV.
    """
    iv = np.full(len(date), np.nan)
    if len(smile_fits) == 0 or len(date) == 0:
        return iv
    fit_row = _slice_lookup(date, exdate, is_call, smile_fits.assign(is_call=(smile_fits["cp_flag"] == "C").to_numpy()))
    range_row = _slice_lookup(date, exdate, is_call, quoted_slices)
    m_min = np.where(range_row >= 0, quoted_slices["m_min"].to_numpy(np.float64)[range_row.clip(min=0)], np.nan)
    m_max = np.where(range_row >= 0, quoted_slices["m_max"].to_numpy(np.float64)[range_row.clip(min=0)], np.nan)
    usable = (fit_row >= 0) & (moneyness >= m_min) & (moneyness <= m_max)
    coefs = smile_fits[["coef_a", "coef_b", "coef_c"]].to_numpy(np.float64)[fit_row[usable]]
    iv[usable] = smile_iv(coefs[:, 0], coefs[:, 1], coefs[:, 2], moneyness[usable])
    return iv


def quoted_slice_ranges(quotes: pd.DataFrame, rows: IntArray) -> pd.DataFrame:
    """Moneyness range of the quotes ``rows`` per (date, exdate, type) slice: columns date, exdate, is_call, m_min, m_max.

    Slices are grouped on one integer key per quote (:func:`slice_keys`). Quotes in the files' order
    (date, cp_flag, exdate, …) hold each slice in one run of rows: its range is then a reduction over
    the run (``fmin``/``fmax.reduceat``), without grouping; other orders are grouped by key.
    """
    date = quotes["date"].to_numpy("datetime64[ns]")[rows]
    exdate = quotes["exdate"].to_numpy("datetime64[ns]")[rows]
    is_call = (quotes["cp_flag"] == "C").to_numpy()[rows]
    moneyness = quotes["moneyness"].to_numpy(np.float64)[rows]
    slice_key = slice_keys(date, exdate, is_call)
    if slice_key is None:
        grouped = pd.DataFrame({"date": date, "exdate": exdate, "is_call": is_call, "moneyness": moneyness}).groupby(
            ["date", "exdate", "is_call"], sort=False)["moneyness"]
        return pd.DataFrame({"m_min": grouped.min(), "m_max": grouped.max()}).reset_index()
    if len(slice_key) and (slice_key[1:] >= slice_key[:-1]).all():
        starts = np.flatnonzero(np.r_[True, slice_key[1:] != slice_key[:-1]])
        key, m_min, m_max = slice_key[starts], np.fmin.reduceat(moneyness, starts), np.fmax.reduceat(moneyness, starts)
    else:
        grouped = pd.Series(moneyness).groupby(slice_key, sort=False)
        low, high = grouped.min(), grouped.max()
        key, m_min, m_max = low.index.to_numpy(np.int64), low.to_numpy(), high.to_numpy()
    slice_date, slice_exdate, slice_call = decode_slice_keys(key)
    return pd.DataFrame({"date": slice_date, "exdate": slice_exdate, "is_call": slice_call, "m_min": m_min, "m_max": m_max})


# --------------------------------------------------------------------------------------------------
# Daily portfolio returns
# --------------------------------------------------------------------------------------------------
def trading_calendar(underlying: pd.DataFrame) -> pd.DataFrame:
    """The underlying's trading days with a valid close: the calendar that defines t+1 (docs/methods.md §4, §5).

    A day without an underlying record, or with a missing / non-positive close, is a gap: the holding
    period of the previous trading day runs over it to the next valid day and the risk-free rate accrues
    over the calendar days spanned.
    """
    require_columns(underlying, UNDERLYING_COLUMNS, "underlying")
    close = underlying["close"].to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        valid = (close > 0) & np.isfinite(close) & underlying[["rf_annual", "r", "q"]].notna().to_numpy().all(axis=1)
    if valid.all():
        return underlying if tuple(underlying.columns) == UNDERLYING_COLUMNS else underlying[list(UNDERLYING_COLUMNS)]
    log.warning("underlying: %d day(s) without a valid close or rate treated as gaps (first %s)",
                int((~valid).sum()), f"{underlying.index[~valid][0]:%Y-%m-%d}")
    return underlying.loc[valid, list(UNDERLYING_COLUMNS)]


def next_day_prices(
    quotes: pd.DataFrame, rows: IntArray, next_mid: FloatArray, day: IntArray, valid: NDArray[np.bool_],
    calendar: pd.DataFrame, smile_fits: pd.DataFrame,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """mid_{t+1} of the held quotes ``rows``: the same contract's valid price on day t+1, else a fill.

    ``next_mid`` (per quote) is the mid of the contract's valid next-day price or NaN
    (:func:`next_day_mid`), ``day`` the quotes' trading-day index in ``calendar``, ``valid`` the
    formation-sample quotes that can price a contract (their moneyness range per slice bounds the use of
    the smile). Fills follow :func:`filled_next_day_price` with S, r, q of day t+1 and the smile fitted on
    t+1 for (exdate, cp_flag) at moneyness K / S_{t+1} inside the slice's quoted range
    (:func:`smile_iv_next_day`), else the contract's own IV at t.

    Returns
    -------
    (price_next, filled) aligned with ``rows``.
    """
    price_next = np.asarray(next_mid, dtype=np.float64)[rows].copy()
    filled = np.isnan(price_next)
    fill_rows = rows[filled]
    fill_day = day[fill_rows] + 1
    strike = quotes["strike"].to_numpy(np.float64)[fill_rows]
    is_call = (quotes["cp_flag"] == "C").to_numpy()[fill_rows]
    close_next = calendar["close"].to_numpy(np.float64)[fill_day]
    next_dates = calendar.index.to_numpy("datetime64[ns]")[fill_day]
    exdate = quotes["exdate"].to_numpy("datetime64[ns]")[fill_rows]
    # τ counts to the last trading day on or before exdate (docs/methods.md §3.3): one day held less
    held_days = (next_dates - quotes["date"].to_numpy("datetime64[ns]")[fill_rows]) / np.timedelta64(1, "D")
    T_next = (quotes["tau_days"].to_numpy(np.float64)[fill_rows] - held_days) / 365.0
    next_day_quotes = np.flatnonzero(valid & np.isin(day, np.unique(fill_day)))
    smile_next = smile_iv_next_day(smile_fits, quoted_slice_ranges(quotes, next_day_quotes), next_dates, exdate, is_call, strike / close_next)
    price_next[filled], used_smile = filled_next_day_price(
        strike, T_next, is_call, close_next, calendar["r"].to_numpy(np.float64)[fill_day],
        calendar["q"].to_numpy(np.float64)[fill_day], smile_next, quotes["impl_volatility"].to_numpy(np.float64)[fill_rows],
    )
    if fill_rows.size:
        log.info("filled %d of %d held contract-days without a valid next-day quote (%.0f%% with the smile fit at t+1)",
                 fill_rows.size, rows.size, 100.0 * used_smile.mean())
    return price_next, filled


def _unique_rows(rows: IntArray, n_rows: int) -> tuple[IntArray, IntArray]:
    """``np.unique(rows, return_inverse=True)`` for positions 0 … n_rows−1, by counting instead of sorting."""
    present = np.bincount(rows, minlength=n_rows) > 0
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[rows]


def daily_portfolio_returns(
    quotes: pd.DataFrame,
    underlying: pd.DataFrame,
    smile_fits: pd.DataFrame,
    formation_dates: pd.DatetimeIndex,
    max_fill_share: float = 1.0,
    exit_quotes: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Leverage-adjusted daily returns of the 54 CJS portfolios formed on ``formation_dates`` (docs/methods.md §4).

    R_{t→t+1} = Σ_i w_i (1/ω_i) r_i + (1 − Σ_i w_i/ω_i) · rf_{t→t+1}, with w_i the floored kernel weights,
    ω_i = Δ_i S_t / mid_i the BSM elasticity at t, r_i = mid_{i,t+1}/mid_{i,t} − 1 of the same optionid
    and rf_{t→t+1} = (1 + y_t)^{n/365} − 1 over the n calendar days to the next trading day t+1.

    Quote validity: a quote with a non-positive or missing mid, a missing or non-positive IV, T ≤ 0 or a
    non-finite elasticity cannot be held (it gets no weight at t) and does not price a held contract at
    t+1 (it is filled instead). Quotes dated on a day that is not a trading day of ``underlying`` are
    ignored with a warning. The exit price at t+1 is the contract's mid in the formation sample of t+1
    or, when the filters removed it only for leaving that sample (maturity, moneyness, parity rate), its
    mid in ``exit_quotes``; a held contract without a valid price at t+1 is filled by
    :func:`next_day_prices`. ``fill_share`` = Σ w_i over filled contracts is a diagnostic: CJS keep every
    portfolio-day, and so does the default ``max_fill_share`` = 1; a stricter value makes the day NaN
    when ``fill_share > max_fill_share``. A portfolio-day without quotes of its type is NaN (never 0).

    Parameters
    ----------
    quotes : filtered quotes (contract columns :data:`QUOTE_COLUMNS`) of the formation days *and* of each
        formation day's next trading day (at a year boundary: the next year's first day).
    underlying : DatetimeIndex of trading days; columns close, rf_annual (effective annual y), r, q.
    smile_fits : smile fits (date, exdate, cp_flag, coef_a, coef_b, coef_c) covering the t+1 days.
    formation_dates : days t whose portfolios are formed; days without a next trading day are skipped.
    max_fill_share : setting MAX_FILL_SHARE (1.0: never NaN for fills).
    exit_quotes : exit-only quotes (date, optionid, mid) of the t+1 days, or None.

    Returns
    -------
    One row per (portfolio, formation day), portfolio-major: columns :data:`DAILY_COLUMNS`, ``date`` = t+1.
    """
    require_columns(quotes, QUOTE_COLUMNS, "quotes")
    require_columns(smile_fits, SMILE_COLUMNS, "smile fits")
    calendar = trading_calendar(underlying)
    calendar_days = calendar.index.to_numpy("datetime64[D]").astype(np.int64)
    formation_day = np.flatnonzero(calendar.index.isin(formation_dates))
    formation_day = formation_day[formation_day < len(calendar) - 1]
    day, valid, elasticity = quote_day_and_validity(quotes, calendar)

    # Per-contract next-day price: one sort over the valid quotes and the exit-only quotes, matched on day + 1.
    next_mid = next_day_mid(quotes, day, valid, calendar_days, exit_quotes)

    # Formation: valid quotes on formation days, kernel-weighted for each target.
    is_formation = np.zeros(len(calendar), dtype=bool)
    is_formation[formation_day] = True
    candidates = np.flatnonzero(valid & is_formation[day])
    moneyness = quotes["moneyness"].to_numpy(np.float64)
    tau_days = quotes["tau_days"].to_numpy(np.float64)
    weights = kernel_weights((quotes["cp_flag"] == "C").to_numpy()[candidates], day[candidates], moneyness[candidates], tau_days[candidates])

    # Held contracts (a weight in at least one portfolio): next-day price and per-contract return.
    held, entry_held = _unique_rows(weights.row, len(candidates))
    held_rows = candidates[held]
    price_next, filled = next_day_prices(quotes, held_rows, next_mid, day, valid, calendar, smile_fits)
    contract_return = price_next / quotes["mid"].to_numpy(np.float64)[held_rows] - 1.0
    entry_row = held_rows[entry_held]

    # Portfolio-days: group = portfolio × formation day, sums by bincount.
    n_formation = formation_day.size
    n_portfolios = TARGETS_PER_TYPE * len(OPTION_TYPES)
    day_position = np.full(len(calendar), -1, dtype=np.int64)
    day_position[formation_day] = np.arange(n_formation)
    group = weights.portfolio * n_formation + day_position[weights.day]
    w = weights.weight
    w_over_omega = w / elasticity[entry_row]

    def group_sum(values: FloatArray) -> FloatArray:
        return np.bincount(group, weights=values, minlength=n_portfolios * n_formation)

    n_options = np.bincount(group, minlength=n_portfolios * n_formation)
    option_leg = group_sum(w_over_omega * contract_return[entry_held])
    risk_free_share = 1.0 - group_sum(w_over_omega)
    fill_share = group_sum(w * filled[entry_held])
    eff_moneyness = group_sum(w * moneyness[entry_row])
    eff_maturity = group_sum(w * tau_days[entry_row])

    holding_days = calendar_days[formation_day + 1] - calendar_days[formation_day]
    rf_holding = risk_free_holding_return(calendar["rf_annual"].to_numpy(np.float64)[formation_day], holding_days)
    leverage_adjusted_return = option_leg + risk_free_share * np.tile(rf_holding, n_portfolios)

    has_quotes = n_options > 0
    usable = usable_portfolio_days(has_quotes, fill_share, max_fill_share)
    trading_days = calendar.index.to_numpy()
    return pd.DataFrame({
        "portfolio_id": np.repeat(portfolio_targets()["portfolio_id"].to_numpy(), n_formation),
        "date": np.tile(trading_days[formation_day + 1], n_portfolios),
        "return": np.where(usable, leverage_adjusted_return, np.nan),
        "n_options": n_options.astype(np.int64),
        "fill_share": np.where(has_quotes, fill_share, np.nan),
        "eff_moneyness": np.where(has_quotes, eff_moneyness, np.nan),
        "eff_maturity": np.where(has_quotes, eff_maturity, np.nan),
        "formation_date": np.tile(trading_days[formation_day], n_portfolios),
    })


def usable_portfolio_days(has_quotes: NDArray[np.bool_], fill_share: FloatArray, max_fill_share: float) -> NDArray[np.bool_]:
    """Which portfolio-days get a return (docs/methods.md §4.4): every day with a quote of its type when
    ``max_fill_share`` ≥ 1 (the default, as CJS keep every portfolio-day), else those whose filled weight
    share is at most ``max_fill_share``.

    With the default the share is never compared: a fully filled day's weights sum to 1 only up to
    floating-point rounding (1 + 2⁻⁵² on some CPUs, exactly 1 on others), and such a day is kept either way.
    """
    if max_fill_share >= 1.0:
        return has_quotes.copy()
    return has_quotes & (fill_share <= max_fill_share)


def quote_day_and_validity(quotes: pd.DataFrame, calendar: pd.DataFrame) -> tuple[IntArray, NDArray[np.bool_], FloatArray]:
    """Trading-day index of each quote, whether it can be held / price a held contract, and its elasticity.

    ``calendar`` is :func:`trading_calendar` of the underlying: S_t, r and q of a quote are its day's there,
    and T = tau_days / 365 (docs/methods.md §3.1). A quote is valid when its date
    is a trading day, mid > 0, IV > 0, T > 0 and the BSM elasticity ω = Δ S / mid
    (:func:`~asset_pricing.options.bsm.bs_elasticity` with ``price=mid``) is finite and non-zero.
    Invalid quotes are counted in a warning; a cp_flag other than C/P is an error.
    """
    is_call = (quotes["cp_flag"] == "C").to_numpy()
    bad_type = ~is_call & (quotes["cp_flag"] != "P").to_numpy()
    if bad_type.any():
        raise DataValidationError(f"quotes: column 'cp_flag' must be 'C' or 'P', found {quotes['cp_flag'][bad_type].iloc[0]!r}.")
    day, on_calendar = calendar_position(quotes["date"], calendar.index.to_numpy("datetime64[D]").astype(np.int64))
    if (~on_calendar).any():
        log.warning("quotes: %d quote(s) on %d day(s) that are not trading days of the underlying are ignored",
                    int((~on_calendar).sum()), len(np.unique(quotes["date"].to_numpy()[~on_calendar])))
    mid = quotes["mid"].to_numpy(np.float64)
    own_iv = quotes["impl_volatility"].to_numpy(np.float64)
    T = quotes["tau_days"].to_numpy(np.float64) / DAYS_PER_YEAR
    if len(calendar):  # a quote off the calendar gets a neighbouring day's values: it is not valid either way
        close, r, q = (calendar[column].to_numpy(np.float64)[day] for column in ("close", "r", "q"))
    else:
        close = r = q = np.full(len(quotes), np.nan)
    elasticity = bs_elasticity(close, quotes["strike"].to_numpy(np.float64), T, r, q, own_iv, is_call, price=mid)
    with np.errstate(invalid="ignore"):
        valid = on_calendar & (mid > 0) & (own_iv > 0) & (T > 0) & np.isfinite(elasticity) & (elasticity != 0)
    unusable = on_calendar & ~valid
    if unusable.any():
        log.warning("quotes: %d quote(s) with a non-positive mid, missing IV or undefined elasticity are not held "
                    "and do not price held contracts", int(unusable.sum()))
    return day, valid, elasticity


# --------------------------------------------------------------------------------------------------
# Monthly compounding and HKM
# --------------------------------------------------------------------------------------------------
MONTHS_FIRST_TO_LAST = "first_to_last"
MONTHS_CALENDAR = "calendar"
MONTH_CONVENTIONS: tuple[str, ...] = (MONTHS_FIRST_TO_LAST, MONTHS_CALENDAR)


def compound_monthly(daily: pd.DataFrame, allow_partial_months: bool, *, months: str) -> pd.DataFrame:
    """Monthly return per portfolio: R_month = Π_d (1 + R_d) − 1 over the month's days (docs/methods.md §4.5).

    Which daily returns make a month (setting OPTION_MONTHS):

    - ``first_to_last`` (default of the project): the returns formed *and* earned in the month, so the month
      runs from the close of its first trading day to the close of its last; the return from the last day
      of month m − 1 to the first day of m belongs to no month. This is how the series Constantinides,
      Jackwerth and Savov (2013) built and He, Kelly and Manela (2017) published are cut: regressed on the
      S&P 500's first-to-last return and on its first-day return, they load on the first day with a
      coefficient of 0 (docs/methods.md §4.5). Needs the ``formation_date`` column.
    - ``calendar``: every return in the month of ``date`` (the day it is earned), like a stock's month.

    A month with any NaN day is NaN unless ``allow_partial_months`` (setting ALLOW_PARTIAL_MONTHS), in
    which case its valid days are compounded; a month without a valid day is always NaN (never 0). A day
    outside the month's window (``first_to_last``) is neither compounded nor counted as missing.

    Returns
    -------
    Columns ``portfolio_id``, ``date`` (calendar month end), ``return``, ``n_days`` (valid days
    compounded) and ``n_missing_days`` (NaN days in the month).
    """
    if months not in MONTH_CONVENTIONS:
        raise ValueError(f"months must be one of {MONTH_CONVENTIONS}, got {months!r} (setting OPTION_MONTHS).")
    required = ["portfolio_id", "date", "return"] + (["formation_date"] if months == MONTHS_FIRST_TO_LAST else [])
    require_columns(daily, required, "daily portfolio returns")
    earned = pd.DatetimeIndex(daily["date"]).to_period("M")
    if months == MONTHS_FIRST_TO_LAST:
        in_month = np.asarray(pd.DatetimeIndex(daily["formation_date"]).to_period("M") == earned)
        daily, earned = daily.loc[in_month], earned[in_month]
    month_end = earned.to_timestamp(how="end").normalize()
    keys = [daily["portfolio_id"].to_numpy(), month_end]
    grouped = daily["return"].groupby(keys, sort=True)
    growth = (1.0 + daily["return"]).groupby(keys, sort=True).prod(min_count=1)
    n_days = grouped.count()
    n_missing = grouped.size() - n_days
    monthly_return = growth - 1.0
    if not allow_partial_months:
        monthly_return = monthly_return.where(n_missing == 0)
    out = pd.DataFrame({"return": monthly_return, "n_days": n_days.astype(np.int64), "n_missing_days": n_missing.astype(np.int64)})
    out.index.names = ["portfolio_id", "date"]
    return out.reset_index()


def hkm_portfolio_returns(cjs_monthly: pd.DataFrame) -> pd.DataFrame:
    """HKM (2017) series: for each month, type and k*, the equal-weight mean over τ* ∈ {30, 60, 90} (docs/methods.md §4).

    The mean is over all three maturities: a month where any of them is NaN is NaN (the series stays an
    equal-weight average of the same three portfolios, never of a changing subset).

    Returns
    -------
    Columns ``portfolio_id`` (``hkm_C_1000``), ``date`` (month end), ``return``; 18 series.
    """
    require_columns(cjs_monthly, ["portfolio_id", "date", "return"], "CJS monthly returns")
    id_map = portfolio_targets().set_index("portfolio_id")["hkm_id"]
    hkm_id = cjs_monthly["portfolio_id"].map(id_map)
    if hkm_id.isna().any():
        raise DataValidationError(f"CJS monthly returns: unknown portfolio_id {cjs_monthly['portfolio_id'][hkm_id.isna()].iloc[0]!r}.")
    grouped = cjs_monthly["return"].groupby([hkm_id.to_numpy(), cjs_monthly["date"].to_numpy()], sort=True)
    n_maturities = len(TARGET_MATURITY_DAYS)
    mean_return = grouped.sum(min_count=n_maturities) / n_maturities
    mean_return = mean_return.where(grouped.size() == n_maturities)
    out = mean_return.rename("return").to_frame()
    out.index.names = ["portfolio_id", "date"]
    return out.reset_index()
