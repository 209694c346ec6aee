"""Variance models of the volatility-managed study: EWMA, GARCH(1,1) via arch, and no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from asset_pricing.volmanaged import variance
from asset_pricing.volmanaged.pipeline import VolManagedConfig, run_volmanaged

TRAIN_END = pd.Timestamp("2004-12-31")


def garch_like_panel(n_assets: int = 2, start: str = "2003-01-01", end: str = "2006-06-30", seed: int = 11) -> pd.DataFrame:
    """Daily returns simulated from a GARCH(1,1) (ω=2e-6, α=0.08, β=0.9) per asset."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, end, name="date")
    shocks = rng.standard_normal((len(days), n_assets))
    returns = np.empty_like(shocks)
    sigma2 = np.full(n_assets, 2e-6 / (1 - 0.98))
    for day in range(len(days)):  # simulation only; the code under test is vectorized
        returns[day] = 0.0003 + np.sqrt(sigma2) * shocks[day]
        sigma2 = 2e-6 + 0.08 * (returns[day] - 0.0003) ** 2 + 0.9 * sigma2
    return pd.DataFrame(returns, index=days, columns=[f"G{i}" for i in range(n_assets)])


def test_ewma_is_normalized_exponential_mean_of_squares_at_month_end():
    days = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-02-03", "2020-02-04"])
    daily = pd.DataFrame({"A": [0.01, -0.02, 0.03, 0.01, np.nan]}, index=days)
    lam = 0.9
    result = variance.ewma_variance(daily, decay=lam, min_days=1)
    january = (lam**2 * 0.01**2 + lam * 0.02**2 + 0.03**2) / (lam**2 + lam + 1)
    # February: the last valid day is Feb 3; the missing Feb 4 adds nothing.
    february = (lam**3 * 0.01**2 + lam**2 * 0.02**2 + lam * 0.03**2 + 0.01**2) / (lam**3 + lam**2 + lam + 1)
    assert result.loc["2020-01-31", "A"] == pytest.approx(january, rel=1e-12)
    assert result.loc["2020-02-29", "A"] == pytest.approx(february, rel=1e-12)
    assert np.isnan(variance.ewma_variance(daily, decay=lam, min_days=2).loc["2020-02-29", "A"])  # one valid day in Feb


def test_ewma_of_constant_absolute_returns_is_their_square():
    days = pd.bdate_range("2020-01-01", "2020-06-30")
    daily = pd.DataFrame({"A": 0.02 * np.where(np.arange(len(days)) % 2 == 0, 1.0, -1.0)}, index=days)
    result = variance.ewma_variance(daily, decay=0.94, min_days=10)
    np.testing.assert_allclose(result["A"].to_numpy(), 0.0004, rtol=1e-12)


