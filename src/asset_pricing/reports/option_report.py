"""Helpers of the option-portfolio report (notebook 03): load the stage's outputs, tables and figures.

The notebook only calls these functions. Inputs are the files of the option stages (docs/methods.md §3–§5): the
filter table ``_output/tables/option_filters.csv``, the filtered quotes (dates only, for quotes per day),
``data/interim/options/underlying.parquet`` (market and risk-free reference) and the three outputs of
:func:`asset_pricing.options.stage_portfolios.build_option_portfolios`. Normality tables come from
:mod:`asset_pricing.stats.normality`, their figures from :mod:`asset_pricing.reports.normality`.

Conventions: monthly returns are simple fractions at the calendar month end; annualized mean = 12 ×
monthly mean; Sharpe ratio = √12 · mean(R − rf) / std(R − rf) (ddof=1). The market reference is the
underlying's total return, S_{t+1}/S_t · e^{q n/365} − 1 per holding period of n calendar days (the
leverage-adjusted portfolios track the index including its dividend yield), and rf is the same
calendar-day accrual (1 + y)^{n/365} − 1 as the portfolios' risk-free leg (docs/methods.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import PercentFormatter

from asset_pricing import io
from asset_pricing.options.portfolios import portfolio_targets, risk_free_holding_return
from asset_pricing.options.stage_portfolios import (
    month_cut_target, option_portfolio_targets, published_comparison_target, quotes_file, read_options_meta,
)
from asset_pricing.paths import ProjectPaths, project_paths
from asset_pricing.reports.header import options_header
from asset_pricing.reports.panels import uniform_display, uniform_sentence


@dataclass(frozen=True)
class OptionOutputs:
    """Everything the option report shows, loaded once."""

    meta: dict[str, Any]
    filters: pd.DataFrame
    underlying: pd.DataFrame
    daily: pd.DataFrame
    cjs_monthly: pd.DataFrame
    hkm_monthly: pd.DataFrame


def load_option_outputs(paths: ProjectPaths | None = None) -> OptionOutputs:
    """Read the option stages' outputs (run ``doit`` first); errors name the missing file."""
    paths = paths or project_paths()
    daily_file, cjs_file, hkm_file = option_portfolio_targets(paths)
    underlying = io.read_parquet(paths.interim / "options" / "underlying.parquet")
    return OptionOutputs(
        meta=read_options_meta(paths),
        filters=io.read_table(paths.tables / "option_filters.csv"),
        underlying=underlying,
        daily=io.read_parquet(daily_file),
        cjs_monthly=io.read_parquet(cjs_file),
        hkm_monthly=io.read_parquet(hkm_file),
    )


def report_title(meta: dict[str, Any]) -> str:
    """Title that names the data source, e.g. 'CJS and HKM option portfolios — synthetic option quotes'."""
    return f"CJS and HKM option portfolios — {meta['label']}"


def report_heading(paths: ProjectPaths | None = None) -> str:
    """Markdown shown first in the report: the title with the data source, then source and window lines."""
    paths = paths or project_paths()
    return f"## {report_title(read_options_meta(paths))}\n\n{options_header(paths).markdown()}"


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------
def filter_table(filters: pd.DataFrame) -> pd.DataFrame:
    """The filter table (CJS Table B.1 layout) with the share of the raw quotes each filter removed."""
    table = filters.drop(columns=[c for c in ("data_source",) if c in filters.columns]).copy()
    raw_count = float(table["remaining"].iloc[0])
    table["removed_share"] = table["removed"].fillna(0) / raw_count
    table["remaining_share"] = table["remaining"] / raw_count
    return table


def quotes_per_day(paths: ProjectPaths | None = None) -> pd.DataFrame:
    """Filtered quotes per trading day by type (columns C, P), read from the per-year quote files."""
    paths = paths or project_paths()
    counts = []
    for year in read_options_meta(paths)["years"]:
        quotes = io.read_parquet(quotes_file(paths, int(year)), columns=["date", "cp_flag"])
        counts.append(quotes.groupby(["date", quotes["cp_flag"].astype(str)]).size().unstack("cp_flag"))
    table = pd.concat(counts).sort_index().fillna(0).astype(int)
    table.columns.name = None
    return table


