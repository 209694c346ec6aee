"""Monthly variance signals σ²_t of daily returns: realized, EWMA and GARCH(1,1) (docs/methods.md §1.3, §2.5).

Every model returns, for month t (labelled by its last calendar day), a *daily* variance (units: daily
simple return squared) that uses daily data through the end of month t only:

- ``realized``: the sample variance (ddof=1) of the month's daily returns.
- ``ewma``: the RiskMetrics estimate v_d = λ v_{d−1} + (1 − λ) r_d² (zero mean) at the month's last
  trading day, i.e. the forecast of the next day's variance (J.P. Morgan/Reuters, 1996).
- ``garch``: a GARCH(1,1) with constant mean (Bollerslev, 1986) fitted with ``arch`` on the training
  window only. With those parameters and the recursion's start value (also from training) fixed, the
  whole sample is filtered forward; the value for month t is the average daily variance forecast over
  the next ``GARCH_HORIZON_DAYS`` = 21 trading days made at the month's last trading day T,
  (1/H) Σ_{h=1..H} E_T[σ²_{T+h}]: a forecast for month t+1 from data through month t only. (× the
  number of trading days gives a monthly variance; the scale cancels in the calibrated exposure.)
  Missing days are skipped (the series is filtered over its valid days); arch's data-dependent
  variance bounds are not applied, since they would use the whole sample.

In every model a month with fewer than ``MIN_DAYS`` valid daily returns has a NaN variance (one-day
months, assets that start late or stop early), so all models share the realized model's availability.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from asset_pricing.prepare.equity import realized_variance_monthly
from asset_pricing.volmanaged.returns import calendar_months, finite_or_nan

log = logging.getLogger(__name__)

VARIANCE_MODELS = ("realized", "ewma", "garch")
GARCH_HORIZON_DAYS = 21
GARCH_MIN_TRAIN_DAYS = 250
GARCH_SCALE = 100.0  # returns are fitted in percent: arch's optimizer is tuned for variances near 1
GARCH_PARAMS = ("mu", "omega", "alpha[1]", "beta[1]")
GARCH_FIT_FIELDS = (*GARCH_PARAMS, "backcast")


def valid_days_per_month(daily_returns: pd.DataFrame) -> pd.DataFrame:
    """Number of valid (finite) daily returns per asset and calendar month."""
    finite = finite_or_nan(daily_returns)
    counts = finite.notna().groupby(pd.Grouper(freq="ME")).sum()
    return counts.reindex(calendar_months(daily_returns.index), fill_value=0)


def realized_variance(daily_returns: pd.DataFrame, min_days: int) -> pd.DataFrame:
    """σ²_{i,t} = Σ_d (r_{i,d} − r̄_{i,t})² / (n_{i,t} − 1) over month t; NaN when n_{i,t} < ``min_days``.

    docs/methods.md §1.3; every calendar month of the span has a row.
    """
    variance = realized_variance_monthly(finite_or_nan(daily_returns), min_days)
    return variance.reindex(calendar_months(daily_returns.index))


def _at_month_end(daily_values: pd.DataFrame, valid_days: pd.DataFrame, min_days: int) -> pd.DataFrame:
    """The last non-NaN daily value of each month, NaN in months with fewer than ``min_days`` valid days."""
    month_end = daily_values.groupby(pd.Grouper(freq="ME")).last().reindex(valid_days.index)
    return month_end.where(valid_days >= min_days)


def ewma_variance(daily_returns: pd.DataFrame, decay: float, min_days: int) -> pd.DataFrame:
    """RiskMetrics EWMA variance v_d = λ v_{d−1} + (1 − λ) r_d² at each month's last trading day.

    Computed as the normalised exponentially weighted mean of r² (pandas ``ewm(adjust=True)``), which
    equals the recursion after a burn-in and needs no start value; a missing day keeps its place in the
    decay (``ignore_na=False``) and contributes nothing. Values need ``min_days`` observations in total.

    Parameters
    ----------
    daily_returns
        Wide daily simple returns.
    decay
        λ in (0, 1), daily (setting ``EWMA_LAMBDA``, RiskMetrics 0.94).
    min_days
        A month needs this many valid daily returns, else NaN (setting ``MIN_DAYS``).
    """
    if not 0.0 < decay < 1.0:
        raise ValueError(f"EWMA_LAMBDA={decay}: the daily decay must lie strictly between 0 and 1.")
    squared = finite_or_nan(daily_returns) ** 2
    daily_variance = squared.ewm(alpha=1.0 - decay, adjust=True, ignore_na=False, min_periods=min_days).mean()
    return _at_month_end(daily_variance, valid_days_per_month(daily_returns), min_days)


def garch_backcast(residuals: np.ndarray) -> float:
    """Start value σ²_0 of the recursion: arch's GARCH backcast Σ_j w_j ε_j², w_j ∝ 0.94^j, first 75 days."""
    tau = min(75, len(residuals))
    weights = 0.94 ** np.arange(tau)
    return float(np.sum(residuals[:tau] ** 2 * weights / weights.sum()))


