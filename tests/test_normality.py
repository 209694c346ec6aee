"""Normality report helpers (SPEC §2): the test table and the figures, on any wide frame of returns."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from asset_pricing.reports import normality  # noqa: E402


@pytest.fixture()
def returns() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    index = pd.date_range("1990-01-31", periods=400, freq="ME")
    frame = pd.DataFrame({
        "normal": rng.standard_normal(400) * 0.04,
        "skewed": rng.exponential(0.03, 400) - 0.03,
        "fat_tails": rng.standard_t(3, 400) * 0.02,
    }, index=index)
    frame.iloc[:40, 1] = np.nan  # a series that starts late
    return frame


def test_moments_hand_computed_with_pearson_kurtosis():
    table = normality.normality_table(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}))
    # m2 = 1.25, m4 = 2.5625 → kurtosis m4/m2² = 1.64; symmetric → skewness 0
    assert table.loc["a", "kurtosis"] == pytest.approx(1.64, rel=1e-12)
    assert table.loc["a", "skewness"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["a", "mean"] == pytest.approx(2.5)


def test_table_equals_scipy_per_series_with_missing_values_omitted(returns):
    table = normality.normality_table(returns)
    skewed = returns["skewed"].dropna().to_numpy()
    assert table.loc["skewed", "observations"] == 360
    assert table.loc["skewed", "missing_share"] == pytest.approx(0.1)
    assert table.loc["skewed", "shapiro_p"] == pytest.approx(stats.shapiro(skewed).pvalue, rel=1e-10)
    assert table.loc["skewed", "jarque_bera_p"] == pytest.approx(stats.jarque_bera(skewed).pvalue, rel=1e-10)
    assert table.loc["skewed", "dagostino_p"] == pytest.approx(stats.normaltest(skewed).pvalue, rel=1e-10)
    assert table.loc["skewed", "kurtosis"] == pytest.approx(stats.kurtosis(skewed, fisher=False), rel=1e-12)


def test_tests_reject_non_normal_series_and_not_the_normal_one(returns):
    table = normality.normality_table(returns)
    p_values = table[["shapiro_p", "jarque_bera_p", "dagostino_p"]]
    assert (p_values.loc["normal"] > 0.05).all()
    assert (p_values.loc[["skewed", "fat_tails"]] < 1e-4).all().all()
    assert table.loc["skewed", "skewness"] > 1.0
    assert table.loc["fat_tails", "kurtosis"] > 4.0
    assert table.loc["normal", "kurtosis"] == pytest.approx(3.0, abs=0.5)


def test_too_short_series_gives_nan_tests_not_an_error():
    frame = pd.DataFrame({"short": [0.01, -0.02, 0.03, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan],
                          "inf": [np.inf, 0.01, 0.02, -0.01, 0.0, 0.01, 0.02, -0.03, 0.01, 0.00]})
    table = normality.normality_table(frame)
    assert np.isnan(table.loc["short", "dagostino_p"])  # needs 8 values
    assert table.loc["short", "observations"] == 3
    assert table.loc["inf", "observations"] == 9  # ±inf counts as missing


def test_distribution_grid_has_histogram_and_qq_panel_per_series(returns):
    fig = normality.plot_distribution_grid(returns, series_per_row=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2 * returns.shape[1]
    assert "normal QQ" in visible[1].get_title() and "distribution" in visible[0].get_title()
    plt.close(fig)


def test_distribution_grids_split_many_series_into_figures(returns):
    many = pd.concat([returns.add_suffix(f"_{i}") for i in range(4)], axis=1)  # 12 series
    figures = normality.plot_distribution_grids(many, series_per_figure=8)
    assert len(figures) == 2
    assert sum(ax.get_visible() for ax in figures[1].axes) == 2 * 4
    for fig in figures:
        plt.close(fig)


def test_line_and_bar_charts_show_every_series(returns):
    lines = normality.plot_return_lines(returns)
    assert len(lines.axes[0].get_lines()) == returns.shape[1] + 1  # plus the zero line
    bars = normality.plot_moment_bars(normality.normality_table(returns))
    assert len(bars.axes) == 4 and all(len(ax.patches) == returns.shape[1] for ax in bars.axes)
    plt.close(lines)
    plt.close(bars)
