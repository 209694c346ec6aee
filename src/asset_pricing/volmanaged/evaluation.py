"""Out-of-sample evaluation of the volatility-managed strategies (docs/methods.md §2.6–§2.8).

Windows: ``train`` (months ≤ TRAIN_END), ``evaluation`` (months after) and ``full``. Every window uses
the months in which all three strategies have a return (EW, common and one-factor excess), so the
three are always compared on the same months.

Units: inputs are monthly simple returns (fractions). Annualized: CAGR (geometric), volatility
(std ddof=1 × √12), Sharpe ratio (12·mean excess / (√12·std excess)), α (× 12). Costs in basis points
(1 bp = 0.0001) per unit of exposure traded, one way.

Beyond CAGR, volatility, Sharpe ratio and drawdown:

- Moreira–Muir regression managed_excess_t = α + β · ew_excess_t + ε_t (Moreira and Muir, 2017, J.
  Finance 72(4), Table 1), OLS with Newey–West (1987) HAC t-statistics (statsmodels, Bartlett
  kernel, lags ⌊4 (n/100)^{2/9}⌋ unless given); appraisal ratio α/σ(ε)·√12 with σ(ε) the residual
  standard error (ddof = 2).
- Net α: the same regression on managed_excess_t − c · turnover_t; since OLS is linear,
  α_net(c) = α − c · a_τ with a_τ the intercept of turnover_t on ew_excess_t, and the break-even cost
  at which α_net = 0 is c* = α / a_τ (reported in bps; NaN when α ≤ 0 or a_τ ≤ 0).
- Sharpe-ratio difference managed − EW: the Jobson–Korkie z-test with Memmel's (2003) correction
  (i.i.d. returns) and a circular block bootstrap p-value (Politis and Romano, 1992; blocks of
  ⌈n^{1/3}⌉ months, the bootstrap distribution of the difference centred at its estimate, as in
  Ledoit and Wolf, 2008), two-sided.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from asset_pricing.econometrics import newey_west_lags
from asset_pricing.io import DataValidationError
from asset_pricing.volmanaged.strategies import STRATEGIES

MONTHS_PER_YEAR = 12
WINDOWS = ("train", "evaluation", "full")
MANAGED = ("common", "onefactor")
BOOTSTRAP_DRAWS = 5000
BOOTSTRAP_SEED = 20170801
BPS = 1e-4


# --- windows --------------------------------------------------------------------------------------
def window_masks(index: pd.DatetimeIndex, train_end: pd.Timestamp) -> dict[str, np.ndarray]:
    """Boolean masks of the train (t ≤ TRAIN_END), evaluation (t > TRAIN_END) and full windows."""
    in_training = np.asarray(index <= train_end)
    return {"train": in_training, "evaluation": ~in_training, "full": np.ones(len(index), dtype=bool)}


def common_sample(strategy_returns: pd.DataFrame) -> pd.DataFrame:
    """Rows in which EW, common and one-factor all have an excess return."""
    excess = [f"{name}_excess" for name in STRATEGIES]
    return strategy_returns.loc[strategy_returns[excess].notna().all(axis=1)]


def strategy_frames(strategy_returns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(excess, total) returns with one column per strategy (``ew``, ``common``, ``onefactor``)."""
    excess = strategy_returns[[f"{name}_excess" for name in STRATEGIES]].set_axis(list(STRATEGIES), axis=1)
    total = strategy_returns[["ew", "common_total", "onefactor_total"]].set_axis(list(STRATEGIES), axis=1)
    return excess, total


# --- performance ------------------------------------------------------------------------------------
def wealth_paths(total_returns: pd.DataFrame) -> pd.DataFrame:
    """W_t = Π_{τ≤t} (1 + R_τ): growth of 1 invested before the first month."""
    return (1.0 + total_returns).cumprod()


def drawdowns(total_returns: pd.DataFrame) -> pd.DataFrame:
    """D_t = W_t / max(1, max_{τ≤t} W_τ) − 1: the wealth path starts at 1, so a first-month loss counts."""
    wealth = wealth_paths(total_returns)
    peak = wealth.cummax().clip(lower=1.0)
    return wealth / peak - 1.0


