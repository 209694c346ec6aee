"""Pricing tests (time series, GRS, two-pass cross-section): hand-computed panels, reductions to textbook
cases, and linearmodels as an independent implementation.

The hand panel (:func:`hand_panel`): three assets, three months, one factor f = (−0.1, 0, 0.1) and
residuals proportional to e = (1, −2, 1), which is orthogonal to [1, f] in sample, so the time-series
regressions return the planted intercepts a and betas b exactly. With b = (0, 1, 2), X = [1, b] and
(X'X)^{-1} = [[5, −3], [−3, 3]]/6, so each month λ_0,t = (5 y_1 + 2 y_2 − y_3)/6 and λ_1,t = (y_3 − y_1)/2.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.asset_pricing import LinearFactorModel

from asset_pricing.pricing.cross_section import (
    gmm_lambda_covariance,
    sandwich_variances,
    spectral_density,
    time_series_coefficients,
    two_pass,
)
from asset_pricing.pricing.panel import PricingInputError
from asset_pricing.pricing.time_series import grs_test, j_test, newey_west_lags, resolve_lags, time_series_regressions


def months(n: int, start: str = "2000-01-31") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="ME", name="date")


def hand_panel(c: tuple[float, float, float] = (0.0, 0.03, 0.0)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """rx_i,t = a_i + b_i f_t + c_i e_t with a = (0.01, 0.03, 0.03), b = (0, 1, 2)."""
    f = np.array([-0.1, 0.0, 0.1])
    e = np.array([1.0, -2.0, 1.0])
    a, b = (0.01, 0.03, 0.03), (0.0, 1.0, 2.0)
    rx = pd.DataFrame({f"p{i}": a[i] + b[i] * f + c[i] * e for i in range(3)}, index=months(3))
    return rx, pd.DataFrame({"market": f}, index=rx.index)


def random_panel(n_months: int = 120, n_assets: int = 8, n_factors: int = 2, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A factor-model panel with heteroskedastic, fat-tailed residuals (monthly fractions)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(0.005, 0.04, size=(n_months, n_factors))
    betas = rng.uniform(0.3, 1.5, size=(n_factors, n_assets))
    noise = rng.standard_t(5, size=(n_months, n_assets)) * 0.01 * (1 + np.abs(f[:, :1]) * 20)
    rx = 0.002 + f @ betas + noise
    index = months(n_months)
    factors = pd.DataFrame(f, index=index, columns=["capital", "market"][:n_factors] if n_factors <= 2 else None)
    return pd.DataFrame(rx, index=index, columns=[f"p{i}" for i in range(n_assets)]), factors


def with_zero_pricing_errors(rx: pd.DataFrame, factors: pd.DataFrame) -> pd.DataFrame:
    """Shift each asset's mean onto the fitted line of its first-pass betas (betas and residuals unchanged)."""
    result = two_pass(rx, factors)
    return rx - rx.mean() + result.predicted


# --- time series ------------------------------------------------------------------------------------
def test_newey_west_lag_rule_is_floor_of_4_times_t_over_100_to_the_2_9():
    assert [newey_west_lags(t) for t in (46, 100, 204, 275, 310, 1000)] == [3, 4, 4, 5, 5, 6]
    assert resolve_lags("auto", 310) == 5 and resolve_lags(" AUTO ", 46) == 3 and resolve_lags("7", 310) == 7


@pytest.mark.parametrize("setting", ["-1", "five", "310"])
def test_a_lag_setting_that_cannot_be_used_names_the_setting(setting):
    with pytest.raises(PricingInputError, match="PRICING_NW_LAGS"):
        resolve_lags(setting, 310)


