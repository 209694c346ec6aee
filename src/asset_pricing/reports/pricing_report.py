"""Helpers of the pricing report (notebook 04): load the pricing tables, format them, plot, and say in words.

Inputs are the three tables of :func:`asset_pricing.pricing.stage.build_pricing` in ``_output/tables``
(monthly fractions). Shown units: prices of risk λ and MAPE in % per month; alphas in % per year
(12 × monthly). 95 % intervals are estimate ± 1.96 standard errors, the standard error being
estimate / t. Which series are real and which synthetic comes from each row's ``data_source``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from asset_pricing import io
from asset_pricing.options.stage_portfolios import option_portfolio_targets
from asset_pricing.paths import ProjectPaths, project_paths
from asset_pricing.pricing.stage import pricing_targets
from asset_pricing.pricing.tables import FACTOR_SETS, TEST_ASSETS
from asset_pricing.reports.header import options_header

Z95 = 1.959963984540054
TEST_LABELS = {
    "published_hkm18": "HKM's 18 published portfolios",
    "hkm18": "this build's 18 HKM portfolios",
    "cjs54": "this build's 54 CJS portfolios",
}
MODEL_LABELS = {"market": "market (CAPM)", "capital_market": "capital + market (HKM)"}
LAMBDA_LABELS = {"intercept": "intercept", "market": "market", "capital": "capital"}


@dataclass(frozen=True)
class PricingOutputs:
    """The pricing stage's three tables, loaded once (dates parsed)."""

    time_series: pd.DataFrame
    cross_section: pd.DataFrame
    fitted: pd.DataFrame


def load_pricing_outputs(paths: ProjectPaths | None = None) -> PricingOutputs:
    """Read the pricing tables (run ``doit`` first); errors name the missing file."""
    paths = paths or project_paths()
    time_series, cross, fitted = (io.read_table(path) for path in pricing_targets(paths))
    for column in ("first_month", "last_month"):
        cross[column] = pd.to_datetime(cross[column])
    return PricingOutputs(time_series, cross, fitted)


def is_synthetic(data_source: str) -> bool:
    """True when a row's ``data_source`` says its option quotes are synthetic."""
    return "synthetic" in str(data_source).lower()


def data_kind(data_source: str) -> str:
    """'synthetic option quotes' or 'real quotes'."""
    return "synthetic option quotes" if is_synthetic(data_source) else "real quotes"


def assets_label(test_assets: str, data_source: str) -> str:
    """e.g. "this build's 18 HKM portfolios (synthetic option quotes)"."""
    return f"{TEST_LABELS.get(test_assets, test_assets)} ({data_kind(data_source)})"


def _month(value: pd.Timestamp) -> str:
    return "–" if pd.isna(value) else f"{pd.Timestamp(value):%Y-%m}"


def report_heading(outputs: PricingOutputs, paths: ProjectPaths | None = None) -> str:
    """Markdown shown first: which test assets are real and which synthetic, their windows, the factors."""
    paths = paths or project_paths()
    header = options_header(paths)
    lines = ["**Test assets:**", ""]
    windows = outputs.cross_section.drop_duplicates("test_assets").set_index("test_assets")
    for test_assets in windows.index:
        row = windows.loc[test_assets]
        full = outputs.cross_section[(outputs.cross_section["test_assets"] == test_assets) & (outputs.cross_section["factors"] == "market")]
        first, last = (full.iloc[0][c] if len(full) else row[c] for c in ("first_month", "last_month"))
        lines.append(f"- **{assets_label(test_assets, row['data_source'])}**: {row['data_source']}; months {_month(first)} … {_month(last)}.")
    lines += [
        "",
        f"**This build's option data:** {header.source}, {header.window}. " + (
            "Its portfolios (`hkm18`, `cjs54`) are built from *synthetic option quotes* simulated on the real S&P 500 path, "
            "not from OptionMetrics: their results test the code, not the economics." if header.synthetic else ""),
        "**Factors:** `published_hkm18` uses the file's own one-month T-bill `rf`, market excess return `mkt_rf` and intermediary "
        "capital risk factor, exactly as He, Kelly and Manela (2017) ran it. `hkm18` and `cjs54` use this build's market "
        "(the equity source's index, compounded to calendar months, minus rf) and risk-free rate, and HKM's published "
        "capital factor (real) on the months it covers (to 2012-12).",
        "",
        month_cut_sentence(build_option_months(paths)),
    ]
    return "\n".join(lines)