def max_drawdown(total_returns: pd.DataFrame) -> pd.Series:
    """Most negative drawdown min_t D_t per column (a fraction ≤ 0)."""
    return drawdowns(total_returns).min()


def cagr(total_returns: pd.DataFrame) -> pd.Series:
    """Compound annual growth (Π (1 + R_t))^{12/n} − 1 per column."""
    months = total_returns.count()
    return np.exp(np.log1p(total_returns).sum() * MONTHS_PER_YEAR / months) - 1.0


def annualized_volatility(returns: pd.DataFrame) -> pd.Series:
    """std(R_t, ddof=1) · √12 per column."""
    return returns.std(ddof=1) * math.sqrt(MONTHS_PER_YEAR)


def sharpe_ratio(excess_returns: pd.DataFrame) -> pd.Series:
    """12 · mean(excess) / (√12 · std(excess, ddof=1)) per column."""
    return excess_returns.mean() * MONTHS_PER_YEAR / annualized_volatility(excess_returns)


def performance_table(strategy_returns: pd.DataFrame, diagnostics: pd.DataFrame, train_end: pd.Timestamp) -> pd.DataFrame:
    """One row per strategy × window: months, CAGR, volatility, Sharpe, max drawdown, exposure, turnover.

    ``ann_vol`` is the volatility of total returns; ``avg_exposure`` / ``max_exposure`` are the mean and
    maximum of the monthly exposure to the risky sleeve (Σ_i positions); ``mean_turnover`` is the mean
    of Σ_i |Δ position| per month (see :func:`asset_pricing.volmanaged.strategies.turnover`).
    """
    sample = common_sample(strategy_returns)
    excess, total = strategy_frames(sample)
    exposure = diagnostics.reindex(sample.index)[[f"exposure_{name}" for name in STRATEGIES]].set_axis(list(STRATEGIES), axis=1)
    turnover = diagnostics.reindex(sample.index)[[f"turnover_{name}" for name in STRATEGIES]].set_axis(list(STRATEGIES), axis=1)
    rows = []
    for window, mask in window_masks(sample.index, train_end).items():
        if not mask.any():
            continue
        block = pd.DataFrame({
            "months": total.loc[mask].count(),
            "first_month": sample.index[mask].min(),
            "last_month": sample.index[mask].max(),
            "cagr": cagr(total.loc[mask]),
            "ann_mean_excess": excess.loc[mask].mean() * MONTHS_PER_YEAR,
            "ann_vol": annualized_volatility(total.loc[mask]),
            "sharpe": sharpe_ratio(excess.loc[mask]),
            "max_drawdown": max_drawdown(total.loc[mask]),
            "avg_exposure": exposure.loc[mask].mean(),
            "max_exposure": exposure.loc[mask].max(),
            "mean_turnover": turnover.loc[mask].mean(),
        })
        rows.append(block.assign(window=window).rename_axis("strategy").reset_index())
    return pd.concat(rows, ignore_index=True).set_index(["strategy", "window"])


# --- regressions ----------------------------------------------------------------------------------
def moreira_muir_regression(managed_excess: pd.Series, unmanaged_excess: pd.Series, lags: int | None = None) -> pd.Series:
    """OLS managed_excess_t = α + β · unmanaged_excess_t + ε_t with Newey–West HAC t-statistics.

    Returns
    -------
    pandas.Series
        ``months``, ``alpha_ann`` (12·α), ``alpha_t_nw``, ``beta``, ``beta_t_nw``, ``r2``,
        ``residual_vol_ann`` (σ(ε)·√12), ``appraisal_ratio`` (α/σ(ε)·√12), ``nw_lags``.
    """
    data = pd.concat([managed_excess.rename("y"), unmanaged_excess.rename("x")], axis=1).dropna()
    n_obs = len(data)
    lags = newey_west_lags(n_obs) if lags is None else lags
    design = sm.add_constant(data["x"].to_numpy())
    fit = sm.OLS(data["y"].to_numpy(), design).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    alpha, beta = fit.params
    residual_sd = math.sqrt(fit.mse_resid)
    return pd.Series({
        "months": n_obs,
        "alpha_ann": alpha * MONTHS_PER_YEAR,
        "alpha_t_nw": fit.tvalues[0],
        "beta": beta,
        "beta_t_nw": fit.tvalues[1],
        "r2": fit.rsquared,
        "residual_vol_ann": residual_sd * math.sqrt(MONTHS_PER_YEAR),
        "appraisal_ratio": alpha / residual_sd * math.sqrt(MONTHS_PER_YEAR),
        "nw_lags": lags,
    })


