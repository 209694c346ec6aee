"""The ten CJS quote filters (Constantinides, Jackwerth and Savov 2013, Appendix B, Table B.1; docs/methods.md §3.2).

Every filter is a pure, vectorized function of a quote frame prepared by
:func:`asset_pricing.options.schema.attach_underlying` (raw columns plus close, r, q, mid, strike,
moneyness, tau_days, T) and returns a :class:`FilterResult`: the kept rows (index untouched, so removed
rows can be traced back to raw rows) and the number removed. In the order applied:

Contract selection (before CJS's filters, so their counts stay comparable; docs/methods.md §3.3)
 0. OPTIONS_CONTRACTS=standard keeps the standard contracts (AM-settled, standard settlement, standard
    monthly expiration: :func:`asset_pricing.options.schema.standard_contracts`); ``all`` keeps every
    contract of the secid. Filters 1, 2, 8 and 10 key a contract's terms by its class too (column
    ``contract_key``), so an SPX and an SPXW quote with the same (date, exdate, cp_flag, strike) never
    replace or pair with each other.

Level 1
 1. identical quotes: one row per (secid, date, exdate, cp_flag, strike_price, best_bid, best_offer);
 2. identical terms, different price: one row per (secid, date, exdate, cp_flag, strike_price), the one
    whose IV is closest to the median IV of its (date, exdate, cp_flag) slice (missing IV = farthest);
 3. zero bid: drop best_bid ≤ 0 (or missing), and crossed or non-positive quotes (best_offer <
    best_bid, best_offer ≤ 0 or missing). Volume = 0 is not a filter.
Level 2
 4. maturity: keep 7 ≤ τ ≤ 180 calendar days;
 5. implied volatility: keep 0.05 ≤ IV ≤ 1.00 (missing IV dropped and counted);
 6. moneyness: keep 0.8 ≤ K/S ≤ 1.2;
 7. arbitrage bounds: drop mid < max(0, S e^{−qT} − K e^{−rT}) or mid > S e^{−qT} (calls),
    mid < max(0, K e^{−rT} − S e^{−qT}) or mid > K e^{−rT} (puts);
 8. parity-implied rate: for (date, exdate, strike) with a call and a put, r̂ solves
    C − P = S e^{−qT} − K e^{−r̂T}; drop both legs when r̂ < 0.
Level 3 (thresholds from statistics over the whole sample, gathered in a first pass over all years)
 9. IV smile outliers: relative residual e = (IV − fit)/fit of the per-slice quadratic fit in m − 1
    (:mod:`asset_pricing.options.smile`); drop |e − mean_b| > 2 sd_b with mean and sd of e in the quote's
    moneyness bin b (width 0.05) over the whole sample;
10. put–call parity: d = r̂ − r_t for pairs as in 8; drop both legs when |d − mean(d)| > 2 sd(d) over the
    whole sample (non-finite r̂ is dropped too).

Rates: r (the underlying table's continuous pricing rate: zero curve for WRDS, T-bill + 40 bp for the
synthetic panel) and q are continuously compounded, T = τ/365 (docs/methods.md §5). Filter 10 measures
d = r̂ − r; the deviation from the T-bill, r̂ − rf_t, differs from it by a near-constant spread that the mean
of d removes. Without the dividend term, r̂ would be biased down by about q and filter 8 would drop most
pairs (docs/methods.md §3.2).

Speed (OptionMetrics scale, ~1 million quotes a year): each filter also exists as a mask function
(``*_keep`` / ``*_flags``) so that :func:`level_1_2_masks` chains filters 1–8 on boolean masks and
copies the quotes once at the end instead of once per filter. In the schema's order (the stage's),
duplicate candidates, slices and call–put pairs are found by comparing neighbours and one binary search
instead of a hash table or a sort (other orders take the general path: hashed keys, one lexsort, same
result); the exact comparison of duplicates runs only on the few candidate rows, and the slice medians
of filter 2 only for the slices that hold a clash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from asset_pricing.options.schema import CONTRACT_KEY, PM_SETTLED_ROOTS, STANDARD_SS_FLAG, day_numbers, standard_contracts
from asset_pricing.options.smile import fit_smile_with_values

MATURITY_DAYS: tuple[int, int] = (7, 180)
IV_BOUNDS: tuple[float, float] = (0.05, 1.00)
MONEYNESS_BOUNDS: tuple[float, float] = (0.8, 1.2)
MONEYNESS_BIN_WIDTH = 0.05
OUTLIER_SD = 2.0
SMILE_RESIDUAL = "smile_residual"
N_MONEYNESS_BINS = 64  # bins of width 0.05 cover moneyness 0 … 3.2; larger values share the last bin


CONTRACT_CHOICES: tuple[str, ...] = ("standard", "all")  # setting OPTIONS_CONTRACTS


@dataclass(frozen=True)
class FilterStep:
    """Identity of a filter in the CJS Table B.1 order."""

    step: int
    level: int
    name: str


CONTRACT_SELECTION = FilterStep(0, 0, "contract selection (OPTIONS_CONTRACTS)")
FILTER_STEPS: tuple[FilterStep, ...] = (
    FilterStep(1, 1, "identical quotes"),
    FilterStep(2, 1, "identical terms, different price"),
    FilterStep(3, 1, "zero bid (and crossed or non-positive quotes)"),
    FilterStep(4, 2, "maturity outside 7-180 days"),
    FilterStep(5, 2, "implied volatility outside 5%-100% or missing"),
    FilterStep(6, 2, "moneyness outside 0.8-1.2"),
    FilterStep(7, 2, "price outside arbitrage bounds"),
    FilterStep(8, 2, "negative parity-implied rate"),
    FilterStep(9, 3, "implied volatility smile outliers"),
    FilterStep(10, 3, "put-call parity outliers"),
)


@dataclass(frozen=True)
class FilterResult:
    """Rows kept by a filter, how many it removed, and a breakdown of the removals (``detail``)."""

    kept: pd.DataFrame
    removed: int
    detail: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations (M2) per group; mergeable across years (Chan et al.)."""

    count: NDArray[np.float64]
    mean: NDArray[np.float64]
    m2: NDArray[np.float64]

    @classmethod
    def empty(cls, n_groups: int = 1) -> "Moments":
        return cls(np.zeros(n_groups), np.zeros(n_groups), np.zeros(n_groups))

    @classmethod
    def of(cls, values: NDArray[np.float64], groups: NDArray[np.int64] | None = None, n_groups: int = 1) -> "Moments":
        """Moments of the finite ``values`` per group (one group when ``groups`` is None)."""
        values = np.asarray(values, dtype=np.float64)
        finite = np.isfinite(values)
        values = values[finite]
        groups = np.zeros(len(values), dtype=np.int64) if groups is None else np.asarray(groups, dtype=np.int64)[finite]
        count = np.bincount(groups, minlength=n_groups).astype(np.float64)
        total = np.bincount(groups, weights=values, minlength=n_groups).astype(np.float64)
        mean = np.divide(total, count, out=np.zeros(n_groups), where=count > 0)
        m2 = np.bincount(groups, weights=(values - mean[groups]) ** 2, minlength=n_groups).astype(np.float64)
        return cls(count, mean, m2)

    def merge(self, other: "Moments") -> "Moments":
        """Moments of the union of both samples (parallel-variance formula)."""
        count = self.count + other.count
        delta = other.mean - self.mean
        share = np.divide(other.count, count, out=np.zeros_like(count), where=count > 0)
        mean = self.mean + delta * share
        m2 = self.m2 + other.m2 + delta**2 * self.count * share
        return Moments(count, mean, m2)

    @property
    def sd(self) -> NDArray[np.float64]:
        """Sample standard deviation (ddof = 1); NaN with fewer than two observations."""
        return np.sqrt(np.divide(self.m2, self.count - 1, out=np.full_like(self.m2, np.nan), where=self.count > 1))