def wide_returns(long: pd.DataFrame) -> pd.DataFrame:
    """Long (portfolio_id, date, return) → wide (date × portfolio), columns in construction order."""
    wide = long.pivot(index="date", columns="portfolio_id", values="return")
    order = list(portfolio_targets()["portfolio_id"]) + list(dict.fromkeys(portfolio_targets()["hkm_id"]))
    wide = wide[[c for c in order if c in wide.columns]]
    wide.columns.name = None
    return wide


def portfolio_diagnostics(daily: pd.DataFrame) -> pd.DataFrame:
    """Per CJS portfolio: mean options per day, effective moneyness and maturity against the target,
    mean filled weight share, share of days without quotes and share of NaN daily returns."""
    grouped = daily.groupby("portfolio_id")
    table = pd.DataFrame({
        "options_per_day": grouped["n_options"].mean(),
        "eff_moneyness": grouped["eff_moneyness"].mean(),
        "eff_maturity": grouped["eff_maturity"].mean(),
        "fill_share": grouped["fill_share"].mean(),
        "no_quote_share": grouped["n_options"].apply(lambda n: (n == 0).mean()),
        "missing_share": grouped["return"].apply(lambda r: r.isna().mean()),
    })
    targets = portfolio_targets().set_index("portfolio_id")[["cp_flag", "target_moneyness", "target_maturity"]]
    table = targets.join(table)
    table["moneyness_gap"] = table["eff_moneyness"] - table["target_moneyness"]
    table["maturity_gap"] = table["eff_maturity"] - table["target_maturity"]
    return table


def market_and_rf_monthly(underlying: pd.DataFrame) -> pd.DataFrame:
    """Monthly market total return and risk-free return from the underlying (module conventions).

    Each holding period t→t+1 (n calendar days) contributes S_{t+1}/S_t · e^{q_t n/365} − 1 and
    (1 + y_t)^{n/365} − 1; periods are compounded within the calendar month of t+1.
    """
    days = underlying.index
    held_days = np.diff(days.to_numpy("datetime64[D]").astype(np.int64)).astype(float)
    close = underlying["close"].to_numpy(float)
    market = close[1:] / close[:-1] * np.exp(underlying["q"].to_numpy(float)[:-1] * held_days / 365.0) - 1.0
    rf = risk_free_holding_return(underlying["rf_annual"].to_numpy(float)[:-1], held_days)
    per_period = pd.DataFrame({"market": market, "rf": rf}, index=days[1:])
    return (1.0 + per_period).groupby(pd.Grouper(freq="ME")).prod(min_count=1) - 1.0


def performance_by_moneyness(monthly_wide: pd.DataFrame, market_rf: pd.DataFrame) -> pd.DataFrame:
    """Annualized mean return and Sharpe ratio per series, with the market's as a last row.

    mean_annual = 12 · mean(R); sharpe = √12 · mean(R − rf) / std(R − rf) over the months the series has.
    """
    rf = market_rf["rf"].reindex(monthly_wide.index)
    series = monthly_wide.join(market_rf["market"].rename("market"))
    excess = series.sub(rf, axis=0)
    table = pd.DataFrame({
        "mean_annual": 12.0 * series.mean(),
        "sharpe": np.sqrt(12.0) * excess.mean() / excess.std(ddof=1),
        "months": series.notna().sum(),
    })
    table.index.name = "series"
    return table


def portfolio_betas(daily: pd.DataFrame, underlying: pd.DataFrame) -> pd.DataFrame:
    """OLS beta and R² of each portfolio's daily return on the underlying's daily price return.

    The leverage-adjusted construction targets β ≈ +1 for calls and puts alike (docs/methods.md §4.2; the put
    formula applied to a signed elasticity gives −1, §9.2).
    """
    market = underlying["close"].pct_change().rename("market")
    wide = daily.pivot(index="date", columns="portfolio_id", values="return").join(market, how="left")
    x = wide.pop("market")
    rows = {}
    for portfolio_id, y in wide.items():  # 54 columns
        ok = y.notna() & x.notna()
        xc, yc = x[ok] - x[ok].mean(), y[ok] - y[ok].mean()
        beta = float((xc * yc).sum() / (xc * xc).sum()) if ok.sum() > 2 else np.nan
        r2 = float(np.corrcoef(x[ok], y[ok])[0, 1] ** 2) if ok.sum() > 2 else np.nan
        rows[portfolio_id] = (beta, r2, int(ok.sum()))
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["beta", "r2", "days"])
    targets = portfolio_targets().set_index("portfolio_id")[["cp_flag", "target_moneyness", "target_maturity"]]
    return targets.join(table)


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
def plot_quotes_per_day(counts: pd.DataFrame) -> plt.Figure:
    """Filtered quotes per trading day over time, calls and puts (and a 21-day rolling mean)."""
    # matplotlib: time series of counts, no statistic to estimate
    fig, ax = plt.subplots(figsize=(12, 4))
    for column, color in zip(counts.columns, ("#2171b5", "#cb181d")):
        ax.plot(counts.index, counts[column], color=color, linewidth=0.4, alpha=0.4)
        ax.plot(counts.index, counts[column].rolling(21, min_periods=5).mean(), color=color, linewidth=1.5,
                label=f"{'calls' if column == 'C' else 'puts'} (21-day mean)")
    ax.set_ylabel("filtered quotes per day")
    ax.set_title("Filtered quotes per trading day")
    ax.legend()
    ax.grid(True, color="#eeeeee", linewidth=0.5)
    fig.tight_layout()
    return fig


