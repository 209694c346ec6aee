"""Seven common replication mistakes, measured on the project's data (``docs/methods.md`` §9).

``python -m asset_pricing.bench.mistakes`` (after ``doit``) prints one table and writes it to
OUTPUT_DIR/benchmarks/replication_mistakes.md. Each row makes *one* mistake inside the project's own
construction and reports what it does to a number a user reads (a beta, a mean return, an exposure):

1. lagging the mid price within a portfolio instead of within a contract;
2. the put formula R = −Σ w r/ω + (1 + Σ w/ω) rf applied to a signed (negative) put elasticity;
3. weighting only the quotes of the target's nearest bucket instead of every quote of the type;
4. dropping kernel weights below 0.01 without renormalizing the rest;
5. compounding a month over its missing days;
6. a fixed daily rate y/252 instead of (1 + y)^{n/365} − 1 over the n calendar days held;
7. a variance from a month with two daily returns (``MIN_DAYS=2``), and a zero variance kept as 1/0.

Mistakes 1–4 and 6 run on the filtered quotes of one year (default 2008) with the project's functions
(:mod:`asset_pricing.options.portfolios`: validity, elasticities, next-day prices, kernel weights); the
correct variant equals the project's :func:`~asset_pricing.options.portfolios.daily_portfolio_returns`
(checked in every run). Mistake 5 reads the whole sample's daily CJS returns, mistake 6 also the whole
underlying, mistake 7 the prepared equity tables. The nearest-bucket assignment is the one of
:func:`asset_pricing.bench.reference.naive_bucket_ids`. Nothing here is used by the pipeline.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from asset_pricing import io
from asset_pricing.bench import reference
from asset_pricing.options import portfolios
from asset_pricing.options.portfolios import KernelWeights
from asset_pricing.options.stage_portfolios import DAILY_FILE, options_interim, read_year
from asset_pricing.paths import ProjectPaths
from asset_pricing.prepare.equity import market_vol_table
from asset_pricing.volmanaged import evaluation, strategies
from asset_pricing.volmanaged.pipeline import (
    VolManagedConfig,
    VolManagedResult,
    run_volmanaged,
)

log = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_YEAR = 2008
FIXED_DAYS_PER_YEAR = 252
STRICT_FILL_SHARE = 0.5
SHORT_MONTH_START = pd.Timestamp("1990-01-29")  # January 1990 then has two daily returns (30th, 31st)
OUTPUT_NAME = "replication_mistakes.md"
COMMAND = "python -m asset_pricing.bench.mistakes"

VARIANTS: tuple[str, ...] = (
    "project", "lag_within_portfolio", "signed_put_formula", "nearest_bucket", "floor_without_renormalizing", "fixed_252_rate",
)


# --------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OptionInputs:
    """What the portfolio construction reads for one year: filtered quotes, underlying, smile fits, exit quotes."""

    quotes: pd.DataFrame
    underlying: pd.DataFrame
    smile_fits: pd.DataFrame
    exit_quotes: pd.DataFrame
    formation_dates: pd.DatetimeIndex
    label: str = ""


def load_option_inputs(paths: ProjectPaths, year: int = DEFAULT_YEAR) -> OptionInputs:
    """The filtered quotes of ``year`` (DATA_DIR/interim/options) and the days formed: every trading day of the
    year but its last (whose t+1 is in the next year's file)."""
    underlying = io.read_parquet(options_interim(paths) / "underlying.parquet")
    quotes, fits, exits = read_year(paths, year)
    days = portfolios.trading_calendar(underlying).index
    in_year = days[days.year == year]
    return OptionInputs(quotes, underlying, fits, exits, in_year[:-1], f"{year}: {len(quotes):,} filtered quotes, {len(in_year) - 1} formation days")


# --------------------------------------------------------------------------------------------------
# The construction, with one switch per mistake
# --------------------------------------------------------------------------------------------------
@dataclass
class Construction:
    """The pieces of :func:`~asset_pricing.options.portfolios.daily_portfolio_returns`, computed once by the
    project's functions, so that a variant changes one piece only."""

    quotes: pd.DataFrame
    calendar: pd.DataFrame
    smile_fits: pd.DataFrame
    day: IntArray
    valid: NDArray[np.bool_]
    elasticity: FloatArray
    next_mid: FloatArray
    formation_day: IntArray
    candidates: IntArray
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, inputs: OptionInputs) -> Construction:
        calendar = portfolios.trading_calendar(inputs.underlying)
        calendar_days = calendar.index.to_numpy("datetime64[D]").astype(np.int64)
        formation_day = np.flatnonzero(calendar.index.isin(inputs.formation_dates))
        formation_day = formation_day[formation_day < len(calendar) - 1]
        day, valid, elasticity = portfolios.quote_day_and_validity(inputs.quotes, calendar)
        next_mid = portfolios.next_day_mid(inputs.quotes, day, valid, calendar_days, inputs.exit_quotes)
        is_formation = np.zeros(len(calendar), dtype=bool)
        is_formation[formation_day] = True
        candidates = np.flatnonzero(valid & is_formation[day])
        return cls(inputs.quotes, calendar, inputs.smile_fits, day, valid, elasticity, next_mid, formation_day, candidates)

    @property
    def calendar_days(self) -> IntArray:
        return self.calendar.index.to_numpy("datetime64[D]").astype(np.int64)

    def column(self, name: str, rows: IntArray) -> NDArray[Any]:
        return self.quotes[name].to_numpy()[rows]

    # --- weights ----------------------------------------------------------------------------------
    def kernel_weights(self, weight_floor: float = portfolios.WEIGHT_FLOOR) -> KernelWeights:
        """The project's weights over every quote of the type (``row`` indexes :attr:`candidates`)."""
        key = f"kernel_{weight_floor}"
        if key not in self.cache:
            rows = self.candidates
            self.cache[key] = portfolios.kernel_weights(
                (self.column("cp_flag", rows) == "C"), self.day[rows], self.column("moneyness", rows).astype(np.float64),
                self.column("tau_days", rows).astype(np.float64), weight_floor=weight_floor,
            )
        return self.cache[key]

    def unrenormalized_weights(self) -> KernelWeights:
        """Mistake 4: weights normalized over every quote, those below 0.01 dropped, the rest *not* renormalized."""
        raw = self.kernel_weights(weight_floor=0.0)
        keep = raw.weight >= portfolios.WEIGHT_FLOOR
        return KernelWeights(raw.portfolio[keep], raw.row[keep], raw.day[keep], raw.weight[keep])

    def bucket_weights(self) -> KernelWeights:
        """Mistake 3: kernel weights (floored, renormalized) over the quotes of the target's nearest bucket only.

        Buckets as :func:`asset_pricing.bench.reference.naive_bucket_ids`: moneyness by the right edge of its
        0.025 interval in (0.875, 1.100], maturity by the nearest of 30/60/90 days.
        """
        rows = self.candidates
        frame = self.quotes.iloc[rows][["date", "exdate", "cp_flag", "moneyness"]].assign(position=np.arange(rows.size))
        buckets = reference.naive_bucket_ids(frame).reset_index()
        parts = []
        for code, target in portfolios.portfolio_targets().iterrows():
            members = buckets[
                (buckets["cp_flag"] == target["cp_flag"]) & (buckets["moneyness_id"] == target["target_moneyness"])
                & (buckets["maturity_id"] == target["target_maturity"])
            ]["position"].to_numpy(np.int64)
            if members.size == 0:
                continue
            quote_rows = rows[members]
            weights = portfolios.kernel_weights(
                self.column("cp_flag", quote_rows) == "C", self.day[quote_rows], self.column("moneyness", quote_rows).astype(np.float64),
                self.column("tau_days", quote_rows).astype(np.float64),
            )
            mine = weights.portfolio == code
            parts.append((weights.portfolio[mine], members[weights.row[mine]], weights.day[mine], weights.weight[mine]))
        portfolio, row, entry_day, weight = (np.concatenate(column) for column in zip(*parts))
        return KernelWeights(portfolio, row, entry_day, weight)

    # --- per-contract returns ------------------------------------------------------------------------
    def contract_returns(self, entry_row: IntArray) -> FloatArray:
        """The project's r_i = mid_{i,t+1}/mid_{i,t} − 1 of the same optionid (fills as the stage does)."""
        held, inverse = np.unique(entry_row, return_inverse=True)
        price_next, _ = portfolios.next_day_prices(self.quotes, held, self.next_mid, self.day, self.valid, self.calendar, self.smile_fits)
        return (price_next / self.column("mid", held).astype(np.float64) - 1.0)[inverse]

    # --- risk-free ------------------------------------------------------------------------------------
    def holding_rf(self, fixed_252: bool = False) -> FloatArray:
        """rf over each formation day's holding period: (1 + y)^{n/365} − 1, or the mistaken y/252."""
        y = self.calendar["rf_annual"].to_numpy(np.float64)[self.formation_day]
        if fixed_252:
            return y / FIXED_DAYS_PER_YEAR
        days = self.calendar_days[self.formation_day + 1] - self.calendar_days[self.formation_day]
        return portfolios.risk_free_holding_return(y, days)