def _keep(quotes: pd.DataFrame, keep: NDArray[np.bool_], detail: dict[str, int] | None = None) -> FilterResult:
    return FilterResult(quotes[keep], int((~keep).sum()), detail or {})


def _keep_unless(quotes: pd.DataFrame, flags: dict[str, NDArray[np.bool_]], *, report: bool = True) -> FilterResult:
    """Rows without any removal flag; ``detail`` counts each flag (when ``report``)."""
    detail = {name: int(flag.sum()) for name, flag in flags.items()} if report else {}
    return _keep(quotes, ~np.logical_or.reduce(list(flags.values())), detail)


# ---------------------------------------------------------------------------------------------------
# Exact duplicate detection, hashed first
# ---------------------------------------------------------------------------------------------------
IDENTICAL_QUOTE_KEYS: list[str] = ["secid", "date", "exdate", "cp_flag", "strike_price", "best_bid", "best_offer"]
TERMS_KEYS: list[str] = ["secid", "date", "exdate", "cp_flag", "strike_price"]
SLICE_KEYS: list[str] = ["date", "exdate", "cp_flag"]
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def _column_hash(values: pd.Series) -> NDArray[np.uint64]:
    """64-bit hash of each value of a column; values equal for ``DataFrame.duplicated`` hash equally.

    Categoricals hash their codes, dates their nanoseconds; floats are normalized first (every NaN to one
    NaN, −0.0 to 0.0), because ``duplicated`` treats them as equal.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        array = np.asarray(values.cat.codes, dtype=np.int64)
    else:
        array = values.to_numpy()
        if array.dtype.kind == "M":
            array = array.view(np.int64)
        elif array.dtype.kind == "f":
            array = np.where(np.isnan(array), np.nan, array + 0.0)
    return pd.util.hash_array(array, categorize=False)


def row_key_hash(quotes: pd.DataFrame, columns: list[str]) -> NDArray[np.uint64]:
    """Combined 64-bit hash of the ``columns`` of each row (equal keys → equal hash; rare collisions)."""
    key = np.zeros(len(quotes), dtype=np.uint64)
    for column in columns:
        key = key * _HASH_MULTIPLIER + _column_hash(quotes[column])
    return key


def schema_order_breaks(quotes: pd.DataFrame) -> tuple[NDArray[np.bool_], NDArray[np.bool_]] | None:
    """Where a new slice and a new contract-day start, for quotes in the schema's order; None otherwise.

    The schema sorts quotes by (date, cp_flag, exdate, strike_price)
    (:data:`asset_pricing.options.schema.SORT_COLUMNS`), so a (date, exdate, cp_flag) slice and a
    contract-day are runs of neighbouring rows. Returns (new_slice, new_contract_day): per row, whether
    it differs from the previous row on (date, cp_flag, exdate), and on those or strike_price. One
    comparison of neighbours, no sort or hash.
    """
    n_rows = len(quotes)
    if n_rows == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    date = np.asarray(quotes["date"], dtype="datetime64[ns]").view(np.int64)
    cp = np.asarray(quotes["cp_flag"].cat.codes)
    exdate = np.asarray(quotes["exdate"], dtype="datetime64[ns]").view(np.int64)
    strike = quotes["strike_price"].to_numpy()
    ascending = date[1:] > date[:-1]
    equal = date[1:] == date[:-1]
    for key in (cp, exdate):
        ascending |= equal & (key[1:] > key[:-1])
        equal &= key[1:] == key[:-1]
    same_slice = equal.copy()
    ascending |= equal & (strike[1:] > strike[:-1])
    equal &= strike[1:] == strike[:-1]
    if not (ascending | equal).all():
        return None
    new_slice = np.ones(n_rows, dtype=bool)
    new_slice[1:] = ~same_slice
    new_contract_day = np.ones(n_rows, dtype=bool)
    new_contract_day[1:] = ~equal
    return new_slice, new_contract_day


def rows_sharing_schema_key(quotes: pd.DataFrame) -> NDArray[np.bool_] | None:
    """Rows equal to a neighbour on (date, cp_flag, exdate, strike_price) when ``quotes`` is in the schema's order.

    In that order every row that could duplicate another one sits next to it; None when ``quotes`` is
    not in that order (:func:`schema_order_breaks`).
    """
    breaks = schema_order_breaks(quotes)
    if breaks is None:
        return None
    continues = ~breaks[1]
    shared = continues.copy()
    shared[:-1] |= continues[1:]
    return shared


def duplicated_rows(quotes: pd.DataFrame, columns: list[str], keep: str | bool = "first") -> NDArray[np.bool_]:
    """``quotes.duplicated(columns, keep=keep)`` as a mask, compared exactly only among candidate rows.

    ``columns`` must include date, cp_flag, exdate and strike_price. Candidates are the rows that share
    that contract-day with a neighbour when the quotes are in the schema's order
    (:func:`rows_sharing_schema_key`), else the rows whose key hash (:func:`row_key_hash`) is shared.
    Every row of a duplicated key is a candidate, in its original order, so ``keep`` means the same as on
    the whole frame; the exact comparison runs on a few per mille of the rows.
    """
    shared = rows_sharing_schema_key(quotes)
    if shared is None:
        shared = pd.Index(row_key_hash(quotes, columns)).duplicated(keep=False)
    duplicated = np.zeros(len(quotes), dtype=bool)
    candidates = np.flatnonzero(shared)
    if candidates.size:
        duplicated[candidates] = quotes.iloc[candidates].duplicated(columns, keep=keep).to_numpy()
    return duplicated


# ---------------------------------------------------------------------------------------------------
# Level 1
# ---------------------------------------------------------------------------------------------------
def identical_quotes_keep(quotes: pd.DataFrame) -> NDArray[np.bool_]:
    """Mask of filter 1: the first of rows equal on secid, date, exdate, cp_flag, strike_price, bid, offer (and contract class)."""
    return ~duplicated_rows(quotes, with_contract_key(IDENTICAL_QUOTE_KEYS, quotes))


def with_contract_key(columns: list[str], quotes: pd.DataFrame) -> list[str]:
    """``columns`` plus the contract class (:data:`CONTRACT_KEY`) when ``quotes`` carries it (docs/methods.md §3.3)."""
    return [*columns, CONTRACT_KEY] if CONTRACT_KEY in quotes.columns else list(columns)


def contract_selection_flags(quotes: pd.DataFrame, contracts: str = "standard") -> dict[str, NDArray[np.bool_]]:
    """Removal reasons of the contract selection (step 0), mutually exclusive in this order.

    ``contracts="standard"`` removes PM-settled contracts (``am_settlement`` 0 or an SPXW/SPXPM root),
    then non-standard expirations (``expiry_indicator`` w, d, m, …), then special settlements
    (``ss_flag`` not 0); ``"all"`` removes nothing. Absent flag columns mean standard contracts (no
    flag column at all: no reasons, an empty breakdown).
    """
    if contracts not in CONTRACT_CHOICES:
        raise ValueError(f"OPTIONS_CONTRACTS={contracts!r} is not one of {' | '.join(CONTRACT_CHOICES)}.")
    nothing = np.zeros(len(quotes), dtype=bool)
    if contracts == "all" or not any(column in quotes.columns for column in ("am_settlement", "root", "expiry_indicator", "ss_flag")):
        return {}
    pm_settled = nothing.copy()
    if "am_settlement" in quotes.columns:
        pm_settled |= quotes["am_settlement"].to_numpy() == 0
    if "root" in quotes.columns:
        pm_settled |= quotes["root"].isin(PM_SETTLED_ROOTS).to_numpy()
    expiration = ~pm_settled & quotes["expiry_indicator"].notna().to_numpy() if "expiry_indicator" in quotes.columns else nothing
    settlement = nothing
    if "ss_flag" in quotes.columns:
        flag = quotes["ss_flag"]
        settlement = ~pm_settled & ~expiration & (flag.notna() & (flag != STANDARD_SS_FLAG)).to_numpy()
    return {"PM-settled (SPXW)": pm_settled, "non-standard expiration": expiration, "special settlement": settlement}


def contract_selection_keep(quotes: pd.DataFrame, contracts: str = "standard") -> NDArray[np.bool_]:
    """Mask of step 0: the contracts OPTIONS_CONTRACTS selects (all rows for ``"all"``)."""
    flags = contract_selection_flags(quotes, contracts)
    return ~np.logical_or.reduce(list(flags.values())) if flags else np.ones(len(quotes), dtype=bool)


def filter_contracts(quotes: pd.DataFrame, contracts: str = "standard") -> FilterResult:
    """Step 0: keep the contracts OPTIONS_CONTRACTS selects (docs/methods.md §3.3), with the breakdown."""
    flags = contract_selection_flags(quotes, contracts)
    return _keep_unless(quotes, flags) if flags else _keep(quotes, np.ones(len(quotes), dtype=bool))


def filter_identical_quotes(quotes: pd.DataFrame) -> FilterResult:
    """Filter 1: keep the first of rows equal on secid, date, exdate, cp_flag, strike_price, bid, offer."""
    return _keep(quotes, identical_quotes_keep(quotes))


def identical_terms_keep(quotes: pd.DataFrame) -> NDArray[np.bool_]:
    """Mask of filter 2: one row per (secid, date, exdate, cp_flag, strike_price) and contract class.

    Among rows with the same terms keep the one whose implied volatility is closest to the median IV of
    its (date, exdate, cp_flag) slice; missing IV counts as farthest; ties keep the first row. Medians
    are computed only for the slices that hold a clash (over all their quotes).
    """
    keep = np.ones(len(quotes), dtype=bool)
    terms = with_contract_key(TERMS_KEYS, quotes)
    clash = duplicated_rows(quotes, terms, keep=False)
    if not clash.any():
        return keep
    breaks = schema_order_breaks(quotes)
    if breaks is not None:  # slices are runs of rows: number them
        slice_id = np.cumsum(breaks[0]) - 1
        clash_slice = np.zeros(slice_id[-1] + 1, dtype=bool)
        clash_slice[slice_id[clash]] = True
        region = np.flatnonzero(clash_slice[slice_id])
        slice_key: NDArray[np.int64] | list[pd.Series] = slice_id[region]
    else:
        slice_hash = row_key_hash(quotes, SLICE_KEYS)
        region = np.flatnonzero(pd.Index(np.unique(slice_hash[clash])).get_indexer(slice_hash) >= 0)
        slice_key = [quotes[column].iloc[region] for column in SLICE_KEYS]
    region_iv = quotes["impl_volatility"].iloc[region]
    slice_median = region_iv.groupby(slice_key, observed=True, sort=False).transform("median")
    distance = np.full(len(quotes), np.inf)
    region_distance = np.abs(region_iv.to_numpy() - slice_median.to_numpy())
    distance[region] = np.where(np.isfinite(region_distance), region_distance, np.inf)
    position = np.flatnonzero(clash)
    candidates = quotes.iloc[position]
    contract = candidates[CONTRACT_KEY].to_numpy() if CONTRACT_KEY in candidates.columns else np.zeros(len(candidates), dtype=np.int64)
    order = np.lexsort(
        (
            position,
            distance[position],
            contract,
            candidates["strike_price"].to_numpy(),
            np.asarray(candidates["cp_flag"].cat.codes),
            day_numbers(candidates["exdate"]),
            day_numbers(candidates["date"]),
            candidates["secid"].to_numpy(),
        )
    )
    loser = candidates.iloc[order].duplicated(terms).to_numpy()
    keep[position[order][loser]] = False
    return keep


def filter_identical_terms(quotes: pd.DataFrame) -> FilterResult:
    """Filter 2: one row per (secid, date, exdate, cp_flag, strike_price).

    Among rows with the same terms keep the one whose implied volatility is closest to the median IV of
    its (date, exdate, cp_flag) slice; missing IV counts as farthest; ties keep the first row.
    """
    return _keep(quotes, identical_terms_keep(quotes))


def zero_bid_flags(quotes: pd.DataFrame) -> dict[str, NDArray[np.bool_]]:
    """Removal reasons of filter 3 (mutually exclusive): bid ≤ 0; offer < bid or ≤ 0; bid or offer missing."""
    bid = quotes["best_bid"].to_numpy()
    offer = quotes["best_offer"].to_numpy()
    missing = np.isnan(bid) | np.isnan(offer)
    with np.errstate(invalid="ignore"):
        zero_bid = ~missing & (bid <= 0)
        bad_offer = ~missing & ~zero_bid & ((offer <= 0) | (offer < bid))
    return {"zero or negative bid": zero_bid, "crossed or non-positive offer": bad_offer, "missing bid or offer": missing}


def filter_zero_bid(quotes: pd.DataFrame) -> FilterResult:
    """Filter 3: drop best_bid ≤ 0 or missing; also crossed (offer < bid) and non-positive/missing offers."""
    return _keep_unless(quotes, zero_bid_flags(quotes))


# ---------------------------------------------------------------------------------------------------
# Level 2
# ---------------------------------------------------------------------------------------------------
def maturity_flags(quotes: pd.DataFrame, bounds: tuple[int, int] = MATURITY_DAYS) -> dict[str, NDArray[np.bool_]]:
    """Removal reason of filter 4: τ outside bounds[0] … bounds[1] calendar days."""
    tau = quotes["tau_days"].to_numpy()
    return {"maturity outside bounds": (tau < bounds[0]) | (tau > bounds[1])}


def filter_maturity(quotes: pd.DataFrame, bounds: tuple[int, int] = MATURITY_DAYS) -> FilterResult:
    """Filter 4: keep quotes with bounds[0] ≤ τ ≤ bounds[1] calendar days to expiry."""
    return _keep_unless(quotes, maturity_flags(quotes, bounds), report=False)


def implied_volatility_flags(quotes: pd.DataFrame, bounds: tuple[float, float] = IV_BOUNDS) -> dict[str, NDArray[np.bool_]]:
    """Removal reasons of filter 5: missing IV; IV outside bounds[0] … bounds[1]."""
    iv = quotes["impl_volatility"].to_numpy()
    missing = np.isnan(iv)
    with np.errstate(invalid="ignore"):
        inside = (iv >= bounds[0]) & (iv <= bounds[1])
    return {"missing implied volatility": missing, "outside bounds": ~missing & ~inside}


def filter_implied_volatility(quotes: pd.DataFrame, bounds: tuple[float, float] = IV_BOUNDS) -> FilterResult:
    """Filter 5: keep bounds[0] ≤ impl_volatility ≤ bounds[1]; missing IV is dropped and counted apart."""
    return _keep_unless(quotes, implied_volatility_flags(quotes, bounds))


def moneyness_flags(quotes: pd.DataFrame, bounds: tuple[float, float] = MONEYNESS_BOUNDS) -> dict[str, NDArray[np.bool_]]:
    """Removal reason of filter 6: K/S outside bounds[0] … bounds[1] (or missing)."""
    m = quotes["moneyness"].to_numpy()
    return {"moneyness outside bounds": ~((m >= bounds[0]) & (m <= bounds[1]))}


def filter_moneyness(quotes: pd.DataFrame, bounds: tuple[float, float] = MONEYNESS_BOUNDS) -> FilterResult:
    """Filter 6: keep bounds[0] ≤ K/S ≤ bounds[1]."""
    return _keep_unless(quotes, moneyness_flags(quotes, bounds), report=False)


def arbitrage_bounds(quotes: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """No-arbitrage (lower, upper) bounds of European prices with a continuous dividend yield.

    Call: max(0, S e^{−qT} − K e^{−rT}) ≤ C ≤ S e^{−qT}; put: max(0, K e^{−rT} − S e^{−qT}) ≤ P ≤ K e^{−rT}.
    """
    T = quotes["T"].to_numpy()
    discounted_spot = quotes["close"].to_numpy() * np.exp(-quotes["q"].to_numpy() * T)
    discounted_strike = quotes["strike"].to_numpy() * np.exp(-quotes["r"].to_numpy() * T)
    is_call = (quotes["cp_flag"] == "C").to_numpy()
    lower = np.maximum(0.0, np.where(is_call, discounted_spot - discounted_strike, discounted_strike - discounted_spot))
    upper = np.where(is_call, discounted_spot, discounted_strike)
    return lower, upper


def arbitrage_bound_flags(quotes: pd.DataFrame) -> dict[str, NDArray[np.bool_]]:
    """Removal reasons of filter 7: mid below the lower or above the upper no-arbitrage bound."""
    lower, upper = arbitrage_bounds(quotes)
    mid = quotes["mid"].to_numpy()
    return {"below lower bound": mid < lower, "above upper bound": mid > upper}


def filter_arbitrage_bounds(quotes: pd.DataFrame) -> FilterResult:
    """Filter 7: drop quotes whose mid lies below the lower or above the upper no-arbitrage bound."""
    return _keep_unless(quotes, arbitrage_bound_flags(quotes))


def _contract_key(
    secid: NDArray[np.int64], date: NDArray[np.int64], exdate: NDArray[np.int64], strike: NDArray[np.int64]
) -> NDArray[np.int64] | None:
    """One int64 per row ordered like (date, exdate, strike_price): ((date·2^15 + τ)·2^31 + strike).

    None when the bits do not suffice (several secids, dates before 1970 or after 2328, τ ≥ 2^15 days,
    strike_price outside [0, 2^31)).
    """
    tau = exdate - date
    fits = (
        secid.min() == secid.max() and date.min() >= 0 and date.max() < 2**17 and tau.min() >= 0 and tau.max() < 2**15
        and strike.min() >= 0 and strike.max() < 2**31
    )
    return ((date << 15 | tau) << 31 | strike).astype(np.int64) if fits else None


def parity_pairs(quotes: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Positions (call, put) of the (date, exdate, strike_price) that have exactly one call and one put.

    In call order of (secid, date, exdate, strike_price). Quotes in the schema's order with one row per
    contract-day (true after filter 2): the sorted keys of the calls and of the puts are matched with one
    binary search. Otherwise: one sort by (secid, date, exdate, strike_price, contract class, cp_flag)
    and a comparison of neighbours (assumes one row per contract-day and class), so a call pairs only
    with the put of its own class (an SPX call never with an SPXW put; docs/methods.md §3.3).
    """
    if len(quotes) < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    secid = quotes["secid"].to_numpy()
    date = day_numbers(quotes["date"])
    exdate = day_numbers(quotes["exdate"])
    strike = quotes["strike_price"].to_numpy()
    cp = np.asarray(quotes["cp_flag"].cat.codes)
    contract = quotes[CONTRACT_KEY].to_numpy() if CONTRACT_KEY in quotes.columns else np.zeros(len(quotes), dtype=np.int64)
    key = _contract_key(secid, date, exdate, strike)
    if key is not None:
        calls, puts = np.flatnonzero(cp == 0), np.flatnonzero(cp == 1)
        call_key, put_key = key[calls], key[puts]
        if (np.diff(call_key) > 0).all() and (np.diff(put_key) > 0).all() and put_key.size:
            # quotes in the schema's order, one row per contract-day: match the two sorted key lists
            position = np.searchsorted(put_key, call_key).clip(max=put_key.size - 1)
            matched = put_key[position] == call_key
            return calls[matched].astype(np.int64), puts[position[matched]].astype(np.int64)
    order = np.lexsort((cp, contract, strike, exdate, date, secid))
    same = (
        (secid[order][1:] == secid[order][:-1])
        & (contract[order][1:] == contract[order][:-1])
        & (date[order][1:] == date[order][:-1])
        & (exdate[order][1:] == exdate[order][:-1])
        & (strike[order][1:] == strike[order][:-1])
        & (cp[order][:-1] == 0)
        & (cp[order][1:] == 1)
    )
    first = np.flatnonzero(same)
    return order[first].astype(np.int64), order[first + 1].astype(np.int64)


