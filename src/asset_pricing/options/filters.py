"""The ten CJS quote filters (Constantinides, Jackwerth and Savov 2013, Appendix B, Table B.1; SPEC §3.2).

Every filter is a pure, vectorized function of a quote frame prepared by
:func:`asset_pricing.options.schema.attach_underlying` (raw columns plus close, r, q, mid, strike,
moneyness, tau_days, T) and returns a :class:`FilterResult`: the kept rows (index untouched, so removed
rows can be traced back to raw rows) and the number removed. In the order applied:

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

Rates: r = log1p(rf_annual) and q are continuously compounded, T = τ/365 (SPEC §3.6). Without the
dividend term, r̂ would be biased down by about q and filter 8 would drop most pairs (the reference
code's defect; SPEC §3.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from asset_pricing.options.schema import day_numbers
from asset_pricing.options.smile import fit_smile_with_values

MATURITY_DAYS: tuple[int, int] = (7, 180)
IV_BOUNDS: tuple[float, float] = (0.05, 1.00)
MONEYNESS_BOUNDS: tuple[float, float] = (0.8, 1.2)
MONEYNESS_BIN_WIDTH = 0.05
OUTLIER_SD = 2.0
SMILE_RESIDUAL = "smile_residual"
N_MONEYNESS_BINS = 64  # bins of width 0.05 cover moneyness 0 … 3.2; larger values share the last bin


@dataclass(frozen=True)
class FilterStep:
    """Identity of a filter in the CJS Table B.1 order."""

    step: int
    level: int
    name: str


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


# ---------------------------------------------------------------------------------------------------
# Level 1
# ---------------------------------------------------------------------------------------------------
def filter_identical_quotes(quotes: pd.DataFrame) -> FilterResult:
    """Filter 1: keep the first of rows equal on secid, date, exdate, cp_flag, strike_price, bid, offer."""
    duplicated = quotes.duplicated(["secid", "date", "exdate", "cp_flag", "strike_price", "best_bid", "best_offer"])
    return _keep(quotes, ~duplicated.to_numpy())


def filter_identical_terms(quotes: pd.DataFrame) -> FilterResult:
    """Filter 2: one row per (secid, date, exdate, cp_flag, strike_price).

    Among rows with the same terms keep the one whose implied volatility is closest to the median IV of
    its (date, exdate, cp_flag) slice; missing IV counts as farthest; ties keep the first row.
    """
    terms = ["secid", "date", "exdate", "cp_flag", "strike_price"]
    clash = quotes.duplicated(terms, keep=False).to_numpy()
    if not clash.any():
        return _keep(quotes, np.ones(len(quotes), dtype=bool))
    slice_median = quotes.groupby(["date", "exdate", "cp_flag"], observed=True, sort=False)["impl_volatility"].transform("median")
    distance = np.abs(quotes["impl_volatility"].to_numpy() - slice_median.to_numpy())
    distance = np.where(np.isfinite(distance), distance, np.inf)
    position = np.flatnonzero(clash)
    candidates = quotes.iloc[position]
    order = np.lexsort(
        (
            position,
            distance[position],
            candidates["strike_price"].to_numpy(),
            np.asarray(candidates["cp_flag"].cat.codes),
            day_numbers(candidates["exdate"]),
            day_numbers(candidates["date"]),
            candidates["secid"].to_numpy(),
        )
    )
    ranked = candidates.iloc[order]
    loser = ranked.duplicated(terms).to_numpy()
    keep = np.ones(len(quotes), dtype=bool)
    keep[position[order][loser]] = False
    return _keep(quotes, keep)


def filter_zero_bid(quotes: pd.DataFrame) -> FilterResult:
    """Filter 3: drop best_bid ≤ 0 or missing; also crossed (offer < bid) and non-positive/missing offers."""
    bid = quotes["best_bid"].to_numpy()
    offer = quotes["best_offer"].to_numpy()
    missing = np.isnan(bid) | np.isnan(offer)
    with np.errstate(invalid="ignore"):
        zero_bid = ~missing & (bid <= 0)
        bad_offer = ~missing & ~zero_bid & ((offer <= 0) | (offer < bid))
    keep = ~(missing | zero_bid | bad_offer)
    detail = {
        "zero or negative bid": int(zero_bid.sum()),
        "crossed or non-positive offer": int(bad_offer.sum()),
        "missing bid or offer": int(missing.sum()),
    }
    return _keep(quotes, keep, detail)


# ---------------------------------------------------------------------------------------------------
# Level 2
# ---------------------------------------------------------------------------------------------------
def filter_maturity(quotes: pd.DataFrame, bounds: tuple[int, int] = MATURITY_DAYS) -> FilterResult:
    """Filter 4: keep quotes with bounds[0] ≤ τ ≤ bounds[1] calendar days to expiry."""
    tau = quotes["tau_days"].to_numpy()
    return _keep(quotes, (tau >= bounds[0]) & (tau <= bounds[1]))


def filter_implied_volatility(quotes: pd.DataFrame, bounds: tuple[float, float] = IV_BOUNDS) -> FilterResult:
    """Filter 5: keep bounds[0] ≤ impl_volatility ≤ bounds[1]; missing IV is dropped and counted apart."""
    iv = quotes["impl_volatility"].to_numpy()
    missing = np.isnan(iv)
    with np.errstate(invalid="ignore"):
        inside = (iv >= bounds[0]) & (iv <= bounds[1])
    detail = {"missing implied volatility": int(missing.sum()), "outside bounds": int((~missing & ~inside).sum())}
    return _keep(quotes, inside, detail)


def filter_moneyness(quotes: pd.DataFrame, bounds: tuple[float, float] = MONEYNESS_BOUNDS) -> FilterResult:
    """Filter 6: keep bounds[0] ≤ K/S ≤ bounds[1]."""
    m = quotes["moneyness"].to_numpy()
    return _keep(quotes, (m >= bounds[0]) & (m <= bounds[1]))


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


def filter_arbitrage_bounds(quotes: pd.DataFrame) -> FilterResult:
    """Filter 7: drop quotes whose mid lies below the lower or above the upper no-arbitrage bound."""
    lower, upper = arbitrage_bounds(quotes)
    mid = quotes["mid"].to_numpy()
    below, above = mid < lower, mid > upper
    return _keep(quotes, ~(below | above), {"below lower bound": int(below.sum()), "above upper bound": int(above.sum())})


def parity_pairs(quotes: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Positions (call, put) of the (date, exdate, strike_price) that have exactly one call and one put.

    One sort by (secid, date, exdate, strike_price, cp_flag) and a comparison of neighbours; assumes one
    row per contract-day (true after filter 2).
    """
    if len(quotes) < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    secid = quotes["secid"].to_numpy()
    date = day_numbers(quotes["date"])
    exdate = day_numbers(quotes["exdate"])
    strike = quotes["strike_price"].to_numpy()
    cp = np.asarray(quotes["cp_flag"].cat.codes)
    order = np.lexsort((cp, strike, exdate, date, secid))
    same = (
        (secid[order][1:] == secid[order][:-1])
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


def filter_negative_parity_rate(quotes: pd.DataFrame) -> FilterResult:
    """Filter 8: drop both legs of every call–put pair whose parity-implied rate r̂ is negative."""
    call, put, rate = pair_rates(quotes)
    negative = rate < 0
    keep = np.ones(len(quotes), dtype=bool)
    keep[call[negative]] = False
    keep[put[negative]] = False
    return _keep(quotes, keep, {"pairs": int(negative.sum())})


# ---------------------------------------------------------------------------------------------------
# Level 3
# ---------------------------------------------------------------------------------------------------
def moneyness_bin(moneyness: NDArray[np.float64], width: float = MONEYNESS_BIN_WIDTH) -> NDArray[np.int64]:
    """Bin index floor(m / width) (0.80–0.85 → 16, …, 1.15–1.20 → 23; m = 1.2 exactly → 24)."""
    return np.clip(np.floor(np.asarray(moneyness) / width + 1e-9), 0, N_MONEYNESS_BINS - 1).astype(np.int64)


def add_smile_residuals(quotes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quotes with column ``smile_residual`` e = (IV − fitted)/fitted (NaN where the slice has no fit), and the fits."""
    fits, fitted_iv = fit_smile_with_values(quotes)
    residual = quotes["impl_volatility"].to_numpy() / fitted_iv - 1.0
    return quotes.assign(**{SMILE_RESIDUAL: residual}), fits


def smile_residual_moments(quotes: pd.DataFrame) -> Moments:
    """Per-moneyness-bin moments of the smile residuals of ``quotes`` (one year; merge across years)."""
    return Moments.of(quotes[SMILE_RESIDUAL].to_numpy(), moneyness_bin(quotes["moneyness"].to_numpy()), N_MONEYNESS_BINS)


def filter_smile_outliers(quotes: pd.DataFrame, moments: Moments, n_sd: float = OUTLIER_SD) -> FilterResult:
    """Filter 9: drop quotes with |e − mean_b| > n_sd·sd_b in their moneyness bin b (whole-sample moments).

    Needs the ``smile_residual`` column of :func:`add_smile_residuals`; quotes in slices without a fit
    (fewer than four quotes) are kept.
    """
    residual = quotes[SMILE_RESIDUAL].to_numpy()
    bins = moneyness_bin(quotes["moneyness"].to_numpy())
    with np.errstate(invalid="ignore"):
        outlier = np.abs(residual - moments.mean[bins]) > n_sd * moments.sd[bins]
    return _keep(quotes, ~outlier)


def parity_deviation_moments(quotes: pd.DataFrame) -> Moments:
    """Moments of d = r̂ − r over the call–put pairs of ``quotes`` (one year; merge across years)."""
    call, _, rate = pair_rates(quotes)
    return Moments.of(rate - quotes["r"].to_numpy()[call])


def filter_parity_outliers(quotes: pd.DataFrame, moments: Moments, n_sd: float = OUTLIER_SD) -> FilterResult:
    """Filter 10: drop both legs of pairs with |d − mean(d)| > n_sd·sd(d), d = r̂ − r (whole-sample moments)."""
    call, put, rate = pair_rates(quotes)
    deviation = rate - quotes["r"].to_numpy()[call]
    with np.errstate(invalid="ignore"):
        outlier = ~np.isfinite(deviation) | (np.abs(deviation - moments.mean[0]) > n_sd * moments.sd[0])
    keep = np.ones(len(quotes), dtype=bool)
    keep[call[outlier]] = False
    keep[put[outlier]] = False
    return _keep(quotes, keep, {"pairs": int(outlier.sum())})


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


@dataclass(frozen=True)
class FilterRecord:
    """What one filter did in a sequence: rows removed (their index labels) and the breakdown."""

    step: int
    removed: int
    detail: dict[str, int]
    removed_rows: pd.Index


def apply_level_1_2(quotes: pd.DataFrame) -> tuple[pd.DataFrame, list[FilterRecord]]:
    """Filters 1–8 in order (all per row or per day, so exact on any split of the sample by dates).

    Returns the rows kept by all eight and one :class:`FilterRecord` per filter; only the last kept frame
    is held, so memory stays near two copies of the input.
    """
    records = []
    for spec, level_filter in zip(FILTER_STEPS, LEVEL_1_2_FILTERS):
        result = level_filter(quotes)
        records.append(FilterRecord(spec.step, result.removed, result.detail, quotes.index.difference(result.kept.index)))
        quotes = result.kept
    return quotes, records


def filter_table(raw_count: int, removed: list[int], details: list[dict[str, int]] | None = None) -> pd.DataFrame:
    """CJS Table B.1: the raw count, then one row per filter with rows removed and remaining."""
    details = details or [{} for _ in removed]
    remaining = raw_count - np.cumsum(removed)
    rows = [{"step": 0, "level": 0, "filter": "raw quotes", "removed": 0, "remaining": raw_count, "detail": ""}]
    for spec, count, left, detail in zip(FILTER_STEPS, removed, remaining, details):
        text = "; ".join(f"{name}: {value}" for name, value in detail.items())
        rows.append({"step": spec.step, "level": spec.level, "filter": spec.name, "removed": int(count), "remaining": int(left), "detail": text})
    return pd.DataFrame(rows)


def filter_panel(quotes: pd.DataFrame) -> tuple[pd.DataFrame, list[FilterRecord], pd.DataFrame]:
    """All ten filters on a panel held in memory, Level-3 moments over the whole of ``quotes``.

    The stage (:func:`asset_pricing.options.stage_quotes.filter_options`) gives the same result year by
    year with bounded memory; this function is its in-memory reference. Returns the kept quotes, one
    :class:`FilterRecord` per filter, and the smile fits (slices reaching filter 9).
    """
    kept, records = apply_level_1_2(quotes)
    kept, fits = add_smile_residuals(kept)
    smile = filter_smile_outliers(kept, smile_residual_moments(kept))
    records.append(FilterRecord(9, smile.removed, smile.detail, kept.index.difference(smile.kept.index)))
    parity = filter_parity_outliers(smile.kept, parity_deviation_moments(smile.kept))
    records.append(FilterRecord(10, parity.removed, parity.detail, smile.kept.index.difference(parity.kept.index)))
    return parity.kept.drop(columns=SMILE_RESIDUAL), records, fits
