"""Time-series tests: per-portfolio alphas and betas, the GRS F-test and the robust J-test of α = 0.

Each test asset's monthly excess return is regressed on the factors over the balanced panel
(:mod:`asset_pricing.pricing.panel`):

    rx_{i,t} = α_i + β_i' f_t + ε_{i,t}.

With traded excess-return factors (the market), α_i is the pricing error of the model (Black, Jensen and
Scholes 1972); with a non-traded factor (HKM's intermediary capital risk factor) the model's restriction
is α_i = β_i'(λ − E[f]) instead, so α = 0 also asks the factor's price of risk to equal its mean, as if it
were a traded excess return (Cochrane 2005, §12.1).
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import statsmodels.api as sm
from linearmodels.asset_pricing import TradedFactorModel
from scipy import stats

from asset_pricing.econometrics import newey_west_lags
from asset_pricing.pricing.panel import PricingInputError

MONTHS_PER_YEAR = 12


def resolve_lags(setting: str | int, months: int, name: str = "PRICING_NW_LAGS") -> int:
    """The Newey–West lag for a regression of ``months`` observations: ``"auto"`` → :func:`newey_west_lags`,
    else the whole number given. Errors name the setting (negative, not a number, or not below ``months``)."""
    text = str(setting).strip().lower()
    if text == "auto":
        return newey_west_lags(months)
    try:
        lags = int(text)
    except ValueError:
        raise PricingInputError(f"Setting {name}={setting!r} is invalid: expected auto or a whole number >= 0.") from None
    if lags < 0 or lags >= months:
        raise PricingInputError(f"Setting {name}={setting!r} is invalid: the lag must be >= 0 and below the {months} months of the test.")
    return lags


def require_balanced(excess: pd.DataFrame, factors: pd.DataFrame, name: str, min_months: int) -> None:
    """Same months in ``excess`` and ``factors``, no NaN (build them with :func:`~asset_pricing.pricing.panel.balanced_panel`),
    and at least ``min_months`` months; errors name the test, the column and the month."""
    if not excess.index.equals(factors.index):
        raise PricingInputError(f"{name}: excess returns and factors must cover the same months (use balanced_panel).")
    for frame in (excess, factors):
        holes = frame.isna().to_numpy()
        if holes.any():
            row, column = np.argwhere(holes)[0]
            raise PricingInputError(
                f"{name}: column {frame.columns[column]!r} has no value for {frame.index[row]:%Y-%m}; "
                "tests run on the balanced panel (use balanced_panel, which drops such months)."
            )
    if len(excess) < min_months:
        raise PricingInputError(f"{name}: {len(excess)} months, fewer than the {min_months} this test needs.")


def time_series_regressions(excess: pd.DataFrame, factors: pd.DataFrame, lags: str | int = "auto", name: str = "test") -> pd.DataFrame:
    """OLS rx_{i,t} = α_i + β_i' f_t + ε_{i,t} per portfolio, with Newey–West (1987) HAC t-statistics.

    The HAC covariance is statsmodels' (Bartlett weights 1 − l/(L+1), l = 1…L, no small-sample
    correction): V = (X'X)^{-1} [Σ_t u_t u_t' + Σ_l w_l Σ_t (u_t u_{t−l}' + u_{t−l} u_t')] (X'X)^{-1},
    u_t = x_t ε_t, x_t = [1, f_t']. ``lags`` is ``"auto"`` (:func:`newey_west_lags` of T) or a number.

    Returns
    -------
    DataFrame indexed by ``portfolio_id``: ``months``, ``alpha`` (monthly), ``alpha_annual`` (12 α),
    ``alpha_se_nw``, ``alpha_t_nw``, ``beta_<factor>`` per factor, ``r2``, ``nw_lags``.
    """
    n_factors = factors.shape[1]
    require_balanced(excess, factors, name, min_months=n_factors + 2)
    months = len(excess)
    n_lags = resolve_lags(lags, months)
    design = sm.add_constant(factors.to_numpy(float), has_constant="add")
    rows = {}
    for portfolio_id, rx in excess.items():  # at most 54 small regressions; statsmodels' HAC is the reference
        fit = sm.OLS(rx.to_numpy(float), design).fit(cov_type="HAC", cov_kwds={"maxlags": n_lags})
        rows[portfolio_id] = {
            "months": months,
            "alpha": fit.params[0],
            "alpha_annual": MONTHS_PER_YEAR * fit.params[0],
            "alpha_se_nw": fit.bse[0],
            "alpha_t_nw": fit.tvalues[0],
            **{f"beta_{factor}": fit.params[1 + k] for k, factor in enumerate(factors.columns)},
            "r2": fit.rsquared,
            "nw_lags": n_lags,
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "portfolio_id"
    return table


def grs_test(excess: pd.DataFrame, factors: pd.DataFrame, name: str = "test") -> pd.Series:
    """Gibbons–Ross–Shanken (1989) F-test of α_1 = … = α_N = 0 in rx_t = α + B f_t + ε_t.

    F = (T − N − K)/N · α̂' Σ̂^{-1} α̂ / (1 + f̄' Ω̂^{-1} f̄) ~ F(N, T − N − K) under i.i.d. normal errors,
    with Σ̂ = ε̂'ε̂/T the residual covariance and Ω̂ = (f − f̄)'(f − f̄)/T the factor covariance (both
    maximum likelihood, as in Cochrane 2005, §12.1). Needs T ≥ N + K + 1 months; fewer raise
    :class:`PricingInputError` (the statistic is undefined: Σ̂ is singular or the F has no degrees of freedom).

    Returns
    -------
    Series ``grs_f``, ``grs_p`` (upper tail), ``months`` (T), ``assets`` (N), ``df_denominator`` (T − N − K).
    """
    months, assets = excess.shape
    n_factors = factors.shape[1]
    require_balanced(excess, factors, name, min_months=1)
    if months < assets + n_factors + 1:
        raise PricingInputError(
            f"{name}: GRS test undefined with {months} months for {assets} assets and {n_factors} factor(s): "
            f"it needs at least assets + factors + 1 = {assets + n_factors + 1} months (Gibbons, Ross and Shanken 1989)."
        )
    f = factors.to_numpy(float)
    design = np.column_stack([np.ones(months), f])
    coefficients, *_ = np.linalg.lstsq(design, excess.to_numpy(float), rcond=None)
    residuals = excess.to_numpy(float) - design @ coefficients
    alpha = coefficients[0]
    sigma = residuals.T @ residuals / months
    f_mean = f.mean(axis=0)
    omega = (f - f_mean).T @ (f - f_mean) / months
    quadratic_alpha = float(alpha @ np.linalg.solve(sigma, alpha))
    quadratic_factor = float(f_mean @ np.linalg.solve(omega, f_mean))
    df_denominator = months - assets - n_factors
    f_stat = df_denominator / assets * quadratic_alpha / (1.0 + quadratic_factor)
    return pd.Series({
        "grs_f": f_stat,
        "grs_p": float(stats.f.sf(f_stat, assets, df_denominator)),
        "months": months,
        "assets": assets,
        "df_denominator": df_denominator,
    })


def j_test(excess: pd.DataFrame, factors: pd.DataFrame, lags: int, name: str = "test") -> pd.Series:
    """Robust Wald test of α = 0 from ``linearmodels.asset_pricing.TradedFactorModel`` (its J-statistic).

    J = α̂' V̂_α^{-1} α̂ ~ χ²(N) asymptotically, with V̂_α the GMM covariance of the time-series
    intercepts: heteroskedasticity-robust for ``lags`` = 0, else Bartlett kernel with bandwidth ``lags``
    (covariance divided by T, ``debiased=False``). Unlike GRS it needs no normality; it also needs
    T ≥ N + K + 1 (else :class:`PricingInputError`).

    Returns
    -------
    Series ``j_stat``, ``j_p``, ``j_df``.
    """
    months, assets = excess.shape
    require_balanced(excess, factors, name, min_months=1)
    if months < assets + factors.shape[1] + 1:
        raise PricingInputError(f"{name}: J-test undefined with {months} months for {assets} assets (needs assets + factors + 1).")
    model = TradedFactorModel(excess.to_numpy(float), factors.to_numpy(float))
    if lags == 0:
        fit = model.fit(cov_type="robust", debiased=False)
    else:
        fit = model.fit(cov_type="kernel", kernel="bartlett", bandwidth=float(lags), debiased=False)
    return pd.Series({"j_stat": float(fit.j_statistic.stat), "j_p": float(fit.j_statistic.pval), "j_df": int(fit.j_statistic.df)})