DIAGNOSTIC_ZERO_SENTENCES: dict[str, str] = {
    "no_quote_share": "No day without quotes on this build: every portfolio has quotes of its type on every trading day.",
    "missing_share": "No NaN daily return on this build: every portfolio-day has a return.",
    "fill_share": "No held contract had to be filled on this build.",
}


def uniform_diagnostics(diagnostics: pd.DataFrame, columns: dict[str, str], fmt: str | dict[str, str] = ".2f") -> dict[str, str]:
    """The metrics of ``columns`` that print as one value over all 54 portfolios, each with the sentence
    that replaces its heatmaps (e.g. "No day without quotes on this build." for a share of 0.0 %)."""
    formats = fmt if isinstance(fmt, dict) else dict.fromkeys(columns, fmt)
    sentences = {}
    for metric, title in columns.items():
        shown = uniform_display(diagnostics[metric], formats[metric])
        if shown is not None:
            sentences[metric] = uniform_sentence(title, shown, DIAGNOSTIC_ZERO_SENTENCES.get(metric), unit="portfolio")
    return sentences


def uniform_diagnostics_text(diagnostics: pd.DataFrame, columns: dict[str, str], fmt: str | dict[str, str] = ".2f") -> str:
    """Markdown: the sentences of :func:`uniform_diagnostics`, one per line ("" when every metric varies)."""
    return "\n\n".join(uniform_diagnostics(diagnostics, columns, fmt).values())


def plot_diagnostic_heatmaps(diagnostics: pd.DataFrame, columns: dict[str, str], fmt: str | dict[str, str] = ".2f",
                             cmap: str = "viridis") -> plt.Figure | None:
    """Annotated heatmaps (moneyness target × maturity target), calls top and puts bottom, one column per
    metric that varies; a metric that prints as one value everywhere gets a sentence instead
    (:func:`uniform_diagnostics_text`), and no figure is drawn when none varies (None).

    ``columns`` maps a column of :func:`portfolio_diagnostics` (or :func:`portfolio_betas`) to its title;
    ``fmt`` is a format spec (``".1%"``), or one per column.
    """
    formats = fmt if isinstance(fmt, dict) else dict.fromkeys(columns, fmt)
    metrics = [metric for metric in columns if metric not in uniform_diagnostics(diagnostics, columns, formats)]
    if not metrics:
        return None
    # subplots + sns.heatmap rather than a FacetGrid: each metric and type keeps its own colour scale
    fig, axes = plt.subplots(2, len(metrics), figsize=(4.2 * len(metrics) + 1, 8), squeeze=False)
    for row, cp_flag in enumerate(("C", "P")):
        subset = diagnostics[diagnostics["cp_flag"] == cp_flag]
        for col, metric in enumerate(metrics):
            grid = subset.pivot(index="target_moneyness", columns="target_maturity", values=metric).sort_index(ascending=False)
            grid.index = [f"{m:.3f}" for m in grid.index]
            grid.columns = [f"{int(t)}d" for t in grid.columns]
            ax = axes[row, col]
            scale = {"format": PercentFormatter(1.0)} if formats[metric].endswith("%") else {}
            sns.heatmap(grid, annot=True, fmt=formats[metric], cmap=cmap, ax=ax, annot_kws={"fontsize": 8}, cbar_kws={"shrink": 0.8, **scale})
            ax.set_title(f"{'calls' if cp_flag == 'C' else 'puts'}: {columns[metric]}", fontsize=10)
            ax.set_xlabel("target maturity", fontsize=9)
            ax.set_ylabel("target moneyness K/S", fontsize=9)
            ax.tick_params(labelsize=8, rotation=0)
    fig.tight_layout()
    return fig