# --- Sharpe-ratio difference -----------------------------------------------------------------------
def sharpe_difference_memmel(managed_excess: pd.Series, unmanaged_excess: pd.Series) -> pd.Series:
    """Jobson–Korkie test of SR_a = SR_b with Memmel's (2003) correction, i.i.d. returns.

    With monthly Sharpe ratios SR_a, SR_b, correlation ρ and n months:
    Var(SR_a − SR_b) ≈ [2(1 − ρ) + ½(SR_a² + SR_b² − 2 SR_a SR_b ρ²)] / n, z = (SR_a − SR_b)/√Var,
    two-sided p = 2(1 − Φ(|z|)). The difference is reported annualized (× √12).
    """
    data = pd.concat([managed_excess, unmanaged_excess], axis=1).dropna().to_numpy()
    n_obs = len(data)
    sr = data.mean(axis=0) / data.std(axis=0, ddof=1)
    rho = np.corrcoef(data.T)[0, 1]
    variance = (2.0 * (1.0 - rho) + 0.5 * (sr[0] ** 2 + sr[1] ** 2 - 2.0 * sr[0] * sr[1] * rho**2)) / n_obs
    z_stat = (sr[0] - sr[1]) / math.sqrt(variance) if variance > 0 else np.nan
    return pd.Series({
        "sharpe_diff_ann": (sr[0] - sr[1]) * math.sqrt(MONTHS_PER_YEAR),
        "sharpe_diff_z_memmel": z_stat,
        "sharpe_diff_p_memmel": 2.0 * stats.norm.sf(abs(z_stat)),
    })


def sharpe_difference_bootstrap(
    managed_excess: pd.Series,
    unmanaged_excess: pd.Series,
    n_draws: int = BOOTSTRAP_DRAWS,
    block_length: int | None = None,
    seed: int = BOOTSTRAP_SEED,
) -> pd.Series:
    """Two-sided circular block bootstrap p-value of SR_a − SR_b = 0 (pairs resampled jointly).

    p = (1 + #{b : |Δ*_b − Δ| ≥ |Δ|}) / (1 + B), with Δ the sample difference of monthly Sharpe ratios
    and Δ*_b its value in draw b; all draws are built at once as a (B × n) index array.
    """
    data = pd.concat([managed_excess, unmanaged_excess], axis=1).dropna().to_numpy()
    n_obs = len(data)
    block_length = block_length or max(1, math.ceil(n_obs ** (1.0 / 3.0)))
    n_blocks = math.ceil(n_obs / block_length)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n_obs, size=(n_draws, n_blocks, 1))
    index = ((starts + np.arange(block_length)) % n_obs).reshape(n_draws, -1)[:, :n_obs]
    draws = data[index]  # (B, n, 2)
    sharpe_draws = draws.mean(axis=1) / draws.std(axis=1, ddof=1)
    difference = data.mean(axis=0) / data.std(axis=0, ddof=1)
    observed = difference[0] - difference[1]
    drawn = sharpe_draws[:, 0] - sharpe_draws[:, 1]
    exceed = np.sum(np.abs(drawn - observed) >= abs(observed))
    return pd.Series({"sharpe_diff_p_bootstrap": (1.0 + exceed) / (1.0 + n_draws), "bootstrap_block": block_length})


