"""Reference implementations the benchmark times against the project (step 3); never used by the pipeline.

:func:`naive_portfolios`
    A naive pandas implementation of the construction, the way public replications write it: nearest-bucket candidates (moneyness
    bucket by the right edge of its 0.025 interval, maturity by the nearest of 30/60/90 days), a Python
    loop over the 54 targets and, inside, over the dates with a ``.loc`` assignment per date, kernel
    weights within the bucket, the 0.01 floor without renormalizing, returns lagged within the portfolio
    id, ``groupby().agg`` and a row-wise ``apply`` for the leverage adjustment, ``resample().apply`` for
    the months and a ``groupby().mean`` for HKM. It keeps the replication mistakes of docs/methods.md §9.1–§9.4
    and §9.6 on purpose: it is the speed reference, not a result. Column names are adapted to the project's
    filtered quotes (``impl_volatility`` for its ``IV``, ``mid`` for ``mid_price``, the quote's
    continuous ``r`` for ``tb_m3/100`` in the elasticity and ``rf_annual`` for ``tb_m3/100`` in the
    daily rate).

:func:`kernel_weight_agreement`
    Restricted to the naive reference's bucket candidates of each portfolio-day, the project's kernel weights
    before the floor (:func:`asset_pricing.options.portfolios.kernel_weights` with ``weight_floor=0``)
    against the naive reference's ``kernel_weights``.

:func:`smile_outliers_per_group_loop`
    Filter 9 (docs/methods.md §3.2) with one ``np.polyfit`` per (date, exdate, cp_flag) slice through
    ``groupby().apply`` (the per-group loop of the usual replication code), then per-bin statistics:
    what the project's batched normal equations replace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import norm

from asset_pricing.options import filters, portfolios
from asset_pricing.options.schema import day_numbers

NAIVE_MONEYNESS_TARGETS: list[float] = [0.90, 0.925, 0.950, 0.975, 1.000, 1.025, 1.050, 1.075, 1.100]
NAIVE_MATURITY_TARGETS: list[int] = [30, 60, 90]
NAIVE_CP_FLAGS: list[str] = ["C", "P"]
NAIVE_INPUT_COLUMNS: tuple[str, ...] = (
    "date", "exdate", "cp_flag", "strike", "moneyness", "mid", "impl_volatility", "close", "r", "rf_annual",
)


# --------------------------------------------------------------------------------------------------
# The naive reference, as public replications write it
# --------------------------------------------------------------------------------------------------
def naive_kernel_weights(m_grid, ttm_grid, k_s, ttm, bw_m=0.0125, bw_t=10):  # noqa: ANN001, ANN201 - the reference's own signature
    """Naive ``kernel_weights``: exp(−½[((m−k)/0.0125)² + ((τ−τ*)/10)²]) normalized over the bucket."""
    m_grid = np.asarray(m_grid, dtype=float)
    ttm_grid = np.asarray(ttm_grid, dtype=float)
    x = (m_grid - k_s) / bw_m
    y = (ttm_grid - ttm) / bw_t
    dist_sq = x**2 + y**2
    weights = np.exp(-0.5 * dist_sq)
    return weights / weights.sum() if weights.sum() > 0 else np.zeros_like(weights)


def naive_bucket_ids(quotes: pd.DataFrame) -> pd.DataFrame:
    """Naive step 1: moneyness bucket (right edge of a 0.025 interval), nearest maturity, ``ftfsa_id``.

    Quotes outside (0.875, 1.100] have no moneyness bucket and are dropped.
    """
    spx = quotes.copy()
    spx["days_to_maturity"] = spx["exdate"] - spx["date"]
    spx["moneyness_bin"] = pd.cut(spx["moneyness"], bins=[0.875, *NAIVE_MONEYNESS_TARGETS]).astype(object)
    spx["moneyness_id"] = spx["moneyness_bin"].apply(lambda x: x.right if pd.notnull(x) else np.nan)
    spx = spx.dropna(subset=["moneyness_id"])
    maturity_id = pd.concat([abs(spx["days_to_maturity"].dt.days - target) for target in NAIVE_MATURITY_TARGETS], axis=1)
    maturity_id.columns = NAIVE_MATURITY_TARGETS
    spx["maturity_id"] = maturity_id.idxmin(axis=1)
    spx["ftfsa_id"] = (
        spx["cp_flag"].astype(str)
        + "_"
        + (spx["moneyness_id"] * 1000).apply(lambda x: str(int(x)) if pd.notnull(x) and x == int(x) else str(x))
        + "_"
        + spx["maturity_id"].astype(str)
    )
    return spx.set_index(["ftfsa_id", "date"])


def naive_delta_elasticity(df: pd.DataFrame) -> pd.DataFrame:
    """Naive ``calc_option_delta_elasticity`` (``norm.cdf``, no dividend yield, as written)."""
    df = df.copy()
    T = df["days_to_maturity"].dt.days / 365.0
    S = df["close"]
    K = df["strike"]
    r = df["r"]
    sigma = df["impl_volatility"]
    d1 = (np.log(S / K) + (r + 0.5 * sigma**2) * T) / (sigma * np.sqrt(T))
    return df.assign(
        option_delta=np.where(df["cp_flag"] == "C", norm.cdf(d1), norm.cdf(d1) - 1),
        option_elasticity=lambda x: x["option_delta"] * x["close"] / x["mid"],
    )


def naive_calc_kernel_weights(spx_mod: pd.DataFrame) -> pd.DataFrame:
    """Naive ``calc_kernel_weights``: per target, per date, weights within the bucket, set with ``.loc``."""
    spx_mod["days_to_maturity_int"] = spx_mod["days_to_maturity"].dt.days
    spx_mod = spx_mod.reset_index()
    spx_mod["original_index"] = spx_mod.index
    weight_results = []
    for cp_flag in NAIVE_CP_FLAGS:
        for target_moneyness in NAIVE_MONEYNESS_TARGETS:
            for target_ttm in NAIVE_MATURITY_TARGETS:
                candidate_options = spx_mod[
                    (spx_mod["cp_flag"] == cp_flag)
                    & (spx_mod["moneyness_id"] == target_moneyness)
                    & (spx_mod["maturity_id"] == target_ttm)
                ].copy()
                if candidate_options.empty:
                    continue
                candidate_options["kernel_weight"] = np.nan
                for _, g in candidate_options.groupby("date"):
                    idx = g.index
                    weights = naive_kernel_weights(
                        g["moneyness"].values, g["days_to_maturity_int"].values, k_s=target_moneyness, ttm=target_ttm
                    )
                    candidate_options.loc[idx, "kernel_weight"] = weights
                weight_results.append(candidate_options[["original_index", "kernel_weight"]])
    if weight_results:
        all_weights = pd.concat(weight_results).set_index("original_index")
        spx_mod.set_index("original_index", inplace=True)
        spx_mod["kernel_weight"] = all_weights["kernel_weight"]
        spx_mod.reset_index(inplace=True)
    spx_mod.drop(columns=["original_index"], inplace=True)
    return spx_mod


def naive_leverage_adjusted_returns(spx_mod: pd.DataFrame) -> pd.DataFrame:
    """Naive ``compute_cjs_return_leverage_investment`` (lag within the id, /252 rate, row-wise apply)."""
    df = spx_mod.copy()
    df = df.sort_values(["ftfsa_id", "date"])
    df["mid_price_lag"] = df.groupby("ftfsa_id")["mid"].shift(1)
    df["option_return"] = (df["mid"] - df["mid_price_lag"]) / df["mid_price_lag"]
    df["daily_rf"] = df["tb_m3"] / 100 / 252
    df["inv_weight"] = df["kernel_weight"] / df["option_elasticity"]
    df["inv_return"] = df["inv_weight"] * df["option_return"]
    grouped = df.groupby(["date", "ftfsa_id"])
    port = grouped.agg(
        total_inv_weight=("inv_weight", "sum"),
        total_inv_return=("inv_return", "sum"),
        daily_rf=("daily_rf", "first"),
        cp_flag=("cp_flag", "first"),
    ).reset_index()

    def adjusted_return(row: pd.Series) -> float:
        if row["cp_flag"] == "C":
            return row["total_inv_return"] + (1 - row["total_inv_weight"]) * row["daily_rf"]
        if row["cp_flag"] == "P":
            return -row["total_inv_return"] + (1 + row["total_inv_weight"]) * row["daily_rf"]
        return np.nan

    port["portfolio_return"] = port.apply(adjusted_return, axis=1)
    return port


@dataclass(frozen=True)
class NaivePortfolios:
    """Outputs of :func:`naive_portfolios`: bucketed quotes with kernel weights before the floor, and returns."""

    weighted_quotes: pd.DataFrame
    daily_returns: pd.DataFrame
    cjs_monthly: pd.DataFrame
    hkm_monthly: pd.DataFrame


def naive_portfolios(quotes: pd.DataFrame) -> NaivePortfolios:
    """The naive reference's 54 CJS and 18 HKM portfolio returns (module docstring), on filtered quotes.

    ``quotes`` needs :data:`NAIVE_INPUT_COLUMNS` (extra columns, e.g. a row id, are carried along).
    """
    spx_filtered = naive_bucket_ids(quotes.assign(tb_m3=quotes["rf_annual"] * 100))
    spx_mod = naive_delta_elasticity(spx_filtered)
    spx_mod = naive_calc_kernel_weights(spx_mod)
    weighted = spx_mod.copy()
    spx_mod = spx_mod[spx_mod["kernel_weight"] >= 0.01].reset_index(drop=True)
    portfolio_returns = naive_leverage_adjusted_returns(spx_mod)
    portfolio_returns.set_index(["date", "ftfsa_id"], inplace=True)
    daily_returns = portfolio_returns.pivot_table(index="date", columns="ftfsa_id", values="portfolio_return")
    cjs_returns = daily_returns.resample("ME").apply(lambda x: (1 + x).prod() - 1)
    cjs_returns = cjs_returns.reset_index().melt(id_vars="date", var_name="ftfsa_id", value_name="return")
    cjs_returns["ftfsa_id"] = "cjs_" + cjs_returns["ftfsa_id"]
    cjs_returns = cjs_returns[["ftfsa_id", "date", "return"]].set_index(["ftfsa_id", "date"])
    hkm = cjs_returns.copy().reset_index()
    hkm = hkm.assign(
        type=hkm["ftfsa_id"].apply(lambda x: x.split("_")[1]),
        moneyness_id=hkm["ftfsa_id"].apply(lambda x: x.split("_")[2]),
        maturity_id=hkm["ftfsa_id"].apply(lambda x: x.split("_")[3]),
    ).drop(columns=["ftfsa_id"])
    hkm = hkm.set_index(["date", "type", "moneyness_id", "maturity_id"]).groupby(["date", "type", "moneyness_id"]).mean()
    return NaivePortfolios(weighted, daily_returns, cjs_returns, hkm)


# --------------------------------------------------------------------------------------------------
# Same kernel weights on the naive reference's candidates
# --------------------------------------------------------------------------------------------------
def kernel_weight_agreement(weighted_quotes: pd.DataFrame) -> dict[str, float]:
    """Largest difference between the naive reference's and the project's kernel weights on its bucket candidates.

    For each of the 54 targets, the project's :func:`~asset_pricing.options.portfolios.kernel_weights`
    runs on exactly the naive reference's candidates of that target (same bucket, each date its own group) with
    ``weight_floor=0`` (weights before the floor) and is compared with its ``kernel_weight``.

    Returns
    -------
    Dict with ``max_abs_difference``, ``max_relative_difference`` (relative to the naive weight),
    ``weights_compared`` and ``portfolio_days``.
    """
    targets = portfolios.portfolio_targets()
    max_abs = max_rel = 0.0
    compared = portfolio_days = 0
    for code, target in targets.iterrows():
        candidates = weighted_quotes[
            (weighted_quotes["cp_flag"] == target["cp_flag"])
            & (weighted_quotes["moneyness_id"] == target["target_moneyness"])
            & (weighted_quotes["maturity_id"] == target["target_maturity"])
        ]
        if candidates.empty:
            continue
        ours = portfolios.kernel_weights(
            (candidates["cp_flag"] == "C").to_numpy(), day_numbers(candidates["date"]), candidates["moneyness"].to_numpy(np.float64),
            candidates["days_to_maturity_int"].to_numpy(np.float64), weight_floor=0.0,
        )
        mine = ours.portfolio == code
        our_weight = np.full(len(candidates), np.nan)
        our_weight[ours.row[mine]] = ours.weight[mine]
        naive_weight = candidates["kernel_weight"].to_numpy(np.float64)
        difference = np.abs(our_weight - naive_weight)
        max_abs = max(max_abs, float(np.nanmax(difference)) if np.isfinite(difference).any() else np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(naive_weight > 0, difference / naive_weight, 0.0)
        max_rel = max(max_rel, float(np.max(relative)))
        if np.isnan(our_weight).any():  # a candidate without a project weight would be a disagreement
            max_abs = np.inf
        compared += len(candidates)
        portfolio_days += int(candidates["date"].nunique())
    return {"max_abs_difference": max_abs, "max_relative_difference": max_rel, "weights_compared": compared, "portfolio_days": portfolio_days}


# --------------------------------------------------------------------------------------------------
# Filter 9 with a per-group loop
# --------------------------------------------------------------------------------------------------
def _fit_slice_curve(group: pd.DataFrame, min_quotes: int) -> pd.DataFrame:
    """One slice of the per-group reference: ``np.polyfit`` of log IV on x = m − 1, fitted IV stored per quote.

    Like the usual replication code (a ``fit_and_store_curve`` applied per group): a
    slice with fewer than ``min_quotes`` valid quotes or fewer than three distinct x gets no fit.
    """
    group = group.copy()
    valid = group.dropna(subset=["log_iv"])
    if len(valid) < min_quotes or valid["x"].nunique() < 3:
        group["fitted_iv"] = np.nan
        return group
    coefficients = np.polyfit(valid["x"], valid["log_iv"], 2)
    group["fitted_iv"] = np.exp(np.polyval(coefficients, group["x"]))
    return group


def smile_outliers_per_group_loop(
    quotes: pd.DataFrame, n_sd: float = filters.OUTLIER_SD, min_quotes: int = 4
) -> NDArray[np.bool_]:
    """Filter 9's outlier mask with one least-squares fit per (date, exdate, cp_flag) slice, group by group.

    ``groupby(...).apply`` runs :func:`_fit_slice_curve` on each slice (a Python call, a frame copy and an
    ``np.polyfit`` per slice); then e = IV/fitted − 1, and per moneyness bin (width 0.05) the mean and sd
    (ddof = 1) of e over the whole sample flag |e − mean| > n_sd·sd. Quotes of slices without a fit are
    kept. Returns the outlier mask in the order of ``quotes``.
    """
    iv = quotes["impl_volatility"].to_numpy(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_iv = np.where(iv > 0, np.log(iv), np.nan)
    data = quotes[["date", "exdate", "cp_flag", "moneyness", "impl_volatility"]].assign(
        x=quotes["moneyness"].to_numpy(np.float64) - 1.0, log_iv=log_iv, row=np.arange(len(quotes))
    )
    fitted = data.groupby(["date", "exdate", "cp_flag"], observed=True, sort=False, group_keys=False).apply(
        _fit_slice_curve, min_quotes, include_groups=False
    )
    fitted = fitted.sort_values("row")
    fitted["residual"] = fitted["impl_volatility"] / fitted["fitted_iv"] - 1.0
    fitted["moneyness_bin"] = filters.moneyness_bin(fitted["moneyness"].to_numpy())
    bin_stats = fitted.groupby("moneyness_bin")["residual"].agg(["mean", "std"])
    mean = fitted["moneyness_bin"].map(bin_stats["mean"]).to_numpy()
    sd = fitted["moneyness_bin"].map(bin_stats["std"]).to_numpy()
    with np.errstate(invalid="ignore"):
        return np.abs(fitted["residual"].to_numpy() - mean) > n_sd * sd


def smile_outliers_vectorized(quotes: pd.DataFrame, n_sd: float = filters.OUTLIER_SD) -> NDArray[np.bool_]:
    """The project's filter 9 on an in-memory panel: batched fits, bin moments, outlier test (docs/methods.md §3.2)."""
    residual, _ = filters.smile_residuals(quotes)
    bins = filters.moneyness_bin(quotes["moneyness"].to_numpy())
    moments = filters.Moments.of(residual, bins, filters.N_MONEYNESS_BINS)
    return filters.smile_outlier_flags(residual, bins, moments, n_sd)