@pytest.mark.parametrize("lags", [0, 1, 2])
def test_alpha_beta_and_newey_west_t_match_a_hand_computation(lags):
    rng = np.random.default_rng(3)
    f = rng.normal(0.0, 0.05, 12)
    y = 0.004 + 0.8 * f + rng.normal(0.0, 0.02, 12)
    rx = pd.DataFrame({"p": y}, index=months(12))
    table = time_series_regressions(rx, pd.DataFrame({"market": f}, index=rx.index), lags)
    # OLS by the normal equations; HAC by the Newey-West (1987) formula with Bartlett weights 1 - l/(L+1)
    x = np.column_stack([np.ones(12), f])
    xtx_inv = np.linalg.inv(x.T @ x)
    coef = xtx_inv @ x.T @ y
    u = x * (y - x @ coef)[:, None]
    meat = u.T @ u
    for lag in range(1, lags + 1):
        gamma = u[lag:].T @ u[:-lag]
        meat += (1 - lag / (lags + 1)) * (gamma + gamma.T)
    se_alpha = math.sqrt((xtx_inv @ meat @ xtx_inv)[0, 0])
    resid = y - x @ coef
    row = table.loc["p"]
    assert row["alpha"] == pytest.approx(coef[0], rel=1e-12)
    assert row["alpha_annual"] == pytest.approx(12 * coef[0], rel=1e-12)
    assert row["beta_market"] == pytest.approx(coef[1], rel=1e-12)
    assert row["alpha_se_nw"] == pytest.approx(se_alpha, rel=1e-10)
    assert row["alpha_t_nw"] == pytest.approx(coef[0] / se_alpha, rel=1e-10)
    assert row["r2"] == pytest.approx(1 - resid @ resid / ((y - y.mean()) @ (y - y.mean())), rel=1e-12)
    assert row["months"] == 12 and row["nw_lags"] == lags


def test_time_series_betas_recover_the_planted_betas_of_the_hand_panel():
    rx, factors = hand_panel(c=(0.02, 0.03, -0.01))
    table = time_series_regressions(rx, factors, 0)
    # three months and two coefficients leave one residual degree of freedom; e is orthogonal to [1, f]
    np.testing.assert_allclose(table["alpha"], [0.01, 0.03, 0.03], atol=1e-15)
    np.testing.assert_allclose(table["beta_market"], [0.0, 1.0, 2.0], atol=1e-13)


def test_grs_with_one_asset_is_the_squared_ols_t_of_its_alpha():
    # N = 1: F(1, T - 1 - K) = t^2 of alpha with the usual OLS variance s^2 (X'X)^-1, s^2 = SSR/(T - K - 1)
    rx, factors = random_panel(n_months=40, n_assets=1, n_factors=2)
    fit = sm.OLS(rx["p0"].to_numpy(), sm.add_constant(factors.to_numpy())).fit()
    grs = grs_test(rx, factors)
    assert grs["grs_f"] == pytest.approx(fit.tvalues[0] ** 2, rel=1e-10)
    assert grs["grs_p"] == pytest.approx(fit.pvalues[0], rel=1e-8)  # two-sided t p-value = F(1, .) upper tail
    assert grs["df_denominator"] == 40 - 1 - 2


def test_grs_matches_the_hotelling_form_for_many_assets():
    # Independent route: alpha-hat ~ N(alpha, c Sigma) with c = [(X'X)^-1]_00 and the unbiased residual
    # covariance S = E'E/(T - K - 1); Hotelling T^2 = alpha' (c S)^-1 alpha, F = (T - N - K)/(N (T - K - 1)) T^2.
    rx, factors = random_panel(n_months=30, n_assets=5, n_factors=2, seed=11)
    x = np.column_stack([np.ones(30), factors.to_numpy()])
    coef = np.linalg.solve(x.T @ x, x.T @ rx.to_numpy())
    resid = rx.to_numpy() - x @ coef
    c = np.linalg.inv(x.T @ x)[0, 0]
    hotelling = coef[0] @ np.linalg.solve(c * resid.T @ resid / (30 - 3), coef[0])
    expected = (30 - 5 - 2) / (5 * (30 - 2 - 1)) * hotelling
    grs = grs_test(rx, factors)
    assert grs["grs_f"] == pytest.approx(expected, rel=1e-10)
    assert grs["months"] == 30 and grs["assets"] == 5


def test_grs_is_zero_with_p_one_when_every_alpha_is_zero():
    # f has mean 0 and the residual e = (1, −2, 1, 0, 0) is orthogonal to [1, f]: α̂ = 0 exactly
    f = np.array([-0.1, 0.0, 0.1, 0.05, -0.05])
    rx = pd.DataFrame({"p0": 1.5 * f + 0.01 * np.array([1.0, -2.0, 1.0, 0.0, 0.0])}, index=months(5))
    grs = grs_test(rx, pd.DataFrame({"market": f}, index=rx.index))
    assert grs["grs_f"] == pytest.approx(0.0, abs=1e-20) and grs["grs_p"] == pytest.approx(1.0)


def test_grs_with_fewer_months_than_assets_plus_factors_plus_one_is_a_clear_error():
    rx, factors = random_panel(n_months=20, n_assets=19, n_factors=1)
    with pytest.raises(PricingInputError, match=r"GRS test undefined with 20 months for 19 assets and 1 factor.*at least .* = 21 months"):
        grs_test(rx, factors, "cjs54 × market")
    grs_test(rx.iloc[:, :18], factors)  # 20 = 18 + 1 + 1 months: defined


