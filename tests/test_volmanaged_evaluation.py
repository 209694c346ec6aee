"""Evaluation of the volatility-managed strategies: performance measures, Moreira–Muir regression with
Newey–West errors, costs and break-even, Sharpe-ratio difference tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asset_pricing.io import DataValidationError
from asset_pricing.volmanaged import evaluation, strategies


def strategy_table(n_months: int = 120, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Strategy returns in the stage's columns and diagnostics with turnover, over monthly dates."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2000-01-31", periods=n_months, freq="ME", name="date")
    rf = pd.Series(0.002, index=months)
    ew_excess = 0.006 + 0.04 * rng.standard_normal(n_months)
    common_excess = 0.002 + 0.8 * ew_excess + 0.02 * rng.standard_normal(n_months)
    onefactor_excess = 0.001 + 1.1 * ew_excess + 0.01 * rng.standard_normal(n_months)
    table = pd.DataFrame({
        "rf": rf, "ew": ew_excess + rf, "ew_excess": ew_excess,
        "common_excess": common_excess, "common_total": common_excess + rf,
        "onefactor_excess": onefactor_excess, "onefactor_total": onefactor_excess + rf,
    })
    diagnostics = pd.DataFrame({
        "n_assets": 10,
        **{f"exposure_{name}": 1.0 + 0.5 * rng.random(n_months) for name in strategies.STRATEGIES},
        **{f"turnover_{name}": 0.3 * rng.random(n_months) for name in strategies.STRATEGIES},
    }, index=months)
    return table, diagnostics


def test_max_drawdown_counts_a_first_month_loss():
    total = pd.DataFrame({"a": [-0.10, 0.05, 0.02]})
    assert evaluation.max_drawdown(total)["a"] == pytest.approx(-0.10)
    assert evaluation.max_drawdown(pd.DataFrame({"a": [0.10, -0.20, 0.05]}))["a"] == pytest.approx(-0.20)


def test_cagr_volatility_and_sharpe_hand_computed():
    total = pd.DataFrame({"a": [0.01] * 12 + [0.02] * 12})
    assert evaluation.cagr(total)["a"] == pytest.approx(math.sqrt(1.01**12 * 1.02**12) - 1.0, rel=1e-12)
    excess = pd.DataFrame({"a": [0.01, 0.03, -0.01, 0.01]})
    std = np.std([0.01, 0.03, -0.01, 0.01], ddof=1)
    assert evaluation.annualized_volatility(excess)["a"] == pytest.approx(std * math.sqrt(12), rel=1e-12)
    assert evaluation.sharpe_ratio(excess)["a"] == pytest.approx(12 * 0.01 / (math.sqrt(12) * std), rel=1e-12)


def test_regression_recovers_exact_alpha_and_beta():
    x = pd.Series(np.random.default_rng(0).standard_normal(60) * 0.04)
    fit = evaluation.moreira_muir_regression(0.003 + 0.7 * x, x)
    assert fit["alpha_ann"] == pytest.approx(0.036, abs=1e-12)
    assert fit["beta"] == pytest.approx(0.7, abs=1e-12)
    assert fit["r2"] == pytest.approx(1.0)


def test_newey_west_t_statistic_matches_hand_formula():
    rng = np.random.default_rng(5)
    x = rng.standard_normal(80) * 0.04
    y = 0.002 + 0.6 * x + 0.02 * rng.standard_normal(80)
    lags = 3
    fit = evaluation.moreira_muir_regression(pd.Series(y), pd.Series(x), lags=lags)
    assert fit["alpha_t_nw"] == pytest.approx(newey_west_t_statistics(y, x, lags)[0], rel=1e-10)
    design = np.column_stack([np.ones_like(x), x])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    residual_sd = np.sqrt(np.sum((y - design @ coef) ** 2) / (80 - 2))
    assert fit["appraisal_ratio"] == pytest.approx(coef[0] / residual_sd * math.sqrt(12), rel=1e-10)


def test_net_alpha_is_zero_at_the_break_even_cost():
    table, diagnostics = strategy_table()
    train_end = pd.Timestamp("2004-12-31")
    costs = evaluation.cost_table(table, diagnostics, [0.0, 10.0], train_end)
    row = costs.loc[("common", "full", 0.0)]
    break_even = row["break_even_bps"]
    assert break_even > 0
    at_break_even = evaluation.cost_table(table, diagnostics, [break_even], train_end)
    assert at_break_even.loc[("common", "full", break_even), "alpha_net_ann"] == pytest.approx(0.0, abs=1e-12)
    # one-way cost c lowers the net return by c · turnover every month
    gross, net = costs.loc[("common", "full", 0.0)], costs.loc[("common", "full", 10.0)]
    assert gross["alpha_net_ann"] > net["alpha_net_ann"]


def test_break_even_cost_is_nan_without_positive_alpha():
    assert math.isnan(evaluation.break_even_cost_bps(-0.001, 0.2))
    assert evaluation.break_even_cost_bps(0.001, 0.2) == pytest.approx(50.0)


def test_sharpe_difference_of_identical_series_is_zero_with_p_one():
    x = pd.Series(np.random.default_rng(1).standard_normal(100) * 0.04 + 0.005)
    assert evaluation.sharpe_difference_bootstrap(x, x)["sharpe_diff_p_bootstrap"] == 1.0
    memmel = evaluation.sharpe_difference_memmel(x * 2.0, x)
    assert memmel["sharpe_diff_ann"] == pytest.approx(0.0, abs=1e-12)


def test_sharpe_difference_tests_detect_a_large_difference_and_are_symmetric():
    rng = np.random.default_rng(2)
    noise = rng.standard_normal(240) * 0.04
    better = pd.Series(0.03 + noise)
    worse = pd.Series(0.0 + noise + 0.02 * rng.standard_normal(240))
    memmel = evaluation.sharpe_difference_memmel(better, worse)
    swapped = evaluation.sharpe_difference_memmel(worse, better)
    assert memmel["sharpe_diff_p_memmel"] < 0.01
    assert swapped["sharpe_diff_z_memmel"] == pytest.approx(-memmel["sharpe_diff_z_memmel"])
    assert evaluation.sharpe_difference_bootstrap(better, worse)["sharpe_diff_p_bootstrap"] < 0.01


def test_performance_table_uses_same_months_for_every_strategy_and_window():
    table, diagnostics = strategy_table()
    table.loc[table.index[5], "common_excess"] = np.nan
    performance = evaluation.performance_table(table, diagnostics, pd.Timestamp("2004-12-31"))
    assert set(performance.index.get_level_values("window")) == {"train", "evaluation", "full"}
    months = performance["months"].unstack("window")
    assert (months["train"] == 59).all() and (months["evaluation"] == 60).all() and (months["full"] == 119).all()
    ew_full = performance.loc[("ew", "full")]
    sample = table.drop(table.index[5])
    assert ew_full["sharpe"] == pytest.approx(evaluation.sharpe_ratio(sample[["ew_excess"]]).iloc[0], rel=1e-12)


def test_turnover_counts_every_change_of_position():
    positions = pd.DataFrame({"A": [0.5, 0.6, 0.0], "B": [0.5, 0.4, 1.0]})
    np.testing.assert_allclose(strategies.turnover(positions).to_numpy(), [1.0, 0.2, 1.2])


# --- hand cases for every number the evaluation tables report -------------------------------------------
def newey_west_t_statistics(y: np.ndarray, x: np.ndarray, lags: int) -> np.ndarray:
    """t-statistics of (α, β) from the Newey–West (1987) sandwich with Bartlett weights 1 − j/(L+1)."""
    design = np.column_stack([np.ones_like(x), x])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    scores = design * (y - design @ coef)[:, None]
    meat = scores.T @ scores
    for lag in range(1, lags + 1):
        gamma = scores[lag:].T @ scores[:-lag]
        meat += (1 - lag / (lags + 1)) * (gamma + gamma.T)
    bread = np.linalg.inv(design.T @ design)
    return coef / np.sqrt(np.diag(bread @ meat @ bread))


@pytest.mark.parametrize("n_obs, lags", [(12, 2), (100, 4), (155, 4), (272, 4), (273, 5), (346, 5)])
def test_newey_west_default_lags_follow_the_4_n_over_100_rule(n_obs, lags):
    # ⌊4 (n/100)^{2/9}⌋ (Newey and West, 1994): it reaches 5 where n/100 ≥ 1.25^{9/2} = 2.7296, i.e. at n = 273;
    # n = 155 (the embedded evaluation window): 4 · 1.55^{2/9} = 4.41 → 4; n = 346 (full window): 4 · 3.46^{2/9} = 5.27 → 5.
    assert evaluation.newey_west_lags(n_obs) == lags


def test_regression_without_lags_uses_the_default_rule_in_its_t_statistics():
    rng = np.random.default_rng(8)
    x = rng.standard_normal(155) * 0.04
    y = 0.003 + 0.8 * x + 0.02 * rng.standard_normal(155) + 0.01 * np.r_[0.0, x[:-1]]  # serially correlated errors
    fit = evaluation.moreira_muir_regression(pd.Series(y), pd.Series(x))
    assert fit["nw_lags"] == 4 and fit["months"] == 155
    t_alpha, t_beta = newey_west_t_statistics(y, x, lags=4)
    assert fit["alpha_t_nw"] == pytest.approx(t_alpha, rel=1e-10)
    assert fit["beta_t_nw"] == pytest.approx(t_beta, rel=1e-10)
    assert fit["alpha_t_nw"] != pytest.approx(newey_west_t_statistics(y, x, lags=2)[0], rel=1e-6)
    design = np.column_stack([np.ones_like(x), x])
    residuals = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    assert fit["residual_vol_ann"] == pytest.approx(math.sqrt(residuals @ residuals / (155 - 2) * 12), rel=1e-12)
    assert fit["r2"] == pytest.approx(1.0 - residuals @ residuals / np.sum((y - y.mean()) ** 2), rel=1e-12)
    one_lag = evaluation.moreira_muir_regression(pd.Series(y), pd.Series(x), lags=1)  # an explicit choice wins
    assert one_lag["nw_lags"] == 1
    assert one_lag["alpha_t_nw"] == pytest.approx(newey_west_t_statistics(y, x, lags=1)[0], rel=1e-10)


def test_memmel_z_matches_the_published_formula_on_a_six_month_case():
    import statistics

    a = [0.05, 0.02, 0.04, -0.01, 0.03, 0.06]
    b = [0.03, 0.01, 0.02, -0.02, 0.01, 0.03]
    sr_a, sr_b = statistics.mean(a) / statistics.stdev(a), statistics.mean(b) / statistics.stdev(b)
    rho = statistics.correlation(a, b)
    # Memmel (2003): Var(SR_a − SR_b) = [2(1 − ρ) + ½(SR_a² + SR_b² − 2 SR_a SR_b ρ²)] / n; here SR_a = 1.2752,
    # SR_b = 0.7161, ρ = 0.9805, so Var = 0.03844 and z = 2.8515 (with +2 SR_a SR_b ρ² it would be 0.97).
    variance = (2 * (1 - rho) + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2)) / 6
    z_stat = (sr_a - sr_b) / math.sqrt(variance)
    assert z_stat == pytest.approx(2.8515, abs=1e-4)
    memmel = evaluation.sharpe_difference_memmel(pd.Series(a), pd.Series(b))
    assert memmel["sharpe_diff_z_memmel"] == pytest.approx(z_stat, rel=1e-12)
    assert memmel["sharpe_diff_p_memmel"] == pytest.approx(math.erfc(z_stat / math.sqrt(2)), rel=1e-12)  # 2(1 − Φ(|z|))
    assert memmel["sharpe_diff_ann"] == pytest.approx((sr_a - sr_b) * math.sqrt(12), rel=1e-12)


@pytest.mark.parametrize("n_obs, block", [(28, 4), (155, 6), (346, 8)])
def test_bootstrap_block_length_is_the_cube_root_of_n_rounded_up(n_obs, block):
    # ⌈n^{1/3}⌉: 28^{1/3} = 3.04, 155^{1/3} = 5.37, 346^{1/3} = 7.02 (7³ = 343 < 346).
    rng = np.random.default_rng(n_obs)
    result = evaluation.sharpe_difference_bootstrap(pd.Series(rng.standard_normal(n_obs)), pd.Series(rng.standard_normal(n_obs)), n_draws=50)
    assert result["bootstrap_block"] == block


def test_bootstrap_with_one_block_of_the_whole_series_only_rotates_it():
    # A circular block as long as the series is a rotation: every draw has the sample's Sharpe ratios, so no
    # draw is as far from the estimate as the estimate is from 0 and p = 1 / (1 + B).
    a = pd.Series([0.05, 0.02, 0.04, -0.01, 0.03, 0.06, 0.01])
    b = pd.Series([0.03, 0.01, 0.02, -0.02, 0.01, 0.03, 0.00])
    result = evaluation.sharpe_difference_bootstrap(a, b, n_draws=99, block_length=7)
    assert result["sharpe_diff_p_bootstrap"] == pytest.approx(1 / 100, abs=1e-15)
    assert result["bootstrap_block"] == 7


def three_month_case() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three months of strategy returns and diagnostics small enough to evaluate by hand."""
    months = pd.date_range("2020-01-31", periods=3, freq="ME", name="date")
    rf = pd.Series([0.01, 0.00, 0.02], index=months)
    ew = pd.Series([0.05, -0.10, 0.04], index=months)
    common_excess = pd.Series([0.02, -0.03, 0.01], index=months)
    onefactor_excess = pd.Series([0.06, -0.05, 0.00], index=months)
    table = pd.DataFrame({
        "rf": rf, "ew": ew, "ew_excess": ew - rf,
        "common_excess": common_excess, "common_total": common_excess + rf,
        "onefactor_excess": onefactor_excess, "onefactor_total": onefactor_excess + rf,
    })
    diagnostics = pd.DataFrame({
        "n_assets": 2,
        "exposure_ew": [1.0, 1.0, 1.0], "exposure_common": [0.5, 0.25, 1.5], "exposure_onefactor": [1.2, 0.8, 1.0],
        "turnover_ew": [1.0, 0.0, 0.0], "turnover_common": [0.5, 0.25, 1.25], "turnover_onefactor": [1.2, 0.4, 0.2],
    }, index=months)
    return table, diagnostics