def plot_performance_by_moneyness(performance: pd.DataFrame) -> plt.Figure:
    """Annualized mean return and Sharpe ratio against target moneyness: HKM calls and puts (bold) and the
    three CJS maturities (thin), with the market's value as a dashed reference line."""
    targets = portfolio_targets()
    # matplotlib: lines with a style per group (HKM bold, CJS maturities thin) from precomputed values
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for ax, metric, title in zip(axes, ("mean_annual", "sharpe"), ("mean return, annualized", "Sharpe ratio, annualized")):
        for cp_flag, color in (("C", "#2171b5"), ("P", "#cb181d")):
            kind = "calls" if cp_flag == "C" else "puts"
            for maturity, style in zip((30, 60, 90), (":", "-.", "--")):
                ids = targets[(targets["cp_flag"] == cp_flag) & (targets["target_maturity"] == maturity)]
                values = performance[metric].reindex(ids["portfolio_id"]).to_numpy(float)
                ax.plot(ids["target_moneyness"], values, linestyle=style, color=color, linewidth=0.9, alpha=0.7, label=f"CJS {kind} {maturity}d")
            hkm = targets[targets["cp_flag"] == cp_flag].drop_duplicates("hkm_id")
            ax.plot(hkm["target_moneyness"], performance[metric].reindex(hkm["hkm_id"]).to_numpy(float), marker="o",
                    color=color, linewidth=2.2, label=f"HKM {kind}")
        if "market" in performance.index:
            ax.axhline(performance.loc["market", metric], color="black", linestyle="--", linewidth=1.2, label="market (S&P 500)")
        ax.set_xlabel("target moneyness K/S")
        ax.set_title(title)
        ax.grid(True, color="#eeeeee", linewidth=0.5)
    axes[0].yaxis.set_major_formatter(PercentFormatter(1.0))
    fig.legend(*axes[1].get_legend_handles_labels(), loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))  # the legend below both panels, clear of the lines
    return fig


def plot_betas_by_moneyness(betas: pd.DataFrame) -> plt.Figure:
    """Daily beta on the underlying against target moneyness, per type and maturity, with the target +1."""
    # matplotlib: precomputed betas joined by lines, no statistic to estimate
    fig, ax = plt.subplots(figsize=(9, 4))
    for cp_flag, color in (("C", "#2171b5"), ("P", "#cb181d")):
        for maturity, style in zip((30, 60, 90), (":", "-.", "-")):
            subset = betas[(betas["cp_flag"] == cp_flag) & (betas["target_maturity"] == maturity)]
            ax.plot(subset["target_moneyness"], subset["beta"], linestyle=style, marker="o", markersize=3, color=color,
                    label=f"{'calls' if cp_flag == 'C' else 'puts'} {maturity}d")
    ax.axhline(1.0, color="black", linewidth=1)
    ax.set_xlabel("target moneyness K/S")
    ax.set_ylabel("beta on the underlying (daily)")
    ax.set_title("Leverage-adjusted portfolios: market beta by moneyness")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, color="#eeeeee", linewidth=0.5)
    fig.tight_layout()
    return fig


def plot_fill_share_over_time(daily: pd.DataFrame) -> plt.Figure:
    """Mean filled weight share and share of NaN portfolio-days per month, over all 54 portfolios; a line
    that is 0.0 % in every month is left out and said in the title."""
    month = daily["date"].dt.to_period("M").dt.to_timestamp("M")
    monthly = pd.DataFrame({
        "mean filled weight share": daily["fill_share"].groupby(month).mean(),
        "share of NaN portfolio-days": daily["return"].isna().groupby(month).mean(),
    })
    flat = [name for name in ["share of NaN portfolio-days"] if uniform_display(monthly[name], ".1%") == "0.0%"]
    # matplotlib (pandas .plot): monthly time series, no statistic to estimate
    fig, ax = plt.subplots(figsize=(12, 3.8))
    monthly.drop(columns=flat).plot(ax=ax, linewidth=1)
    ax.set_ylabel("share")
    ax.set_title("Missing prices over time (all 54 CJS portfolios" + ("; no NaN portfolio-day on this build" if flat else "") + ")")
    ax.grid(True, color="#eeeeee", linewidth=0.5)
    fig.tight_layout()
    return fig