def parity_implied_rate(
    call_mid: NDArray[np.float64], put_mid: NDArray[np.float64], spot: NDArray[np.float64],
    strike: NDArray[np.float64], T: NDArray[np.float64], q: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Rate r̂ solving put–call parity with a dividend yield: C − P = S e^{−qT} − K e^{−r̂T}.

    r̂ = −ln((S e^{−qT} − (C − P)) / K) / T (continuously compounded); +inf when S e^{−qT} ≤ C − P.
    """
    forward_gap = spot * np.exp(-q * T) - (call_mid - put_mid)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = -np.log(forward_gap / strike) / T
    return np.where(forward_gap > 0, rate, np.inf)


def pair_rates(quotes: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Parity pairs (call and put positions) and their parity-implied rate r̂."""
    call, put = parity_pairs(quotes)
    mid = quotes["mid"].to_numpy()
    rate = parity_implied_rate(
        mid[call], mid[put], quotes["close"].to_numpy()[call], quotes["strike"].to_numpy()[call],
        quotes["T"].to_numpy()[call], quotes["q"].to_numpy()[call],
    )
    return call, put, rate


def _drop_pair_legs(n_rows: int, call: NDArray[np.int64], put: NDArray[np.int64], dropped_pairs: NDArray[np.bool_]) -> NDArray[np.bool_]:
    keep = np.ones(n_rows, dtype=bool)
    keep[call[dropped_pairs]] = False
    keep[put[dropped_pairs]] = False
    return keep


def filter_negative_parity_rate(quotes: pd.DataFrame) -> FilterResult:
    """Filter 8: drop both legs of every call–put pair whose parity-implied rate r̂ is negative."""
    call, put, rate = pair_rates(quotes)
    negative = rate < 0
    return _keep(quotes, _drop_pair_legs(len(quotes), call, put, negative), {"pairs": int(negative.sum())})


# ---------------------------------------------------------------------------------------------------
# Level 3
# ---------------------------------------------------------------------------------------------------
def moneyness_bin(moneyness: NDArray[np.float64], width: float = MONEYNESS_BIN_WIDTH) -> NDArray[np.int64]:
    """Bin index floor(m / width) (0.80–0.85 → 16, …, 1.15–1.20 → 23; m = 1.2 exactly → 24)."""
    return np.clip(np.floor(np.asarray(moneyness) / width + 1e-9), 0, N_MONEYNESS_BINS - 1).astype(np.int64)


def smile_residuals(quotes: pd.DataFrame, fit_rows: NDArray[np.bool_] | None = None) -> tuple[NDArray[np.float64], pd.DataFrame]:
    """Relative smile residual e = (IV − fitted)/fitted of each quote (NaN where its slice has no fit), and the fits.

    ``quotes`` needs date, exdate, cp_flag, moneyness and impl_volatility (:mod:`asset_pricing.options.smile`).
    With ``fit_rows`` only those quotes are fitted; the others are measured against their slice's fit
    inside its fitted moneyness range (NaN outside: no extrapolation).
    """
    fits, fitted_iv = fit_smile_with_values(quotes, fit_rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        return quotes["impl_volatility"].to_numpy() / fitted_iv - 1.0, fits


def add_smile_residuals(quotes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quotes with column ``smile_residual`` e = (IV − fitted)/fitted (NaN where the slice has no fit), and the fits."""
    residual, fits = smile_residuals(quotes)
    return quotes.assign(**{SMILE_RESIDUAL: residual}), fits


def smile_residual_moments(quotes: pd.DataFrame) -> Moments:
    """Per-moneyness-bin moments of the smile residuals of ``quotes`` (one year; merge across years)."""
    return Moments.of(quotes[SMILE_RESIDUAL].to_numpy(), moneyness_bin(quotes["moneyness"].to_numpy()), N_MONEYNESS_BINS)


def smile_outlier_flags(
    residual: NDArray[np.float64], bins: NDArray[np.int64], moments: Moments, n_sd: float = OUTLIER_SD
) -> NDArray[np.bool_]:
    """Filter 9's test |e − mean_b| > n_sd·sd_b with the whole-sample moments of each quote's bin b (NaN e → False)."""
    with np.errstate(invalid="ignore"):
        return np.abs(residual - moments.mean[bins]) > n_sd * moments.sd[bins]


def filter_smile_outliers(quotes: pd.DataFrame, moments: Moments, n_sd: float = OUTLIER_SD) -> FilterResult:
    """Filter 9: drop quotes with |e − mean_b| > n_sd·sd_b in their moneyness bin b (whole-sample moments).

    Needs the ``smile_residual`` column of :func:`add_smile_residuals`; quotes in slices without a fit
    (fewer than four quotes) are kept.
    """
    bins = moneyness_bin(quotes["moneyness"].to_numpy())
    return _keep(quotes, ~smile_outlier_flags(quotes[SMILE_RESIDUAL].to_numpy(), bins, moments, n_sd))


def parity_deviations(quotes: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Parity pairs (call and put positions) and their deviation d = r̂ − r from the day's rate r."""
    call, put, rate = pair_rates(quotes)
    return call, put, rate - quotes["r"].to_numpy()[call]


def parity_deviation_moments(quotes: pd.DataFrame) -> Moments:
    """Moments of d = r̂ − r over the call–put pairs of ``quotes`` (one year; merge across years)."""
    return Moments.of(parity_deviations(quotes)[2])


def parity_outlier_flags(deviation: NDArray[np.float64], moments: Moments, n_sd: float = OUTLIER_SD) -> NDArray[np.bool_]:
    """Filter 10's test per pair: d not finite, or |d − mean(d)| > n_sd·sd(d) with whole-sample moments."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(deviation) | (np.abs(deviation - moments.mean[0]) > n_sd * moments.sd[0])


def filter_parity_outliers(quotes: pd.DataFrame, moments: Moments, n_sd: float = OUTLIER_SD) -> FilterResult:
    """Filter 10: drop both legs of pairs with |d − mean(d)| > n_sd·sd(d), d = r̂ − r (whole-sample moments)."""
    call, put, deviation = parity_deviations(quotes)
    outlier = parity_outlier_flags(deviation, moments, n_sd)
    return _keep(quotes, _drop_pair_legs(len(quotes), call, put, outlier), {"pairs": int(outlier.sum())})


# ---------------------------------------------------------------------------------------------------
# Sequences
# ---------------------------------------------------------------------------------------------------
LEVEL_1_2_FILTERS = (
    filter_identical_quotes,
    filter_identical_terms,
    filter_zero_bid,
    filter_maturity,
    filter_implied_volatility,
    filter_moneyness,
    filter_arbitrage_bounds,
    filter_negative_parity_rate,
)
# Filters 3-7 look at one row at a time: (step, removal reasons, whether the reasons are reported).
ROW_FILTER_FLAGS = (
    (3, zero_bid_flags, True),
    (4, maturity_flags, False),
    (5, implied_volatility_flags, True),
    (6, moneyness_flags, False),
    (7, arbitrage_bound_flags, True),
)
PAIR_COLUMNS: list[str] = ["secid", "date", "exdate", "cp_flag", "strike_price", "mid", "close", "strike", "T", "q"]


@dataclass(frozen=True)
class FilterRecord:
    """What one filter did in a sequence: rows removed (their index labels) and the breakdown."""

    step: int
    removed: int
    detail: dict[str, int]
    removed_rows: pd.Index


@dataclass(frozen=True)
class StepMask:
    """What one filter did in a sequence of masks: the rows it removed (mask over the sequence's input) and the breakdown."""

    step: int
    removed: NDArray[np.bool_]
    detail: dict[str, int]


def take_columns(quotes: pd.DataFrame, rows: NDArray[np.int64], columns: list[str]) -> pd.DataFrame:
    """The ``columns`` of the rows at positions ``rows`` (one narrow copy; index labels kept)."""
    return quotes.iloc[rows, [quotes.columns.get_loc(column) for column in columns]]


class LevelTwoMasks(NamedTuple):
    """Filters 1–8 as masks over their input quotes (:func:`level_1_2_masks`).

    ``kept`` marks the rows kept by all eight, ``steps`` holds one :class:`StepMask` per filter, and
    ``pair_call``, ``pair_put``, ``pair_rate`` are the call–put pairs among the kept rows (positions into
    the input, in (secid, date, exdate, strike) order, as :func:`pair_rates` on the kept rows gives them)
    with their parity-implied rate r̂.
    """

    kept: NDArray[np.bool_]
    steps: list[StepMask]
    pair_call: NDArray[np.int64]
    pair_put: NDArray[np.int64]
    pair_rate: NDArray[np.float64]


def level_1_2_masks(quotes: pd.DataFrame, contracts: str = "standard") -> LevelTwoMasks:
    """The contract selection (step 0, OPTIONS_CONTRACTS) and filters 1–8 in order as boolean masks over ``quotes``.

    No copy of the quotes between filters. Filters 1, 2 and 8 depend on the other rows (duplicates,
    slice medians, call–put pairs) and run on the survivors of the earlier steps (only the columns they
    read); the contract selection and filters 3–7 are per row and are evaluated on every row and
    combined with the survivors. The result equals applying :func:`filter_contracts` and then
    :data:`LEVEL_1_2_FILTERS` one after the other. Filter 8 removes both legs of a pair, so the pairs
    it leaves are those of the kept rows (one row per contract-day and class after filter 2).
    """
    steps: list[StepMask] = []
    alive = np.ones(len(quotes), dtype=bool)

    def remove(step: int, removed: NDArray[np.bool_], detail: dict[str, int]) -> NDArray[np.bool_]:
        steps.append(StepMask(step, removed, detail))
        return alive & ~removed

    def removed_among(rows: NDArray[np.int64], keep: NDArray[np.bool_]) -> NDArray[np.bool_]:
        removed = np.zeros(len(quotes), dtype=bool)
        removed[rows[~keep]] = True
        return removed

    selection = contract_selection_flags(quotes, contracts)
    alive = remove(0, np.logical_or.reduce(list(selection.values())) if selection else np.zeros(len(quotes), dtype=bool),
                   {name: int(flag.sum()) for name, flag in selection.items()})
    if alive.all():
        alive = remove(1, ~identical_quotes_keep(quotes), {})
    else:
        rows = np.flatnonzero(alive)
        alive = remove(1, removed_among(rows, identical_quotes_keep(take_columns(quotes, rows, with_contract_key(IDENTICAL_QUOTE_KEYS, quotes)))), {})
    rows = np.flatnonzero(alive)
    terms = with_contract_key([*TERMS_KEYS, "impl_volatility"], quotes)
    alive = remove(2, removed_among(rows, identical_terms_keep(take_columns(quotes, rows, terms))), {})
    for step, flag_function, report in ROW_FILTER_FLAGS:
        flags = {name: flag & alive for name, flag in flag_function(quotes).items()}
        detail = {name: int(flag.sum()) for name, flag in flags.items()} if report else {}
        alive = remove(step, np.logical_or.reduce(list(flags.values())), detail)
    rows = np.flatnonzero(alive)
    call, put, rate = pair_rates(take_columns(quotes, rows, with_contract_key(PAIR_COLUMNS, quotes)))
    negative = rate < 0
    alive = remove(8, removed_among(rows, _drop_pair_legs(rows.size, call, put, negative)), {"pairs": int(negative.sum())})
    return LevelTwoMasks(alive, steps, rows[call[~negative]], rows[put[~negative]], rate[~negative])


FORMATION_ONLY_STEPS: tuple[int, ...] = (4, 6, 8)  # maturity, moneyness, parity rate: who is formed, not what a price is worth


def exit_price_rows(quotes: pd.DataFrame, masks: LevelTwoMasks, max_days: int = MATURITY_DAYS[1]) -> NDArray[np.int64]:
    """Positions of the quotes outside the formation sample whose price still values a held contract's exit.

    The filters decide which quotes a portfolio is *formed* from on day t; a contract already held needs
    only a valid price at t+1 (CJS 2013, §1.3 and Appendix B). A quote is a valid price when it passed
    the price-quality filters: 1–2 (one row per contract-day), 3 (positive bid, uncrossed quote), an
    implied volatility that could be computed (finite and positive: the part of filter 5 that speaks
    about the price; its 5–100% bounds describe the formation sample, and a crash day's 120% IV is a
    real price) and 7 (arbitrage bounds). A quote removed only for leaving the formation sample —
    filter 4 (maturity), the bounds of 5, filter 6 (moneyness) or filter 8 (its pair's parity rate) —
    is returned here; the formation sample (``masks.kept``) is not, and the Level-3 filters decide about
    its quotes. The stage then applies filter 9's test to these quotes where it can be evaluated —
    inside the moneyness range of their slice's smile fit — so a price far off the day's smile (a stale
    or mispriced leg of a negative-parity pair, say) does not value an exit either. Quotes with more
    than ``max_days`` to expiry cannot be the next-day quote of a held contract and are left out.
    """
    level_one = ~np.logical_or.reduce([step.removed for step in masks.steps if step.step <= 3])  # with the contract selection
    tau = quotes["tau_days"].to_numpy()
    iv = quotes["impl_volatility"].to_numpy()
    with np.errstate(invalid="ignore"):
        candidate = level_one & ~masks.kept & (tau >= 1) & (tau <= max_days) & np.isfinite(iv) & (iv > 0)
    rows = np.flatnonzero(candidate)
    flags = arbitrage_bound_flags(take_columns(quotes, rows, ["T", "close", "q", "strike", "r", "cp_flag", "mid"]))
    return rows[~np.logical_or.reduce(list(flags.values()))]


def apply_level_1_2(quotes: pd.DataFrame, contracts: str = "standard") -> tuple[pd.DataFrame, list[FilterRecord]]:
    """The contract selection and filters 1–8 in order (all per row or per day, so exact on any split of the sample by dates).

    Returns the rows kept by all nine steps and one :class:`FilterRecord` per step (0, 1, …, 8; removed
    rows in input order); the quotes are copied once, at the end (:func:`level_1_2_masks`).
    """
    masks = level_1_2_masks(quotes, contracts)
    records = [FilterRecord(s.step, int(s.removed.sum()), s.detail, quotes.index[s.removed]) for s in masks.steps]
    return quotes[masks.kept], records


TABLE_STEPS: tuple[FilterStep, ...] = (CONTRACT_SELECTION, *FILTER_STEPS)


def filter_table(raw_count: int, removed: list[int], details: list[dict[str, int]] | None = None) -> pd.DataFrame:
    """CJS Table B.1: the raw count, then one row per step of :data:`TABLE_STEPS` (the contract selection,
    then filters 1–10) with rows removed and remaining; ``removed`` and ``details`` follow that order."""
    details = details or [{} for _ in removed]
    remaining = raw_count - np.cumsum(removed)
    rows = [{"step": 0, "level": 0, "filter": "raw quotes", "removed": 0, "remaining": raw_count, "detail": ""}]
    for spec, count, left, detail in zip(TABLE_STEPS, removed, remaining, details):
        text = "; ".join(f"{name}: {value}" for name, value in detail.items())
        rows.append({"step": spec.step, "level": spec.level, "filter": spec.name, "removed": int(count), "remaining": int(left), "detail": text})
    return pd.DataFrame(rows)


def filter_panel(quotes: pd.DataFrame, contracts: str = "standard") -> tuple[pd.DataFrame, list[FilterRecord], pd.DataFrame]:
    """The contract selection and all ten filters on a panel held in memory, Level-3 moments over the whole of ``quotes``.

    The stage (:func:`asset_pricing.options.stage_quotes.filter_options`) gives the same result year by
    year with bounded memory; this function is its in-memory reference. Returns the kept quotes, one
    :class:`FilterRecord` per step (0 = contract selection, then 1–10), and the smile fits (slices
    reaching filter 9).
    """
    kept, records = apply_level_1_2(quotes, contracts)
    kept, fits = add_smile_residuals(kept)
    smile = filter_smile_outliers(kept, smile_residual_moments(kept))
    records.append(FilterRecord(9, smile.removed, smile.detail, kept.index.difference(smile.kept.index)))
    parity = filter_parity_outliers(smile.kept, parity_deviation_moments(smile.kept))
    records.append(FilterRecord(10, parity.removed, parity.detail, smile.kept.index.difference(parity.kept.index)))
    return parity.kept.drop(columns=SMILE_RESIDUAL), records, fits
