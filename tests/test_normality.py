"""Normality (docs/methods.md §8): the test table (asset_pricing.stats) and its figures (asset_pricing.reports), on any wide frame of returns."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from asset_pricing.reports import normality as normality_figures  # noqa: E402
from asset_pricing.stats import normality  # noqa: E402


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
    assert table.index.name == "series"
    one_row = normality.normality_table(pd.DataFrame({"a": [0.01], "b": [np.nan]}))
    assert one_row["missing_share"].tolist() == [0.0, 1.0]


def test_distribution_grid_has_histogram_and_qq_panel_per_series(returns):
    fig = normality_figures.plot_distribution_grid(returns, series_per_row=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2 * returns.shape[1]
    assert "normal QQ" in visible[1].get_title() and "distribution" in visible[0].get_title()
    plt.close(fig)


def test_distribution_grids_split_many_series_into_figures(returns):
    many = pd.concat([returns.add_suffix(f"_{i}") for i in range(4)], axis=1)  # 12 series
    figures = normality_figures.plot_distribution_grids(many, series_per_figure=8)
    assert len(figures) == 2
    assert sum(ax.get_visible() for ax in figures[1].axes) == 2 * 4
    for fig in figures:
        plt.close(fig)


def test_line_and_bar_charts_show_every_series(returns):
    lines = normality_figures.plot_return_lines(returns)
    assert len(lines.axes[0].get_lines()) == returns.shape[1] + 1  # plus the zero line
    bars = normality_figures.plot_moment_bars(normality.normality_table(returns))
    assert len(bars.axes) == 4 and all(len(ax.patches) == returns.shape[1] for ax in bars.axes)
    plt.close(lines)
    plt.close(bars)


# --- independent derivations (no scipy.stats call that the code makes) -------------------------------------
def dagostino_pearson_k2(values: np.ndarray) -> float:
    """K² = Z(√b1)² + Z(b2)² of D'Agostino, Belanger and D'Agostino (1990, eqs. for the skewness test of
    D'Agostino 1970 and the kurtosis test of Anscombe and Glynn 1983), written out from the paper."""
    n = len(values)
    deviations = values - values.mean()
    m2, m3, m4 = (np.mean(deviations**k) for k in (2, 3, 4))
    sqrt_b1, b2 = m3 / m2**1.5, m4 / m2**2
    y = sqrt_b1 * np.sqrt((n + 1) * (n + 3) / (6.0 * (n - 2)))
    beta2 = 3.0 * (n**2 + 27 * n - 70) * (n + 1) * (n + 3) / ((n - 2) * (n + 5) * (n + 7) * (n + 9))
    w2 = -1.0 + np.sqrt(2.0 * (beta2 - 1.0))
    delta, alpha = 1.0 / np.sqrt(np.log(np.sqrt(w2))), np.sqrt(2.0 / (w2 - 1.0))
    z_skew = delta * np.log(y / alpha + np.sqrt((y / alpha) ** 2 + 1.0))
    mean_b2 = 3.0 * (n - 1) / (n + 1)
    var_b2 = 24.0 * n * (n - 2) * (n - 3) / ((n + 1) ** 2 * (n + 3) * (n + 5))
    x = (b2 - mean_b2) / np.sqrt(var_b2)
    sqrt_beta1 = 6.0 * (n**2 - 5 * n + 2) / ((n + 7) * (n + 9)) * np.sqrt(6.0 * (n + 3) * (n + 5) / (n * (n - 2) * (n - 3)))
    a = 6.0 + 8.0 / sqrt_beta1 * (2.0 / sqrt_beta1 + np.sqrt(1.0 + 4.0 / sqrt_beta1**2))
    z_kurt = ((1 - 2 / (9 * a)) - np.cbrt((1 - 2 / a) / (1 + x * np.sqrt(2 / (a - 4))))) / np.sqrt(2 / (9 * a))
    return float(z_skew**2 + z_kurt**2)


def test_moments_jarque_bera_and_dagostino_from_their_formulas(returns):
    table = normality.normality_table(returns)
    for name in returns.columns:
        values = returns[name].dropna().to_numpy()
        n = len(values)
        deviations = values - values.mean()
        m2, m3, m4 = (np.mean(deviations**k) for k in (2, 3, 4))
        skewness, kurtosis = m3 / m2**1.5, m4 / m2**2  # biased moments, Pearson's kurtosis
        row = table.loc[name]
        assert row["observations"] == n and row["missing_share"] == pytest.approx(1 - n / 400, abs=1e-15)
        assert row["mean"] == pytest.approx(values.sum() / n, rel=1e-12)
        assert row["std"] == pytest.approx(np.sqrt(np.sum(deviations**2) / (n - 1)), rel=1e-12)
        assert row["skewness"] == pytest.approx(skewness, rel=1e-10)
        assert row["kurtosis"] == pytest.approx(kurtosis, rel=1e-10)
        # Jarque and Bera (1980): JB = n/6 (S² + (K − 3)²/4) ~ χ²(2), whose survival function is exp(−x/2)
        jarque_bera = n / 6 * (skewness**2 + (kurtosis - 3) ** 2 / 4)
        assert row["jarque_bera_p"] == pytest.approx(np.exp(-jarque_bera / 2), rel=1e-8, abs=1e-300)
        assert row["dagostino_p"] == pytest.approx(np.exp(-dagostino_pearson_k2(values) / 2), rel=1e-8, abs=1e-300)


def test_p_values_do_not_depend_on_location_scale_or_order(returns):
    table = normality.normality_table(returns)
    moved = normality.normality_table(returns.sample(frac=1.0, random_state=3) * 2.5 + 0.01)
    p_values = ["shapiro_p", "jarque_bera_p", "dagostino_p", "skewness", "kurtosis"]
    pd.testing.assert_frame_equal(moved[p_values], table[p_values], rtol=1e-6)
    flipped = normality.normality_table(-returns)
    np.testing.assert_allclose(flipped["skewness"], -table["skewness"], rtol=1e-10)
    np.testing.assert_allclose(flipped[["shapiro_p", "jarque_bera_p", "dagostino_p"]], table[["shapiro_p", "jarque_bera_p", "dagostino_p"]], rtol=1e-6)


def test_normal_scores_are_not_rejected_by_any_test():
    # Blom's normal scores Φ⁻¹((i − 3/8)/(n + 1/4)) are as normal as a sample of 60 can be: W ≈ 1, S = 0, K ≈ 3.
    from statistics import NormalDist

    scores = [NormalDist().inv_cdf((i - 0.375) / (60 + 0.25)) for i in range(1, 61)]
    row = normality.normality_table(pd.DataFrame({"scores": scores})).loc["scores"]
    assert row["skewness"] == pytest.approx(0.0, abs=1e-12)
    assert row["shapiro_p"] > 0.99
    assert (row[["jarque_bera_p", "dagostino_p"]] > 0.8).all()  # a finite sample of scores has K a little below 3