def test_performance_table_every_column_on_a_three_month_hand_case():
    import statistics

    table, diagnostics = three_month_case()
    performance = evaluation.performance_table(table, diagnostics, pd.Timestamp("2019-12-31"))
    # TRAIN_END before the first month: no training window, evaluation = full = the three months
    assert sorted(set(performance.index.get_level_values("window"))) == ["evaluation", "full"]
    hand = {
        # strategy: (total returns, excess returns, max drawdown, avg / max exposure, mean turnover)
        "ew": ([0.05, -0.10, 0.04], [0.04, -0.10, 0.02], 0.945 / 1.05 - 1, 1.0, 1.0, 1 / 3),
        "common": ([0.03, -0.03, 0.03], [0.02, -0.03, 0.01], -0.03, 0.75, 1.5, 2 / 3),
        "onefactor": ([0.07, -0.05, 0.02], [0.06, -0.05, 0.00], -0.05, 1.0, 1.2, 0.6),
    }
    for window in ("evaluation", "full"):
        for strategy, (total, excess, drawdown, avg_exposure, max_exposure, turnover) in hand.items():
            row = performance.loc[(strategy, window)]
            growth = (1 + total[0]) * (1 + total[1]) * (1 + total[2])
            assert row["months"] == 3
            assert row["first_month"] == pd.Timestamp("2020-01-31") and row["last_month"] == pd.Timestamp("2020-03-31")
            assert row["cagr"] == pytest.approx(growth ** (12 / 3) - 1, rel=1e-12), strategy
            assert row["ann_mean_excess"] == pytest.approx(12 * sum(excess) / 3, rel=1e-12), strategy
            assert row["ann_vol"] == pytest.approx(statistics.stdev(total) * math.sqrt(12), rel=1e-12), strategy
            assert row["sharpe"] == pytest.approx(12 * statistics.mean(excess) / (math.sqrt(12) * statistics.stdev(excess)), rel=1e-12)
            assert row["max_drawdown"] == pytest.approx(drawdown, rel=1e-12), strategy
            assert row["avg_exposure"] == pytest.approx(avg_exposure, rel=1e-12), strategy
            assert row["max_exposure"] == pytest.approx(max_exposure, rel=1e-12), strategy
            assert row["mean_turnover"] == pytest.approx(turnover, rel=1e-12), strategy
    # ew: 12 · mean(0.04, −0.10, 0.02) = −0.16 per year
    assert performance.loc[("ew", "full"), "ann_mean_excess"] == pytest.approx(-0.16, rel=1e-12)