def test_j_test_with_one_asset_is_the_squared_robust_t_of_its_alpha():
    rx, factors = random_panel(n_months=60, n_assets=1, n_factors=1, seed=5)
    design = sm.add_constant(factors.to_numpy())
    robust = sm.OLS(rx["p0"].to_numpy(), design).fit(cov_type="HC0")
    assert j_test(rx, factors, 0)["j_stat"] == pytest.approx(robust.tvalues[0] ** 2, rel=1e-8)
    hac = sm.OLS(rx["p0"].to_numpy(), design).fit(cov_type="HAC", cov_kwds={"maxlags": 3})
    assert j_test(rx, factors, 3)["j_stat"] == pytest.approx(hac.tvalues[0] ** 2, rel=1e-8)


def test_time_series_on_a_panel_with_a_missing_month_names_the_column_and_month():
    rx, factors = random_panel(n_months=24, n_assets=3, n_factors=1)
    rx.iloc[5, 1] = np.nan
    with pytest.raises(PricingInputError, match=r"column 'p1' has no value for 2000-06.*balanced panel"):
        time_series_regressions(rx, factors)
    with pytest.raises(PricingInputError, match="'p1' has no value for 2000-06"):
        two_pass(rx, factors)


# --- cross-section: Fama-MacBeth, R², MAPE ----------------------------------------------------------
def test_fama_macbeth_lambdas_t_r2_and_mape_on_the_hand_panel():
    rx, factors = hand_panel()
    result = two_pass(rx, factors)
    # λ_1,t = (y_3 − y_1)/2 = 0.01 + f_t; λ_0,t = (5a_1 + 2a_2 − a_3 + 2 c_2 e_t)/6 = 0.08/6 + 0.01 e_t
    np.testing.assert_allclose(result.lambda_t["market"], 0.01 + factors["market"], atol=1e-15)
    np.testing.assert_allclose(result.lambda_t["intercept"], 0.08 / 6 + 0.01 * np.array([1, -2, 1]), atol=1e-15)
    assert result.lambdas["intercept"] == pytest.approx(0.08 / 6, rel=1e-12)
    assert result.lambdas["market"] == pytest.approx(0.01, rel=1e-12)
    # sd(λ_1,t) = sd(f) = 0.1 and sd(λ_0,t) = 0.01·sd(e) = 0.01·√3 (ddof 1), each over √T = √3
    assert result.se_fm["market"] == pytest.approx(0.1 / math.sqrt(3), rel=1e-12)
    assert result.se_fm["intercept"] == pytest.approx(0.01, rel=1e-12)
    assert result.t_fm["intercept"] == pytest.approx(4 / 3, rel=1e-12)
    assert result.t_fm["market"] == pytest.approx(math.sqrt(3) / 10, rel=1e-12)
    # E[rx] = a = (0.01, 0.03, 0.03); Xλ = 0.08/6 + 0.01 b; errors (−1/300, 2/300, −1/300)
    np.testing.assert_allclose(result.predicted, [0.08 / 6, 0.08 / 6 + 0.01, 0.08 / 6 + 0.02], rtol=1e-12)
    np.testing.assert_allclose(result.pricing_errors, [-1 / 300, 2 / 300, -1 / 300], atol=1e-15)
    assert result.mape == pytest.approx(4 / 900, rel=1e-12)
    assert result.r2 == pytest.approx(0.75, rel=1e-12)  # var(Xλ) = 2/3·1e-4, var(E[rx]) = 8/9·1e-4


def test_lambdas_equal_linearmodels_risk_premia_with_the_intercept_first():
    rx, factors = random_panel(n_months=120, n_assets=8, n_factors=2)
    result = two_pass(rx, factors)
    fit = LinearFactorModel(rx, factors, risk_free=True).fit()
    assert list(fit.risk_premia.index) == ["risk_free", "capital", "market"]  # linearmodels' zero-beta rate first
    np.testing.assert_allclose(result.lambdas.to_numpy(), fit.risk_premia.to_numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.betas.to_numpy(), fit.betas.to_numpy(), rtol=0, atol=1e-10)


