"""Report figures and tables: a panel that is one value becomes a sentence, heatmaps are annotated,
the published comparison fits the page, and every exported report scrolls a wide table in its own box."""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from asset_pricing.options.portfolios import portfolio_targets  # noqa: E402
from asset_pricing.reports import normality as normality_figures  # noqa: E402
from asset_pricing.reports import option_report as report  # noqa: E402
from asset_pricing.reports.build import REPORT_CSS, ReportError, with_report_css  # noqa: E402
from asset_pricing.reports.panels import uniform_display, uniform_sentence  # noqa: E402
from asset_pricing.stats.normality import normality_table  # noqa: E402

SHARES = {"fill_share": "filled weight share", "no_quote_share": "share of days without quotes", "missing_share": "share of NaN daily returns"}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def diagnostics(**columns) -> pd.DataFrame:
    """54 CJS portfolios (targets of the construction) with the given metric columns."""
    table = portfolio_targets().set_index("portfolio_id")[["cp_flag", "target_moneyness", "target_maturity"]]
    for name, values in columns.items():
        table[name] = values
    return table


# --- one value → one sentence --------------------------------------------------------------------------
def test_a_panel_is_one_value_when_every_value_prints_the_same():
    assert uniform_display([0.0, 0.0, 0.0004], ".1%") == "0.0%"  # 0.04 % prints as 0.0 %
    assert uniform_display([0.0, 0.0, 0.0006], ".1%") is None  # 0.06 % prints as 0.1 %
    assert uniform_display([np.nan, np.nan], ".2f") == "no value"
    assert uniform_display([1.0, np.nan], ".2f") is None
    assert uniform_display([], ".2f") is None


def test_sentence_for_a_zero_panel_and_for_another_value():
    assert uniform_sentence("share of days without quotes", "0.0%", "No day without quotes on this build.") == "No day without quotes on this build."
    assert uniform_sentence("kurtosis", "3.00", "never used") == "Kurtosis: 3.00 for every series on this build."
    assert uniform_sentence("share of days without quotes", "0.0%") == "Share of days without quotes: 0.0% for every series on this build."


def test_all_zero_diagnostics_are_sentences_and_only_varying_ones_are_heatmaps():
    fill = np.linspace(0.01, 0.2, 54)
    table = diagnostics(fill_share=fill, no_quote_share=0.0, missing_share=0.0)
    sentences = report.uniform_diagnostics(table, SHARES, fmt=".1%")
    assert list(sentences) == ["no_quote_share", "missing_share"]
    assert sentences["no_quote_share"].startswith("No day without quotes on this build")
    assert "No day without quotes" in report.uniform_diagnostics_text(table, SHARES, fmt=".1%")
    fig = report.plot_diagnostic_heatmaps(table, SHARES, fmt=".1%", cmap="magma")
    heatmaps = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in heatmaps] == ["calls: filled weight share", "puts: filled weight share"]
    calls = heatmaps[0]
    labels = [text.get_text() for text in calls.texts]
    assert len(labels) == 27  # 9 moneyness × 3 maturity targets, each annotated
    first_call = table[table["cp_flag"] == "C"].sort_values(["target_moneyness", "target_maturity"], ascending=[False, True]).iloc[0]
    assert labels[0] == f"{first_call['fill_share']:.1%}"  # top-left cell: highest moneyness, 30 days
    assert [tick.get_text() for tick in calls.get_yticklabels()][0] == "1.100"


def test_no_heatmap_figure_when_no_metric_varies():
    table = diagnostics(fill_share=0.0, no_quote_share=0.0, missing_share=0.0)
    assert report.plot_diagnostic_heatmaps(table, SHARES, fmt=".1%") is None
    text = report.uniform_diagnostics_text(table, SHARES, fmt=".1%")
    assert text.count("\n\n") == 2 and text.startswith("No held contract had to be filled")


def test_varying_metric_with_its_own_format_is_drawn():
    table = diagnostics(moneyness_gap=np.linspace(-0.006, 0.002, 54), options_per_day=12.0)
    fig = report.plot_diagnostic_heatmaps(table, {"options_per_day": "options per day", "moneyness_gap": "gap"},
                                          fmt={"options_per_day": ".1f", "moneyness_gap": ".2%"})
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["calls: gap", "puts: gap"]
    assert report.uniform_diagnostics_text(table, {"options_per_day": "options per day"}, ".1f") == "Options per day: 12.0 for every portfolio on this build."