def bootstrap_p_by_loops(a: np.ndarray, b: np.ndarray, n_draws: int, block: int, seed: int) -> float:
    """Circular block bootstrap p-value (Politis and Romano, 1992) written as plain loops over draws and
    blocks: block j of draw d covers months s, s+1, …, s+block−1 (mod n); the first n months of the
    concatenated blocks form the draw. The block starts come from the seeded generator in one
    (draws × blocks) call, as the reproducible p-value of the report requires."""
    data = np.column_stack([a, b])
    n_obs = len(data)
    starts = np.random.default_rng(seed).integers(0, n_obs, size=(n_draws, math.ceil(n_obs / block), 1))

    def difference(sample: np.ndarray) -> float:
        sharpe = [np.mean(sample[:, k]) / np.std(sample[:, k], ddof=1) for k in (0, 1)]
        return sharpe[0] - sharpe[1]

    observed = difference(data)
    exceed = 0
    for draw in range(n_draws):
        rows = [(start + offset) % n_obs for start in starts[draw, :, 0] for offset in range(block)][:n_obs]
        exceed += abs(difference(data[rows]) - observed) >= abs(observed)
    return (1 + exceed) / (1 + n_draws)


@pytest.mark.parametrize("n_obs, n_draws, block", [(60, 200, 4), (12, 400, 3)])  # ⌈60^{1/3}⌉ = ⌈3.91⌉, ⌈12^{1/3}⌉ = ⌈2.29⌉
def test_bootstrap_p_value_equals_a_loop_over_draws_and_blocks(n_obs, n_draws, block):
    rng = np.random.default_rng(21)
    a = 0.01 + 0.04 * rng.standard_normal(n_obs)
    b = 0.004 + 0.04 * rng.standard_normal(n_obs) + 0.5 * a
    result = evaluation.sharpe_difference_bootstrap(pd.Series(a), pd.Series(b), n_draws=n_draws)
    assert result["bootstrap_block"] == block
    expected = bootstrap_p_by_loops(a, b, n_draws=n_draws, block=block, seed=evaluation.BOOTSTRAP_SEED)
    assert 0.1 < expected < 0.9  # a p-value that moves with every draw
    assert result["sharpe_diff_p_bootstrap"] == pytest.approx(expected, abs=1e-15)
    swapped = evaluation.sharpe_difference_bootstrap(pd.Series(b), pd.Series(a), n_draws=n_draws)
    assert swapped["sharpe_diff_p_bootstrap"] == pytest.approx(expected, abs=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # three months: some bootstrap draws repeat one month (std 0)
def test_regression_and_cost_tables_keep_a_three_month_window_and_name_their_index():
    table, diagnostics = three_month_case()
    train_end = pd.Timestamp("2019-12-31")  # no training month; evaluation = full = 3 months, the fewest allowed
    regressions = evaluation.regression_table(table, train_end)
    assert list(regressions.index.names) == ["strategy", "window"]
    assert set(regressions.index) == {(name, window) for name in ("common", "onefactor") for window in ("evaluation", "full")}
    assert regressions["months"].dtype == np.int64 and regressions["nw_lags"].dtype == np.int64
    assert regressions["bootstrap_block"].dtype == np.int64 and (regressions["bootstrap_block"] == 2).all()  # ⌈3^{1/3}⌉
    costs = evaluation.cost_table(table, diagnostics, [0.0, 50.0], train_end)
    assert list(costs.index.names) == ["strategy", "window", "cost_bps"]
    assert costs["months"].dtype == np.int64 and len(costs) == 2 * 2 * 2
    shorter = evaluation.regression_table(pd.concat([table, table.set_axis(table.index + pd.offsets.MonthEnd(3))]), pd.Timestamp("2020-02-29"))
    assert set(shorter.index.get_level_values("window")) == {"evaluation", "full"}  # training has 2 months: left out


def test_cost_table_columns_hand_computed():
    table, diagnostics = strategy_table()
    costs = evaluation.cost_table(table, diagnostics, [0.0, 20.0], pd.Timestamp("2004-12-31"))
    row = costs.loc[("onefactor", "full", 20.0)]
    managed, unmanaged = table["onefactor_excess"].to_numpy(), table["ew_excess"].to_numpy()
    turnover = diagnostics["turnover_onefactor"].to_numpy()
    net = managed - 20.0 * 1e-4 * turnover  # 20 bps per unit traded
    assert row["months"] == 120
    assert row["mean_turnover"] == pytest.approx(turnover.mean(), rel=1e-12)
    assert row["sharpe_net"] == pytest.approx(math.sqrt(12) * net.mean() / net.std(ddof=1), rel=1e-12)
    design = np.column_stack([np.ones(120), unmanaged])
    alpha_net = np.linalg.lstsq(design, net, rcond=None)[0][0]
    assert row["alpha_net_ann"] == pytest.approx(12 * alpha_net, rel=1e-10)
    # ⌊4 (120/100)^{2/9}⌋ = ⌊4.16⌋ = 4 lags
    assert row["alpha_net_t_nw"] == pytest.approx(newey_west_t_statistics(net, unmanaged, lags=4)[0], rel=1e-10)
    alpha, turnover_alpha = (np.linalg.lstsq(design, y, rcond=None)[0][0] for y in (managed, turnover))
    assert row["break_even_bps"] == pytest.approx(alpha / turnover_alpha * 1e4, rel=1e-10)


def test_net_excess_returns_subtract_cost_times_turnover_of_the_same_month():
    months = pd.date_range("2020-01-31", periods=3, freq="ME")
    excess = pd.Series([0.01, 0.02], index=months[1:])
    turnover = pd.Series([0.5, 1.0, 2.0], index=months)
    net = evaluation.net_excess_returns(excess, turnover, cost_bps=10.0)
    pd.testing.assert_series_equal(net, pd.Series([0.01 - 0.001 * 1.0, 0.02 - 0.001 * 2.0], index=months[1:]), rtol=1e-12)


def test_break_even_cost_needs_a_positive_alpha_and_a_positive_turnover_intercept():
    assert math.isnan(evaluation.break_even_cost_bps(0.0, 0.2))
    assert math.isnan(evaluation.break_even_cost_bps(0.001, 0.0))
    assert math.isnan(evaluation.break_even_cost_bps(0.001, -0.1))


def test_headline_table_defaults_to_the_evaluation_window_in_strategy_order():
    table, diagnostics = strategy_table()
    train_end = pd.Timestamp("2004-12-31")
    performance = evaluation.performance_table(table, diagnostics, train_end)
    regressions = evaluation.regression_table(table, train_end)
    headline = evaluation.headline_table(performance.iloc[::-1], regressions)
    assert list(headline.index) == ["ew", "common", "onefactor"]
    assert headline.loc["onefactor", "sharpe"] == performance.loc[("onefactor", "evaluation"), "sharpe"]
    assert headline.loc["common", "alpha_ann"] == regressions.loc[("common", "evaluation"), "alpha_ann"]
    assert np.isnan(headline.loc["ew", "alpha_ann"])


def test_a_study_with_fewer_than_three_common_months_names_the_settings_to_change():
    table, diagnostics = strategy_table(n_months=2)
    with pytest.raises(DataValidationError, match=r"only 2 month\(s\).*START_DATE/END_DATE"):
        evaluation.regression_table(table, pd.Timestamp("2000-01-31"))
    with pytest.raises(DataValidationError, match="START_DATE/END_DATE"):
        evaluation.cost_table(table, diagnostics, [0.0, 10.0], pd.Timestamp("2000-01-31"))
    # three months in the full window are enough: the train and evaluation windows are skipped, not an error
    three, _ = strategy_table(n_months=3)
    regressions = evaluation.regression_table(three, pd.Timestamp("2000-01-31"))
    assert list(regressions.index) == [("common", "full"), ("onefactor", "full")]