def test_garch_filter_and_forecast_equal_arch_on_the_training_sample():
    from arch import arch_model

    daily = garch_like_panel(n_assets=1)["G0"]
    training = daily.loc[: TRAIN_END]  # on the training sample arch's own start value is the training one
    params = variance.fit_garch(daily, TRAIN_END)
    fixed = arch_model(training * 100, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fix(
        params[list(variance.GARCH_PARAMS)].to_numpy()
    )
    residuals = training.to_numpy() * 100 - params["mu"]
    ours_variance = variance.garch_conditional_variance(residuals, params["omega"], params["alpha[1]"], params["beta[1]"], params["backcast"])
    np.testing.assert_allclose(ours_variance, fixed.conditional_volatility.to_numpy() ** 2, rtol=1e-12)
    forecast = fixed.forecast(horizon=21, start=training.index[-40], reindex=False).variance.mean(axis=1) / 100**2
    ours = variance.garch_average_forecast(training, params, horizon=21)
    np.testing.assert_allclose(ours.loc[forecast.index].to_numpy(), forecast.to_numpy(), rtol=1e-12)


def test_garch_parameters_come_from_the_training_window_only():
    daily = garch_like_panel()
    params = variance.fit_garch(daily["G0"], TRAIN_END)
    changed = daily.copy()
    changed.loc[changed.index > TRAIN_END] *= 3.0
    pd.testing.assert_series_equal(variance.fit_garch(changed["G0"], TRAIN_END), params)
    assert 0.0 < params["alpha[1]"] < 1.0 and 0.0 < params["beta[1]"] < 1.0


def test_garch_series_without_enough_training_days_has_no_fit():
    daily = garch_like_panel()
    daily.loc[daily.index <= "2004-10-31", "G1"] = np.nan  # ~45 training days left
    monthly, params = variance.garch_variance(daily, TRAIN_END, min_days=10)
    assert params.loc["G1"].isna().all() and params.loc["G0"].notna().all()
    assert monthly["G1"].isna().all() and monthly["G0"].notna().sum() > 30


@pytest.mark.parametrize("model", ["realized", "ewma", "garch"])
def test_signal_at_month_t_does_not_change_when_later_data_change(model):
    daily = garch_like_panel()
    month_t = pd.Timestamp("2005-08-31")
    changed = daily.copy()
    changed.loc[changed.index > month_t] = changed.loc[changed.index > month_t] * 5.0 + 0.01
    kwargs = dict(min_days=10, ewma_lambda=0.94, train_end=TRAIN_END)
    before, _ = variance.monthly_variance(model, daily, **kwargs)
    after, _ = variance.monthly_variance(model, changed, **kwargs)
    pd.testing.assert_frame_equal(after.loc[:month_t], before.loc[:month_t], check_exact=True)
    assert not np.allclose(after.loc[month_t:].iloc[1:].to_numpy(), before.loc[month_t:].iloc[1:].to_numpy())


@pytest.mark.parametrize("model, calibration, target", [
    ("realized", "expanding", "mean_exposure"), ("ewma", "expanding", "match_volatility"), ("garch", "train", "mean_exposure"),
])
def test_strategy_return_of_month_t_plus_1_uses_data_through_t_only(model, calibration, target):
    daily = garch_like_panel(n_assets=2)
    market = daily.mean(axis=1).rename("market")
    market_vol = market.groupby(pd.Grouper(freq="ME")).var(ddof=1).to_frame("sigma2")
    rf = pd.Series(0.001, index=pd.date_range("2003-01-31", "2006-06-30", freq="ME"))
    config = VolManagedConfig(train_end=TRAIN_END, variance_model=model, calibration=calibration, scaling_target=target)
    month_t = pd.Timestamp("2005-08-31")
    changed = daily.copy()
    changed.loc[changed.index > month_t] *= 4.0
    changed_market = changed.mean(axis=1).rename("market")
    changed_vol = changed_market.groupby(pd.Grouper(freq="ME")).var(ddof=1).to_frame("sigma2")
    base = run_volmanaged(daily, market, market_vol, rf, config)
    moved = run_volmanaged(changed, changed_market, changed_vol, rf, config)
    pd.testing.assert_frame_equal(moved.common_vol_signal.loc[:month_t], base.common_vol_signal.loc[:month_t], check_exact=True)
    pd.testing.assert_frame_equal(moved.onefactor_signals.loc[:month_t], base.onefactor_signals.loc[:month_t], check_exact=True)
    # month t+1's exposures were formed at t: the return differs only through month t+1's asset returns
    next_month = pd.Timestamp("2005-09-30")
    pd.testing.assert_series_equal(
        moved.common_vol_signal.loc[: next_month, "exposure_common_lag"], base.common_vol_signal.loc[: next_month, "exposure_common_lag"],
        check_exact=True,
    )


def test_unknown_variance_model_is_an_error_naming_the_setting():
    with pytest.raises(ValueError, match="VARIANCE_MODEL"):
        variance.monthly_variance("har", garch_like_panel(), min_days=10, ewma_lambda=0.94, train_end=TRAIN_END)


def test_ewma_day_missing_mid_month_keeps_its_place_in_the_decay():
    # Jan 2, 3, (6 missing), 7, 8: with pandas' ignore_na=False the weights follow calendar positions,
    # λ⁴, λ³, –, λ, 1 (Jan 6 counts as a day that passed without a return, RiskMetrics 1996 §5.2).
    days = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08"])
    daily = pd.DataFrame({"A": [0.01, -0.02, np.nan, 0.03, -0.01]}, index=days)
    lam = 0.9
    january = (lam**4 * 0.01**2 + lam**3 * 0.02**2 + lam * 0.03**2 + 0.01**2) / (lam**4 + lam**3 + lam + 1)
    assert variance.ewma_variance(daily, decay=lam, min_days=1).loc["2020-01-31", "A"] == pytest.approx(january, rel=1e-12)
    skipped = (lam**3 * 0.01**2 + lam**2 * 0.02**2 + lam * 0.03**2 + 0.01**2) / (lam**3 + lam**2 + lam + 1)
    assert january != pytest.approx(skipped, rel=1e-3)  # the two conventions differ on this case


def test_monthly_garch_signal_is_the_average_forecast_over_the_next_21_trading_days():
    from arch import arch_model

    daily = garch_like_panel(n_assets=1)
    monthly, params = variance.monthly_variance("garch", daily, min_days=10, ewma_lambda=0.94, train_end=TRAIN_END)
    training = daily["G0"].loc[:TRAIN_END]
    fixed = arch_model(training * 100, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fix(
        params.loc["G0", list(variance.GARCH_PARAMS)].to_numpy(dtype=float)
    )
    month_ends = training.groupby(pd.Grouper(freq="ME")).tail(1).index[-6:]  # last trading day of the last six training months
    # arch's own forecasts: (1/21) Σ_{h=1..21} E_T[σ²_{T+h}], a month of trading days ahead (percent² → fraction²)
    forecast = fixed.forecast(horizon=21, start=month_ends[0], reindex=False).variance.loc[month_ends].mean(axis=1) / 100**2
    ours = monthly["G0"].loc[month_ends.to_period("M").to_timestamp(how="end").normalize()]
    np.testing.assert_allclose(ours.to_numpy(), forecast.to_numpy(), rtol=1e-10)
    one_day = fixed.forecast(horizon=1, start=month_ends[0], reindex=False).variance.loc[month_ends].iloc[:, 0] / 100**2
    assert not np.allclose(ours.to_numpy(), one_day.to_numpy(), rtol=1e-3)


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5, -0.1])
def test_ewma_decay_outside_zero_one_is_an_error_naming_the_setting(decay):
    with pytest.raises(ValueError, match="EWMA_LAMBDA"):
        variance.ewma_variance(garch_like_panel(), decay=decay, min_days=10)