def test_moment_bars_drop_a_statistic_that_is_one_value_and_say_so():
    rng = np.random.default_rng(0)
    returns = pd.DataFrame(rng.standard_normal((120, 3)) * 0.04, columns=["a", "b", "c"])
    fig = normality_figures.plot_moment_bars(normality_table(returns))
    assert [ax.get_title() for ax in fig.axes] == ["mean return", "skewness (normal = 0)", "kurtosis, Pearson (normal = 3)"]
    assert all(len(ax.patches) == 3 for ax in fig.axes)
    assert fig._suptitle.get_text() == "Share of missing values: 0.0% for every series on this build."
    returns.iloc[:6, 0] = np.nan
    assert len(normality_figures.plot_moment_bars(normality_table(returns)).axes) == 4


# --- seaborn figures ----------------------------------------------------------------------------------------
def test_histogram_has_a_kde_and_the_normal_density_and_a_constant_series_draws_without_warnings():
    values = pd.Series(np.random.default_rng(1).standard_normal(300) * 0.05, name="x")
    fig, ax = plt.subplots()
    normality_figures.plot_histogram(values, ax)
    assert [line.get_label() for line in ax.lines] == ["KDE", "normal"]
    assert sum(patch.get_height() * patch.get_width() for patch in ax.patches) == pytest.approx(1.0, rel=1e-9)  # a density
    fig, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        normality_figures.plot_histogram(pd.Series([0.01] * 20, name="flat"), ax)
    assert len(ax.lines) == 0 and ax.get_title() == "flat: distribution"


def test_return_facets_draw_one_panel_per_series_on_one_scale():
    returns = pd.DataFrame(np.random.default_rng(2).standard_normal((24, 4)) * 0.03, columns=list("abcd"),
                           index=pd.date_range("2000-01-31", periods=24, freq="ME"))
    fig = normality_figures.plot_return_facets(returns, col_wrap=2)
    assert [ax.get_title() for ax in fig.axes] == list("abcd")
    assert len({ax.get_ylim() for ax in fig.axes}) == 1


def comparison(correlation: float = np.nan) -> pd.DataFrame:
    rows = []
    for cp, moneyness in (("C", 0.9), ("P", 1.1)):
        rows.append({"portfolio_id": f"hkm_{cp}_{int(moneyness * 1000)}", "cp_flag": cp, "moneyness": moneyness, "first_month": "1996-01",
                     "last_month": "2012-01", "months": 193, "mean_published": 0.002, "mean_build": 0.005, "sd_published": 0.044,
                     "sd_build": 0.046, "sd_ratio": 0.046 / 0.044, "beta_published": 0.84, "beta_build": 0.92, "resid_sd_published": 0.0172,
                     "resid_sd_build": 0.0174, "r2_published": 0.85, "r2_build": 0.86, "skew_published": -0.17,
                     "skew_build": -0.51, "correlation": correlation, "tracking_error": correlation / 100, "data_source": "x"})
    return pd.DataFrame(rows)


def test_published_comparison_table_groups_columns_and_shows_the_replication_check_only_with_real_quotes():
    synthetic = report.published_comparison_table(comparison())
    assert synthetic.columns.nlevels == 2 and synthetic.index.tolist() == ["hkm_C_900", "hkm_P_1100"]
    assert list(synthetic.columns.get_level_values(0).unique()) == [
        "", "mean, monthly", "sd, monthly", "beta on mkt_rf", "residual sd on mkt_rf", "R² on mkt_rf", "skewness of R − rf"]
    assert synthetic.loc["hkm_C_900", ("residual sd on mkt_rf", "this build")] == 0.0174
    assert synthetic.loc["hkm_C_900", ("sd, monthly", "this build")] == 0.046
    assert synthetic.loc["hkm_P_1100", ("beta on mkt_rf", "published")] == 0.84
    real = report.published_comparison_table(comparison(correlation=0.9))
    assert real[("replication check", "correlation")].tolist() == [0.9, 0.9]
    formats = report.published_comparison_formats(real)
    assert formats[("mean, monthly", "published")] == "{:.2%}" and formats[("sd, monthly", "ratio")] == "{:.2f}"
    assert formats[("replication check", "tracking error")] == "{:.2%}" and formats[("", "K/S")] == "{:.3f}"
    assert formats[("residual sd on mkt_rf", "published")] == "{:.2%}" and formats[("R² on mkt_rf", "this build")] == "{:.2f}"


