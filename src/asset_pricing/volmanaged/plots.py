"""Figures of the volatility-managed study (report 02; docs/methods.md §2); each function returns a Figure.

Inputs are the stage's outputs (strategy returns, common and one-factor signals); a dashed vertical
line marks the end of the training window where ``train_end`` is given. matplotlib throughout: these are
time series and one scatter of precomputed values, with no statistic for seaborn to estimate.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asset_pricing.volmanaged.evaluation import drawdowns, strategy_frames, wealth_paths

STRATEGY_COLORS = {"ew": "#525252", "common": "#2171b5", "onefactor": "#cb181d"}
STRATEGY_LABELS = {"ew": "equal weight", "common": "common volatility", "onefactor": "one-factor"}
TRADING_DAYS_PER_YEAR = 252


def _mark_train_end(ax: plt.Axes, train_end: pd.Timestamp | None) -> None:
    if train_end is not None:
        ax.axvline(train_end, color="black", linestyle="--", linewidth=0.8)
        ax.annotate(" training | evaluation", (train_end, 1.0), xycoords=("data", "axes fraction"), va="top", fontsize=8)


def _style(ax: plt.Axes, title: str, ylabel: str) -> None:
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("")
    ax.grid(True, color="#e5e5e5", linewidth=0.5)


def plot_cumulative_wealth(
    strategy_returns: pd.DataFrame, log_scale: bool = True, train_end: pd.Timestamp | None = None, start: pd.Timestamp | None = None
) -> plt.Figure:
    """Growth of $1 in the three strategies (total returns), from ``start`` (default: first common month)."""
    _, total = strategy_frames(strategy_returns)
    total = total.dropna()
    if start is not None:
        total = total.loc[total.index >= start]
    wealth = wealth_paths(total)
    fig, ax = plt.subplots(figsize=(12, 5))
    for name in wealth.columns:
        ax.plot(wealth.index, wealth[name], color=STRATEGY_COLORS[name], label=STRATEGY_LABELS[name], linewidth=1.5)
    if log_scale:
        ax.set_yscale("log")
    _mark_train_end(ax, train_end)
    _style(ax, "Cumulative wealth (total returns)", "wealth, log scale" if log_scale else "wealth")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def plot_drawdowns(strategy_returns: pd.DataFrame, train_end: pd.Timestamp | None = None) -> plt.Figure:
    """Drawdown W_t / max(1, peak) − 1 of the three strategies (percent)."""
    _, total = strategy_frames(strategy_returns)
    drawdown = drawdowns(total.dropna()) * 100
    fig, ax = plt.subplots(figsize=(12, 4))
    for name in drawdown.columns:
        ax.plot(drawdown.index, drawdown[name], color=STRATEGY_COLORS[name], label=STRATEGY_LABELS[name], linewidth=1.1)
    _mark_train_end(ax, train_end)
    _style(ax, "Drawdowns", "drawdown (%)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def plot_common_exposure(common_vol_signal: pd.DataFrame, train_end: pd.Timestamp | None = None) -> plt.Figure:
    """The common exposure x_{t−1} held in each month, with the unit exposure of the unmanaged portfolio."""
    fig, ax = plt.subplots(figsize=(12, 4))
    exposure = common_vol_signal["exposure_common_lag"]
    ax.plot(exposure.index, exposure, color=STRATEGY_COLORS["common"], linewidth=1.1, label="exposure held in month t")
    ax.axhline(1.0, color="black", linewidth=0.7, label="unmanaged (1)")
    _mark_train_end(ax, train_end)
    _style(ax, r"Common-volatility exposure $x_{t-1} = k\,/\,\sigma^2_{mkt,t-1}$", "exposure")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_onefactor_exposure_band(onefactor_signals: pd.DataFrame, train_end: pd.Timestamp | None = None) -> plt.Figure:
    """One-factor exposures x_{i,t−1} across assets: min–max band shaded, cross-sectional mean as a line."""
    exposure = onefactor_signals["exposure_i_lag"]
    low, high, mean = exposure.min(axis=1), exposure.max(axis=1), exposure.mean(axis=1)
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.fill_between(exposure.index, low, high, color=STRATEGY_COLORS["onefactor"], alpha=0.2, linewidth=0, label="min–max across assets")
    ax.plot(mean.index, mean, color=STRATEGY_COLORS["onefactor"], linewidth=1.3, label="mean across assets")
    ax.axhline(1.0, color="black", linewidth=0.7)
    _mark_train_end(ax, train_end)
    _style(ax, r"One-factor exposures $x_{i,t-1} = k_i\,/\,\sigma^2_{i,t-1}$", "exposure")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_exposure_vs_variance(common_vol_signal: pd.DataFrame, onefactor_signals: pd.DataFrame | None = None) -> plt.Figure:
    """Exposure x_t against the variance σ²_t it is formed from (annualized volatility, log axes).

    Common: one point per month; one-factor (when given): one small point per asset-month. The exposure
    is k/σ², a straight line of slope −2 in log–log coordinates (bent only by a cap or a moving k).
    """
    fig, ax = plt.subplots(figsize=(7, 5))
    if onefactor_signals is not None:
        variance_i = onefactor_signals["sigma2_i"].stack()
        exposure_i = onefactor_signals["exposure_i"].stack().reindex(variance_i.index)
        ax.scatter(np.sqrt(variance_i * TRADING_DAYS_PER_YEAR), exposure_i, s=3, alpha=0.15,
                   color=STRATEGY_COLORS["onefactor"], label="one-factor (asset-months)")
    ax.scatter(np.sqrt(common_vol_signal["sigma2_mkt"] * TRADING_DAYS_PER_YEAR), common_vol_signal["exposure_common"], s=10,
               color=STRATEGY_COLORS["common"], label="common (market months)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _style(ax, "Exposure against the volatility signal", r"exposure $x_t$")
    ax.set_xlabel(r"volatility of month $t$, annualized ($\sqrt{252\,\sigma^2_t}$)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def plot_net_alpha_by_cost(costs: pd.DataFrame, window: str = "evaluation") -> plt.Figure:
    """Annualized net α (percent) of each managed strategy against the one-way cost (bps)."""
    table = costs.xs(window, level="window").reset_index()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, group in table.groupby("strategy"):
        ax.plot(group["cost_bps"], group["alpha_net_ann"] * 100, marker="o", color=STRATEGY_COLORS[name], label=STRATEGY_LABELS[name])
    ax.axhline(0.0, color="black", linewidth=0.7)
    _style(ax, f"Net alpha against trading cost ({window} window)", "alpha, % per year")
    ax.set_xlabel("one-way cost (bps per unit of exposure traded)")
    ax.legend()
    fig.tight_layout()
    return fig