def daily_returns(construction: Construction, variant: str = "project") -> pd.DataFrame:
    """Daily leverage-adjusted returns of the 54 portfolios with one mistake (``variant`` in :data:`VARIANTS`).

    R = Σ w_i r_i/ω_i + (1 − Σ w_i/ω_i) rf as in the project, except:

    - ``lag_within_portfolio``: r_i = mid_i / mid of the previous row of the *same portfolio* − 1 (rows in
      day order; the previous row is another quote of the same day, or the previous day's last one), earned
      on the quote's own day t with t's weights and rf;
    - ``signed_put_formula``: puts R = −Σ w r/ω + (1 + Σ w/ω) rf with the signed ω < 0 (long puts);
    - ``nearest_bucket`` / ``floor_without_renormalizing``: the weights of :meth:`Construction.bucket_weights`
      / :meth:`Construction.unrenormalized_weights`;
    - ``fixed_252_rate``: rf = y/252 for every holding period.

    Returns
    -------
    Columns portfolio_id, date (the day the return is earned), return, market (the index's simple return
    over the same period), n_options, weight_sum, eff_moneyness, target_moneyness.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    c = construction
    weights = {"nearest_bucket": c.bucket_weights, "floor_without_renormalizing": c.unrenormalized_weights}.get(variant, c.kernel_weights)()
    entry_row = c.candidates[weights.row]
    close = c.calendar["close"].to_numpy(np.float64)
    n_formation = c.formation_day.size
    n_portfolios = portfolios.TARGETS_PER_TYPE * len(portfolios.OPTION_TYPES)
    day_position = np.full(len(c.calendar), -1, dtype=np.int64)
    day_position[c.formation_day] = np.arange(n_formation)
    rf = c.holding_rf(fixed_252=variant == "fixed_252_rate")
    earned_day = c.formation_day + 1
    market = close[c.formation_day + 1] / close[c.formation_day] - 1.0

    if variant == "lag_within_portfolio":
        order = np.lexsort((entry_row, weights.day, weights.portfolio))
        mid = c.column("mid", entry_row).astype(np.float64)
        previous = np.full(order.size, np.nan)
        same_portfolio = weights.portfolio[order][1:] == weights.portfolio[order][:-1]
        previous[1:] = np.where(same_portfolio, mid[order][:-1], np.nan)
        contract_return = np.empty(order.size)
        contract_return[order] = mid[order] / previous - 1.0
        earned_day = c.formation_day  # the "return" is booked on the quote's own day, with that day's weights
        rf = np.r_[np.nan, rf[:-1]]
        market = np.r_[np.nan, close[c.formation_day[1:]] / close[c.formation_day[1:] - 1] - 1.0]
    else:
        contract_return = c.contract_returns(entry_row)

    group = weights.portfolio * n_formation + day_position[weights.day]
    w_over_omega = weights.weight / c.elasticity[entry_row]

    def group_sum(values: FloatArray) -> FloatArray:
        return np.bincount(group, weights=values, minlength=n_portfolios * n_formation)

    n_options = np.bincount(group, minlength=n_portfolios * n_formation)
    finite = np.isfinite(contract_return)
    option_leg = group_sum(np.where(finite, w_over_omega * contract_return, 0.0))  # a missing lag adds nothing, as a pandas sum
    inverse_elasticity_sum = group_sum(w_over_omega)
    rf_tiled = np.tile(rf, n_portfolios)
    result = option_leg + (1.0 - inverse_elasticity_sum) * rf_tiled
    if variant == "signed_put_formula":
        is_put = np.repeat(portfolios.portfolio_targets()["cp_flag"].to_numpy() == "P", n_formation)
        result = np.where(is_put, -option_leg + (1.0 + inverse_elasticity_sum) * rf_tiled, result)
    has_quotes = n_options > 0
    targets = portfolios.portfolio_targets()
    return pd.DataFrame({
        "portfolio_id": np.repeat(targets["portfolio_id"].to_numpy(), n_formation),
        "date": np.tile(c.calendar.index.to_numpy()[earned_day], n_portfolios),
        "return": np.where(has_quotes, result, np.nan),
        "market": np.tile(market, n_portfolios),
        "n_options": n_options,
        "weight_sum": np.where(has_quotes, group_sum(weights.weight), np.nan),
        "eff_moneyness": np.where(has_quotes, group_sum(weights.weight * c.column("moneyness", entry_row)), np.nan),
        "target_moneyness": np.repeat(targets["target_moneyness"].to_numpy(), n_formation),
    })


# --------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------
def market_betas(daily: pd.DataFrame) -> pd.Series:
    """OLS slope of each portfolio's daily return on the index's return over the same period."""
    data = daily.dropna(subset=["return", "market"])

    def slope(group: pd.DataFrame) -> float:
        market = group["market"] - group["market"].mean()
        return float((market * (group["return"] - group["return"].mean())).sum() / (market**2).sum())

    return data.groupby("portfolio_id", sort=False)[["return", "market"]].apply(slope)


def monthly_means(daily: pd.DataFrame) -> pd.Series:
    """Mean monthly return per portfolio, compounding the valid days of each month (one year: the months it has).

    The mistakes are compared on calendar months: right and wrong variants share the same days, so the
    month's cut (docs/methods.md §4.5) does not change what a mistake does."""
    monthly = portfolios.compound_monthly(daily[["portfolio_id", "date", "return"]], allow_partial_months=True, months=portfolios.MONTHS_CALENDAR)
    return monthly.groupby("portfolio_id", sort=False)["return"].mean()