def missing_summary(daily: pd.DataFrame, cjs_monthly: pd.DataFrame, hkm_monthly: pd.DataFrame) -> pd.DataFrame:
    """Share of NaN values in each output, and why daily values are NaN (no quotes / filled weight too high).

    A CJS month is NaN when any of its days is (unless ALLOW_PARTIAL_MONTHS); ``mean_valid_days`` is the
    average number of valid days compounded per month.
    """
    rows = {
        "CJS daily": {"values": len(daily), "nan_share": daily["return"].isna().mean(),
                      "no_quote_share": (daily["n_options"] == 0).mean(),
                      "fill_above_max_share": (daily["return"].isna() & (daily["n_options"] > 0)).mean(),
                      "mean_fill_share": daily["fill_share"].mean()},
        "CJS monthly": {"values": len(cjs_monthly), "nan_share": cjs_monthly["return"].isna().mean(),
                        "mean_valid_days": cjs_monthly["n_days"].mean() if "n_days" in cjs_monthly else np.nan},
        "HKM monthly": {"values": len(hkm_monthly), "nan_share": hkm_monthly["return"].isna().mean()},
    }
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------------------------------
# This build beside the published HKM series
# --------------------------------------------------------------------------------------------------
COMPARISON_STATS: dict[str, str] = {"mean": "mean monthly return", "sd": "monthly sd", "beta": "beta on mkt_rf", "skew": "skewness of R − rf"}


def load_published_comparison(paths: ProjectPaths | None = None) -> pd.DataFrame:
    """``_output/tables/option_published_comparison.csv`` (one row per HKM portfolio; see
    :mod:`asset_pricing.options.published`)."""
    paths = paths or project_paths()
    return io.read_table(published_comparison_target(paths))


def published_comparison_facts(table: pd.DataFrame) -> dict[str, Any]:
    """The comparison in numbers, for the report's text: window, largest beta gap, sd ratios, the order of
    mean returns (rank correlation with moneyness, calls and puts) and how often the put mean beats the call's."""
    compared = table[table["months"] >= 3]
    if compared.empty:
        return {"months": 0}
    calls, puts = (compared[compared["cp_flag"] == cp].sort_values("moneyness") for cp in ("C", "P"))

    def rank_correlation(frame: pd.DataFrame, column: str) -> float:
        return float(frame["moneyness"].rank().corr(frame[column].rank()))

    put_above = (puts.set_index("moneyness")["mean_build"] > calls.set_index("moneyness")["mean_build"]).sum()
    return {
        "months": int(compared["months"].iloc[0]),
        "first_month": compared["first_month"].iloc[0],
        "last_month": compared["last_month"].iloc[0],
        "max_beta_gap": float((compared["beta_build"] - compared["beta_published"]).abs().max()),
        "sd_ratio_range": (float(compared["sd_ratio"].min()), float(compared["sd_ratio"].max())),
        "call_mean_rank_corr": rank_correlation(calls, "mean_build"),
        "put_mean_rank_corr": rank_correlation(puts, "mean_build"),
        "put_above_call": int(put_above),
        "levels": int(len(calls)),
        "mean_gap_range": (float((compared["mean_build"] - compared["mean_published"]).min()),
                           float((compared["mean_build"] - compared["mean_published"]).max())),
        "means_within_025": int(((compared["mean_build"] - compared["mean_published"]).abs() <= 0.0025).sum()),
        "resid_sd_ratio_range": (float((compared["resid_sd_build"] / compared["resid_sd_published"]).min()),
                                 float((compared["resid_sd_build"] / compared["resid_sd_published"]).max())),
        "resid_sd_within_25": int(((compared["resid_sd_build"] / compared["resid_sd_published"] - 1).abs() <= 0.25).sum()),
        "r2_gap_range": (float((compared["r2_build"] - compared["r2_published"]).min()),
                         float((compared["r2_build"] - compared["r2_published"]).max())),
        "r2_within_008": int(((compared["r2_build"] - compared["r2_published"]).abs() <= 0.08).sum()),
        "series": int(len(compared)),
        "real_quotes": bool(compared["correlation"].notna().any()),
    }