@pytest.mark.parametrize("scale", [1.0, 0.3])  # 0.3: a daily variance of 0.06 %², which arch would rescale if asked
def test_garch_fit_is_arch_constant_mean_garch_1_1_with_normal_errors_on_training_days(scale):
    from arch import arch_model

    daily = garch_like_panel(n_assets=1)["G0"] * scale
    params = variance.fit_garch(daily, TRAIN_END)
    training = daily.loc[:TRAIN_END] * 100
    reference = arch_model(training, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False).fit(disp="off")
    np.testing.assert_allclose(params[list(variance.GARCH_PARAMS)].to_numpy(dtype=float), reference.params.to_numpy(), rtol=1e-8)
    assert list(reference.params.index) == list(variance.GARCH_PARAMS)  # GARCH(1,1): nothing left out
    residuals = (training - training.mean()).to_numpy()
    weights = 0.94 ** np.arange(75)
    assert params["backcast"] == pytest.approx(np.sum(residuals[:75] ** 2 * weights) / weights.sum(), rel=1e-12)


def test_garch_needs_250_training_days():
    daily = garch_like_panel(n_assets=1, start="2004-01-01", end="2005-06-30")["G0"]
    training_days = daily.index[daily.index <= TRAIN_END]
    enough = daily.copy()
    enough.loc[training_days[: len(training_days) - 250]] = np.nan
    assert enough.loc[:TRAIN_END].notna().sum() == 250 and variance.fit_garch(enough, TRAIN_END).notna().all()
    short = enough.copy()
    short.loc[training_days[len(training_days) - 250]] = np.nan
    assert variance.fit_garch(short, TRAIN_END).isna().all()


def test_garch_variance_reports_each_fit_and_honours_the_horizon():
    from arch import arch_model

    daily = garch_like_panel(n_assets=2)
    monthly, params = variance.garch_variance(daily, TRAIN_END, min_days=10, horizon=5)
    assert list(params.index) == ["G0", "G1"] and list(params.columns) == list(variance.GARCH_FIT_FIELDS)
    pd.testing.assert_series_equal(params.loc["G1"], variance.fit_garch(daily["G1"], TRAIN_END), check_names=False)
    training = daily["G1"].loc[:TRAIN_END]
    fixed = arch_model(training * 100, mean="Constant", vol="GARCH", p=1, q=1, rescale=False).fix(
        params.loc["G1", list(variance.GARCH_PARAMS)].to_numpy(dtype=float)
    )
    last_day = training.index[-1]  # 2004-12-31, the month-end value of December 2004
    five_days = fixed.forecast(horizon=5, start=last_day, reindex=False).variance.loc[last_day].mean() / 100**2
    assert monthly.loc["2004-12-31", "G1"] == pytest.approx(five_days, rel=1e-10)