def build_option_months(paths: ProjectPaths | None = None) -> str:
    """How this build's option months are cut (``attrs["option_months"]`` of its HKM file, the setting
    OPTION_MONTHS at build time); "" when the file does not say."""
    paths = paths or project_paths()
    file = option_portfolio_targets(paths)[2]
    if not file.is_file():
        return ""
    metadata = pq.read_schema(file).metadata or {}
    return str(json.loads(metadata.get(b"PANDAS_ATTRS", b"{}")).get("option_months", ""))


def month_cut_sentence(option_months: str) -> str:
    """What the month cut of the option series means for the alphas against a calendar-month market (docs/methods.md §4.5)."""
    published = ("**Months:** HKM's published option series compound their daily returns from each month's first to its last "
                 "trading day (the return into the first day belongs to no month; `docs/methods.md` §4.5), while `mkt_rf` and this "
                 "build's market are calendar months. The first trading day earns far more than an average day (the "
                 "S&P 500 gained 0.27 % on it on average in 1996–2012, 0.03 % on an average day), so the option series' CAPM alphas are lower by about β × that "
                 "day's mean than on a market cut the same way.")
    if option_months == "first_to_last":
        return published + " This build's series are cut the same way (`OPTION_MONTHS=first_to_last`), so their alphas compare with the published ones."
    if option_months == "calendar":
        return published + (" This build's series compound every calendar day (`OPTION_MONTHS=calendar`): their alphas against the "
                            "calendar-month market are not lowered by the cut and do not compare with the published ones.")
    return published


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------
def _index(cross: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([cross["test_assets"], cross["factors"].map(MODEL_LABELS)], names=["test assets", "model"])


def lambda_table(cross: pd.DataFrame) -> pd.DataFrame:
    """One row per (test set, model): data (real or synthetic), months, and each λ in % per month with its
    Fama–MacBeth and GMM t-statistics."""
    table = pd.DataFrame({"data": cross["data_source"].map(lambda s: "synthetic" if is_synthetic(s) else "real").to_numpy(),
                          "months": cross["months"].to_numpy()}, index=_index(cross))
    for key in LAMBDA_LABELS:
        table[f"λ {key} (%/mo)"] = 100 * cross[f"lambda_{key}"].to_numpy()
        table[f"t FM {key}"] = cross[f"t_fm_{key}"].to_numpy()
        table[f"t GMM {key}"] = cross[f"t_gmm_{key}"].to_numpy()
    return table


def fit_table(cross: pd.DataFrame) -> pd.DataFrame:
    """One row per (test set, model): window, assets, R², MAPE (% per month), the factors' own means
    (% per month), GRS F and p, J-test p, and the note."""
    return pd.DataFrame({
        "window": [f"{_month(a)} … {_month(b)}" for a, b in zip(cross["first_month"], cross["last_month"])],
        "assets": cross["assets"].to_numpy(),
        "R²": cross["r2"].to_numpy(),
        "MAPE (%/mo)": 100 * cross["mape"].to_numpy(),
        "mean market (%/mo)": 100 * cross["mean_market"].to_numpy(),
        "mean capital (%/mo)": 100 * cross["mean_capital"].to_numpy(),
        "GRS F": cross["grs_f"].to_numpy(),
        "GRS p": cross["grs_p"].to_numpy(),
        "J p": cross["j_p"].to_numpy(),
        "note": cross["note"].fillna("").to_numpy(),
    }, index=_index(cross))


def table_formats(table: pd.DataFrame) -> dict[str, str]:
    """Display formats of :func:`lambda_table` and :func:`fit_table`."""
    formats = {}
    for column in table.columns:
        if column.startswith(("λ", "t ", "GRS F", "R²", "mean")):
            formats[column] = "{:.2f}"
        elif column.startswith("MAPE"):
            formats[column] = "{:.3f}"
        elif column.endswith(" p"):
            formats[column] = "{:.2g}"
    return formats


def time_series_table(time_series: pd.DataFrame, test_assets: str) -> pd.DataFrame:
    """Per portfolio of one test set: α (% per year) with its Newey–West t, betas and R², one column
    group per model."""
    subset = time_series[time_series["test_assets"] == test_assets]
    pieces = {}
    for factors, group in subset.groupby("factors", sort=False):
        piece = pd.DataFrame({
            "α (%/yr)": 100 * group["alpha_annual"].to_numpy(),
            "t(α) NW": group["alpha_t_nw"].to_numpy(),
            "β market": group["beta_market"].to_numpy(),
            "β capital": group["beta_capital"].to_numpy(),
            "R²": group["r2"].to_numpy(),
        }, index=group["portfolio_id"].to_numpy())
        pieces[MODEL_LABELS.get(factors, factors)] = piece.dropna(axis=1, how="all")
    table = pd.concat(pieces, axis=1)
    table.index.name = "portfolio"
    return table


def time_series_heading(outputs: PricingOutputs, test_assets: str) -> str:
    """Markdown heading of one test set's time-series table, saying whether its quotes are real or synthetic."""
    rows = outputs.cross_section[outputs.cross_section["test_assets"] == test_assets]
    return f"### {assets_label(test_assets, rows['data_source'].iloc[0] if len(rows) else '')}"


def time_series_formats(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Display formats of :func:`time_series_table`: α and t with 2 decimals, betas and R² with 3."""
    return {column: "{:.2f}" if column[1] in ("α (%/yr)", "t(α) NW") else "{:.3f}" for column in table.columns}


def portfolio_labels(portfolio_ids: pd.Series | list[str]) -> pd.DataFrame:
    """Type, moneyness (K/S), maturity (days, CJS only) and a short label ("C90", "P102.5") per id
    (``hkm_C_900``, ``cjs_P_1025_60``)."""
    parts = pd.Series(list(portfolio_ids)).str.split("_", expand=True)
    moneyness = parts[2].astype(float) / 1000.0
    maturity = parts[3].astype(float) if parts.shape[1] > 3 else pd.Series(np.nan, index=parts.index)
    labels = parts[1] + (100 * moneyness).map(lambda m: f"{m:g}")
    return pd.DataFrame({"portfolio_id": list(portfolio_ids), "cp_flag": parts[1], "moneyness": moneyness,
                         "maturity": maturity, "label": labels})


# --------------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------------
def _panel_title(test_assets: str, factors: str, source: str) -> str:
    return f"{TEST_LABELS.get(test_assets, test_assets)}\n{MODEL_LABELS.get(factors, factors)} — {data_kind(source)}"


MAX_POINT_LABELS = 18  # a panel with more points (CJS: 54) labels only the OUTLIER_LABELS farthest from the line
OUTLIER_LABELS = 8


def _largest_errors(predicted: np.ndarray, realized: np.ndarray, count: int) -> np.ndarray:
    """Mask of the ``count`` points farthest from the 45° line (largest |realized − predicted|)."""
    order = np.argsort(-np.abs(realized - predicted), kind="stable")
    mask = np.zeros(len(predicted), dtype=bool)
    mask[order[:count]] = True
    return mask


def plot_realized_vs_predicted(fitted: pd.DataFrame, cross: pd.DataFrame) -> plt.Figure:
    """Mean excess return against the two-pass prediction Xλ (% per month), one panel per test set
    (rows) and model (columns), a 45° line, points labelled C/P and moneyness (CJS maturities by marker):
    every point of a panel of at most 18, else the 8 farthest from the line (more labels overlap)."""
    tests = [t for t in TEST_ASSETS if t in set(cross["test_assets"])]
    # matplotlib: every point carries its own label and every panel a fit note and a 45° line
    fig, axes = plt.subplots(len(tests), len(FACTOR_SETS), figsize=(12, 5.2 * len(tests)), squeeze=False)
    markers = {30.0: "o", 60.0: "s", 90.0: "^"}
    for row, test_assets in enumerate(tests):
        for col, factors in enumerate(FACTOR_SETS):
            ax = axes[row, col]
            summary = cross[(cross["test_assets"] == test_assets) & (cross["factors"] == factors)]
            points = fitted[(fitted["test_assets"] == test_assets) & (fitted["factors"] == factors)]
            source = summary["data_source"].iloc[0] if len(summary) else ""
            ax.set_title(_panel_title(test_assets, factors, source), fontsize=9)
            if points.empty:
                ax.text(0.5, 0.5, "not estimated:\n" + str(summary["note"].iloc[0] if len(summary) else ""), ha="center", va="center",
                        fontsize=7, wrap=True, transform=ax.transAxes)
                continue
            labels = portfolio_labels(points["portfolio_id"])
            x, y = 100 * points["predicted"].to_numpy(), 100 * points["mean_excess"].to_numpy()
            for cp_flag, color in (("C", "#2171b5"), ("P", "#cb181d")):
                for maturity, marker in (markers.items() if labels["maturity"].notna().any() else [(np.nan, "o")]):
                    mask = (labels["cp_flag"] == cp_flag).to_numpy()
                    if np.isfinite(maturity):
                        mask &= (labels["maturity"] == maturity).to_numpy()
                    name = f"{'calls' if cp_flag == 'C' else 'puts'}" + (f" {int(maturity)}d" if np.isfinite(maturity) else "")
                    ax.scatter(x[mask], y[mask], color=color, marker=marker, s=22, alpha=0.85, label=name)
            labelled = np.ones(len(x), dtype=bool) if len(x) <= MAX_POINT_LABELS else _largest_errors(x, y, OUTLIER_LABELS)
            for xi, yi, text in zip(x[labelled], y[labelled], labels["label"].to_numpy()[labelled]):
                ax.annotate(text, (xi, yi), fontsize=6, xytext=(2, 2), textcoords="offset points", color="#333333")
            low, high = min(x.min(), y.min()), max(x.max(), y.max())
            pad = 0.05 * (high - low or 1.0)
            ax.plot([low - pad, high + pad], [low - pad, high + pad], color="black", linewidth=0.8)
            s = summary.iloc[0]
            ax.text(0.02, 0.97, f"R² = {s['r2']:.2f}, MAPE = {100 * s['mape']:.2f}%/mo\n{int(s['months'])} months",
                    transform=ax.transAxes, va="top", fontsize=8)
            ax.set_xlabel("predicted Xλ (% per month)")
            ax.set_ylabel("mean excess return (% per month)")
            ax.grid(True, color="#eeeeee", linewidth=0.5)
            ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def plot_alphas_by_moneyness(time_series: pd.DataFrame, factors: str = "market") -> plt.Figure:
    """Time-series α (% per year) against moneyness with 95 % Newey–West intervals, calls and puts, one
    row per test set (CJS maturities side by side)."""
    tests = [t for t in TEST_ASSETS if t in set(time_series["test_assets"])]
    # matplotlib: error bars from the Newey–West standard errors (seaborn would compute its own intervals)
    fig, axes = plt.subplots(len(tests), 2, figsize=(12, 3.8 * len(tests)), squeeze=False, sharex=True)
    offsets = {30.0: -0.004, 60.0: 0.0, 90.0: 0.004}
    styles = {30.0: "o", 60.0: "s", 90.0: "^"}
    for row, test_assets in enumerate(tests):
        subset = time_series[(time_series["test_assets"] == test_assets) & (time_series["factors"] == factors)].reset_index(drop=True)
        labels = portfolio_labels(subset["portfolio_id"])
        source = subset["data_source"].iloc[0] if len(subset) else ""
        for col, (cp_flag, color) in enumerate((("C", "#2171b5"), ("P", "#cb181d"))):
            ax = axes[row, col]
            kind = "calls" if cp_flag == "C" else "puts"
            ax.set_title(f"{TEST_LABELS.get(test_assets, test_assets)}: {kind}, {MODEL_LABELS.get(factors, factors)} — {data_kind(source)}", fontsize=9)
            ax.axhline(0.0, color="black", linewidth=0.8)
            groups = labels["maturity"].dropna().unique() if labels["maturity"].notna().any() else [np.nan]
            for maturity in groups:
                mask = (labels["cp_flag"] == cp_flag).to_numpy()
                if np.isfinite(maturity):
                    mask &= (labels["maturity"] == maturity).to_numpy()
                alpha = 100 * subset.loc[mask, "alpha_annual"].to_numpy()
                half = Z95 * 100 * 12 * subset.loc[mask, "alpha_se_nw"].to_numpy()
                x = labels.loc[mask, "moneyness"].to_numpy() + (offsets.get(maturity, 0.0) if np.isfinite(maturity) else 0.0)
                ax.errorbar(x, alpha, yerr=half, fmt=styles.get(maturity, "o") + "-", color=color, markersize=4, capsize=2,
                            linewidth=0.9, alpha=0.9 if not np.isfinite(maturity) else 0.7,
                            label=f"{int(maturity)} days" if np.isfinite(maturity) else kind)
            ax.set_ylabel("α (% per year)")
            ax.grid(True, color="#eeeeee", linewidth=0.5)
            ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("moneyness K/S")
    fig.tight_layout()
    return fig


def plot_lambdas(cross: pd.DataFrame) -> plt.Figure:
    """Prices of risk (% per month) with 95 % intervals from Fama–MacBeth (thin) and GMM (thick) standard
    errors, one panel per λ, one line per test set and model."""
    rows = cross[cross["months"] > 0].reset_index(drop=True)
    names = [f"{TEST_LABELS.get(t, t).replace('this build', 'build')} · {MODEL_LABELS.get(f, f)}{' (synthetic)' if is_synthetic(s) else ' (real)'}"
             for t, f, s in zip(rows["test_assets"], rows["factors"], rows["data_source"])]
    # matplotlib: intervals from the estimated standard errors (seaborn would compute its own)
    fig, axes = plt.subplots(1, 3, figsize=(14, 0.55 * len(rows) + 2), sharey=True)
    positions = np.arange(len(rows))[::-1]
    for ax, key in zip(axes, LAMBDA_LABELS):
        lam = 100 * rows[f"lambda_{key}"].to_numpy(float)
        for t_column, width, color, label in ((f"t_fm_{key}", 1.6, "#969696", "Fama–MacBeth 95%"), (f"t_gmm_{key}", 3.0, "#08519c", "GMM 95%")):
            with np.errstate(divide="ignore", invalid="ignore"):
                half = Z95 * np.abs(lam / rows[t_column].to_numpy(float))
            ok = np.isfinite(lam) & np.isfinite(half)
            ax.hlines(positions[ok] + (0.15 if color == "#969696" else -0.1), (lam - half)[ok], (lam + half)[ok], color=color, linewidth=width, label=label)
        ax.plot(lam, positions, "o", color="black", markersize=4)
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"λ {LAMBDA_LABELS[key]} (% per month)", fontsize=10)
        ax.grid(True, axis="x", color="#eeeeee", linewidth=0.5)
    axes[0].set_yticks(positions, names, fontsize=8)
    axes[-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------------------------------
def _p(p: float) -> str:
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}" if p < 0.01 else f"p = {p:.2f}"


def _t_words(t_fm: float, t_gmm: float) -> str:
    if not np.isfinite(t_gmm):
        return "no GMM standard error"
    fm = "significant" if abs(t_fm) >= Z95 else "not significant"
    gmm = "significant" if abs(t_gmm) >= Z95 else "not significant"
    if fm == gmm:
        return f"{fm} at 5 % by both Fama–MacBeth (t = {t_fm:.2f}) and GMM (t = {t_gmm:.2f})"
    return f"{fm} by Fama–MacBeth (t = {t_fm:.2f}) but {gmm} once the estimated betas are accounted for (GMM t = {t_gmm:.2f})"


def describe_cross_section(row: pd.Series) -> str:
    """One paragraph (Markdown) on one cross-sectional test: λ, their t-statistics, R² and MAPE."""
    label = assets_label(row["test_assets"], row["data_source"])
    model = MODEL_LABELS.get(row["factors"], row["factors"])
    if not row["months"] or not np.isfinite(row["lambda_intercept"]):
        return f"**{label}, {model}:** not estimated — {row['note']}"
    parts = []
    for key in FACTOR_SETS[row["factors"]]:
        mean = row.get(f"mean_{key}", np.nan)
        own = f" (the factor's own mean: {100 * mean:.2f} %)" if np.isfinite(mean) else ""
        parts.append(f"the {key} factor's price of risk is {100 * row[f'lambda_{key}']:.2f} % per month per unit of beta{own}, "
                     f"{_t_words(row[f't_fm_{key}'], row[f't_gmm_{key}'])}")
    intercept = (f"The intercept is {100 * row['lambda_intercept']:.2f} % per month "
                 f"({_t_words(row['t_fm_intercept'], row['t_gmm_intercept'])}).")
    fit = (f"The betas account for {100 * row['r2']:.0f} % of the cross-sectional variance of the {int(row['assets'])} mean excess returns "
           f"(R²), with a mean absolute pricing error of {100 * row['mape']:.2f} % per month.")
    window = f"{int(row['months'])} months, {_month(row['first_month'])} … {_month(row['last_month'])}"
    missing = row.get("months_missing_return", 0)
    if missing and np.isfinite(missing):
        window += f"; {int(missing)} months with a missing return in some portfolio dropped"
    synthetic = (" These portfolios are built from synthetic option quotes: the numbers check the machinery, they say nothing about "
                 "real option prices." if is_synthetic(row["data_source"]) else "")
    return f"**{label}, {model}** ({window}): " + "; ".join(parts) + ". " + intercept + " " + fit + synthetic


def describe_grs(row: pd.Series) -> str:
    """One paragraph on the GRS and J-tests of α = 0 of one test."""
    label = assets_label(row["test_assets"], row["data_source"])
    model = MODEL_LABELS.get(row["factors"], row["factors"])
    if not np.isfinite(row["grs_f"]):
        return f"**{label}, {model}:** GRS not computed — {row['note'] or 'the test did not run'}."
    verdict = "rejects" if row["grs_p"] < 0.05 else "does not reject"
    text = (f"**{label}, {model}:** GRS F = {row['grs_f']:.2f} ({_p(row['grs_p'])}) {verdict} at 5 % that all "
            f"{int(row['assets'])} alphas are zero; the heteroskedasticity- and autocorrelation-robust J-test gives {_p(row['j_p'])}.")
    if row["factors"] == "capital_market":
        text += (" The capital factor is not a traded return, so α = 0 here also requires its price of risk to equal its "
                 "mean; the cross-sectional test above is the one HKM use for it.")
    return text


def describe_alphas(time_series: pd.DataFrame, test_assets: str, factors: str = "market") -> str:
    """One paragraph on the time-series alphas of one test set: range over moneyness for calls and puts,
    and how many are significant (|Newey–West t| ≥ 1.96)."""
    subset = time_series[(time_series["test_assets"] == test_assets) & (time_series["factors"] == factors)].reset_index(drop=True)
    if subset.empty:
        return f"**{TEST_LABELS.get(test_assets, test_assets)}:** no time-series regressions ({MODEL_LABELS.get(factors, factors)})."
    labels = portfolio_labels(subset["portfolio_id"])
    pieces = []
    for cp_flag, kind in (("C", "calls"), ("P", "puts")):
        mask = (labels["cp_flag"] == cp_flag).to_numpy()
        alpha = 100 * subset.loc[mask, "alpha_annual"]
        low, high = alpha.idxmin(), alpha.idxmax()
        significant = int((subset.loc[mask, "alpha_t_nw"].abs() >= Z95).sum())
        pieces.append(f"{kind} from {alpha[low]:.1f} % ({labels.loc[low, 'label']}) to {alpha[high]:.1f} % a year "
                      f"({labels.loc[high, 'label']}), {significant} of {int(mask.sum())} significant at 5 %")
    source = subset["data_source"].iloc[0]
    return (f"**{assets_label(test_assets, source)}, {MODEL_LABELS.get(factors, factors)} alphas** over {int(subset['months'].iloc[0])} months: "
            + "; ".join(pieces) + ".")
