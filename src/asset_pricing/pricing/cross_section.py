"""Two-pass cross-sectional tests, the procedure of He, Kelly and Manela (2017, §4), on a balanced panel.

1. Full-sample time-series regressions give each asset's betas: rx_{i,t} = a_i + β_i' f_t + ε_{i,t}.
2. Each month, the cross-section of excess returns is regressed on X = [1, β] (N × (K+1)):
   λ_t = (X'X)^{-1} X' rx_t; the estimate is λ = (1/T) Σ_t λ_t = (X'X)^{-1} X' E_T[rx] (Fama and MacBeth
   1973). The first element is the intercept (a zero-beta excess return, zero under the model), the others
   the prices of risk of the factors, monthly fractions per unit of beta.
3. Standard errors: Fama–MacBeth, sd(λ_t)/√T (ddof = 1), which treats β as known; and GMM, which
   accounts for the estimated betas (Cochrane 2005, §12.2).
4. Fit across assets: R² = var(Xλ)/var(E_T[rx]); MAPE = mean_i |E_T[rx_i] − X_i λ| (monthly fraction).

``linearmodels.asset_pricing.LinearFactorModel(rx, f, risk_free=True)`` estimates the same λ (its
``risk_premia``, intercept first, named ``risk_free``). Its standard errors differ from the GMM below by a
term proportional to the pricing errors: it differentiates the weights X' of the cross-sectional
moment with respect to β, while here (as in Cochrane 2005, §12.2) X' is the fixed a-matrix of the GMM
estimate. The two coincide when the pricing errors are zero (checked in the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from asset_pricing.pricing.panel import PricingInputError
from asset_pricing.pricing.time_series import require_balanced

INTERCEPT = "intercept"


@dataclass(frozen=True)
class TwoPassResult:
    """Estimates of one two-pass test (module docstring); λ and standard errors indexed by
    ``intercept`` then the factors; per-asset values indexed by portfolio id."""

    lambdas: pd.Series
    se_fm: pd.Series
    se_gmm: pd.Series
    lambda_t: pd.DataFrame
    betas: pd.DataFrame
    mean_excess: pd.Series
    predicted: pd.Series
    r2: float
    mape: float
    gmm_lags: int

    @property
    def t_fm(self) -> pd.Series:
        return self.lambdas / self.se_fm

    @property
    def t_gmm(self) -> pd.Series:
        return self.lambdas / self.se_gmm

    @property
    def pricing_errors(self) -> pd.Series:
        """E_T[rx_i] − X_i λ, monthly fractions."""
        return self.mean_excess - self.predicted

    @property
    def months(self) -> int:
        return len(self.lambda_t)


def time_series_coefficients(excess: pd.DataFrame, factors: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """OLS of every asset on [1, f_t] at once: coefficients ((K+1) × N; rows ``intercept`` and the factors)
    and residuals ε (T × N)."""
    design = np.column_stack([np.ones(len(factors)), factors.to_numpy(float)])
    coefficients, *_ = np.linalg.lstsq(design, excess.to_numpy(float), rcond=None)
    residuals = excess.to_numpy(float) - design @ coefficients
    return (
        pd.DataFrame(coefficients, index=[INTERCEPT, *factors.columns], columns=excess.columns),
        pd.DataFrame(residuals, index=excess.index, columns=excess.columns),
    )


def monthly_lambdas(excess: pd.DataFrame, betas: pd.DataFrame) -> pd.DataFrame:
    """λ_t = (X'X)^{-1} X' rx_t for every month at once, X = [1, β] (N × (K+1)); T × (K+1)."""
    design = np.column_stack([np.ones(len(betas)), betas.to_numpy(float)])
    lambda_t = np.linalg.solve(design.T @ design, design.T @ excess.to_numpy(float).T).T
    return pd.DataFrame(lambda_t, index=excess.index, columns=[INTERCEPT, *betas.columns])


def fama_macbeth_se(lambda_t: pd.DataFrame) -> pd.Series:
    """Fama–MacBeth (1973) standard errors sd(λ_t)/√T, ddof = 1."""
    return lambda_t.std(ddof=1) / np.sqrt(len(lambda_t))


def spectral_density(moments: np.ndarray, lags: int) -> np.ndarray:
    """S = Γ_0 + Σ_{l=1}^{L} (1 − l/(L+1)) (Γ_l + Γ_l') of the demeaned moments, Γ_l = (1/T) Σ_t g_t g_{t−l}'
    (Newey and West 1987; L = 0: no lags)."""
    g = moments - moments.mean(axis=0)
    months = len(g)
    density = g.T @ g / months
    for lag in range(1, lags + 1):
        gamma = g[lag:].T @ g[:-lag] / months
        density += (1.0 - lag / (lags + 1.0)) * (gamma + gamma.T)
    return density


def gmm_lambda_covariance(
    excess: pd.DataFrame, factors: pd.DataFrame, coefficients: pd.DataFrame, lambdas: pd.Series, lags: int = 0
) -> pd.DataFrame:
    """Covariance of λ that accounts for the estimated betas: GMM of Cochrane (2005, §12.2).

    Parameters θ = (a, β, λ); moments, with z_t = [1, f_t'] and X = [1, β]:

        g_t = [ z_t ⊗ ε_t ;  rx_t − X λ ],   ε_t = rx_t − a − β f_t   (N(K+1) + N moments),

    set to zero by a·E_T[g] = 0 with a = diag(I_{N(K+1)}, X') (OLS time series; OLS cross-section).
    Var(θ̂) = (1/T) (a d)^{-1} a S a' (a d)^{-1}', d = ∂E_T[g]/∂θ':
    d = [[−E_T[z z'] ⊗ I_N, 0], [−[0, λ_f'] ⊗ I_N, −X]], S = :func:`spectral_density` of g (``lags``).
    Returns the (K+1) × (K+1) block of λ.
    """
    months, assets = excess.shape
    z = np.column_stack([np.ones(months), factors.to_numpy(float)])
    n_regressors = z.shape[1]
    residuals = excess.to_numpy(float) - z @ coefficients.to_numpy(float)
    design = np.column_stack([np.ones(assets), coefficients.to_numpy(float)[1:].T])
    lam = lambdas.to_numpy(float)
    pricing = excess.to_numpy(float) - design @ lam
    # moments ordered by regressor, then asset: [ε_t, f_1t ε_t, …, f_Kt ε_t, rx_t − Xλ]
    moments = np.column_stack([(z[:, :, None] * residuals[:, None, :]).reshape(months, -1), pricing])
    n_ts = assets * n_regressors
    d = np.zeros((n_ts + assets, n_ts + n_regressors))
    d[:n_ts, :n_ts] = -np.kron(z.T @ z / months, np.eye(assets))
    d[n_ts:, :n_ts] = -np.kron(np.r_[0.0, lam[1:]][None, :], np.eye(assets))
    d[n_ts:, n_ts:] = -design
    a = np.zeros((n_ts + n_regressors, n_ts + assets))
    a[:n_ts, :n_ts] = np.eye(n_ts)
    a[n_ts:, n_ts:] = design.T
    ad_inverse = np.linalg.inv(a @ d)
    covariance = ad_inverse @ a @ spectral_density(moments, lags) @ a.T @ ad_inverse.T / months
    return pd.DataFrame(covariance[n_ts:, n_ts:], index=lambdas.index, columns=lambdas.index)


def sandwich_variances(covariance: np.ndarray) -> np.ndarray:
    """The diagonal of a GMM sandwich covariance, with rounding below zero set to zero.

    A D⁻¹ A S A' D⁻ᵀ is positive semi-definite by construction, so a negative diagonal element can only
    be floating-point rounding of a zero variance (e.g. the intercept when every pricing error is 0);
    its size depends on the CPU's summation order (−1e-35 on one machine, +1e-35 on another). Such an
    element is 0; the square root is then 0, not NaN.
    """
    return np.clip(np.diag(covariance), 0.0, None)


def two_pass(excess: pd.DataFrame, factors: pd.DataFrame, gmm_lags: int = 0, name: str = "test") -> TwoPassResult:
    """He–Kelly–Manela (2017) two-pass test of ``excess`` (T × N) on ``factors`` (T × K), module docstring.

    Needs a balanced panel with T ≥ K + 2 months, N ≥ K + 2 assets (one cross-sectional degree of
    freedom), factors that vary and betas that are not collinear; otherwise :class:`PricingInputError`
    naming the test.
    """
    n_factors = factors.shape[1]
    require_balanced(excess, factors, name, min_months=n_factors + 2)
    if excess.shape[1] < n_factors + 2:
        raise PricingInputError(f"{name}: {excess.shape[1]} assets; the cross-section needs at least factors + 2 = {n_factors + 2}.")
    constant = factors.columns[factors.std(ddof=0).to_numpy() == 0]
    if len(constant):
        raise PricingInputError(f"{name}: factor {constant[0]!r} is constant over the {len(factors)} months of the test.")
    if not 0 <= gmm_lags < len(excess):
        raise PricingInputError(f"Setting PRICING_GMM_LAGS={gmm_lags} is invalid for {name}: expected 0 … {len(excess) - 1} lags.")
    coefficients, _ = time_series_coefficients(excess, factors)
    betas = coefficients.drop(index=INTERCEPT).T
    design = np.column_stack([np.ones(len(betas)), betas.to_numpy(float)])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise PricingInputError(f"{name}: the assets' betas on {list(factors.columns)} are collinear with a constant; λ is not identified.")
    lambda_t = monthly_lambdas(excess, betas)
    lambdas = lambda_t.mean()
    mean_excess = excess.mean()
    predicted = pd.Series(design @ lambdas.to_numpy(float), index=excess.columns)
    covariance = gmm_lambda_covariance(excess, factors, coefficients, lambdas, gmm_lags)
    return TwoPassResult(
        lambdas=lambdas,
        se_fm=fama_macbeth_se(lambda_t),
        se_gmm=pd.Series(np.sqrt(sandwich_variances(covariance.to_numpy())), index=lambdas.index),
        lambda_t=lambda_t,
        betas=betas,
        mean_excess=mean_excess,
        predicted=predicted,
        r2=float(predicted.var(ddof=0) / mean_excess.var(ddof=0)),
        mape=float((mean_excess - predicted).abs().mean()),
        gmm_lags=gmm_lags,
    )