def published_comparison_text(facts: dict[str, Any], label: str) -> str:
    """One paragraph of Markdown saying what the comparison shows (numbers from :func:`published_comparison_facts`)."""
    if not facts["months"]:
        return ("This build has no month in common with the published series (1986-04 … 2012-01): set "
                "`OPTIONS_START`/`OPTIONS_END` to overlap it to compare.")
    low, high = facts["sd_ratio_range"]
    text = (
        f"On the {facts['months']} months both cover ({facts['first_month']} … {facts['last_month']}), this build "
        f"(**{label}**) has every HKM beta within {facts['max_beta_gap']:.2f} of the published one and monthly "
        f"standard deviations {low:.2f}–{high:.2f} times the published ones. Mean returns "
        f"{'fall' if facts['call_mean_rank_corr'] < 0 else 'rise'} with moneyness for calls (rank correlation "
        f"{facts['call_mean_rank_corr']:.2f}) and {'fall' if facts['put_mean_rank_corr'] < 0 else 'rise'} for puts "
        f"({facts['put_mean_rank_corr']:.2f}); the put mean exceeds the call mean at {facts['put_above_call']} of "
        f"{facts['levels']} moneyness levels (published: −0.98, −1.00, 9 of 9)."
    )
    if facts["real_quotes"]:
        text += " The quotes are real, so the last columns are the replication check: the correlation of each series with the published one and the monthly tracking error."
    else:
        gap_low, gap_high = facts["mean_gap_range"]
        resid_low, resid_high = facts["resid_sd_ratio_range"]
        r2_low, r2_high = facts["r2_gap_range"]
        text += (f" Mean returns differ from the real ones by {gap_low:+.2%} to {gap_high:+.2%} a month ({facts['means_within_025']} of "
                 f"{facts['series']} series within ±0.25%); the residual sd on `mkt_rf` is {resid_low:.2f}–{resid_high:.2f} times the "
                 f"published one ({facts['resid_sd_within_25']} of {facts['series']} within ±25%) and the R² differs by {r2_low:+.2f} to "
                 f"{r2_high:+.2f} ({facts['r2_within_008']} of {facts['series']} within ±0.08). The synthetic surface's variance "
                 "premium, smile and shocks set the premia and the option-specific risk (`docs/methods.md` §6.3); the month cut below "
                 "sets the part common to calls and puts. With synthetic quotes there is no replication check (correlation and "
                 "tracking error need real quotes: `OPTIONS_SOURCE=wrds` or `files`).")
    return text


COMPARISON_GROUPS: dict[str, str] = {
    "mean": "mean, monthly", "sd": "sd, monthly", "beta": "beta on mkt_rf", "resid_sd": "residual sd on mkt_rf", "r2": "R² on mkt_rf",
    "skew": "skewness of R − rf",
}


def published_comparison_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparison as the report shows it: one row per HKM portfolio (id and K/S), two header rows —
    the statistic, then published | this build (and the sd ratio) — so it fits the page; the replication
    check (correlation, tracking error) only when this build has it (real quotes)."""
    frame = table.set_index("portfolio_id")
    columns: dict[tuple[str, str], pd.Series] = {("", "K/S"): frame["moneyness"]}
    for stat, group in COMPARISON_GROUPS.items():
        columns[(group, "published")] = frame[f"{stat}_published"]
        columns[(group, "this build")] = frame[f"{stat}_build"]
        if stat == "sd":
            columns[(group, "ratio")] = frame["sd_ratio"]
    for column, name in (("correlation", "correlation"), ("tracking_error", "tracking error")):
        if frame[column].notna().any():
            columns[("replication check", name)] = frame[column]
    shown = pd.DataFrame(columns)
    shown.index.name = "portfolio"
    return shown


def published_comparison_formats(shown: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Display formats of :func:`published_comparison_table`: means, sds and tracking error in %, the rest
    with 2–3 decimals."""
    percent = {COMPARISON_GROUPS["mean"], COMPARISON_GROUPS["sd"], COMPARISON_GROUPS["resid_sd"]}
    formats = {}
    for group, name in shown.columns:
        if name == "K/S" or name == "correlation":
            formats[(group, name)] = "{:.3f}"
        elif (group in percent and name != "ratio") or name == "tracking error":
            formats[(group, name)] = "{:.2%}"
        else:
            formats[(group, name)] = "{:.2f}"
    return formats