def month_cut(build_first_day: float) -> pd.DataFrame:
    rows = []
    for series, first_day in (("published", 0.02), ("build", build_first_day)):
        for pid, ftl in (("hkm_C_900", 0.93), ("hkm_P_1100", 1.05)):
            rows.append({"series": series, "portfolio_id": pid, "cp_flag": pid[4], "moneyness": 0.9 if pid[4] == "C" else 1.1,
                         "first_month": "1996-01", "last_month": "2012-01", "months": 193, "first_to_last": ftl,
                         "first_to_last_t": 80.0, "first_day": first_day if pid[4] == "C" else -first_day,
                         "first_day_t": 10 * first_day, "resid_sd": 0.008, "resid_sd_mkt_rf": 0.017, "data_source": "x"})
    return pd.DataFrame(rows)


def test_month_cut_view_and_text_put_published_and_build_side_by_side():
    shown = report.month_cut_view(month_cut(0.9))
    assert shown.index.tolist() == ["hkm_C_900", "hkm_P_1100"]
    assert shown.loc["hkm_C_900", ("loading on the first day", "published")] == 0.02
    assert shown.loc["hkm_P_1100", ("loading on the first day", "this build")] == -0.9
    assert shown.loc["hkm_P_1100", ("loading on first → last day", "this build")] == 1.05
    text = report.month_cut_text(month_cut(0.01))
    assert "1996-01 … 2012-01 (193 months)" in text and "0.93–1.05 on the first-to-last return" in text
    assert "−0.02" not in text and "-0.02 to +0.02 on the first day (|t| ≤ 0.2)" in text and "OPTION_MONTHS" in text
    assert "too few months" in report.month_cut_text(month_cut(0.01).assign(months=2))


def test_published_comparison_figure_has_a_facet_per_statistic():
    fig = report.plot_published_comparison(comparison(), "synthetic option quotes")
    assert [ax.get_title() for ax in fig.axes] == ["mean monthly return (%)", "monthly sd (%)", "beta on mkt_rf", "skewness of R − rf"]
    build_mean = [line for line in fig.axes[0].lines if len(line.get_xdata()) == 1 and line.get_ydata()[0] == pytest.approx(0.5)]
    assert build_mean  # this build's mean of 0.5 % a month, for calls


# --- exported HTML -----------------------------------------------------------------------------------------
def test_exported_report_scrolls_wide_tables_in_their_own_box():
    body = "<html><head><style>x{}</style></head><body><table></table></body></html>"
    styled = with_report_css(body)
    assert styled.index(REPORT_CSS) > styled.index("<style>x{}</style>") and styled.endswith("</head><body><table></table></body></html>")
    assert "overflow-x: auto" in REPORT_CSS and ".jp-OutputArea-output" in REPORT_CSS
    with pytest.raises(ReportError, match="no </head>"):
        with_report_css("<body></body>")


def test_realized_against_predicted_labels_only_the_points_farthest_from_the_line_when_many():
    from asset_pricing.reports.pricing_report import OUTLIER_LABELS, _largest_errors

    predicted = np.linspace(-1.0, 1.0, 54)
    realized = predicted.copy()
    realized[[3, 40]] += [0.5, -0.8]
    mask = _largest_errors(predicted, realized, OUTLIER_LABELS)
    assert mask.sum() == 8 and mask[3] and mask[40]
    assert _largest_errors(predicted, realized, 1).nonzero()[0].tolist() == [40]


def test_published_comparison_text_counts_the_series_within_each_tolerance():
    def four(correlation=np.nan):
        both = comparison(correlation)
        mirrored = both.assign(cp_flag=both["cp_flag"].map({"C": "P", "P": "C"}), mean_build=[0.001, 0.0035], r2_build=[0.70, 0.90])
        mirrored["portfolio_id"] = "hkm_" + mirrored["cp_flag"] + "_" + (mirrored["moneyness"] * 1000).round().astype(int).astype(str)
        return pd.concat([both, mirrored], ignore_index=True)

    facts = report.published_comparison_facts(four())
    assert (facts["months"], facts["series"], facts["levels"]) == (193, 4, 2)
    assert facts["means_within_025"] == 2 and facts["resid_sd_within_25"] == 4 and facts["r2_within_008"] == 3  # 0.70 vs 0.85 is out
    assert facts["mean_gap_range"] == pytest.approx((-0.001, 0.003))
    assert facts["resid_sd_ratio_range"] == pytest.approx((0.0174 / 0.0172,) * 2)
    text = report.published_comparison_text(facts, "synthetic option quotes")
    assert "differ from the real ones by -0.10% to +0.30% a month (2 of 4 series within ±0.25%)" in text
    assert "(4 of 4 within ±25%)" in text and "(3 of 4 within ±0.08)" in text and "no replication check" in text
    real = report.published_comparison_text(report.published_comparison_facts(four(correlation=0.9)), "OptionMetrics")
    assert "replication check" in real and "differ from the real ones" not in real