def test_lambda_is_the_cross_sectional_regression_of_mean_excess_returns_on_betas():
    rx, factors = random_panel(n_months=60, n_assets=6, n_factors=1, seed=2)
    result = two_pass(rx, factors)
    x = np.column_stack([np.ones(6), result.betas.to_numpy()])
    expected, *_ = np.linalg.lstsq(x, rx.mean().to_numpy(), rcond=None)
    np.testing.assert_allclose(result.lambdas.to_numpy(), expected, rtol=1e-12)
    assert result.mape == pytest.approx(np.abs(rx.mean().to_numpy() - x @ expected).mean(), rel=1e-12)
    fitted = x @ expected
    assert result.r2 == pytest.approx(1 - ((rx.mean().to_numpy() - fitted) ** 2).sum() / ((rx.mean() - rx.mean().mean()) ** 2).sum(), rel=1e-10)


# --- cross-section: GMM standard errors -------------------------------------------------------------
def test_gmm_reduces_to_fama_macbeth_when_returns_have_no_residual():
    # ε ≡ 0: betas are known exactly, λ_1,t = const + f_t and the GMM variance of λ_1 is var(f)/T with the
    # population variance (ddof 0), i.e. FM's se times √((T−1)/T); the intercept has no sampling error.
    f = np.array([0.02, -0.01, 0.03, -0.04, 0.01, 0.0, 0.05, -0.02])
    rx = pd.DataFrame({f"p{i}": 0.001 * i + b * f for i, b in enumerate((0.5, 1.0, 1.5, 2.0))}, index=months(8))
    factors = pd.DataFrame({"market": f}, index=rx.index)
    result = two_pass(rx, factors)
    assert result.se_gmm["market"] == pytest.approx(f.std(ddof=0) / math.sqrt(8), rel=1e-9)
    assert result.se_gmm["market"] == pytest.approx(result.se_fm["market"] * math.sqrt(7 / 8), rel=1e-9)
    # The intercept's variance is zero in exact arithmetic; rounding (which differs between CPUs' SIMD and
    # BLAS kernels) leaves a few ulps of the market's variance, of either sign; below zero it is clipped to
    # zero (sandwich_variances), so the standard error is tiny or zero, never NaN. Tolerance: 1e-12 of the
    # market's variance.
    coefficients, _ = time_series_coefficients(rx, factors)
    covariance = gmm_lambda_covariance(rx, factors, coefficients, result.lambdas)
    market_variance = covariance.loc["market", "market"]
    assert covariance.loc["intercept", "intercept"] == pytest.approx(0.0, abs=1e-12 * market_variance)
    assert result.se_gmm["intercept"] == pytest.approx(0.0, abs=1e-6 * result.se_gmm["market"])


def _gmm_by_asset(rx: pd.DataFrame, factors: pd.DataFrame, lam: np.ndarray, lags: int) -> np.ndarray:
    """Cochrane (2005, §12.2) GMM written out again, parameters ordered by asset (a_i, β_i) and moments
    per asset [ε_it, ε_it f_t], with explicit loops: an independent layout of the same estimator."""
    r, f = rx.to_numpy(), factors.to_numpy()
    t_obs, n = r.shape
    k = f.shape[1]
    z = np.column_stack([np.ones(t_obs), f])
    coef = np.linalg.lstsq(z, r, rcond=None)[0]  # (k+1) × n
    beta = coef[1:].T
    x = np.column_stack([np.ones(n), beta])
    g = []
    for t in range(t_obs):
        row = []
        for i in range(n):
            eps = r[t, i] - z[t] @ coef[:, i]
            row.extend(eps * z[t])
        row.extend(r[t] - x @ lam)
        g.append(row)
    g = np.array(g)
    p_ts = n * (k + 1)
    d = np.zeros((p_ts + n, p_ts + k + 1))
    for i in range(n):
        block = slice(i * (k + 1), (i + 1) * (k + 1))
        d[block, block] = -(z.T @ z) / t_obs  # ∂E[ε_i z]/∂(a_i, β_i)
        d[p_ts + i, i * (k + 1) + 1:(i + 1) * (k + 1)] = -lam[1:]  # ∂(rx_i − λ0 − β_i'λ_f)/∂β_i
    d[p_ts:, p_ts:] = -x
    a = np.zeros((p_ts + k + 1, p_ts + n))
    a[:p_ts, :p_ts] = np.eye(p_ts)
    a[p_ts:, p_ts:] = x.T
    gc = g - g.mean(axis=0)
    s = gc.T @ gc / t_obs
    for lag in range(1, lags + 1):
        gamma = gc[lag:].T @ gc[:-lag] / t_obs
        s += (1 - lag / (lags + 1)) * (gamma + gamma.T)
    ad_inv = np.linalg.inv(a @ d)
    return (ad_inv @ a @ s @ a.T @ ad_inv.T / t_obs)[p_ts:, p_ts:]