def fit_garch(returns: pd.Series, train_end: pd.Timestamp) -> pd.Series:
    """GARCH(1,1) parameters (mu, omega, alpha[1], beta[1]) and the backcast, from the days ≤ ``train_end``.

    Returns are scaled by ``GARCH_SCALE`` (percent) before fitting, so ``mu`` is in percent per day and
    ``omega`` and ``backcast`` in percent² per day. The backcast is arch's start value computed on the
    training residuals (around the training mean, as ``arch`` does), so that filtering later data
    never reaches back into the start value. A series with fewer than ``GARCH_MIN_TRAIN_DAYS`` training
    days has no fit (all NaN).
    """
    from arch import arch_model

    training = returns.loc[returns.index <= train_end].dropna()
    if len(training) < GARCH_MIN_TRAIN_DAYS:
        return pd.Series(np.nan, index=list(GARCH_FIT_FIELDS), name=returns.name)
    scaled = training * GARCH_SCALE
    model = arch_model(scaled, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = model.fit(disp="off")
    for warning in caught:
        log.warning("GARCH fit of %s: %s", returns.name, warning.message)
    params = result.params.reindex(list(GARCH_PARAMS))
    params["backcast"] = garch_backcast((scaled - scaled.mean()).to_numpy())
    return params.rename(returns.name)


def garch_conditional_variance(residuals: np.ndarray, omega: float, alpha: float, beta: float, backcast: float) -> np.ndarray:
    """σ²_t = ω + α ε²_{t−1} + β σ²_{t−1} with ε²_{−1} = σ²_{−1} = backcast (arch's GARCH(1,1) recursion).

    Computed as the linear filter σ²_t − β σ²_{t−1} = ω + α ε²_{t−1} (``scipy.signal.lfilter``), so σ²_t
    uses residuals through t−1 only.
    """
    from scipy.signal import lfilter

    previous_squared = np.concatenate([[backcast], residuals[:-1] ** 2])
    variance, _ = lfilter([1.0], [1.0, -beta], omega + alpha * previous_squared, zi=[beta * backcast])
    return variance


def garch_average_forecast(returns: pd.Series, params: pd.Series, horizon: int = GARCH_HORIZON_DAYS) -> pd.Series:
    """Average daily variance forecast (1/H) Σ_{h=1..H} E_T[σ²_{T+h}] at every day T, from data ≤ T.

    With the training parameters and backcast fixed, :func:`garch_conditional_variance` filters the
    whole series; the one-step forecast is σ²_{T+1} = ω + α ε_T² + β σ²_T with ε_T = r_T − μ, and
    E_T[σ²_{T+h}] = ω Σ_{j=0}^{h−2} φ^j + φ^{h−1} σ²_{T+1} with φ = α + β (= V + φ^{h−1}(σ²_{T+1} − V),
    V = ω/(1 − φ), when φ < 1). Output in daily return² units (the percent scaling undone).
    """
    valid = returns.dropna()
    mu, omega, alpha, beta = (float(params[name]) for name in GARCH_PARAMS)
    residuals = valid.to_numpy() * GARCH_SCALE - mu
    conditional_variance = garch_conditional_variance(residuals, omega, alpha, beta, float(params["backcast"]))
    next_day = omega + alpha * residuals**2 + beta * conditional_variance
    persistence = alpha + beta
    powers = persistence ** np.arange(horizon)
    omega_weights = np.concatenate([[0.0], np.cumsum(powers)[:-1]])
    average = omega * omega_weights.mean() + powers.mean() * next_day
    return pd.Series(average / GARCH_SCALE**2, index=valid.index, name=returns.name)


def garch_variance(
    daily_returns: pd.DataFrame, train_end: pd.Timestamp, min_days: int, horizon: int = GARCH_HORIZON_DAYS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Monthly GARCH(1,1) variance forecasts per asset and the fitted parameters (one row per asset).

    One fit per series is unavoidable (``arch`` fits one likelihood at a time); everything else is
    vectorized. The value for month t is :func:`garch_average_forecast` at the month's last trading day.
    A series without enough training data has no fit and a NaN variance throughout.
    """
    clean = finite_or_nan(daily_returns)
    params = {}
    forecasts = {}
    for name in tqdm(clean.columns, desc="GARCH(1,1) fits", unit="series", disable=len(clean.columns) < 5):
        params[name] = fit_garch(clean[name], train_end)
        if params[name].notna().all():
            forecasts[name] = garch_average_forecast(clean[name], params[name], horizon)
    daily_forecast = pd.DataFrame(forecasts, index=clean.index).reindex(columns=clean.columns)
    monthly = _at_month_end(daily_forecast, valid_days_per_month(clean), min_days)
    return monthly, pd.DataFrame(params).T.reindex(clean.columns)


def monthly_variance(
    model: str,
    daily_returns: pd.DataFrame,
    *,
    min_days: int,
    ewma_lambda: float,
    train_end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The variance signal of ``model`` (setting ``VARIANCE_MODEL``) and its parameters per series.

    Returns ``(variance, params)``: monthly daily-unit variances at calendar month-ends, and a table of
    fitted GARCH parameters (empty columns for ``realized`` and ``ewma``).
    """
    if model == "realized":
        return realized_variance(daily_returns, min_days), pd.DataFrame(index=daily_returns.columns)
    if model == "ewma":
        return ewma_variance(daily_returns, ewma_lambda, min_days), pd.DataFrame(index=daily_returns.columns)
    if model == "garch":
        return garch_variance(daily_returns, train_end, min_days)
    raise ValueError(f"VARIANCE_MODEL={model!r} is invalid: accepted values are {' | '.join(VARIANCE_MODELS)}.")
