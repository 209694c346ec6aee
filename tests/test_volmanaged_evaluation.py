"""Evaluation of the volatility-managed strategies: performance measures, Moreira–Muir regression with
Newey–West errors, costs and break-even, Sharpe-ratio difference tests."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from asset_pricing.volmanaged import evaluation, strategies


def strategy_table(n_months: int = 120, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Strategy returns in seed 000's columns and diagnostics with turnover, over monthly dates."""
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
    design = np.column_stack([np.ones_like(x), x])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    scores = design * (y - design @ coef)[:, None]
    meat = scores.T @ scores
    for lag in range(1, lags + 1):
        gamma = scores[lag:].T @ scores[:-lag]
        meat += (1 - lag / (lags + 1)) * (gamma + gamma.T)
    bread = np.linalg.inv(design.T @ design)
    standard_errors = np.sqrt(np.diag(bread @ meat @ bread))
    assert fit["alpha_t_nw"] == pytest.approx(coef[0] / standard_errors[0], rel=1e-10)
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