@pytest.mark.parametrize("lags", [0, 2])
def test_gmm_covariance_matches_the_estimator_written_out_per_asset(lags):
    rx, factors = random_panel(n_months=36, n_assets=5, n_factors=2, seed=4)
    result = two_pass(rx, factors, gmm_lags=lags)
    expected = _gmm_by_asset(rx, factors, result.lambdas.to_numpy(), lags)
    np.testing.assert_allclose(result.se_gmm.to_numpy() ** 2, np.diag(expected), rtol=1e-10)
    coefficients, _ = time_series_coefficients(rx, factors)
    full = gmm_lambda_covariance(rx, factors, coefficients, result.lambdas, lags)
    np.testing.assert_allclose(full.to_numpy(), expected, rtol=1e-9, atol=1e-16)


@pytest.mark.parametrize("lags", [0, 3])
def test_gmm_t_equals_linearmodels_when_pricing_errors_are_zero(lags):
    # linearmodels also differentiates the weights X' with respect to β, a term proportional to the
    # pricing errors: with zero pricing errors both estimators of Var(λ) are the same number.
    rx, factors = random_panel(n_months=150, n_assets=10, n_factors=2, seed=9)
    rx = with_zero_pricing_errors(rx, factors)
    result = two_pass(rx, factors, gmm_lags=lags)
    assert result.mape == pytest.approx(0.0, abs=1e-15)
    model = LinearFactorModel(rx, factors, risk_free=True)
    fit = model.fit(debiased=False) if lags == 0 else model.fit(cov_type="kernel", kernel="bartlett", bandwidth=lags, debiased=False)
    np.testing.assert_allclose(result.t_gmm.to_numpy(), fit.risk_premia_tstats.to_numpy(), rtol=1e-8)


def test_gmm_differs_from_linearmodels_when_pricing_errors_are_not_zero():
    rx, factors = random_panel(n_months=150, n_assets=10, n_factors=2, seed=9)
    rx = rx + np.linspace(-0.004, 0.004, 10)  # mispricing, same betas
    result = two_pass(rx, factors)
    fit = LinearFactorModel(rx, factors, risk_free=True).fit(debiased=False)
    np.testing.assert_allclose(result.lambdas.to_numpy(), fit.risk_premia.to_numpy(), atol=1e-8)
    assert np.abs(result.t_gmm.to_numpy() / fit.risk_premia_tstats.to_numpy() - 1).max() > 1e-3


def test_spectral_density_demeans_and_weights_lags_by_bartlett():
    g = np.array([[1.0], [3.0], [2.0], [6.0]])  # mean 3: demeaned (−2, 0, −1, 3)
    assert spectral_density(g, 0)[0, 0] == pytest.approx((4 + 0 + 1 + 9) / 4)
    # Γ_1 = (0·−2 + −1·0 + 3·−1)/4 = −3/4, weight 1/2: S = 14/4 + 2·(1/2)·(−3/4)
    assert spectral_density(g, 1)[0, 0] == pytest.approx(14 / 4 - 3 / 4)


# --- cross-section: inputs it cannot use ------------------------------------------------------------
def test_cross_section_with_too_few_assets_or_a_constant_factor_is_a_clear_error():
    rx, factors = random_panel(n_months=24, n_assets=3, n_factors=2)
    with pytest.raises(PricingInputError, match="3 assets; the cross-section needs at least factors \\+ 2 = 4"):
        two_pass(rx, factors, name="hkm18 × capital_market")
    rx, factors = random_panel(n_months=24, n_assets=5, n_factors=1)
    with pytest.raises(PricingInputError, match="factor 'capital' is constant"):
        two_pass(rx, factors * 0 + 0.01)
    with pytest.raises(PricingInputError, match="PRICING_GMM_LAGS=24"):
        two_pass(rx, factors, gmm_lags=24)


def test_identical_betas_are_not_identified():
    f = np.array([0.02, -0.01, 0.03, -0.04, 0.01])
    rx = pd.DataFrame({f"p{i}": 0.001 * i + f for i in range(4)}, index=months(5))
    with pytest.raises(PricingInputError, match="collinear"):
        two_pass(rx, pd.DataFrame({"market": f}, index=rx.index))


def test_sandwich_variance_below_zero_by_rounding_is_zero_and_others_are_kept():
    covariance = np.array([[-1e-35, 2e-36], [2e-36, 4e-4]])
    assert sandwich_variances(covariance).tolist() == [0.0, 4e-4]
