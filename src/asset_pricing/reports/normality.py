"""Figures of the normality report (docs/methods.md §8) for any wide frame of return series.

The table of tests and moments is :func:`asset_pricing.stats.normality.normality_table` (below the
stages, which report it too). Here: histogram with a KDE beside the fitted normal density and a normal
QQ plot per series (small multiples, in chunks for dozens of series), the series as lines over time, and
bars of mean, missing share, skewness and kurtosis per series. Histograms, KDEs, bars and the grids are
seaborn's; nothing here computes a number that a table shows.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from asset_pricing.reports.panels import uniform_display, uniform_sentence

HIST_COLOR, KDE_COLOR, NORMAL_COLOR = "#9ecae1", "#08519c", "#de2d26"


def _finite(series: pd.Series) -> np.ndarray:
    values = series.to_numpy(dtype=float)
    return values[np.isfinite(values)]


def plot_histogram(series: pd.Series, ax: plt.Axes, bins: int = 40) -> None:
    """Histogram (density) with a Gaussian KDE (seaborn) and the normal density of the same mean and sd."""
    values = _finite(series)
    ax.set_title(f"{series.name}: distribution", fontsize=9)
    if len(values) < 3:
        ax.text(0.5, 0.5, "too few values", ha="center", va="center", transform=ax.transAxes)
        return
    varies = bool(np.ptp(values) > 0)  # seaborn skips (and warns about) a KDE of a constant series
    sns.histplot(values, bins=bins, stat="density", kde=varies, ax=ax, color=HIST_COLOR, edgecolor="white",
                 line_kws={"linewidth": 1.5, "label": "KDE"})
    if varies:
        ax.lines[-1].set_color(KDE_COLOR)
        grid = np.linspace(values.min(), values.max(), 200)
        # matplotlib: seaborn draws no fitted parametric density (its `fit=` was removed with distplot)
        ax.plot(grid, stats.norm.pdf(grid, values.mean(), values.std(ddof=1)), color=NORMAL_COLOR, linestyle="--",
                linewidth=1.2, label="normal")
        ax.legend(fontsize=7)
    ax.set_xlabel("")
    ax.set_ylabel("density", fontsize=8)


def plot_normal_qq(series: pd.Series, ax: plt.Axes) -> None:
    """Normal QQ plot: ordered values against normal quantiles, with the least-squares line (scipy.stats.probplot)."""
    values = _finite(series)
    ax.set_title(f"{series.name}: normal QQ", fontsize=9)
    if len(values) < 3:
        ax.text(0.5, 0.5, "too few values", ha="center", va="center", transform=ax.transAxes)
        return
    (theoretical, ordered), (slope, intercept, _) = stats.probplot(values, dist="norm")
    # matplotlib: seaborn has no QQ plot
    ax.scatter(theoretical, ordered, s=6, color=KDE_COLOR)
    ax.plot(theoretical, intercept + slope * theoretical, color=NORMAL_COLOR, linewidth=1.2)
    ax.set_xlabel("normal quantile", fontsize=8)
    ax.set_ylabel("sample quantile", fontsize=8)


def plot_histogram_qq(series: pd.Series, axes: tuple[plt.Axes, plt.Axes], bins: int = 40) -> None:
    """:func:`plot_histogram` on the first axis, :func:`plot_normal_qq` on the second."""
    plot_histogram(series, axes[0], bins)
    plot_normal_qq(series, axes[1])


def plot_distribution_grid(returns: pd.DataFrame, series_per_row: int = 2, bins: int = 40) -> plt.Figure:
    """Small multiples: per column a histogram + KDE + normal density beside its normal QQ plot,
    ``series_per_row`` pairs per row (a seaborn FacetGrid with one facet per series and panel)."""
    panels = pd.DataFrame([(str(column), kind) for column in returns.columns for kind in ("distribution", "normal QQ")],
                          columns=["series", "panel"])
    panels["facet"] = panels["series"] + ": " + panels["panel"]
    grid = sns.FacetGrid(panels, col="facet", col_wrap=2 * series_per_row, col_order=list(panels["facet"]),
                         sharex=False, sharey=False, height=2.8, aspect=5.5 / (2 * 2.8))
    columns = {str(column): column for column in returns.columns}
    for (series, panel), ax in zip(panels[["series", "panel"]].itertuples(index=False), grid.axes.flat):
        values = returns[columns[series]].rename(series)
        plot_histogram(values, ax, bins) if panel == "distribution" else plot_normal_qq(values, ax)
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#eeeeee", linewidth=0.5)
    grid.figure.tight_layout()
    return grid.figure


def plot_distribution_grids(returns: pd.DataFrame, series_per_figure: int = 8, series_per_row: int = 2) -> list[plt.Figure]:
    """:func:`plot_distribution_grid` in chunks of ``series_per_figure`` columns (for dozens of series)."""
    chunks = range(0, returns.shape[1], series_per_figure)
    return [plot_distribution_grid(returns.iloc[:, start:start + series_per_figure], series_per_row) for start in chunks]


def plot_return_lines(returns: pd.DataFrame, title: str = "Returns over time", max_legend: int = 12) -> plt.Figure:
    """Every series as a line over time on one axis (legend when at most ``max_legend`` series)."""
    # matplotlib: a few dozen raw time series on one axis, no statistic to estimate
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


def plot_return_facets(returns: pd.DataFrame, title: str = "Returns over time", col_wrap: int = 3) -> plt.Figure:
    """Small multiples: each series as a line over time in its own panel (a seaborn relplot), on one
    shared y scale, for sets of series too many to tell apart on one axis."""
    long = returns.rename_axis("date").reset_index().melt(id_vars="date", var_name="series", value_name="return")
    long["series"] = long["series"].astype(str)
    grid = sns.relplot(long, kind="line", x="date", y="return", col="series", col_wrap=col_wrap, height=2.4, aspect=12 / (col_wrap * 2.4),
                       linewidth=0.8, color="#2171b5", errorbar=None, facet_kws={"sharex": True, "sharey": True})
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", "return")
    for ax in grid.axes.flat:
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.grid(True, color="#eeeeee", linewidth=0.5)
    grid.figure.suptitle(title, y=1.0)
    grid.figure.tight_layout()
    return grid.figure


MOMENT_PANELS: dict[str, tuple[str, float | None, str]] = {
    "mean": ("mean return", None, ".4f"),
    "missing_share": ("share of missing values", None, ".1%"),
    "skewness": ("skewness (normal = 0)", 0.0, ".2f"),
    "kurtosis": ("kurtosis, Pearson (normal = 3)", 3.0, ".2f"),
}


def plot_moment_bars(table: pd.DataFrame) -> plt.Figure:
    """Bars per series from :func:`~asset_pricing.stats.normality.normality_table`: mean, missing share,
    skewness, kurtosis (a seaborn catplot, one facet per statistic; 2 × 2 or one row of up to three, or one
    below the other for more than 12 series so that every label stays readable).

    Reference lines: skewness 0 and kurtosis 3 (the normal distribution). A statistic that prints as one
    value for every series (e.g. no missing value anywhere) gets no panel: the figure's title says it.
    """
    labels = [str(name) for name in table.index]
    same = {key: uniform_display(table[key], fmt) for key, (_, _, fmt) in MOMENT_PANELS.items()}
    panels = {key: panel for key, panel in MOMENT_PANELS.items() if same[key] is None} or dict(list(MOMENT_PANELS.items())[:1])
    long = (table[list(panels)].set_axis(labels).rename_axis("series").reset_index()
            .melt(id_vars="series", var_name="statistic", value_name="value"))
    long["statistic"] = long["statistic"].map(lambda key: panels[key][0])
    many = len(labels) > 12
    width = min(14.0, max(8.0, 0.22 * len(labels) + 2.0)) if many else max(8.0, 0.35 * len(labels) + 4.0)
    grid = sns.catplot(long, kind="bar", x="series", y="value", col="statistic", col_wrap=1 if many else (len(panels) if len(panels) <= 3 else 2),
                       order=labels, col_order=[title for title, _, _ in panels.values()], sharex=False, sharey=False,
                       color="#6baed6", errorbar=None, height=2.8 if many else 3.5, aspect=width / (2.8 if many else 7.0))
    for title, reference, _ in panels.values():
        ax = grid.axes_dict[title]
        if reference is not None:
            ax.axhline(reference, color=NORMAL_COLOR, linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(axis="x", labelrotation=90 if len(labels) > 8 else 0, labelsize=8)
        ax.grid(True, axis="y", color="#eeeeee", linewidth=0.5)
    dropped = [uniform_sentence(MOMENT_PANELS[key][0], shown) for key, shown in same.items() if shown is not None and key not in panels]
    if dropped:
        grid.figure.suptitle(" ".join(dropped), fontsize=10)
    grid.figure.tight_layout()
    return grid.figure