def is_put(index: pd.Index) -> NDArray[np.bool_]:
    return np.asarray([name.split("_")[1] == "P" for name in index])


@dataclass(frozen=True)
class Finding:
    """One measured effect: the number, its value in the project and with the mistake."""

    mistake: int
    name: str
    metric: str
    right: float
    wrong: float
    unit: str = ""
    note: str = ""


def _fmt(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "+∞" if value == np.inf else ("−∞" if value == -np.inf else "NaN")
    if unit == "%":
        return f"{100 * value:.2f} %"
    if unit == "bp":
        return f"{1e4 * value:.2f} bp"
    if unit == "int":
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"


def option_construction_findings(inputs: OptionInputs) -> tuple[list[Finding], dict[str, pd.DataFrame]]:
    """Mistakes 1–4 and 6 on one year of quotes; returns the findings and the daily returns of each variant."""
    construction = Construction.of(inputs)
    daily = {variant: daily_returns(construction, variant) for variant in VARIANTS}
    project = daily["project"]
    betas = {variant: market_betas(frame) for variant, frame in daily.items()}
    means = {variant: monthly_means(frame) for variant, frame in daily.items()}
    put = is_put(betas["project"].index)
    findings: list[Finding] = []

    lagged = daily["lag_within_portfolio"]
    findings += [
        Finding(1, "lag within the portfolio", "market beta, mean over the 54 portfolios",
                betas["project"].mean(), betas["lag_within_portfolio"].mean()),
        Finding(1, "lag within the portfolio", "correlation with the per-contract daily returns, mean over the 54",
                1.0, _mean_correlation(project, lagged)),
        Finding(1, "lag within the portfolio", "mean monthly return, highest of the 54 portfolios",
                means["project"].max(), means["lag_within_portfolio"].max(), "%"),
    ]
    findings += [
        Finding(2, "signed elasticity in the put formula", "market beta, mean over the 27 put portfolios",
                betas["project"][put].mean(), betas["signed_put_formula"][put].mean()),
        Finding(2, "signed elasticity in the put formula", "mean monthly return, mean over the 27 put portfolios",
                means["project"][put].mean(), means["signed_put_formula"][put].mean(), "%"),
    ]
    bucket = daily["nearest_bucket"]

    def bias(frame: pd.DataFrame) -> float:
        return float((frame["eff_moneyness"] - frame["target_moneyness"]).mean())

    both = project["return"].notna() & bucket["return"].notna()
    findings += [
        Finding(3, "nearest bucket instead of every quote", "options per portfolio-day (mean)",
                project["n_options"].mean(), bucket["n_options"].mean()),
        Finding(3, "nearest bucket instead of every quote", "portfolio-days without a return",
                float(project["return"].isna().sum()), float(bucket["return"].isna().sum()), "int"),
        Finding(3, "nearest bucket instead of every quote", "effective − target moneyness (mean)",
                bias(project), bias(bucket)),
        Finding(3, "nearest bucket instead of every quote", "mean absolute daily return difference from the project",
                0.0, float((bucket["return"] - project["return"])[both].abs().mean()), "%"),
        Finding(3, "nearest bucket instead of every quote", "mean monthly return, mean absolute difference over the 54",
                0.0, float((means["nearest_bucket"] - means["project"]).abs().mean()), "%"),
        Finding(3, "nearest bucket instead of every quote", "market beta, mean over the 54 portfolios",
                betas["project"].mean(), betas["nearest_bucket"].mean()),
    ]
    floor = daily["floor_without_renormalizing"]
    findings += [
        Finding(4, "floor without renormalizing", "sum of weights per portfolio-day (mean)", project["weight_sum"].mean(), floor["weight_sum"].mean()),
        Finding(4, "floor without renormalizing", "sum of weights per portfolio-day (min)", project["weight_sum"].min(), floor["weight_sum"].min()),
        Finding(4, "floor without renormalizing", "market beta, mean over the 54 portfolios", betas["project"].mean(), betas["floor_without_renormalizing"].mean()),
        Finding(4, "floor without renormalizing", "mean monthly return, mean over the 54 portfolios",
                means["project"].mean(), means["floor_without_renormalizing"].mean(), "%"),
    ]
    fixed = daily["fixed_252_rate"]
    findings += [
        Finding(6, "fixed /252 daily rate", "mean monthly return, mean over the 27 put portfolios",
                means["project"][put].mean(), means["fixed_252_rate"][put].mean(), "%"),
        Finding(6, "fixed /252 daily rate", "largest absolute monthly return difference, put portfolios",
                0.0, _largest_monthly_difference(project, fixed, put=True), "bp"),
    ]
    return findings, daily


def _mean_correlation(right: pd.DataFrame, wrong: pd.DataFrame) -> float:
    """Mean over portfolios of the correlation of two variants' daily returns on the dates both have."""
    both = pd.concat([right.set_index(["portfolio_id", "date"])["return"], wrong.set_index(["portfolio_id", "date"])["return"]],
                     axis=1, keys=["right", "wrong"]).dropna()
    return float(both.groupby(level=0).apply(lambda frame: frame["right"].corr(frame["wrong"])).mean())


def _largest_monthly_difference(right: pd.DataFrame, wrong: pd.DataFrame, put: bool) -> float:
    a = portfolios.compound_monthly(right[["portfolio_id", "date", "return"]], allow_partial_months=True, months=portfolios.MONTHS_CALENDAR)
    b = portfolios.compound_monthly(wrong[["portfolio_id", "date", "return"]], allow_partial_months=True, months=portfolios.MONTHS_CALENDAR)
    keep = is_put(pd.Index(a["portfolio_id"])) == put
    return float((b["return"] - a["return"])[keep].abs().max())


def missing_day_findings(cjs_daily: pd.DataFrame, max_fill_share: float = STRICT_FILL_SHARE) -> list[Finding]:
    """Mistake 5: days made NaN by a strict fill rule (fill share above ``max_fill_share``), then the month
    compounded over the remaining days, against the month of every day (the default build)."""
    daily = cjs_daily[["portfolio_id", "date", "return", "fill_share"]]
    strict = daily.assign(**{"return": daily["return"].where(~(daily["fill_share"] > max_fill_share))})
    full = portfolios.compound_monthly(daily, allow_partial_months=False, months=portfolios.MONTHS_CALENDAR)
    skipped = portfolios.compound_monthly(strict, allow_partial_months=True, months=portfolios.MONTHS_CALENDAR)
    nan_month = portfolios.compound_monthly(strict, allow_partial_months=False, months=portfolios.MONTHS_CALENDAR)
    affected = skipped["n_missing_days"] > 0
    error = (skipped["return"] - full["return"])[affected]
    nan_days = int(strict["return"].isna().sum() - daily["return"].isna().sum())
    name = "compounding over missing days"
    return [
        Finding(5, name, f"portfolio-days NaN with fill share > {max_fill_share} (of {len(daily):,})", 0.0, float(nan_days), "int"),
        Finding(5, name, f"portfolio-months with a NaN day (of {len(full):,}) that get a return", 0.0, float(affected.sum()), "int",
                note=f"the project: {int(nan_month['return'].isna().sum() - full['return'].isna().sum()):,} NaN months"),
        Finding(5, name, "those months: mean error against the month of every day", 0.0, float(error.mean()), "%"),
        Finding(5, name, "those months: mean absolute error against the month of every day", 0.0, float(error.abs().mean()), "%"),
    ]


def rf_accrual_findings(underlying: pd.DataFrame) -> list[Finding]:
    """Mistake 6 on the whole underlying: a Friday → Monday accrual, and each calendar year's accrual."""
    calendar = portfolios.trading_calendar(underlying)
    days = calendar.index.to_numpy("datetime64[D]").astype(np.int64)
    held = np.diff(days).astype(np.float64)
    y = calendar["rf_annual"].to_numpy(np.float64)[:-1]
    exact = portfolios.risk_free_holding_return(y, held)
    fixed = y / FIXED_DAYS_PER_YEAR
    earned = pd.DatetimeIndex(calendar.index[1:])
    yearly = pd.DataFrame({"exact": np.log1p(exact), "fixed": np.log1p(fixed)}, index=earned).groupby(earned.year).sum().pipe(np.expm1)
    whole_years = yearly.loc[[year for year in yearly.index if (earned.year == year).sum() > 240]]
    difference = whole_years["fixed"] - whole_years["exact"]
    y_mean = float(np.mean(y))
    name = "fixed /252 daily rate"
    findings = [
        Finding(6, name, f"Friday → Monday accrual at the sample's mean y = {y_mean:.2%}",
                float(portfolios.risk_free_holding_return(y_mean, 3.0)), y_mean / FIXED_DAYS_PER_YEAR, "bp"),
    ]
    if len(difference):
        findings += [
            Finding(6, name, f"calendar-year accrual − exact, mean over {len(whole_years)} years", 0.0, float(difference.mean()), "bp"),
            Finding(6, name, "calendar-year accrual − exact, largest", 0.0, float(difference.abs().max()), "bp",
                    note=f"year {difference.abs().idxmax()}"),
        ]
    return findings


def short_month_findings(
    daily_returns_wide: pd.DataFrame, market_daily: pd.Series, rf_monthly: pd.Series, train_end: pd.Timestamp,
    start: pd.Timestamp = SHORT_MONTH_START, min_days: int = 10,
) -> list[Finding]:
    """Mistake 7a: the study on a window whose first month has two daily returns, ``MIN_DAYS=2`` vs ``min_days``."""
    window = daily_returns_wide.loc[daily_returns_wide.index >= start].copy()
    market = market_daily.loc[market_daily.index >= start].copy()
    window.iloc[0] = np.nan  # the first day of a window has no return (no previous price in the window)
    market.iloc[0] = np.nan
    outcome = {}
    for days in (min_days, 2):
        config = VolManagedConfig(train_end=train_end, min_days=days)
        result = run_volmanaged(window, market, market_vol_table(market, days), rf_monthly, config)
        performance = evaluation.performance_table(result.strategy_returns, result.diagnostics, train_end)
        outcome[days] = (result, performance)
    (right, right_perf), (wrong, wrong_perf) = outcome[min_days], outcome[2]
    first = right.common_vol_signal.index[0]
    name = f"variance from a two-return month (MIN_DAYS=2, window from {start:%Y-%m-%d})"
    findings = [
        Finding(7, name, f"market variance of {first:%Y-%m} (daily return², ×10⁴)",
                1e4 * float(right.common_vol_signal["sigma2_mkt"].iloc[0]), 1e4 * float(wrong.common_vol_signal["sigma2_mkt"].iloc[0])),
        Finding(7, name, f"common exposure held in {first + pd.offsets.MonthEnd(1):%Y-%m}",
                float(right.common_vol_signal["exposure_common"].iloc[0]), float(wrong.common_vol_signal["exposure_common"].iloc[0])),
        Finding(7, name, "common scale k (×10⁴)",
                1e4 * float(right.common_vol_signal["k_common"].iloc[-1]), 1e4 * float(wrong.common_vol_signal["k_common"].iloc[-1])),
    ]
    findings.append(Finding(7, name, "common: CAGR, evaluation window",
                            float(right_perf.loc[("common", "evaluation"), "cagr"]), float(wrong_perf.loc[("common", "evaluation"), "cagr"]), "%"))
    return findings + two_return_variance_findings(market_daily)


def two_return_variance_findings(market_daily: pd.Series) -> list[Finding]:
    """Mistake 7a in general: every month's market variance from its last two daily returns against the whole month's.

    A variance from two returns, (r₁ − r₂)²/2, has one degree of freedom: it is often near zero, and its
    inverse, the signal, explodes.
    """
    returns = market_daily.dropna()
    month = returns.index.to_period("M")
    full = returns.groupby(month).var(ddof=1)
    last_two = returns.groupby(month).apply(lambda values: values.iloc[-2:].var(ddof=1))
    with np.errstate(divide="ignore"):
        ratio = full / last_two  # signal from two returns / signal from the month; +∞ when the two returns are equal
    name = "variance from two returns (every market month)"
    return [
        Finding(7, name, f"months whose two-return signal 1/σ² is over 10× the month's (of {len(ratio)})", 0.0, float((ratio > 10).sum()), "int"),
        Finding(7, name, "largest finite ratio of the two-return signal to the month's", 1.0, float(ratio.replace(np.inf, np.nan).max())),
    ]


def zero_variance_findings(result: VolManagedResult, train_end: pd.Timestamp) -> list[Finding]:
    """Mistake 7b: months with σ² = 0 (a price that does not move all month) kept as a signal 1/0 = +∞.

    Kept, the training mean of the signal is +∞ and k = 1/mean(s) is 0 or, with a fallback k = 1 when the
    mean is not finite (a common fallback in hand-written code), the exposure is 1/σ² itself:
    thousands in ordinary months, +∞ after a stale one. The project sets 1/0 to NaN
    (:func:`~asset_pricing.volmanaged.signals.inverse_variance_signal`).
    """
    variance = result.onefactor_signals["sigma2_i"]
    zero = variance == 0
    if not zero.any().any():
        return []
    asset = str(zero.sum().idxmax())
    in_training = variance.index <= train_end
    with np.errstate(divide="ignore"):
        kept_infinite = 1.0 / variance
    mean_signal = kept_infinite.loc[in_training].mean()
    scale = (1.0 / mean_signal).where(np.isfinite(mean_signal) & (mean_signal > 0), 1.0)
    exposure = kept_infinite * scale
    rf = result.strategy_returns["rf"]
    with np.errstate(invalid="ignore"):
        wrong = strategies.strategy_returns(
            result.monthly_asset_returns, rf, result.common_vol_signal["exposure_common_lag"], exposure.shift(1)
        )["onefactor_excess"]
    right = result.strategy_returns["onefactor_excess"]
    right_exposure = result.onefactor_signals["exposure_i"][asset]
    finite_exposure = exposure[asset].replace([np.inf, -np.inf], np.nan)
    name = "zero variance kept as 1/0"
    return [
        Finding(7, name, f"{asset}: months with σ² = 0 (stale price) and an infinite signal", 0.0, float(zero[asset].sum()), "int"),
        Finding(7, name, f"{asset}: scale k (fallback 1 when the training mean of 1/σ² is not finite)",
                float(result.onefactor_signals["k_i"][asset].iloc[-1]), float(scale[asset])),
        Finding(7, name, f"{asset}: largest finite exposure", float(right_exposure.max()), float(finite_exposure.max())),
        Finding(7, name, "one-factor: months with an infinite or undefined return", float((~np.isfinite(right.dropna())).sum()),
                float((~np.isfinite(wrong.dropna())).sum() + (wrong.isna() & right.notna()).sum()), "int"),
        Finding(7, name, "one-factor: largest finite absolute monthly excess return", float(right.abs().max()),
                float(wrong.replace([np.inf, -np.inf], np.nan).abs().max()), "%"),
    ]


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------
WHERE_RIGHT = {
    1: "`portfolios.next_day_position` / `next_day_mid`: r_i of the same optionid from t to t+1",
    2: "`portfolios.daily_portfolio_returns`: one formula R = Σ w r/ω + (1 − Σ w/ω) rf for calls and puts",
    3: "`portfolios.kernel_weights`: every quote of the type, for each of the 54 targets",
    4: "`portfolios.kernel_weights`: weights below 0.01 dropped, the rest renormalized to 1",
    5: "`portfolios.compound_monthly`: a month with a NaN day is NaN (unless ALLOW_PARTIAL_MONTHS)",
    6: "`portfolios.risk_free_holding_return`: (1 + y)^{n/365} − 1 over the calendar days held",
    7: "`prepare.equity.realized_variance_monthly` (NaN below MIN_DAYS ≥ 2, default 10); `volmanaged.signals.inverse_variance_signal` (1/0 → NaN)",
}


def findings_table(findings: list[Finding]) -> pd.DataFrame:
    """The findings as a table with formatted values (one row per measured number)."""
    rows = [{"#": f.mistake, "mistake": f.name, "number a user reads": f.metric, "this project": _fmt(f.right, f.unit),
             "with the mistake": _fmt(f.wrong, f.unit), "note": f.note} for f in findings]
    return pd.DataFrame(rows)


def to_markdown(findings: list[Finding], context: list[str]) -> str:
    """Markdown page: the context lines, one table of findings, where the project does each right."""
    table = findings_table(findings)
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    body = "".join("| " + " | ".join(str(value) for value in row) + " |\n" for row in table.itertuples(index=False))
    where = "".join(f"- {number}: {text}\n" for number, text in WHERE_RIGHT.items())
    lines = "".join(f"- {line}\n" for line in context)
    return f"# Replication mistakes, measured\n\n`{COMMAND}`\n\n{lines}\n{header}{body}\nWhere the project does it right:\n\n{where}"


def measure(paths: ProjectPaths, cfg: dict[str, Any], year: int = DEFAULT_YEAR) -> tuple[list[Finding], list[str]]:
    """Every measurement on the default build's files (run ``doit`` first); returns findings and context lines."""
    inputs = load_option_inputs(paths, year)
    option_findings, daily = option_construction_findings(inputs)
    project_stage = portfolios.daily_portfolio_returns(inputs.quotes, inputs.underlying, inputs.smile_fits, inputs.formation_dates,
                                                       exit_quotes=inputs.exit_quotes)
    check = float(np.nanmax(np.abs(project_stage["return"].to_numpy() - daily["project"]["return"].to_numpy())))
    cjs_daily = io.read_parquet(paths.processed / "options" / DAILY_FILE)
    interim = paths.interim
    daily_wide = io.read_parquet(interim / "daily_returns.parquet")
    market = io.read_parquet(interim / "market_daily_returns.parquet")["market"]
    rf = io.read_parquet(interim / "rf_monthly.parquet")["rf_month"]
    train_end = cfg["TRAIN_END"]
    default_result = run_volmanaged(daily_wide, market, io.read_parquet(interim / "market_vol_monthly.parquet"), rf,
                                    VolManagedConfig(train_end=train_end, min_days=cfg["MIN_DAYS"]))
    findings = (
        option_findings + missing_day_findings(cjs_daily) + rf_accrual_findings(inputs.underlying)
        + short_month_findings(daily_wide, market, rf, train_end, min_days=cfg["MIN_DAYS"])
        + zero_variance_findings(default_result, train_end)
    )
    findings.sort(key=lambda f: f.mistake)
    context = [
        (f"option quotes: {inputs.label} (DATA_DIR/interim/options; mistakes 1–4, 6); the correct variant equals the project's "
         f"daily returns to {check:.1e}"),
        (f"mistake 5: the whole sample's daily CJS returns ({cjs_daily['date'].min():%Y-%m} … {cjs_daily['date'].max():%Y-%m}); "
         f"mistake 6: also the whole underlying; mistake 7: the prepared equity tables (MIN_DAYS={cfg['MIN_DAYS']}, "
         f"TRAIN_END={train_end:%Y-%m-%d})"),
    ]
    return findings, context


def main(argv: list[str] | None = None) -> int:
    """``python -m asset_pricing.bench.mistakes [--year 2008]``: print the table and write OUTPUT_DIR/benchmarks/replication_mistakes.md."""
    import settings
    from asset_pricing.paths import project_paths

    parser = argparse.ArgumentParser(prog=f"{COMMAND}", description=__doc__.splitlines()[0])
    parser.add_argument("--year", type=int, default=DEFAULT_YEAR, help="year of filtered quotes for mistakes 1-4 and 6 (default 2008)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    paths, cfg = project_paths(), settings.load()
    findings, context = measure(paths, cfg, args.year)
    page = to_markdown(findings, context)
    target = io.write_text(page, paths.output_dir / "benchmarks" / OUTPUT_NAME)
    print(page)
    print(f"written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
