"""Normality report of return series (docs/methods.md §8), for any study.

Input everywhere: a wide DataFrame of return series (DatetimeIndex, one column per series, NaN where a
series has no value). Output: one table of tests and moments, and figures — histogram with KDE beside
a normal QQ plot per series (in grids for many series), the series as lines over time, and bar charts
of mean, missing share, skewness and kurtosis.

Tests (scipy.stats, NaNs omitted per series, two-sided p-values under H0: normal):
Shapiro–Wilk (1965); Jarque–Bera (1980), JB = n/6 (S² + (K − 3)²/4); D'Agostino–Pearson omnibus
K² (1973, ``normaltest``, needs n ≥ 8). Skewness S and kurtosis K are the biased sample moments with
Pearson's kurtosis (``fisher=False``: 3 for a normal). A series too short for a test has NaN there.
"""

from __future__ import annotations

import math
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

NORMALITY_COLUMNS = (
    "observations", "missing_share", "mean", "std", "skewness", "kurtosis",
    "shapiro_p", "jarque_bera_p", "dagostino_p",
)


def normality_table(returns: pd.DataFrame) -> pd.DataFrame:
    """One row per series: observations, missing share, mean, std, skewness, kurtosis and test p-values.

    Parameters
    ----------
    returns
        Wide return series (any frequency; units are kept: a monthly fraction gives a monthly mean).

    Returns
    -------
    pandas.DataFrame
        Columns ``NORMALITY_COLUMNS``; ``kurtosis`` is Pearson's (normal = 3).
    """
    values = returns.to_numpy(dtype=float)
    values = np.where(np.isfinite(values), values, np.nan)
    observations = np.sum(~np.isnan(values), axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too-short series give NaN, reported as such
        with np.errstate(all="ignore"):
            table = pd.DataFrame({
                "observations": observations,
                "missing_share": 1.0 - observations / max(len(returns), 1),
                "mean": np.nanmean(values, axis=0),
                "std": np.nanstd(values, axis=0, ddof=1),
                "skewness": stats.skew(values, axis=0, nan_policy="omit"),
                "kurtosis": stats.kurtosis(values, axis=0, fisher=False, nan_policy="omit"),
                "shapiro_p": stats.shapiro(values, axis=0, nan_policy="omit").pvalue,
                "jarque_bera_p": stats.jarque_bera(values, axis=0, nan_policy="omit").pvalue,
                "dagostino_p": stats.normaltest(values, axis=0, nan_policy="omit").pvalue,
            }, index=returns.columns)
    table.index.name = "series"
    return table


# Figures only from here on: no number of a table comes from them, so mutation testing skips them.
# pragma: no mutate block
def _kde_line(values: np.ndarray, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(values.min(), values.max(), points)
    if len(values) < 3 or np.std(values) == 0:
        return grid, np.full_like(grid, np.nan)
    return grid, stats.gaussian_kde(values)(grid)


def plot_histogram_qq(series: pd.Series, axes: tuple[plt.Axes, plt.Axes], bins: int = 40) -> None:
    """Histogram (density) with a Gaussian KDE and the fitted normal density; beside it a normal QQ plot."""
    ax_hist, ax_qq = axes
    values = series.dropna().to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if len(values) < 3:
        for ax in axes:
            ax.text(0.5, 0.5, f"{series.name}: too few values", ha="center", va="center", transform=ax.transAxes)
        return
    ax_hist.hist(values, bins=bins, density=True, color="#9ecae1", edgecolor="white")
    grid, density = _kde_line(values)
    ax_hist.plot(grid, density, color="#08519c", linewidth=1.5, label="KDE")
    ax_hist.plot(grid, stats.norm.pdf(grid, values.mean(), values.std(ddof=1)), color="#de2d26", linestyle="--", linewidth=1.2, label="normal")
    ax_hist.set_title(f"{series.name}: distribution", fontsize=9)
    ax_hist.legend(fontsize=7)
    (theoretical, ordered), (slope, intercept, _) = stats.probplot(values, dist="norm")
    ax_qq.scatter(theoretical, ordered, s=6, color="#08519c")
    ax_qq.plot(theoretical, intercept + slope * theoretical, color="#de2d26", linewidth=1.2)
    ax_qq.set_title(f"{series.name}: normal QQ", fontsize=9)
    ax_qq.set_xlabel("normal quantile", fontsize=8)
    ax_qq.set_ylabel("sample quantile", fontsize=8)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#eeeeee", linewidth=0.5)


def plot_distribution_grid(returns: pd.DataFrame, series_per_row: int = 2, bins: int = 40) -> plt.Figure:
    """Histogram + KDE beside a normal QQ plot for every column, ``series_per_row`` pairs per row."""
    n_series = returns.shape[1]
    n_rows = max(1, math.ceil(n_series / series_per_row))
    fig, axes = plt.subplots(n_rows, 2 * series_per_row, figsize=(5.5 * series_per_row, 2.8 * n_rows), squeeze=False)
    for position, column in enumerate(returns.columns):
        row, slot = divmod(position, series_per_row)
        plot_histogram_qq(returns[column].rename(str(column)), (axes[row, 2 * slot], axes[row, 2 * slot + 1]), bins)
    for position in range(n_series, n_rows * series_per_row):
        row, slot = divmod(position, series_per_row)
        axes[row, 2 * slot].set_visible(False)
        axes[row, 2 * slot + 1].set_visible(False)
    fig.tight_layout()
    return fig


def plot_distribution_grids(returns: pd.DataFrame, series_per_figure: int = 8, series_per_row: int = 2) -> list[plt.Figure]:
    """:func:`plot_distribution_grid` in chunks of ``series_per_figure`` columns (for dozens of series)."""
    chunks = range(0, returns.shape[1], series_per_figure)
    return [plot_distribution_grid(returns.iloc[:, start:start + series_per_figure], series_per_row) for start in chunks]


def plot_return_lines(returns: pd.DataFrame, title: str = "Returns over time", max_legend: int = 12) -> plt.Figure:
    """Every series as a line over time on one axis (legend when at most ``max_legend`` series)."""
    fig, ax = plt.subplots(figsize=(12, 4.5))
    lines = ax.plot(returns.index, returns.to_numpy(dtype=float), linewidth=0.8, alpha=0.85)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_title(title)
    ax.set_ylabel("return")
    ax.grid(True, color="#eeeeee", linewidth=0.5)
    if returns.shape[1] <= max_legend:
        ax.legend(lines, [str(c) for c in returns.columns], fontsize=8, ncol=min(returns.shape[1], 6), loc="lower left")
    fig.tight_layout()
    return fig


def plot_moment_bars(table: pd.DataFrame) -> plt.Figure:
    """2 × 2 bars per series from :func:`normality_table`: mean, missing share, skewness, kurtosis.

    Reference lines: skewness 0 and kurtosis 3 (the normal distribution).
    """
    panels = (
        ("mean", "mean return", None),
        ("missing_share", "share of missing values", None),
        ("skewness", "skewness (normal = 0)", 0.0),
        ("kurtosis", "kurtosis, Pearson (normal = 3)", 3.0),
    )
    width = max(8.0, 0.35 * len(table) + 4.0)
    fig, axes = plt.subplots(2, 2, figsize=(width, 7))
    labels = [str(name) for name in table.index]
    for ax, (column, title, reference) in zip(axes.ravel(), panels):
        ax.bar(labels, table[column].to_numpy(dtype=float), color="#6baed6")
        if reference is not None:
            ax.axhline(reference, color="#de2d26", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=90 if len(labels) > 8 else 0, labelsize=8)
        ax.grid(True, axis="y", color="#eeeeee", linewidth=0.5)
    if table["missing_share"].max() <= 0:
        axes[0, 1].set_ylim(0.0, 1.0)
    fig.tight_layout()
    return fig