def _managed_by_window(strategy_returns: pd.DataFrame, train_end: pd.Timestamp):
    """Yield (strategy, window, months, managed excess, EW excess) for each managed strategy and each
    window with at least 3 months of the common sample."""
    sample = common_sample(strategy_returns)
    excess, _ = strategy_frames(sample)
    masks = window_masks(sample.index, train_end)
    if all(mask.sum() < 3 for mask in masks.values()):
        raise DataValidationError(
            f"volatility-managed evaluation: only {len(sample)} month(s) where EW, common and one-factor all have a "
            "return; the regressions need at least 3 in a window. Widen START_DATE/END_DATE (or move TRAIN_END)."
        )
    for window, mask in masks.items():
        if mask.sum() < 3:
            continue
        unmanaged = excess.loc[mask, "ew"]
        for name in MANAGED:
            yield name, window, sample.index[mask], excess.loc[mask, name], unmanaged


def regression_table(strategy_returns: pd.DataFrame, train_end: pd.Timestamp) -> pd.DataFrame:
    """One row per managed strategy × window: Moreira–Muir regression and the Sharpe-difference tests."""
    rows = {
        (name, window): pd.concat([
            moreira_muir_regression(managed, unmanaged),
            sharpe_difference_memmel(managed, unmanaged),
            sharpe_difference_bootstrap(managed, unmanaged),
        ])
        for name, window, _, managed, unmanaged in _managed_by_window(strategy_returns, train_end)
    }
    table = pd.DataFrame(rows).T
    table.index.names = ["strategy", "window"]
    return table.astype({"months": int, "nw_lags": int, "bootstrap_block": int})


# --- costs ----------------------------------------------------------------------------------------
def net_excess_returns(excess: pd.Series, turnover: pd.Series, cost_bps: float) -> pd.Series:
    """managed_excess_t − c · turnover_t with c = cost_bps · 10⁻⁴ (one-way cost per unit traded)."""
    return excess - cost_bps * BPS * turnover.reindex(excess.index)


def break_even_cost_bps(alpha_monthly: float, turnover_intercept: float) -> float:
    """c* = α / a_τ in bps: the one-way cost at which the net α is zero (NaN when α ≤ 0 or a_τ ≤ 0)."""
    if not (alpha_monthly > 0 and turnover_intercept > 0):
        return float("nan")
    return alpha_monthly / turnover_intercept / BPS


def cost_table(
    strategy_returns: pd.DataFrame, diagnostics: pd.DataFrame, cost_bps: list[float], train_end: pd.Timestamp
) -> pd.DataFrame:
    """One row per managed strategy × window × cost: turnover, net α and its t, net Sharpe, break-even cost."""
    rows = {}
    for name, window, months, managed, unmanaged in _managed_by_window(strategy_returns, train_end):
        turnover = diagnostics.loc[months, f"turnover_{name}"]
        gross = moreira_muir_regression(managed, unmanaged)
        turnover_fit = moreira_muir_regression(turnover, unmanaged)
        break_even = break_even_cost_bps(gross["alpha_ann"] / MONTHS_PER_YEAR, turnover_fit["alpha_ann"] / MONTHS_PER_YEAR)
        for cost in cost_bps:
            net = net_excess_returns(managed, turnover, cost)
            fit = moreira_muir_regression(net, unmanaged)
            rows[(name, window, float(cost))] = pd.Series({
                "months": int(fit["months"]),
                "mean_turnover": turnover.mean(),
                "alpha_net_ann": fit["alpha_ann"],
                "alpha_net_t_nw": fit["alpha_t_nw"],
                "sharpe_net": float(sharpe_ratio(net.to_frame()).iloc[0]),
                "break_even_bps": break_even,
            })
    table = pd.DataFrame(rows).T
    table.index.names = ["strategy", "window", "cost_bps"]
    return table.astype({"months": int})


def headline_table(performance: pd.DataFrame, regressions: pd.DataFrame, window: str = "evaluation") -> pd.DataFrame:
    """The report's first table for one window: CAGR, vol, Sharpe, max drawdown, α, t(α), Sharpe-test p."""
    columns = ["months", "cagr", "ann_vol", "sharpe", "max_drawdown", "avg_exposure", "mean_turnover"]
    table = performance.xs(window, level="window")[columns]
    tests = regressions.xs(window, level="window")[["alpha_ann", "alpha_t_nw", "beta", "appraisal_ratio", "sharpe_diff_p_bootstrap"]]
    return table.join(tests).reindex(list(STRATEGIES))
