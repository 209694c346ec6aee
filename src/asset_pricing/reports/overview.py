"""Data overview (report 01): coverage of the prepared equity data, cumulative returns, rf and market volatility."""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from asset_pricing.paths import ProjectPaths, project_paths
from asset_pricing.prepare.equity import realized_variance_monthly, zero_return_share

TRADING_DAYS = 252


@dataclass(frozen=True)
class EquityData:
    """The four prepared tables of ``data/interim``."""

    daily_returns: pd.DataFrame
    market_daily_returns: pd.DataFrame
    market_vol_monthly: pd.DataFrame
    rf_monthly: pd.DataFrame


def load_equity_data(paths: ProjectPaths | None = None) -> EquityData:
    """Read the prepared equity tables (run ``doit`` first)."""
    paths = paths or project_paths()
    read = lambda name: pd.read_parquet(paths.interim / f"{name}.parquet")  # noqa: E731
    return EquityData(read("daily_returns"), read("market_daily_returns"), read("market_vol_monthly"), read("rf_monthly"))


def coverage_table(daily_returns: pd.DataFrame, min_days: int) -> pd.DataFrame:
    """Per series: first and last date with a return, missing share inside the window, stale-price measures.

    ``zero_return_share`` is the share of valid days with an exactly zero return and
    ``months_without_variance`` counts months whose realized variance is zero or undefined (< ``min_days``
    valid days): the signal 1/σ² is then NaN (docs/methods.md §1.3, e.g. RRC in 1990–92).
    """
    valid = daily_returns.notna()
    variance = realized_variance_monthly(daily_returns, min_days)
    first = daily_returns.apply(lambda s: s.first_valid_index())
    last = daily_returns.apply(lambda s: s.last_valid_index())
    table = pd.DataFrame({
        "first_date": first,
        "last_date": last,
        "days": valid.sum(),
        "missing_share": 1.0 - valid.mean(),
        "zero_return_share": zero_return_share(daily_returns),
        "months_without_variance": (variance.fillna(0.0) <= 0.0).sum(),
        "ann_mean": daily_returns.mean() * TRADING_DAYS,
        "ann_vol": daily_returns.std() * np.sqrt(TRADING_DAYS),
    })
    table.index.name = "series"
    return table


def cumulative_returns(daily_returns: pd.DataFrame) -> pd.DataFrame:
    """Growth of $1 from each series' first valid day: Π(1 + r) with missing days counted as flat."""
    return (1.0 + daily_returns.fillna(0.0)).cumprod().where(daily_returns.ffill().notna())


def plot_cumulative_returns(data: EquityData, log_scale: bool = True) -> plt.Figure:
    """Growth of $1 for every ticker (thin lines) and the market (thick black)."""
    # matplotlib: wealth paths over time, no statistic to estimate
    fig, ax = plt.subplots(figsize=(12, 5))
    cumulative_returns(data.daily_returns).plot(ax=ax, linewidth=0.8, alpha=0.8, legend=False)
    cumulative_returns(data.market_daily_returns)["market"].plot(ax=ax, color="black", linewidth=2.2, label="market")
    if log_scale:
        ax.set_yscale("log")
    ax.set_title("Growth of $1 (daily adjusted closes)")
    ax.set_ylabel("wealth (log scale)" if log_scale else "wealth")
    ax.legend(ncol=7, fontsize=7, loc="upper left", handles=ax.get_lines(), labels=[*data.daily_returns.columns, "market"])
    ax.grid(True, which="major", color="#dddddd", linewidth=0.5)
    fig.tight_layout()
    return fig


def plot_rf_and_market_vol(data: EquityData) -> plt.Figure:
    """Monthly risk-free rate (annualized ×12, percent) above the market's monthly realized volatility (annualized)."""
    # matplotlib: two time series, no statistic to estimate
    fig, (ax_rf, ax_vol) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    (data.rf_monthly["rf_month"] * 12 * 100).plot(ax=ax_rf, color="tab:green")
    ax_rf.set_ylabel("rf × 12 (% p.a.)")
    ax_rf.set_title("Monthly risk-free rate")
    (data.market_vol_monthly["sigma"] * np.sqrt(TRADING_DAYS) * 100).plot(ax=ax_vol, color="tab:red")
    ax_vol.set_ylabel("σ × √252 (% p.a.)")
    ax_vol.set_title("Market realized volatility per month (sample std of daily returns)")
    for ax in (ax_rf, ax_vol):
        ax.grid(True, color="#dddddd", linewidth=0.5)
    fig.tight_layout()
    return fig