def load_month_cut(paths: ProjectPaths | None = None) -> pd.DataFrame:
    """``_output/tables/option_month_cut.csv``: each series' loadings on the index's first-to-last and
    first-day returns of the month, published and this build (:func:`asset_pricing.options.stage_portfolios.month_cut_table`)."""
    paths = paths or project_paths()
    return io.read_table(month_cut_target(paths))


def month_cut_view(table: pd.DataFrame) -> pd.DataFrame:
    """The month-cut table as the report shows it: one row per HKM series, published | this build for the
    first-to-last loading, the first-day loading and its t-statistic."""
    wide = table.pivot(index="portfolio_id", columns="series", values=["first_to_last", "first_day", "first_day_t"])
    order = list(table["portfolio_id"].drop_duplicates())
    names = {"first_to_last": "loading on first → last day", "first_day": "loading on the first day", "first_day_t": "t of the first-day loading"}
    shown = pd.DataFrame({(names[stat], who if who == "published" else "this build"): wide[(stat, who)]
                          for stat in names for who in ("published", "build")}).reindex(order)
    shown.index.name = "portfolio"
    return shown


def month_cut_text(table: pd.DataFrame) -> str:
    """One paragraph of Markdown: what the loadings say about how the published months and this build's are cut."""
    compared = table[table["months"] >= 6]
    if compared.empty:
        return "This build has too few months in common with the published series to read how their months are cut."
    published, build = (compared[compared["series"] == who] for who in ("published", "build"))
    first, last, months = published["first_month"].iloc[0], published["last_month"].iloc[0], int(published["months"].iloc[0])
    text = (
        f"Each series' monthly excess return regressed on two returns of the index over {first} … {last} ({months} months): "
        f"from the month's first to its last trading day's close, and the first trading day's own return (from the previous "
        f"month's last close). A series that compounds the whole calendar month loads on both alike; the published series load "
        f"{published['first_to_last'].min():.2f}–{published['first_to_last'].max():.2f} on the first-to-last return and "
        f"{published['first_day'].min():+.2f} to {published['first_day'].max():+.2f} on the first day (|t| ≤ "
        f"{published['first_day_t'].abs().max():.1f}): their months run from the first to the last trading day, and the "
        f"return into the first day belongs to no month. This build"
    )
    if build["first_to_last"].notna().any():
        text += (f" loads {build['first_to_last'].min():.2f}–{build['first_to_last'].max():.2f} and "
                 f"{build['first_day'].min():+.2f} to {build['first_day'].max():+.2f} (|t| ≤ {build['first_day_t'].abs().max():.1f})")
    text += (". The setting `OPTION_MONTHS` cuts this build's months: `first_to_last` (the default, as the published "
             "series) or `calendar` (every day in the month it is earned; `docs/methods.md` §4.5).")
    return text


def plot_published_comparison(table: pd.DataFrame, label: str) -> plt.Figure:
    """Mean, sd, beta and skewness by moneyness: published (dashed) and this build (solid), calls and puts
    (a seaborn relplot, one facet per statistic)."""
    compared = table[table["months"] >= 3]
    long = pd.concat([
        pd.DataFrame({"moneyness": compared["moneyness"], "type": compared["cp_flag"].map({"C": "calls", "P": "puts"}),
                      "series": source_label, "statistic": title + (" (%)" if stat in ("mean", "sd") else ""),
                      "value": compared[f"{stat}_{source}"] * (100.0 if stat in ("mean", "sd") else 1.0)})
        for stat, title in COMPARISON_STATS.items()
        for source, source_label in (("published", "published (real)"), ("build", "this build"))
    ], ignore_index=True)
    grid = sns.relplot(long, kind="line", x="moneyness", y="value", col="statistic", hue="type", style="series",
                       style_order=["this build", "published (real)"], palette={"calls": "tab:blue", "puts": "tab:red"},
                       markers=True, markersize=5, facet_kws={"sharey": False}, height=3.8, aspect=0.95)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("moneyness K/S", "")
    for ax in grid.axes.flat:
        ax.grid(alpha=0.3)
    sns.move_legend(grid, "lower center", bbox_to_anchor=(0.5, -0.02), ncol=6, title=None, frameon=False)
    grid.figure.suptitle(f"HKM portfolios: published (He, Kelly and Manela 2017) vs this build ({label})", y=1.0)
    grid.figure.tight_layout(rect=(0, 0.06, 1, 1))
    return grid.figure
